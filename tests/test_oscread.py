"""protocol/oscread: the datagram parser under the daemon's control port and the monitor.

The fuzzer found python-osc's recursive bundle parser spending ~70 ms of the control thread on a
60 KB bundle nested 3,000 deep; oscread walks bundles iteratively and refuses nesting past
MAX_DEPTH before copying more than MAX_DEPTH levels."""

from __future__ import annotations

import struct

import pytest
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.parsing.osc_types import ParseError

from charmix.daemon.protocol import oscread


def msg(path: str, *args: object) -> bytes:
    b = OscMessageBuilder(path)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


def wrap(*elements: bytes, timetag: int = 1) -> bytes:
    out = b"#bundle\x00" + struct.pack(">Q", timetag)
    for e in elements:
        out += struct.pack(">i", len(e)) + e
    return out


def test_messages_of_nested_bundles_come_in_order() -> None:
    data = wrap(msg("/a", 1), wrap(msg("/b", 2.0), wrap(msg("/c", "x"))), msg("/d"))
    got = [(m.address, m.params) for m in oscread.messages(data)]
    assert got == [("/a", [1]), ("/b", [2.0]), ("/c", ["x"]), ("/d", [])]
    builder = OscBundleBuilder(IMMEDIATELY)  # python-osc's own bundles read the same
    builder.add_content(OscMessage(msg("/e", 5)))
    assert [m.address for m in oscread.messages(builder.build().dgram)] == ["/e"]
    assert oscread.messages(wrap()) == []
    assert oscread.messages(wrap(msg("/f"), timetag=2**64 - 1))[0].address == "/f"  # future


def test_nesting_past_the_limit_is_refused() -> None:
    data = msg("/deep", 1)
    for _ in range(oscread.MAX_DEPTH):  # MAX_DEPTH bundles around the message: fine
        data = wrap(data)
    assert [m.address for m in oscread.messages(data)] == ["/deep"]
    for depth in (1, 100, 3000):
        bomb = data
        for _ in range(depth):
            bomb = wrap(bomb)
        with pytest.raises(oscread.MalformedPacket, match="nested"):
            oscread.messages(bomb)


@pytest.mark.parametrize("data", [
    b"", b"junk", b"#bundle\x00\x00", wrap(msg("/a"))[:-1], wrap(b"\x00\x00\x00\x00"),
    b"#bundle\x00" + bytes(8) + struct.pack(">i", -4), b"#bundle\x00" + bytes(8) + b"\x00\x00",
    b"#bundle\x00" + bytes(8) + struct.pack(">i", 2**31 - 1) + b"/a\x00\x00",
])
def test_malformed_packets_raise_value_errors(data: bytes) -> None:
    with pytest.raises((ValueError, ParseError)):
        oscread.messages(data)
