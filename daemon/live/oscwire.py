"""OSC encoding for the daemon's hot path: messages and size-limited bundles as plain bytes.

Why not python-osc's builders: OscMessageBuilder packs arguments one by one (~90 µs for a 98-float
message) and every step sends 2 + N float vectors of length V, which would cost more than the
models. Here a float vector is one numpy cast (`astype('>f4').tobytes()`) behind an address and
type-tag header that is built once and cached. The bytes are the same as python-osc's (the tests
compare them byte for byte); python-osc still does all of the parsing.

Size limit: `pack` groups messages greedily into OSC bundles (timetag "immediately") so that no
datagram exceeds `limit` bytes (protocol.MAX_DATAGRAM, 1,400 by default: oscP5 reads 1,536). A
single message that is larger than the limit on its own (a per-model distribution over a
2,000-character vocabulary, a huge /charmix/vocab string) cannot be split without changing its
meaning, so it travels alone in a bundle of its own that is larger than the limit; receivers with
small buffers will miss that one message and nothing else.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache

import numpy as np

BUNDLE_TAG = b"#bundle\x00"
IMMEDIATELY = struct.pack(">Q", 1)  # the OSC timetag that means "now"
BUNDLE_HEADER = BUNDLE_TAG + IMMEDIATELY
BUNDLE_OVERHEAD = len(BUNDLE_HEADER)  # 16 bytes before the first element
ELEMENT_OVERHEAD = 4  # each element is preceded by its int32 size
_INT32 = struct.Struct(">i")


def osc_string(text: str) -> bytes:
    """UTF-8, NUL-terminated and padded to a multiple of 4 bytes (always at least one NUL)."""
    raw = text.encode("utf-8")
    return raw + b"\x00" * (4 - len(raw) % 4)


@lru_cache(maxsize=4096)
def header(address: str, tags: str) -> bytes:
    """Address + type-tag string; cached because the daemon sends the same few every step."""
    return osc_string(address) + osc_string("," + tags)


def floats(address: str, values: np.ndarray | Sequence[float]) -> bytes:
    """A message of float32 arguments (tags ``f`` × n) from any 1-D array or sequence."""
    arr = np.asarray(values, dtype=">f4").ravel()
    return header(address, "f" * arr.size) + arr.tobytes()


def string(address: str, text: str) -> bytes:
    """A message with one string argument."""
    return header(address, "s") + osc_string(text)


def strings(address: str, texts: Iterable[str]) -> bytes:
    """A message with several string arguments (e.g. /charmix/models)."""
    items = list(texts)
    return header(address, "s" * len(items)) + b"".join(osc_string(t) for t in items)


def int32(address: str, value: int) -> bytes:
    """A message with one int32 argument; ValueError if it does not fit in 32 bits."""
    try:
        return header(address, "i") + _INT32.pack(value)
    except struct.error:
        raise ValueError(f"{value} does not fit in an OSC int32") from None


def empty(address: str) -> bytes:
    """A message without arguments (a bare ',' type-tag string, as python-osc writes it)."""
    return header(address, "")


def bundle(messages: Iterable[bytes]) -> bytes:
    """One OSC bundle, timetag immediate, holding the given encoded messages in order."""
    parts = [BUNDLE_HEADER]
    for msg in messages:
        parts.append(_INT32.pack(len(msg)))
        parts.append(msg)
    return b"".join(parts)


def pack(messages: Sequence[bytes], limit: int) -> list[bytes]:
    """Bundle messages greedily, in order, so that no datagram exceeds `limit` bytes.

    A message too large to fit in any bundle under the limit goes alone in its own bundle (see
    the module docstring). Order is preserved across datagrams, so a receiver that handles the
    datagrams in arrival order sees the messages in the order given.
    """
    return list(pack_iter(messages, limit))


def pack_iter(messages: Iterable[bytes], limit: int) -> Iterator[bytes]:
    """`pack`, yielding each datagram as soon as it is complete: with `messages` a generator,
    the first datagram (the one with /charmix/char) can be on the wire before the rest of the
    frame is encoded."""
    current: list[bytes] = []
    size = BUNDLE_OVERHEAD
    for msg in messages:
        need = ELEMENT_OVERHEAD + len(msg)
        if current and size + need > limit:
            yield bundle(current)
            current, size = [], BUNDLE_OVERHEAD
        current.append(msg)
        size += need
    if current:
        yield bundle(current)
