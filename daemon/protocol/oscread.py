"""OSC decoding for every charmix reader: one datagram → its messages, in order.

python-osc parses the messages; the bundles around them are walked here, iteratively and at most
MAX_DEPTH deep. python-osc's OscBundle parses nested bundles recursively and copies each level:
the fuzzer's 60 KB bundle nested 3,000 deep cost 70 ms of the control thread per datagram (a
hundred a second would have kept it busy for seven), and Python's recursion limit decides what
happens deeper still. No sender charmix knows nests bundles at all; anything deeper than
MAX_DEPTH is refused like any other malformed packet, in microseconds. Timetags are ignored:
every message applies the moment it arrives.
"""

from __future__ import annotations

import contextlib
import logging
import struct
from collections.abc import Iterator

from pythonosc.osc_message import OscMessage

BUNDLE_TAG = b"#bundle\x00"
HEADER = 16  # "#bundle\0" + the 8-byte timetag
MAX_DEPTH = 8  # bundles inside bundles; charmix's own senders use one level
_SIZE = struct.Struct(">i")


class _PythonOscNoise(logging.Filter):
    """python-osc logs a root-logger warning for every unknown type tag or bundle element; under
    a flood of junk that would be a line per packet (on the monitor's screen, in the daemon's
    log). charmix's readers count such packets and report them themselves, rate-limited."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "pythonosc" not in record.pathname


_NOISE_FILTER = _PythonOscNoise()


def silence_python_osc() -> None:
    """Drop python-osc's per-packet warnings (idempotent)."""
    logging.getLogger().addFilter(_NOISE_FILTER)


@contextlib.contextmanager
def quiet_python_osc() -> Iterator[None]:
    """The same, only while the block runs: a bridge's short wait for /charmix/query replies
    must not print a line per stray datagram, and leaves the root logger as it found it."""
    root = logging.getLogger()
    root.addFilter(_NOISE_FILTER)
    try:
        yield
    finally:
        root.removeFilter(_NOISE_FILTER)


class MalformedPacket(ValueError):
    """The datagram is not OSC (or nests deeper than MAX_DEPTH); str() says why."""


def messages(data: bytes, max_depth: int = MAX_DEPTH) -> list[OscMessage]:
    """Every message of a datagram, nested bundles flattened in order; MalformedPacket (or
    python-osc's ParseError for a bad message) on anything that is not OSC."""
    if not data.startswith(BUNDLE_TAG):
        if data.startswith(b"/"):
            return [OscMessage(data)]
        raise MalformedPacket("not an OSC message or bundle")
    if len(data) < HEADER:
        raise MalformedPacket("bundle shorter than its header")
    out: list[OscMessage] = []
    stack = [(data, HEADER)]  # (bundle bytes, position of its next element)
    while stack:
        buf, pos = stack[-1]
        if pos >= len(buf):
            stack.pop()
            continue
        if pos + 4 > len(buf):
            raise MalformedPacket("bundle element size cut off")
        (size,) = _SIZE.unpack_from(buf, pos)
        if size <= 0 or pos + 4 + size > len(buf):
            raise MalformedPacket(f"bundle element of {size} bytes does not fit")
        element = buf[pos + 4 : pos + 4 + size]
        stack[-1] = (buf, pos + 4 + size)
        if element.startswith(BUNDLE_TAG):
            if len(stack) >= max_depth:
                raise MalformedPacket(f"bundles nested more than {max_depth} deep")
            if len(element) < HEADER:
                raise MalformedPacket("bundle shorter than its header")
            stack.append((element, HEADER))
        elif element.startswith(b"/"):
            out.append(OscMessage(element))
        else:
            raise MalformedPacket("bundle element is neither a message nor a bundle")
    return out
