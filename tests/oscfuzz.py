"""A seeded generator of hostile OSC datagrams, shared by the fuzz tests (tests/test_fuzz_*.py).

Written here, byte by byte, rather than with python-osc's builders, because the point is to make
what a builder refuses to: wrong and unknown type tags, NaN and ±inf, numbers at and past their
type's limits, huge and invalid UTF-8 strings, strings and blobs without their padding, bundles
nested deeper than a recursive parser likes, bundles whose element sizes lie, future timetags,
truncated and oversized packets, and every input address with every wrong arity. Each datagram is
a pure function of the seed and its index in the stream, so a failure replays:
`list(Fuzzer(seed, addresses).stream(i + 1))[i]`.
"""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Sequence

MAX_UDP = 65507
FLOATS = (math.nan, -math.nan, math.inf, -math.inf, 0.0, -0.0, 1e-45, 1.0, 0.5, 3.4e38, -3.4e38,
          1e300, -1e300, 2.0**24 + 1, 7.0, 1e9)
INTS = (0, 1, -1, 2, 7, 255, 65535, 65536, 2**31 - 1, -(2**31), 9000)
INT64 = (2**63 - 1, -(2**63), 2**40, 0)
TAGS = "ifsbhdtTFNIcmrS[]"  # the OSC 1.0/1.1 tags python-osc knows, and S, which it does not
UNKNOWN_TAGS = "xZ?!\x00\x7f"


def pad(data: bytes) -> bytes:
    """An OSC string's or blob's padding: NULs to a multiple of four (at least one for a string)."""
    return data + b"\x00" * (4 - len(data) % 4)


def blob(data: bytes) -> bytes:
    body = struct.pack(">i", len(data)) + data
    return body + b"\x00" * (-len(body) % 4)


class Fuzzer:
    """Datagrams for one reader: `addresses` are (path, type pattern) pairs it understands."""

    def __init__(self, seed: int, addresses: Sequence[tuple[str, str]],
                 names: Sequence[str] = ("a", "b", "c")) -> None:
        self.seed = seed
        self.names = list(names)
        self.addresses = [(p.replace("{name}", n), t) for p, t in addresses
                          for n in (self.names[:1] + ["nosuchmodel"] if "{name}" in p else [""])]
        self.paths = [p for p, _ in self.addresses]

    # -- values ---------------------------------------------------------------------------
    def string(self, r: random.Random) -> bytes:
        k = r.random()
        if k < 0.35:
            return r.choice([b"linear", b"geometric", b"", b"127.0.0.1", b"::1", b"localhost",
                             b"10.1.2.3", b"224.0.0.1", b"255.255.255.255", b"To be, or not",
                             *(n.encode() for n in self.names)])
        if k < 0.55:
            return r.randbytes(r.randrange(1, 40)).replace(b"\x00", b"\xff")  # invalid UTF-8
        if k < 0.6:
            return b"x" * r.choice([1023, 1024, 1025, 5000, 20000])  # huge
        if k < 0.7:
            return "€Ω\u00a0\U0001f600\ud7ff\n\t".encode() * r.randrange(1, 20)
        return r.choice([b"abc", b"weights", b"0", b"-1", b"nan", b"inf", b"%s%n", b" " * 9])

    def argument(self, tag: str, r: random.Random) -> bytes:
        if tag == "i" or tag == "c" or tag == "r" or tag == "m":
            return struct.pack(">i" if tag == "i" else ">I", r.choice(INTS) & 0xFFFFFFFF
                               if tag != "i" else max(min(r.choice(INTS), 2**31 - 1), -(2**31)))
        if tag == "f":
            value = r.choice(FLOATS) if r.random() < 0.7 else r.uniform(-10, 10)
            try:
                return struct.pack(">f", value)
            except OverflowError:
                return struct.pack(">I", r.choice([0x7F800000, 0xFF800000, 0x7FC00001]))
        if tag == "d":
            return struct.pack(">d", r.choice(FLOATS))
        if tag == "h":
            return struct.pack(">q", r.choice(INT64))
        if tag == "t":
            return struct.pack(">Q", r.choice([0, 1, 2**64 - 1, 2**63]))
        if tag in "sS":
            return pad(self.string(r))
        if tag == "b":
            return blob(r.randbytes(r.randrange(0, 64)))
        return b""  # T F N I [ ] and unknown tags carry no data

    # -- messages -------------------------------------------------------------------------
    def message(self, r: random.Random, path: str | None = None) -> bytes:
        """One message: a known address with the right, the wrong or unknown arguments, or an
        unknown address."""
        k = r.random()
        if path is None:
            if k < 0.08:
                path = r.choice(["/charmix", "/charmix/", "/charmix/weights/", "/charmix/*",
                                 "/charmix/weigh?s", "/charmix/{weights,rate}", "/charmix/[a-z]",
                                 "/", "//charmix//rate", "/charmix/model//temperature",
                                 "/charmix/weight/", "/other/app", "/charmix/" + "x" * 3000])
            else:
                path = r.choice(self.paths)
        types = dict(self.addresses).get(path, "f")
        tags = self.tags_for(types, r)
        args = b"".join(self.argument(t, r) for t in tags)
        head = pad(path.encode()) + pad(("," + tags).encode("latin-1"))
        return (head + args)[:MAX_UDP - 64]

    def tags_for(self, pattern: str, r: random.Random) -> str:
        """Tags fitting the pattern (about half the time), else wrong ones."""
        k = r.random()
        if k < 0.45:  # fits: expand + and ? with a random count
            out = []
            i = 0
            while i < len(pattern):
                ch = pattern[i]
                quant = pattern[i + 1] if i + 1 < len(pattern) and pattern[i + 1] in "+?*" else ""
                count = {"": 1, "+": r.choice([1, 2, 3, 6, 7, 100]), "?": r.randrange(2),
                         "*": r.randrange(4)}[quant]
                choices = {"f": "fid", "i": "ifh", "s": "s"}.get(ch, ch)
                out += [r.choice(choices) for _ in range(count)]
                i += 2 if quant else 1
            return "".join(out)
        if k < 0.75:  # wrong arity: every count from 0 to 8 of the right kind
            kind = (pattern.replace("+", "").replace("?", "") or "f")[0]
            return kind * r.randrange(0, 9)
        if k < 0.9:  # wrong types
            return "".join(r.choice(TAGS) for _ in range(r.randrange(0, 8)))
        return "".join(r.choice(TAGS + UNKNOWN_TAGS) for _ in range(r.randrange(1, 6)))

    def systematic(self) -> list[bytes]:
        """Every address with every arity 0 – 8 of every argument kind, NaN and ±inf included."""
        out = []
        r = random.Random(self.seed)
        for path, _ in self.addresses:
            for kind in "ifsbdhTNx":
                for arity in range(9):
                    args = b"".join(self.argument(kind, r) for _ in range(arity))
                    out.append(pad(path.encode()) + pad(("," + kind * arity).encode()) + args)
            for value in FLOATS:
                out.append(pad(path.encode()) + pad(b",f") + self.float32(value))
        return out

    @staticmethod
    def float32(value: float) -> bytes:
        try:
            return struct.pack(">f", value)
        except OverflowError:
            return struct.pack(">f", math.copysign(math.inf, value))

    def bundle(self, r: random.Random, depth: int = 0) -> bytes:
        timetag = r.choice([1, 0, 2**64 - 1, (2**32) * 4_000_000_000, 2**63])
        parts = [b"#bundle\x00", struct.pack(">Q", timetag)]
        size = 16
        for _ in range(r.randrange(0, 8)):
            inner = (self.bundle(r, depth + 1) if depth < 6 and r.random() < 0.2
                     else r.choice(self.pool))
            if size + len(inner) > MAX_UDP - 8:
                break
            length = len(inner)
            if r.random() < 0.03:  # a size that lies
                length = r.choice([0, -1, length + 4, length - 4, 2**31 - 1])
            parts += [struct.pack(">i", length), inner]
            size += 4 + len(inner)
        return b"".join(parts)

    def nested(self, r: random.Random) -> bytes:
        """A bundle inside a bundle inside … up to thousands deep (a recursion bomb)."""
        depth = r.choice([10, 100, 900, 1100, 3000])
        data = r.choice(self.pool[:64])
        for _ in range(depth):
            data = b"#bundle\x00" + struct.pack(">Q", 1) + struct.pack(">i", len(data)) + data
            if len(data) > MAX_UDP - 20:
                break
        return data

    def stream(self, n: int):
        """n datagrams, the same n for the same seed (a failure replays from its index)."""
        if not hasattr(self, "pool"):
            r0 = random.Random(self.seed)
            self.pool = self.systematic()
            self.pool += [self.message(r0) for _ in range(3000)]
        r = random.Random(self.seed + 1)
        for _ in range(n):
            yield self._datagram(r)

    def _datagram(self, r: random.Random) -> bytes:
        k = r.random()
        if k < 0.12:  # random bytes, never starting like OSC
            data = r.randbytes(r.randrange(0, 200))
            return data if data[:1] not in (b"/", b"#") else b"\x00" + data
        if k < 0.55:
            return r.choice(self.pool)
        if k < 0.75:
            return self.bundle(r)
        if k < 0.9:  # truncated
            whole = self.bundle(r) if r.random() < 0.5 else r.choice(self.pool)
            return whole[: r.randrange(0, max(1, len(whole)))]
        if k < 0.995:  # a message with junk after it, or an odd length
            return r.choice(self.pool) + r.randbytes(r.randrange(1, 7))
        if k < 0.998:
            return self.nested(r)
        # oversized: as large as UDP allows
        parts = [b"#bundle\x00", struct.pack(">Q", 1)]
        size = 16
        while size < MAX_UDP - 3000:
            m = r.choice(self.pool)
            if size + 4 + len(m) > MAX_UDP:
                continue
            parts += [struct.pack(">i", len(m)), m]
            size += 4 + len(m)
        return b"".join(parts)
