"""Control messages as bytes, checked by the address table: the one way a client builds OSC.

Every process that steers a daemon — the bridges, `charmix send`, the monitor's subscription, the
web page's relay — builds its messages here, so a typo on a command line or a fader past its
travel is an error with the daemon's own words before anything is sent, never a silent rx_bad on
the daemon. The daemon's own output (frames, replies) has a faster encoder of its own
(daemon/live/oscwire.py), driven by the same table.
"""

from __future__ import annotations

from collections.abc import Sequence

from pythonosc.osc_message_builder import OscMessageBuilder

from charmix.daemon.protocol.address import PREFIX, Address, BadValue
from charmix.daemon.protocol.table import control, voice_path

_TAG = {"f": OscMessageBuilder.ARG_TYPE_FLOAT, "i": OscMessageBuilder.ARG_TYPE_INT,
        "s": OscMessageBuilder.ARG_TYPE_STRING}


def encode(address: Address, args: Sequence[object], name: str | None = None,
           voice: int = 0) -> bytes:
    """One OSC message for an input address, typed by the table; ValueError for bad arguments.

    `name` fills a per-model address ('/charmix/weight/{name}'). Every value goes through the
    table's typed check (`Address.check`: kind, finiteness, range, enumeration, length; a prime
    longer than its limit is clipped as the daemon would). An `i` value past 32 bits goes as OSC
    int64 (`h`), which the daemon reads as an integer too (seeds up to 2^63−1). `voice`: for the
    table's per-voice addresses, which voice of a --voices daemon (/charmix/voice/K/…).
    """
    if address.per_model != (name is not None):
        need = "needs a" if address.per_model else "takes no"
        raise ValueError(f"{address.path} {need} model name")
    path = address.for_model(name) if name is not None else address.path
    if address.voice:  # one voice of a daemon run with --voices K (0: the unprefixed address)
        path = voice_path(path, voice)
    try:
        values = address.check(args, name)
    except BadValue as exc:
        text = str(exc)
        raise ValueError(text if text.startswith(PREFIX) else f"{path}: {text}") from None
    builder = OscMessageBuilder(path)
    for tag, value in zip(address.tags(values), values, strict=True):
        wide = tag == "i" and not -(2**31) <= value < 2**31  # type: ignore[operator]
        builder.add_arg(value, OscMessageBuilder.ARG_TYPE_INT64 if wide else _TAG[tag])
    return builder.build().dgram


def message(short: str, *args: object, voice: int = 0) -> bytes:
    """`encode` for the input address '/charmix/<short>': message("subscribe", 9000)."""
    return encode(control(short), args, voice=voice)
