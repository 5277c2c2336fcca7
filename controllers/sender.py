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
"""

from __future__ import annotations

import select
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket, ParseError

from charmix.daemon import protocol
from charmix.daemon.endpoint import format_endpoint, parse_endpoint

Target = tuple[str, int]
_TAG = {"f": OscMessageBuilder.ARG_TYPE_FLOAT, "i": OscMessageBuilder.ARG_TYPE_INT,
        "s": OscMessageBuilder.ARG_TYPE_STRING}
_RESOLVE_RETRY = 5.0  # seconds between attempts to resolve a host name that failed


def entry(suffix: str) -> protocol.Address:
    """The input address '/charmix/<suffix>' from the table (KeyError if the table lacks it)."""
    return protocol.control(suffix)


# the weights vector and the per-model weights set the same thing (Sender._forget_overlaps)
_VECTOR = entry("weights").path
_PER_MODEL = entry("weight/{name}").for_model("")  # '/charmix/weight/' + NAME


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


def encode(address: protocol.Address, args: Sequence[object], name: str | None = None) -> bytes:
    """One OSC message for an input address, typed by the table; ValueError for bad arguments.

    `name` fills a per-model address ('/charmix/weight/{name}'). Every value goes through the
    table's typed check (`Address.check`: kind, finiteness, range, enumeration, length; a prime
    longer than its limit is clipped as the daemon would), so a typo on the command line is an
    error here, not a silent rx_bad on the daemon. An `i` value past 32 bits goes as OSC int64
    (`h`), which the daemon reads as an integer too (seeds up to 2^63−1).
    """
    if address.per_model != (name is not None):
        need = "needs a" if address.per_model else "takes no"
        raise ValueError(f"{address.path} {need} model name")
    path = address.for_model(name) if name is not None else address.path
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


@dataclass
class SenderStats:
    datagrams: int = 0  # datagrams handed to the OS (one per target per message)
    suppressed: int = 0  # set() calls that changed nothing
    errors: int = 0  # send or resolve failures
    dropped_events: int = 0  # events dropped because the queue was full


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
    ) -> None:
        if not targets:
            raise ValueError("a sender needs at least one target")
        if not max_rate > 0:
            raise ValueError("max_rate must be > 0")
        self.targets = list(targets)
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
            self._put(cmd, encode(cmd.address, cmd.args, cmd.name))

    def _put(self, cmd: Command, dgram: bytes) -> None:
        with self._cond:
            if self._closing:
                return
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
                if left <= 0:
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

    # -- the sending thread ----------------------------------------------------------------
    def _run(self) -> None:
        while True:
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
                    return
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
            for dgram in batch:
                self._send(dgram, self._dests)
            for dgram in state:
                self._send(dgram, late)
            with self._cond:
                self._busy = False
                self._last_send = time.monotonic()
                self._cond.notify_all()

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
                    self._log(f"sending to {_fmt(dest.target)} works again")
            except OSError as exc:  # full buffer, unreachable network: drop, count, say once
                self.stats.errors += 1
                if not dest.failing:
                    dest.failing = True
                    self._log(f"cannot send to {_fmt(dest.target)}: {exc} (will keep trying)")

    def _resolve(self, dest: _Dest) -> None:
        """Look the host up (may block on DNS: never call it on the sending thread)."""
        try:
            family, _, _, _, addr = socket.getaddrinfo(*dest.target, type=socket.SOCK_DGRAM)[0]
        except (OSError, UnicodeError) as exc:
            dest.retry_at = time.monotonic() + _RESOLVE_RETRY
            self.stats.errors += 1
            if not dest.failing:
                dest.failing = True
                self._log(f"cannot resolve {_fmt(dest.target)}: {exc} (retrying every "
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


def udp_socket(family: int) -> socket.socket:
    """A UDP socket; IPv4 ones may send to a broadcast address (one gesture, a whole subnet)."""
    sock = socket.socket(family, socket.SOCK_DGRAM)
    if family == socket.AF_INET:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    return sock


def format_targets(*targets: Target) -> str:
    """'host:port, [v6]:port' — how targets are written on the command line and in messages."""
    return ", ".join(_fmt(t) for t in targets)


def _fmt(target: Target) -> str:
    return format_endpoint(*target)


# -- asking the daemon what it runs ----------------------------------------------------------
@dataclass
class DaemonInfo:
    """One daemon's answer to /charmix/query."""

    source: Target
    models: list[str] = field(default_factory=list)
    vocab: str | None = None
    status: dict[str, float] | None = None


def query(targets: Sequence[Target], timeout: float = 0.5) -> list[DaemonInfo]:
    """Send /charmix/query to every target and collect the replies for up to `timeout` seconds.

    Returns one DaemonInfo per answering daemon (those that sent /charmix/models), in the order
    the answers came; stops early once every target has sent models, vocab and status.
    """
    msg = encode(entry("query"), ())
    paths = {s: protocol.address(f"{protocol.PREFIX}/{s}", "out").path
             for s in ("models", "vocab", "status")}
    found: dict[Target, DaemonInfo] = {}
    socks: list[socket.socket] = []
    try:
        for target in targets:
            try:
                family, _, _, _, addr = socket.getaddrinfo(*target, type=socket.SOCK_DGRAM)[0]
                sock = udp_socket(family)  # --to 192.168.1.255:7770 asks a whole subnet
                socks.append(sock)
                sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
                sock.sendto(msg, addr)
            except OSError:  # unresolvable or unreachable: that target just doesn't answer
                continue
        deadline = time.monotonic() + timeout
        while socks and (left := deadline - time.monotonic()) > 0:
            for sock in select.select(socks, [], [], left)[0]:
                try:
                    data, src = sock.recvfrom(protocol.MAX_INPUT_DATAGRAM)
                    messages = [m.message for m in OscPacket(data).messages]
                except (OSError, ParseError):
                    continue
                info = found.setdefault(src[:2], DaemonInfo(src[:2]))
                for m in messages:
                    _absorb(info, m.address, m.params, paths)
            complete = [i for i in found.values() if i.models and i.vocab is not None and i.status]
            if len(complete) >= len(targets):
                break
    finally:
        for sock in socks:
            sock.close()
    return [info for info in found.values() if info.models]


def _absorb(info: DaemonInfo, path: str, params: list, paths: dict[str, str]) -> None:
    """Take what a reply message says into `info`; anything malformed is ignored."""
    if path == paths["models"] and params and all(isinstance(p, str) for p in params):
        info.models = list(params)
    elif path == paths["vocab"] and len(params) == 1 and isinstance(params[0], str):
        info.vocab = params[0]
    elif path == paths["status"] and len(params) == len(protocol.STATUS_FIELDS) and all(
        isinstance(p, int | float) for p in params
    ):
        info.status = dict(zip(protocol.STATUS_FIELDS, map(float, params), strict=True))


class ModelsUnknown(Exception):
    """Neither a daemon nor --models said which models there are; str() says what to do."""


def resolve_models(
    targets: Sequence[Target], models: str | None, timeout: float = 0.5,
    log: Callable[[str], None] | None = None,
) -> tuple[list[str], DaemonInfo | None]:
    """Model names in weight order: the daemon's (asked with /charmix/query), else --models.

    The daemon wins when both exist, because weights are positional and only it knows the order.
    With several daemons the first to answer sets the order; any daemon that runs other models,
    or the same in another order, is named in a warning (its /charmix/weights would be wrong).
    """
    say = log or (lambda m: print(f"charmix: {m}", file=sys.stderr, flush=True))
    given = [m.strip() for m in models.split(",") if m.strip()] if models else []
    if models is not None and not given:
        raise ModelsUnknown("--models is empty; give names like --models austen,bible,linux")
    if len(set(given)) != len(given):
        raise ModelsUnknown(f"--models lists a name twice: {models}")
    replies = query(targets, timeout) if timeout > 0 else []
    if replies:
        info = replies[0]
        for other in replies[1:]:
            if other.models != info.models:
                say(f"the daemons disagree: {_fmt(info.source)} runs {','.join(info.models)} but "
                    f"{_fmt(other.source)} runs {','.join(other.models)}; weight vectors follow "
                    f"{_fmt(info.source)}'s order and will be wrong for {_fmt(other.source)}")
        if given and given != info.models:
            say(f"the daemon at {_fmt(info.source)} runs {','.join(info.models)}; "
                f"using that instead of --models {','.join(given)}")
        return info.models, info
    if given:
        return given, None
    where = format_targets(*targets)
    raise ModelsUnknown(
        f"no daemon answered /charmix/query at {where} within {timeout:g} s; start "
        "`charmix daemon` first or name the models with --models a,b,c"
    )
