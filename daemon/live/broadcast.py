"""Frames out as OSC: encode each step per the address table and send it to every destination.

Destinations are the static `--send` addresses (unicast, multicast or broadcast) plus subscribers
that asked with /charmix/subscribe and expire after protocol.SUBSCRIBER_TTL unless they renew.
/charmix/models, /charmix/vocab and /charmix/status go out at start and every
protocol.ANNOUNCE_EVERY seconds so a visualiser started late learns the layout.

Sending must never hurt the clock. The sockets are non-blocking. The sends keep the GIL, so a
control thread busy under a flood cannot stretch a frame's fan-out (live/udpsend.py). Any
error for one destination (a host that is unreachable, a full socket buffer, a datagram too
large) is counted and logged at most once a second; the other destinations and the next step are
unaffected. A receiver that is simply not running costs nothing at all (UDP to a closed port on
an unconnected socket is silently dropped).

Threads: the clock thread calls `send_frame` and `housekeeping`; the server thread calls
`subscribe`, `unsubscribe` and `announce_datagrams` (for /charmix/query replies). The destination
list is replaced, never mutated, so the sending side reads it without a lock.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field

import numpy as np

from charmix.daemon import protocol
from charmix.daemon.engine.mixer import Frame
from charmix.daemon.live import oscwire, udpsend
from charmix.daemon.live.counters import Counters, Throttle

MULTICAST_TTL = 1  # multicast stays on the local network segment (one LAN, one rig)
MAX_SUBSCRIBERS = 64
INT32_WRAP = 2**31

# Which Frame field each per-step address carries (FRAME_ADDRESSES are the short names).
FRAME_FIELDS = {
    "char": "char",
    "index": "index",
    "step": "step",
    "text": "line",
    "dist": "p_mix",
    "weights": "weights",
    "attribution": "attribution",
    "entropy": "entropy",
}


def short_name(addr: protocol.Address) -> str:
    """'/charmix/model/{name}/dist' → 'model/{name}/dist'."""
    return addr.path.removeprefix(protocol.PREFIX + "/")


OUTPUTS = {short_name(a): a for a in protocol.OUTPUT}


def encode(addr: protocol.Address, path: str, value: object) -> bytes:
    """One message for an output address, typed by the table's tag pattern."""
    if addr.types == "s":
        return oscwire.string(path, str(value))
    if addr.types == "i":
        return oscwire.int32(path, int(value) % INT32_WRAP)  # step wraps after 2^31 characters
    if addr.types == "s+":
        return oscwire.strings(path, value)  # type: ignore[arg-type]
    if addr.types.startswith("f"):
        return oscwire.floats(path, value)  # type: ignore[arg-type]
    raise ValueError(f"no encoder for {addr.path} with types {addr.types!r}")


@dataclass
class Destination:
    """One place frames go: a static --send address or a subscriber (with an expiry time)."""

    label: str  # how the user wrote it, for log lines
    family: int
    sockaddr: tuple
    expires: float | None = None  # monotonic seconds; None = static, never expires
    sent: int = 0
    errors: int = 0
    packed: bytes | None = dataclass_field(default=None, repr=False)  # kernel sockaddr (udpsend)

    def __post_init__(self) -> None:
        if self.packed is None:
            self.packed = udpsend.pack_sockaddr(self.family, self.sockaddr)

    @property
    def key(self) -> tuple:
        return (self.family, self.sockaddr[:2])


def destination(host: str, port: int, expires: float | None = None) -> Destination:
    """A Destination for a numeric IP address (no DNS lookups after startup)."""
    ip = ipaddress.ip_address(host)
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.version == 4:
        return Destination(f"{ip}:{port}", socket.AF_INET, (str(ip), port), expires)
    return Destination(f"[{ip}]:{port}", socket.AF_INET6, (str(ip), port, 0, 0), expires)


class Broadcaster:
    """Encodes frames and announcements and sends them to every destination."""

    def __init__(
        self,
        names: Sequence[str],
        vocab: Sequence[str],
        destinations: Sequence[Destination],
        counters: Counters,
        status: Callable[[], Sequence[float]],
        log: logging.Logger,
        *,
        limit: int = protocol.MAX_DATAGRAM,
        announce_every: float = protocol.ANNOUNCE_EVERY,
        subscriber_ttl: float = protocol.SUBSCRIBER_TTL,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.names = list(names)
        self.vocab = list(vocab)
        self.counters = counters
        self.status = status
        self.throttle = Throttle(log)
        self.log = log
        self.limit = limit
        self.extra_announce: Callable[[], list[bytes]] | None = None
        self.announce_every = announce_every
        self.subscriber_ttl = subscriber_ttl
        self.now = now
        self._static = list(destinations)
        self._subscribers: dict[tuple, Destination] = {}
        self._lock = threading.Lock()
        self._sockets: dict[int, socket.socket] = {}
        self._sockets_lock = threading.Lock()
        self._closed = False  # after close() nothing is sent and no socket is made again
        self.targets: tuple[Destination, ...] = tuple(self._static)
        self._next_announce = 0.0
        self._voices: dict[int, tuple[list, list[str]]] = {}  # voice → its frame's paths
        self._frame, self._model_paths = self._paths(0)
        for family in {d.family for d in self._static}:
            self._socket(family)
        self._warn_oversized()

    def _warn_oversized(self) -> None:
        """Say once, at start, when one message cannot fit the datagram limit (a user's model
        with a vocabulary of a few hundred characters): it then goes alone in a larger datagram,
        which receivers with small buffers (oscP5: 1,536 bytes) cut or drop."""
        longest = max([OUTPUTS["dist"].path, *self._model_paths], key=len)
        sizes = {
            longest: len(oscwire.floats(longest, np.zeros(len(self.vocab), np.float32))),
            OUTPUTS["vocab"].path: len(
                encode(OUTPUTS["vocab"], OUTPUTS["vocab"].path, "".join(self.vocab))
            ),
        }
        for path, size in sizes.items():
            if size + oscwire.BUNDLE_OVERHEAD + oscwire.ELEMENT_OVERHEAD > self.limit:
                self.log.warning(
                    "%s is %d bytes with a %d-character vocabulary: its datagrams exceed the "
                    "%d-byte limit (--max-datagram); receivers with small buffers may drop them",
                    path, size, len(self.vocab), self.limit,
                )

    def _paths(self, voice: int) -> tuple[list, list[str]]:
        """The addresses of one voice's frame (voice k > 0 under /charmix/voice/k/…)."""
        known = self._voices.get(voice)
        if known is None:
            frame_addrs = [OUTPUTS[name] for name in protocol.FRAME_ADDRESSES]
            frame = [(a, protocol.voice_path(a.path, voice), FRAME_FIELDS[short_name(a)])
                     for a in frame_addrs]
            model_dist = OUTPUTS["model/{name}/dist"]
            models = [protocol.voice_path(model_dist.for_model(name), voice)
                      for name in self.names]
            known = self._voices[voice] = (frame, models)
        return known

    # ------------------------------------------------------------------------- encoding
    def frame_messages(self, frame: Frame) -> list[bytes]:
        """The messages of one step, in FRAME_ADDRESSES order, then each model's dist."""
        return list(self._frame_messages(frame))

    def _frame_messages(self, frame: Frame) -> Iterator[bytes]:
        paths, model_paths = self._paths(frame.voice) if frame.voice else (
            self._frame, self._model_paths)
        for addr, path, field in paths:
            yield encode(addr, path, getattr(frame, field))
        p_models = np.asarray(frame.p_models)
        for i, path in enumerate(model_paths):
            yield oscwire.floats(path, p_models[i])

    def frame_datagrams(self, frame: Frame) -> list[bytes]:
        return oscwire.pack(self.frame_messages(frame), self.limit)

    def announce_datagrams(self) -> list[bytes]:
        """/charmix/models, /charmix/vocab, /charmix/status (as sent at start and periodically)."""
        msgs = [
            encode(OUTPUTS["models"], OUTPUTS["models"].path, self.names),
            encode(OUTPUTS["vocab"], OUTPUTS["vocab"].path, "".join(self.vocab)),
            encode(OUTPUTS["status"], OUTPUTS["status"].path, list(self.status())),
        ]
        if self.extra_announce is not None:  # /charmix/scenes (live/conductor.py)
            msgs += self.extra_announce()
        return oscwire.pack(msgs, self.limit)

    # -------------------------------------------------------------------------- sending
    def send_frame(self, frame: Frame) -> None:
        """Send one step to every destination (clock thread).

        Each datagram goes out as soon as it is packed, so the first one, which carries
        /charmix/char, waits for only one of the per-model distributions to be encoded (the one
        that no longer fits in it), not for all of them.
        """
        targets = self.targets
        if targets:
            sent = 0
            for dgram in oscwire.pack_iter(self._frame_messages(frame), self.limit):
                sent += self._send((dgram,), targets)
            if sent:
                self.counters.add("tx_datagrams", sent)  # once per frame: it takes a lock

    def announce(self) -> None:
        self._next_announce = self.now() + self.announce_every
        self.send(self.announce_datagrams(), self.targets)

    def housekeeping(self) -> None:
        """Expire subscribers and announce when due; cheap when nothing is due (clock thread)."""
        now = self.now()
        if self._subscribers and any(
            d.expires is not None and d.expires <= now for d in self.targets
        ):
            self._expire(now)
        if now >= self._next_announce:
            self.announce()

    def send(self, datagrams: Sequence[bytes], targets: Sequence[Destination]) -> None:
        """Send each datagram to each target; errors are counted, never raised."""
        sent = self._send(datagrams, targets)
        if sent:
            self.counters.add("tx_datagrams", sent)

    def _send(self, datagrams: Sequence[bytes], targets: Sequence[Destination]) -> int:
        """`send` without updating tx_datagrams; returns how many datagrams went out.

        The sends keep the GIL (charmix.daemon.live.udpsend): a frame to 64 subscribers beside a
        busy control thread took 150-300 ms when each send gave the GIL away. The sockets'
        lock is held meanwhile, so close() cannot free a descriptor in the middle."""
        sent = 0
        with self._sockets_lock:
            for dest in targets:
                sock = self._sockets.get(dest.family) or self._socket_locked(dest.family)
                if sock is None:  # closed: a step that outlived the daemon's stop sends nothing
                    return sent
                for dgram in datagrams:
                    try:
                        udpsend.sendto(sock, dgram, dest.sockaddr, dest.packed)
                    except OSError as exc:
                        dest.errors += 1
                        self.counters.add("tx_errors")
                        reason = exc.strerror or type(exc).__name__
                        self.throttle.warn(f"tx {dest.label}",
                                           f"send to {dest.label} failed: {reason}")
                    else:
                        dest.sent += 1
                        sent += 1
        return sent

    # ---------------------------------------------------------------------- subscribers
    def subscribe(self, host: str, port: int, ttl: float | None = None) -> bool:
        """Add or renew a subscriber for `ttl` seconds (default: the subscriber TTL); False if
        the subscriber table is full. New ones get an announcement at once so they learn the
        layout before the first frame arrives."""
        ttl = self.subscriber_ttl if ttl is None else min(ttl, self.subscriber_ttl)
        dest = destination(host, port, self.now() + ttl)
        with self._lock:
            if any(d.key == dest.key for d in self._static):
                return True  # already a static destination: nothing to renew
            old = self._subscribers.get(dest.key)
            if old is not None:
                old.expires = dest.expires
                return True
            if len(self._subscribers) >= MAX_SUBSCRIBERS:
                return False
            self._socket(dest.family)
            self._subscribers[dest.key] = dest
            self._publish()
        self.log.info("subscriber %s added", dest.label)
        self.send(self.announce_datagrams(), [dest])
        return True

    def unsubscribe(self, host: str, port: int) -> bool:
        """Remove a subscriber; False if there was none at that address."""
        key = destination(host, port).key
        with self._lock:
            gone = self._subscribers.pop(key, None)
            if gone is not None:
                self._publish()
        if gone is not None:
            self.log.info("subscriber %s removed", gone.label)
        return gone is not None

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def _expire(self, now: float) -> None:
        with self._lock:
            expired = [d for d in self._subscribers.values() if d.expires <= now]
            for d in expired:
                del self._subscribers[d.key]
            self._publish()
        for d in expired:
            self.log.info("subscriber %s expired (no renewal in %.0f s)", d.label,
                          self.subscriber_ttl)

    def _publish(self) -> None:
        """Replace the target tuple (under self._lock); senders read it without locking."""
        self.targets = tuple(self._static) + tuple(self._subscribers.values())

    # -------------------------------------------------------------------------- sockets
    def _socket(self, family: int) -> socket.socket | None:
        """The (non-blocking) sending socket for an address family, made on first use; None
        once the broadcaster is closed."""
        with self._sockets_lock:
            return self._socket_locked(family)

    def _socket_locked(self, family: int) -> socket.socket | None:
        if self._closed:
            return None
        sock = self._sockets.get(family)
        if sock is None:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)
            if family == socket.AF_INET:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, MULTICAST_TTL)
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            else:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, MULTICAST_TTL)
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 1)
            self._sockets[family] = sock
        return sock

    def close(self) -> None:
        """Close the sockets for good: a late step (one still running when Clock.stop gave up
        waiting for it) must not open a new one behind the daemon's back."""
        with self._sockets_lock:
            self._closed = True
            for sock in self._sockets.values():
                sock.close()
            self._sockets.clear()
