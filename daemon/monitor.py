"""`charmix monitor`: a live terminal view of a running daemon, the quickest proof that it works.

It shows what the daemon broadcasts, nothing more: the text coloured by the model that wrote each
character (argmax of /charmix/attribution), the weights, the most likely characters of p_mix and of
every p_i, entropies, chars/s, and the counters that tell a performer something is wrong (steps
lost on the way, datagrams that are not charmix OSC, the daemon's own status counters).

One thread, one UDP socket, `select` on the socket and the keyboard: no locks, no sleeps. The
socket reads whole datagrams (python-osc's socketserver truncates at 8 KiB) and python-osc's
OscPacket parses them. By default the monitor subscribes from an ephemeral port with
/charmix/subscribe and renews well before protocol.SUBSCRIBER_TTL, so it works whatever the
daemon's --send points at; `--listen PORT` only listens (e.g. on the daemon's --send port).
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import itertools
import math
import os
import re
import select
import socket
import sys
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np
import typer
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from charmix.daemon import protocol
from charmix.daemon.config import format_endpoint, parse_endpoint
from charmix.daemon.signals import interrupt_on_signals

PALETTE = ("cyan", "magenta", "yellow", "green", "red", "blue", "bright_white", "orange3")
GLYPHS = {"\n": "⏎", " ": "␣", "\t": "⇥", "\r": "␍"}
RENEW_EVERY = protocol.SUBSCRIBER_TTL / 3  # three chances to renew before a subscription lapses
RATE_WINDOW = 2.0  # seconds of arrivals behind the chars/s figure
DRAIN_BUDGET = 0.05  # seconds of parsing before the view gets a turn
QUIT_KEYS = {"q", "Q", "\x1b"}
_OUT = {a.path: a for a in protocol.OUTPUT if not a.per_model}
_PER_MODEL = [
    (re.compile(re.escape(a.path).replace(re.escape("{name}"), "([^/]+)") + "$"), a)
    for a in protocol.OUTPUT
    if a.per_model
]
_STEP = f"{protocol.PREFIX}/step"
STALE_AFTER = 2.0  # seconds without a datagram before the header says so


def model_colour(index: int | None) -> str:
    return "grey50" if index is None else PALETTE[index % len(PALETTE)]


def glyph(ch: str) -> str:
    """A character as one visible cell: whitespace and control characters get a symbol."""
    if ch in GLYPHS:
        return GLYPHS[ch]
    return ch if ch.isprintable() else f"\\x{ord(ch):02x}"


def _tags(params: list[Any]) -> str:
    """OSC type tags of parsed arguments (python-osc keeps the values, not the tags)."""
    out = []
    for p in params:
        if isinstance(p, str):
            out.append("s")
        elif isinstance(p, bool) or p is None:
            out.append("T")  # never valid in a charmix message
        elif isinstance(p, int):
            out.append("i")
        elif isinstance(p, float):
            out.append("f")
        else:
            out.append("b")
    return "".join(out)


@dataclass
class Counters:
    """What arrived and what went wrong; every bad input ends here, never in an exception."""

    datagrams: int = 0
    bytes: int = 0
    messages: int = 0
    malformed: int = 0  # not parseable as OSC
    unknown: int = 0  # OSC, but no output address of the table
    bad_args: int = 0  # a known address with the wrong types or vector length
    dropped_steps: int = 0  # gaps in /charmix/step: every datagram of those steps was lost
    incomplete: int = 0  # steps that arrived without all their frame messages
    restarts: int = 0  # the step counter went backwards (daemon restarted)


@dataclass
class MonitorState:
    """Everything the view shows, updated one datagram at a time (latest value wins)."""

    history: int = 4096
    counters: Counters = field(default_factory=Counters)
    models: list[str] = field(default_factory=list)
    vocab: str = ""
    step: int | None = None
    mix: np.ndarray | None = None
    dists: dict[str, np.ndarray] = field(default_factory=dict)
    weights: list[float] = field(default_factory=list)
    attribution: list[float] = field(default_factory=list)
    entropy: list[float] = field(default_factory=list)
    status: dict[str, float] = field(default_factory=dict)
    last_rx: float | None = None  # monotonic time of the last datagram

    def __post_init__(self) -> None:
        self.text: deque[list[Any]] = deque(maxlen=self.history)  # [char, model index | None]
        self.arrivals: deque[float] = deque()
        self.learned: dict[int, str] = {}  # index -> char from /charmix/index, until vocab comes
        self._frame: set[str] | None = None
        self._pending: list[Any] | None = None  # the text entry awaiting its attribution

    # -- input ----------------------------------------------------------------------------
    def feed(self, data: bytes, now: float) -> None:
        """Apply one datagram. A datagram holding /charmix/step starts a new frame."""
        c = self.counters
        c.datagrams += 1
        c.bytes += len(data)
        self.last_rx = now
        try:
            messages = [m.message for m in OscPacket(data).messages]
        except Exception:  # python-osc raises ParseError, and worse on hostile bytes
            c.malformed += 1
            return
        if any(m.address == _STEP for m in messages):
            self._close_frame()
            self._frame = set()
        for m in messages:
            c.messages += 1
            self._apply(m.address, list(m.params), now)

    def _close_frame(self) -> None:
        expected = {f"{protocol.PREFIX}/{name}" for name in protocol.FRAME_ADDRESSES}
        if self._frame is not None and not expected <= self._frame:
            self.counters.incomplete += 1

    def _apply(self, address: str, args: list[Any], now: float) -> None:
        entry, name = _OUT.get(address), None
        if entry is None:
            for pattern, template in _PER_MODEL:
                if match := pattern.match(address):
                    entry, name = template, match.group(1)
                    break
        if entry is None:
            self.counters.unknown += 1
            return
        if not entry.accepts(_tags(args)) or not self._sizes_ok(entry.path, args):
            self.counters.bad_args += 1
            return
        if self._frame is not None:
            self._frame.add(address)
        key = entry.path.removeprefix(protocol.PREFIX + "/")
        if name is not None:
            self.dists[name] = np.asarray(args, np.float64)
        elif key == "char":
            self._pending = [args[0], None]
            self.text.append(self._pending)
        elif key == "index" and self._pending is not None:
            self.learned[int(args[0])] = self._pending[0]
        elif key == "step":
            self._on_step(int(args[0]), now)
        elif key == "dist":
            self.mix = np.asarray(args, np.float64)
        elif key in ("weights", "attribution", "entropy"):
            setattr(self, key, [float(x) for x in args])
            if key == "attribution" and self._pending is not None:
                self._pending[1] = int(np.argmax(args))
                self._pending = None
        elif key == "models":
            if args != self.models:
                self.dists = {k: v for k, v in self.dists.items() if k in args}
            self.models = list(args)
        elif key == "vocab":
            self.vocab = args[0]
        elif key == "status":
            self.status = dict(zip(protocol.STATUS_FIELDS, map(float, args), strict=True))

    def _sizes_ok(self, path: str, args: list[Any]) -> bool:
        """Vector lengths must fit the announced vocabulary and models (once they are known)."""
        if path.endswith("/dist") and self.vocab:
            return len(args) == len(self.vocab)
        if path.rsplit("/", 1)[-1] in ("weights", "attribution", "entropy") and self.models:
            return len(args) == len(self.models)
        return True

    def _on_step(self, step: int, now: float) -> None:
        if self.step is not None:
            if step > self.step + 1:
                self.counters.dropped_steps += step - self.step - 1
            elif step <= self.step:
                self.counters.restarts += 1
                self.arrivals.clear()
        self.step = step
        self.arrivals.append(now)

    # -- derived --------------------------------------------------------------------------
    def chars_per_s(self, now: float) -> float:
        """Steps received per second over the last RATE_WINDOW seconds."""
        while self.arrivals and self.arrivals[0] < now - RATE_WINDOW:
            self.arrivals.popleft()
        if len(self.arrivals) < 2:
            return 0.0
        # Intervals between arrivals; measured to `now` so the figure falls when the text stops.
        return (len(self.arrivals) - 1) / max(now - self.arrivals[0], 1e-6)

    def char_at(self, index: int) -> str:
        if 0 <= index < len(self.vocab):
            return self.vocab[index]
        return self.learned.get(index, "")

    def top(self, p: np.ndarray | None, k: int) -> list[tuple[str, float]]:
        if p is None or p.size == 0:
            return []
        k = min(k, p.size)
        best = np.argpartition(-p, k - 1)[:k]
        best = best[np.argsort(-p[best], kind="stable")]
        return [(self.char_at(int(i)) or f"#{i}", float(p[i])) for i in best]


def entropy_bits(p: np.ndarray | None) -> float | None:
    if p is None or p.size == 0 or not np.all(np.isfinite(p)) or p.sum() <= 0:
        return None
    q = p[p > 0] / p.sum()
    return float(-(q * np.log2(q)).sum())


# -- view -----------------------------------------------------------------------------------
def render(state: MonitorState, source: str, width: int, height: int, top: int = 5,
           now: float | None = None, fill: bool = True) -> RenderableType:
    """The whole screen for one refresh: header, coloured text, one row per model, counters.

    `fill` keeps the layout still in a live view (the text area always takes the free rows);
    printed views only show the rows that have text.
    """
    now = time.monotonic() if now is None else now
    models = state.models or [f"model {i + 1}" for i in range(len(state.weights))]
    text_rows = max(3, height - 9 - len(models))
    return Group(
        _header(state, source, now),
        _text_view(state, width, text_rows, fill),
        _models_table(state, models, width, top),
        _counters(state),
        Text("q quits", "dim"),
    )


def _header(state: MonitorState, source: str, now: float) -> Text:
    out = Text.assemble(("charmix monitor  ", "bold"), (source, "dim"), "\n",
                        ("step ", "dim"), (str(state.step) if state.step is not None else "–"),
                        ("   chars/s ", "dim"), f"{state.chars_per_s(now):.1f}")
    if state.status:
        s = state.status
        mode = protocol.MODES[int(s["mode"])] if 0 <= s["mode"] < len(protocol.MODES) else "?"
        out.append(f"   daemon {s['chars_per_s']:.1f} chars/s, rate {s['rate']:g}, "
                   f"T {s['temperature']:.2f}, {mode}", "dim")
        if s["paused"]:
            out.append("   PAUSED", "bold red")
    if state.last_rx is None:
        out.append("   waiting for the daemon", "bold yellow")
    elif now - state.last_rx > STALE_AFTER:
        out.append(f"   nothing received for {now - state.last_rx:.0f} s", "bold red")
    return out


def _text_view(state: MonitorState, width: int, rows: int, fill: bool) -> Text:
    """The last `rows` screen rows of text, each character in its model's colour.

    Only the tail that can be on screen is laid out (rows × width characters at most), and each
    run of one model's characters is one span: a full screen costs a few ms per refresh.
    """
    width = max(10, width)
    tail = list(itertools.islice(reversed(state.text), rows * width))[::-1]
    lines: list[list[Any]] = [[]]
    for ch, model in tail:
        if ch == "\n":
            lines.append([])
        else:
            lines[-1].append((" " if ch == " " else glyph(ch), model))
    wrapped = [ln[i:i + width] for ln in lines for i in range(0, max(len(ln), 1), width)]
    shown = wrapped[-rows:]
    if fill:  # text grows upwards from the table, like a terminal scrolling
        shown = [[]] * (rows - len(shown)) + shown
    out = Text(no_wrap=True, overflow="crop")
    for i, row in enumerate(shown):
        for model, run in itertools.groupby(row, key=lambda cell: cell[1]):
            out.append("".join(ch for ch, _ in run), model_colour(model))
        if i < len(shown) - 1:
            out.append("\n")
    return out


def _bar(value: float, cells: int) -> str:
    value = min(max(value, 0.0), 1.0) if math.isfinite(value) else 0.0
    full = round(value * cells)
    return "█" * full + "·" * (cells - full)


def _models_table(state: MonitorState, models: list[str], width: int, top: int) -> Table:
    """One row per model (weight bar, attribution, entropy, top characters) and one for p_mix."""
    name_w = min(14, max([len(n) for n in models] + [5]))
    bar_w = max(6, min(24, (width - name_w) // 6))
    table = Table(box=None, pad_edge=False, show_edge=False, padding=(0, 1), width=width)
    table.add_column("model", width=name_w, no_wrap=True, header_style="dim")
    table.add_column("weight", width=bar_w + 5, no_wrap=True, header_style="dim")
    table.add_column("attr", width=4, justify="right", no_wrap=True, header_style="dim")
    table.add_column("bits", width=4, justify="right", no_wrap=True, header_style="dim")
    table.add_column(f"top {top}", no_wrap=True, overflow="crop", header_style="dim", ratio=1)

    def cell(values: list[float], i: int) -> str:
        return f"{values[i]:.2f}"[:4] if i < len(values) and math.isfinite(values[i]) else "–"

    for i, name in enumerate(models):
        w = state.weights[i] if i < len(state.weights) else float("nan")
        bar = Text(_bar(w, bar_w), model_colour(i))
        bar.append(f" {cell(state.weights, i)}")
        table.add_row(Text(name, model_colour(i)), bar, cell(state.attribution, i),
                      cell(state.entropy, i), _top_text(state.top(state.dists.get(name), top)))
    h = entropy_bits(state.mix)
    table.add_row(Text("mix", "bold"), "", "", cell([h] if h is not None else [], 0),
                  _top_text(state.top(state.mix, top)))
    return table


def _top_text(pairs: list[tuple[str, float]]) -> Text:
    out = Text()
    for ch, p in pairs:
        out.append(glyph(ch) if len(ch) == 1 else ch, "bold")
        out.append(f" {p:.2f}".replace(" 0.", " .") + "  ")
    return out


def _counters(state: MonitorState) -> Text:
    c = state.counters
    bad = c.dropped_steps + c.incomplete + c.malformed + c.unknown + c.bad_args
    out = Text.assemble(
        ("rx ", "dim"), f"{c.datagrams} datagrams, {c.bytes / 1e6:.2f} MB",
        ("   dropped steps ", "dim"), str(c.dropped_steps),
        ("   incomplete ", "dim"), str(c.incomplete), "\n",
        ("malformed ", "dim"), str(c.malformed),
        ("   unknown ", "dim"), str(c.unknown),
        ("   bad args ", "dim"), str(c.bad_args),
        ("   restarts ", "dim"), str(c.restarts),
        style="red" if bad else "",
    )
    out.append("\ndaemon  ", "dim")
    if state.status:
        s = state.status
        for i, keys in enumerate((
            ("rx_ok", "rx_bad", "rx_denied", "ticks_dropped", "subscribers"),
            ("tx_datagrams", "tx_errors", "overruns", "step_errors", "uptime"),
        )):
            out.append("\n        " if i else "")
            out.append("   ".join(f"{k} {s[k]:.0f}" for k in keys))
    else:
        out.append("status not received yet", "dim")
    return out


# -- network --------------------------------------------------------------------------------
def parse_hostport(
    spec: str, default_host: str, default_port: int = protocol.CONTROL_PORT
) -> tuple[str, int]:
    """'host:port', ':port', 'port' or 'host' (then `default_port`) -> (host, port)."""
    try:
        endpoint = parse_endpoint(spec, default_port, default_host, lowest=0)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return endpoint.host, endpoint.port


def _message(address: str, *args: Any) -> bytes:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


def _fmt(endpoint: tuple) -> str:
    return format_endpoint(*endpoint[:2])


def _resolve(host: str, port: int, passive: bool = False) -> tuple[int, tuple] | None:
    """(family, socket address) for a UDP endpoint, IPv4 first when a name has both; None when
    the name can't be resolved (yet)."""
    try:
        infos = socket.getaddrinfo(
            host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE if passive else 0
        )
    except (OSError, UnicodeError):
        return None
    family, _, _, _, addr = min(infos, key=lambda info: info[0] != socket.AF_INET)
    return family, addr


def _loopback(addr: tuple) -> bool:
    try:
        return ipaddress.ip_address(addr[0].split("%")[0]).is_loopback
    except ValueError:
        return False


class Link:
    """The monitor's one UDP socket: whole datagrams in, subscribe/renew/query out.

    Control messages go out from the same socket, so the daemon's "sender's address and port"
    defaults point straight back at it. The socket has the daemon's address family (IPv4 or
    IPv6, from getaddrinfo); a --listen wildcard 0.0.0.0 becomes :: for an IPv6 daemon. OSError
    (its strerror says why) when it can't be opened.
    """

    def __init__(self, daemon: tuple[str, int], listen: tuple[str, int] | None):
        self.daemon = daemon
        self.subscribing = listen is None
        resolved = _resolve(*daemon)
        # unresolvable (yet): try IPv4, sendto looks the name up again at every renewal
        family, self._to = resolved or (socket.AF_INET, daemon)
        v6 = family == socket.AF_INET6
        if listen is None:
            local = resolved is not None and _loopback(self._to) or daemon[0] == "localhost"
            here = ("::1" if v6 else "127.0.0.1") if local else ("::" if v6 else "0.0.0.0")
            bind: tuple = (here, 0)
        else:
            host = "::" if v6 and listen[0] == "0.0.0.0" else listen[0]  # "any", in v6
            found = _resolve(host, listen[1], passive=True)
            if found is None:
                raise OSError(errno.EADDRNOTAVAIL, f"cannot resolve {host!r}")
            if found[0] != family:
                raise OSError(
                    errno.EAFNOSUPPORT,
                    f"--listen {_fmt(listen)} and the daemon {_fmt(daemon)} are not "
                    "both IPv4 or both IPv6",
                )
            bind = found[1]
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            self.sock.bind(bind)
        except OSError:
            self.sock.close()
            raise
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.send_errors = 0
        self._renewed = -math.inf

    def describe(self) -> str:
        how = "subscribed" if self.subscribing else "listening"
        return f"{_fmt(self.daemon)} → :{self.port} ({how})"

    def _send(self, data: bytes) -> None:
        try:
            self.sock.sendto(data, self._to)
        except OSError:  # daemon not up yet, unresolvable host: count, retry at the next renewal
            self.send_errors += 1

    def maintain(self, now: float, want_announce: bool) -> None:
        """Subscribe (and renew) every RENEW_EVERY seconds; ask for models/vocab while missing."""
        if now - self._renewed < (1.0 if want_announce else RENEW_EVERY):
            return
        self._renewed = now
        if self.subscribing:
            self._send(_message(f"{protocol.PREFIX}/subscribe", self.port))
        if want_announce:
            self._send(_message(f"{protocol.PREFIX}/query"))

    def receive(self, state: MonitorState, budget: float = DRAIN_BUDGET) -> None:
        """Feed every waiting datagram to the state, for at most `budget` seconds."""
        deadline = time.monotonic() + budget
        while True:
            try:
                data = self.sock.recv(protocol.MAX_INPUT_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. an ICMP "port unreachable" reported on a later recv (Linux)
                if time.monotonic() > deadline:
                    return
                continue
            now = time.monotonic()
            state.feed(data, now)
            if now > deadline:
                return

    def close(self) -> None:
        if self.subscribing:
            self._send(_message(f"{protocol.PREFIX}/unsubscribe", self.port))
        self.sock.close()


@contextlib.contextmanager
def keyboard(enabled: bool) -> Iterator[int | None]:
    """stdin in cbreak mode (keys arrive unbuffered, unechoed) and always restored; else None."""
    if not enabled:
        yield None
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield fd
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@dataclass
class RunLimits:
    frames: int | None = None  # refreshes, then exit
    duration: float | None = None  # seconds, then exit
    once: bool = False  # one refresh as soon as a frame (and the model names) have arrived
    timeout: float = 5.0  # --once gives up after this long


def _quit_requested(fd: int) -> bool:
    """Read the waiting keys; q, Q or Esc quits, and so does a closed terminal (EOF)."""
    data = os.read(fd, 64)
    return not data or bool(QUIT_KEYS & set(data.decode(errors="replace")))


def run_monitor(console: Console, link: Link, limits: RunLimits, fps: float, top: int,
                plain: bool, keys: bool) -> MonitorState:
    """Wait on the socket and the keys until the next refresh, draw, repeat until told to stop.

    `plain` prints one view after another (pipes, logs, tests); otherwise a rich Live view
    redraws in place, on the terminal's alternate screen unless the run is bounded (then the
    last view stays on screen). Always closes the link, which unsubscribes.
    """
    state = MonitorState()
    start = time.monotonic()
    next_draw = start
    frames = 0
    bounded = limits.frames is not None or limits.duration is not None or limits.once

    def draw(live: Live | None) -> None:
        view = render(state, link.describe(), console.width, console.height, top,
                      fill=not plain)
        if live is not None:
            live.update(view, refresh=True)
        else:
            console.print(view)
            if not limits.once:
                console.print()
        console.file.flush()

    def finished(now: float) -> bool:
        if limits.once:
            return (state.step is not None and bool(state.models) and state.mix is not None
                    ) or now - start > limits.timeout
        if limits.frames is not None and frames >= limits.frames:
            return True
        return limits.duration is not None and now - start >= limits.duration

    live = None if plain else Live(console=console, auto_refresh=False, transient=False,
                                   screen=not bounded)
    with interrupt_on_signals(), keyboard(keys) as fd, live or contextlib.nullcontext():
        try:
            while True:
                now = time.monotonic()
                link.maintain(now, want_announce=not (state.models and state.vocab))
                waits = [link.sock] + ([fd] if fd is not None else [])
                timeout = 0.05 if limits.once else max(0.0, next_draw - now)
                ready, _, _ = select.select(waits, [], [], timeout)
                if link.sock in ready:
                    link.receive(state)
                if fd is not None and fd in ready and _quit_requested(fd):
                    break
                now = time.monotonic()
                if limits.once:
                    if finished(now):
                        if state.counters.datagrams:  # e.g. a paused daemon: status, no frame
                            draw(None)
                        break
                    continue
                if now >= next_draw:
                    draw(live)
                    frames += 1
                    next_draw = max(next_draw + 1.0 / fps, now)
                if finished(now):
                    break
        except KeyboardInterrupt:
            pass
        finally:
            link.close()
    return state


def register(app: typer.Typer) -> None:
    @app.command()
    def monitor(
        daemon: Annotated[str, typer.Option(
            "--daemon", "-d", help="The daemon's control address, [HOST:]PORT.")
        ] = f"{protocol.DEFAULT_HOST}:{protocol.CONTROL_PORT}",
        listen: Annotated[str | None, typer.Option(
            "--listen", "-l", help="Only listen on [HOST:]PORT (e.g. the port the daemon's --send "
            "points at) instead of subscribing from a free port.")] = None,
        fps: Annotated[float | None, typer.Option(
            min=0.1, max=60, help="Refreshes per second (default 10; 1 with --plain).")] = None,
        top: Annotated[int, typer.Option(min=1, max=20, help="Characters per top list.")] = 5,
        frames: Annotated[int | None, typer.Option(
            min=1, help="Refresh this many times, then exit.")] = None,
        duration: Annotated[float | None, typer.Option(
            min=0, help="Run this many seconds, then exit.")] = None,
        once: Annotated[bool, typer.Option(
            help="Print one view as soon as a frame arrives, then exit. After --timeout without "
            "one: print what did arrive (a paused daemon's status) and exit 0, or exit 1 if "
            "nothing arrived at all.")] = False,
        timeout: Annotated[float, typer.Option(min=0.1, help="How long --once waits.")] = 5.0,
        plain: Annotated[bool, typer.Option(
            help="Print views one after another, no colour or cursor movement (the default when "
            "stdout is not a terminal).")] = False,
    ) -> None:
        """Watch a running daemon: coloured text, weights, top characters, counters. q quits."""
        control = parse_hostport(daemon, protocol.DEFAULT_HOST)
        if control[1] == 0:
            raise typer.BadParameter(f"{daemon!r}: the daemon's port cannot be 0")
        where = (parse_hostport(listen, "0.0.0.0", protocol.OUTPUT_PORT)
                 if listen is not None else None)
        tty = sys.stdout.isatty()
        plain = plain or not tty
        console = Console(no_color=plain, highlight=False)
        try:
            link = Link(control, where)
        except OSError as exc:
            what = f"listen on {_fmt(where)}" if where else f"open a socket for {_fmt(control)}"
            console.print(f"charmix monitor: cannot {what}: {exc.strerror or exc}")
            raise typer.Exit(2) from None
        limits = RunLimits(frames, duration, once, timeout)
        state = run_monitor(console, link, limits, fps or (1.0 if plain else 10.0), top, plain,
                            keys=sys.stdin.isatty() and not plain)
        bounded = once or frames is not None or duration is not None
        if bounded and state.counters.datagrams == 0:
            print(f"charmix monitor: nothing received from {link.describe()}; is `charmix "
                  "daemon` running there?", file=sys.stderr)
            raise typer.Exit(1)
