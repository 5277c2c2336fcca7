"""What a bridge sends, before any socket: typed messages, targets and their spelling.

`encode` builds one OSC message for an input address of the table, with the table's typed check
(`protocol.Address.check`): a typo on a command line or a fader past its travel is an error
here, with the daemon's own words, never a silent rx_bad on the daemon. Split from
controllers/sender.py (the sending thread) and controllers/sender_query.py (asking the daemon);
import any of these names from charmix.controllers.sender as before.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass

from pythonosc.osc_message_builder import OscMessageBuilder

from charmix.daemon import protocol
from charmix.daemon.protocol.endpoint import format_address, parse_endpoint

Target = tuple[str, int]
_TAG = {"f": OscMessageBuilder.ARG_TYPE_FLOAT, "i": OscMessageBuilder.ARG_TYPE_INT,
        "s": OscMessageBuilder.ARG_TYPE_STRING}


def entry(suffix: str) -> protocol.Address:
    """The input address '/charmix/<suffix>' from the table (KeyError if the table lacks it)."""
    return protocol.control(suffix)


def parse_target(text: str) -> Target:
    """'HOST:PORT', 'HOST', ':PORT', 'PORT' or '[v6addr]:PORT' → (host, port); the daemon's
    control port when none is given. One parser for every host:port in charmix (daemon config)."""
    try:
        endpoint = parse_endpoint(text, protocol.CONTROL_PORT)
    except ValueError as exc:
        raise ValueError(f"target {exc} (e.g. 127.0.0.1:7770)") from None
    return endpoint.host, endpoint.port


def default_target() -> Target:
    return protocol.DEFAULT_HOST, protocol.CONTROL_PORT


def limits(address: protocol.Address) -> tuple[float, float]:
    """The widest numeric interval the table allows for an address (for clamping a knob)."""
    return protocol.limits(address)


def encode(address: protocol.Address, args: Sequence[object], name: str | None = None,
           voice: int = 0) -> bytes:
    """One OSC message for an input address, typed by the table; ValueError for bad arguments.

    `name` fills a per-model address ('/charmix/weight/{name}'). Every value goes through the
    table's typed check (`Address.check`: kind, finiteness, range, enumeration, length; a prime
    longer than its limit is clipped as the daemon would), so a typo on the command line is an
    error here, not a silent rx_bad on the daemon. An `i` value past 32 bits goes as OSC int64
    (`h`), which the daemon reads as an integer too (seeds up to 2^63−1). `voice`: for the
    table's per-voice addresses, which voice of a --voices daemon (/charmix/voice/K/…).
    """
    if address.per_model != (name is not None):
        need = "needs a" if address.per_model else "takes no"
        raise ValueError(f"{address.path} {need} model name")
    path = address.for_model(name) if name is not None else address.path
    if address.voice:  # one voice of a daemon run with --voices K (0: the unprefixed address)
        path = protocol.voice_path(path, voice)
    try:
        values = address.check(args, name)
    except protocol.BadValue as exc:
        text = str(exc)
        raise ValueError(text if text.startswith(protocol.PREFIX) else f"{path}: {text}") from None
    builder = OscMessageBuilder(path)
    for tag, value in zip(address.tags(values), values, strict=True):
        wide = tag == "i" and not -(2**31) <= value < 2**31  # type: ignore[operator]
        builder.add_arg(value, OscMessageBuilder.ARG_TYPE_INT64 if wide else _TAG[tag])
    return builder.build().dgram


@dataclass(frozen=True)
class Command:
    """What a controller mapping asks for: state (latest wins) or an event (always sent)."""

    address: protocol.Address
    args: tuple = ()
    name: str | None = None  # for per-model addresses
    event: bool = False

    @property
    def path(self) -> str:
        return self.address.for_model(self.name) if self.name is not None else self.address.path


def udp_socket(family: int) -> socket.socket:
    """A UDP socket; IPv4 ones may send to a broadcast address (one gesture, a whole subnet)."""
    sock = socket.socket(family, socket.SOCK_DGRAM)
    if family == socket.AF_INET:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    return sock


def format_targets(*targets: Target) -> str:
    """'host:port, [v6]:port' — how targets are written on the command line and in messages."""
    return ", ".join(format_address(t) for t in targets)
