"""OSC out to one or more daemons: latest-wins state, one-off events, and the model-name query.

Every controller talks to the daemon through a `Sender`. Why it is shaped like this:

- **State** (`set`: weights, temperature, rate…) is latest-wins: a value is sent only when it
  differs from what was last sent to that address, and each flush is at least 1/max_rate apart,
  so a 1 kHz stream of mouse motion becomes ≤ ~100 datagrams/s. The newest value always goes
  out (a trailing send after the rate window), so the daemon ends where the gesture ended.
  /charmix/weights and /charmix/weight/NAME set the same weights, so sending either forgets
  what was last sent to the other (a fader moved back after a solo vector is sent again).
  A resend, and a target resolved late, get the state in the order it was last sent.
- **Events** (`event`: tick, reset, prime…) are sent every time, in order.
- The caller never blocks: `set`/`event` only store bytes and notify one background thread that
  owns the socket and sends. Host names are looked up once at start; a failed lookup is retried
  every few seconds on a short-lived thread, and the target gets the current state once it
  resolves. A missing daemon costs nothing (UDP); failures are counted and reported once per
  target, never raised.
- Messages are typed from the address table (`protocol.INPUT`), so an `i` address gets an int and
  an `f+` address floats, exactly what the daemon's dispatcher expects.
- Nothing that goes wrong while sending ends the thread (a full buffer, a failing log, a bug):
  each round is caught, counted and reported, and a thread found dead is started again, so
  `flush()` never waits on a corpse and `set()` never queues into one.

Message building lives in controllers/sender_messages.py and the /charmix/query reader in
controllers/sender_query.py; every name stays importable from here.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from charmix.controllers.sender_messages import (
    Command,
    Target,
    entry,
    udp_socket,
)
from charmix.daemon import protocol
from charmix.daemon.protocol.encode import encode
from charmix.daemon.protocol.endpoint import format_address

_RESOLVE_RETRY = 5.0  # seconds between attempts to resolve a host name that failed

# the weights vector and the per-model weights set the same thing (Sender._forget_overlaps)
_VECTOR = entry("weights").path
_PER_MODEL = entry("weight/{name}").for_model("")  # '/charmix/weight/' + NAME


@dataclass
class SenderStats:
    datagrams: int = 0  # datagrams handed to the OS (one per target per message)
    suppressed: int = 0  # set() calls that changed nothing
    errors: int = 0  # send or resolve failures
    dropped_events: int = 0  # events dropped because the queue was full
    log_errors: int = 0  # reports that could not be written (the log itself failed)
    restarts: int = 0  # times the sending thread had to be started again


@dataclass
class _Dest:
    target: Target
    addr: tuple | None = None  # None until resolved
    family: int = socket.AF_INET
    resolving: bool = False
    retry_at: float = 0.0
    failing: bool = False
    catch_up: bool = False  # resolved late: owes it the current state


class Sender:
    """Sends OSC to every target from one background thread; see the module docstring."""

    def __init__(
        self,
        targets: Sequence[Target],
        max_rate: float = 100.0,
        resend: float = 0.0,
        log: Callable[[str], None] | None = None,
        max_events: int = 1024,
        voice: int = 0,
    ) -> None:
        """`voice`: which voice of a daemon run with --voices K the per-voice addresses steer."""
        if not targets:
            raise ValueError("a sender needs at least one target")
        if not max_rate > 0:
            raise ValueError("max_rate must be > 0")
        self.targets = list(targets)
        self.voice = voice
        # Called as hook(old, new) after retarget(): others that talk to the same daemon (the
        # web bridge's frame feed) follow it too.
        self.on_retarget: list[Callable[[Target, Target], None]] = []
        self.interval = 1.0 / max_rate
        self.resend = resend  # > 0: re-send the current state this often (daemon restarts)
        self.stats = SenderStats()
        self._log = log or (lambda msg: print(f"charmix: {msg}", file=sys.stderr, flush=True))
        self._cond = threading.Condition()
        self._pending: dict[str, bytes] = {}
        self._last: dict[str, bytes] = {}  # the state, per address, in the order last sent
        self._known: dict[str, bytes] = {}  # what the daemon holds per address (suppression)
        self._events: deque[bytes] = deque()
        self._max_events = max_events
        self._busy = False
        self._closing = False
        self._next_flush = 0.0
        self._last_send = time.monotonic()
        self._dests = [_Dest(t) for t in self.targets]
        self._socks: dict[int, socket.socket] = {}
        for dest in self._dests:  # at start-up only: later lookups run off the sending thread
            self._resolve(dest)
        self._start_thread()

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._run, name="charmix-sender", daemon=True)
        self._thread.start()

    # -- caller side: never blocks on the network --------------------------------------------
    def set(self, address: protocol.Address, *args: object, name: str | None = None) -> None:
        """Make `args` the current value of an address; sent if it differs from the last sent."""
        self.apply([Command(address, args, name)])

    def event(self, address: protocol.Address, *args: object, name: str | None = None) -> None:
        """Send a one-off message (every call is sent, in order)."""
        self.apply([Command(address, args, name, event=True)])

    def apply(self, commands: Iterable[Command]) -> None:
        """Queue commands; ValueError (nothing queued from that one on) for bad arguments."""
        for cmd in commands:
            self._put(cmd, encode(cmd.address, cmd.args, cmd.name, self.voice))

    def _put(self, cmd: Command, dgram: bytes) -> None:
        with self._cond:
            if self._closing:
                return
            if not self._thread.is_alive():  # never queue into a dead thread
                self.stats.restarts += 1
                self._busy = False
                self._start_thread()
            if cmd.event:
                if len(self._events) >= self._max_events:
                    self._events.popleft()
                    self.stats.dropped_events += 1
                self._events.append(dgram)
            else:
                self._forget_overlaps(cmd.path)  # it goes out after anything already pending
                if self._known.get(cmd.path) == dgram:
                    if self._pending.pop(cmd.path, None) is None:  # back where it was: no send
                        self.stats.suppressed += 1
                else:  # re-inserted at the end: a flush sends changes in the order they were made
                    self._pending.pop(cmd.path, None)
                    self._pending[cmd.path] = dgram
            self._cond.notify()

    def _forget_overlaps(self, path: str) -> None:
        """Forget known values that a message to `path` changes too (under self._cond).

        /charmix/weights and /charmix/weight/NAME set the same weights, so each makes the
        other's last-sent value stale: after a vector, a fader back at its old value must be
        sent again, and after a fader, the same vector again. Forgetting only costs a resend.
        """
        if path == _VECTOR:
            stale = [p for p in self._known if p.startswith(_PER_MODEL)]
        elif path.startswith(_PER_MODEL):
            stale = [_VECTOR]
        else:
            return
        for p in stale:
            self._known.pop(p, None)

    def _remember(self, path: str, dgram: bytes) -> None:
        """Record a sent value (under self._cond); a resend replays in the order of last send."""
        self._forget_overlaps(path)
        self._known[path] = dgram
        self._last.pop(path, None)  # re-inserted at the end: an old vector never replays last
        self._last[path] = dgram

    def flush(self, timeout: float = 2.0) -> bool:
        """Wait until everything queued so far is sent (True) or the timeout passes (False)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._events or self._busy:
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():  # a dead thread sends nothing
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def close(self, timeout: float = 2.0) -> None:
        """Send what is pending (trailing sends included), then stop the thread."""
        self.flush(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout)
        for sock in self._socks.values():
            sock.close()

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def retarget(self, old: Target, new: Target) -> None:
        """Send what went to `old` to `new` from now on (a daemon followed by name moved);
        the new place gets the current state at once. Looks the host up on the caller's
        thread, never on the sending one."""
        with self._cond:
            dests = [d for d in self._dests if d.target == old]
        for dest in dests:
            fresh = _Dest(new)
            self._resolve(fresh)
            with self._cond:
                dest.target, dest.addr, dest.family = new, fresh.addr, fresh.family
                dest.failing = False
                dest.catch_up = fresh.addr is not None
                self.targets = [new if t == old else t for t in self.targets]
                self._cond.notify_all()
        for hook in list(self.on_retarget):
            hook(old, new)

    # -- the sending thread ----------------------------------------------------------------
    def _run(self) -> None:
        """The sending thread: nothing that goes wrong in one round may end it (issue 10)."""
        while True:
            try:
                if not self._round():
                    return
            except Exception as exc:  # a bug or a broken stream costs one batch, never the thread
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
                self.stats.errors += 1
                self._say(f"sender: {type(exc).__name__}: {exc} (carrying on)")
                time.sleep(0.01)  # a fault that repeats must not spin a core

    def _round(self) -> bool:
        """Wait for work, then send it; False once closing."""
        with self._cond:
            while True:
                now = time.monotonic()
                due = self._pending and now >= self._next_flush
                quiet = now - self._last_send
                refresh = self.resend > 0 and self._last and quiet >= self.resend
                late = [d for d in self._dests if d.catch_up]
                if self._closing or self._events or due or refresh or late:
                    break
                waits = [self._next_flush - now] if self._pending else []
                if self.resend > 0 and self._last:
                    waits.append(self._last_send + self.resend - now)
                self._cond.wait(max(min(waits), 0.0005) if waits else None)
            if self._closing:
                return False
            batch = list(self._events)
            self._events.clear()
            if due:
                batch += self._pending.values()
                for path, dgram in self._pending.items():
                    self._remember(path, dgram)
                self._pending.clear()
                self._next_flush = now + self.interval
            elif refresh and not batch:
                batch = list(self._last.values())
            for dest in late:
                dest.catch_up = False
            state = list(self._last.values()) if late else []
            self._busy = True
        try:
            for dgram in batch:
                self._send(dgram, self._dests)
            for dgram in state:
                self._send(dgram, late)
        finally:
            with self._cond:
                self._busy = False
                self._last_send = time.monotonic()
                self._cond.notify_all()
        return True

    def _say(self, message: str) -> None:
        """Report through the caller's log; a log that fails (a closed terminal) is ignored."""
        try:
            self._log(message)
        except Exception:
            self.stats.log_errors += 1

    def _send(self, dgram: bytes, dests: list[_Dest]) -> None:
        for dest in dests:
            if dest.addr is None:  # not resolved (yet): this datagram is lost for it
                self.stats.errors += 1
                self._resolve_later(dest)
                continue
            try:
                self._socket(dest.family).sendto(dgram, dest.addr)
                self.stats.datagrams += 1
                if dest.failing:
                    dest.failing = False
                    self._say(f"sending to {format_address(dest.target)} works again")
            except OSError as exc:  # full buffer, unreachable network: drop, count, say once
                self.stats.errors += 1
                if not dest.failing:
                    dest.failing = True
                    self._say(f"cannot send to {format_address(dest.target)}: {exc} "
                              "(will keep trying)")

    def _resolve(self, dest: _Dest) -> None:
        """Look the host up (may block on DNS: never call it on the sending thread)."""
        try:
            family, _, _, _, addr = socket.getaddrinfo(*dest.target, type=socket.SOCK_DGRAM)[0]
        except (OSError, UnicodeError) as exc:
            dest.retry_at = time.monotonic() + _RESOLVE_RETRY
            self.stats.errors += 1
            if not dest.failing:
                dest.failing = True
                self._say(f"cannot resolve {format_address(dest.target)}: {exc} (retrying every "
                          f"{_RESOLVE_RETRY:.0f} s)")
            return
        dest.addr, dest.family = addr, family

    def _resolve_later(self, dest: _Dest) -> None:
        """Retry a failed lookup on a short-lived thread; once it works, send it the state."""
        if dest.resolving or time.monotonic() < dest.retry_at:
            return
        dest.resolving = True

        def work() -> None:
            self._resolve(dest)
            with self._cond:
                dest.resolving = False
                dest.catch_up = dest.addr is not None
                self._cond.notify_all()

        threading.Thread(target=work, name="charmix-resolve", daemon=True).start()

    def _socket(self, family: int) -> socket.socket:
        sock = self._socks.get(family)
        if sock is None:
            sock = udp_socket(family)
            sock.setblocking(False)
            self._socks[family] = sock
        return sock
