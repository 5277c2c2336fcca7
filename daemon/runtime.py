"""The running daemon: models → engine → clock → broadcaster, steered by the control server.

`Daemon.start` builds everything from a Config and fails early with a StartupError (one line, no
traceback) for anything the user can fix: a missing or bad model, a port in use, an address that
does not resolve, weights that name no model. `Daemon.run` then blocks the main thread until
SIGINT or SIGTERM and stops cleanly (exit 0 well within a second), writing a one-line status
every `status_every` seconds.

Threads: the clock thread runs the engine and sends frames; the control thread applies OSC input;
the main thread waits for signals and logs status; the Console thread writes the echoed text and
log lines. Nothing on the clock or control thread ever writes to a terminal or pipe directly: a
terminal paused with Ctrl-S or a log pipe nobody reads would otherwise stop the music.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TextIO

import numpy as np

from charmix.daemon import protocol
from charmix.daemon.broadcast import Broadcaster, Destination
from charmix.daemon.clock import Clock
from charmix.daemon.config import Config, ConfigError, Endpoint
from charmix.daemon.controls import ControlError, Controls
from charmix.daemon.engine import Engine, Frame
from charmix.daemon.model import (
    ModelError,
    StepModel,
    default_models,
    load_model,
    resolve_model,
    shipped_models_dir,
)
from charmix.daemon.server import ControlServer, ListenError
from charmix.daemon.signals import STOP_SIGNALS
from charmix.daemon.styles import expand

SWITCH_INTERVAL = 0.001  # s; how long a busy thread may keep the GIL from the clock (default 5 ms)
RATE_WINDOW = 1.0  # s over which chars/s is measured
OSC_SPECIAL = set(" #*,/?[]{}")  # characters with a meaning in OSC address patterns
PER_MODEL_INPUT = next(a for a in protocol.INPUT if a.per_model)  # for the example in a warning


class StartupError(Exception):
    """Something stops the daemon from starting; str() is the one line to show the user."""


class Console:
    """Writes echoed text and log lines from its own thread through a bounded queue.

    put() never blocks: if the terminal stops reading and the queue fills, new output is dropped
    and counted rather than stalling the caller (the clock thread, for the echo).
    """

    def __init__(self, out: TextIO, err: TextIO, size: int = 10_000) -> None:
        self.out, self.err = out, err
        self.dropped = 0
        self._queue: queue.Queue[tuple[TextIO, str] | None] = queue.Queue(size)
        self._mid_line = False
        self._thread = threading.Thread(target=self._run, name="charmix-console", daemon=True)
        self._thread.start()

    def text(self, chars: str) -> None:
        self._put(self.out, chars)

    def line(self, message: str) -> None:
        self._put(self.err, message + "\n")

    def _put(self, stream: TextIO, data: str) -> None:
        try:
            self._queue.put_nowait((stream, data))
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            with contextlib.suppress(queue.Empty):
                while len(batch) < 4096 and batch[-1] is not None:
                    batch.append(self._queue.get_nowait())
            # Consecutive writes to one stream become one write + flush (a burst echoes fast).
            runs: list[tuple[TextIO, list[str]]] = []
            for item in batch:
                if item is None:
                    break
                stream, data = item
                if runs and runs[-1][0] is stream:
                    runs[-1][1].append(data)
                else:
                    runs.append((stream, [data]))
            for stream, parts in runs:
                self._write(stream, "".join(parts))
            if batch[-1] is None:
                return

    def _write(self, stream: TextIO, data: str) -> None:
        try:
            if stream is self.err and self._mid_line and _same_terminal(self.out, self.err):
                self.out.write("\n")
                self.out.flush()
                self._mid_line = False
            stream.write(data)
            stream.flush()
            if stream is self.out and data:
                self._mid_line = not data.endswith("\n")
        except (OSError, ValueError):
            self.dropped += 1  # a closed or broken stream: keep running without it

    def handler(self) -> logging.Handler:
        console = self

        class _Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                console.line(self.format(record))

        handler = _Handler()
        handler.setFormatter(logging.Formatter("charmix: %(message)s"))
        return handler

    def close(self, timeout: float = 0.3) -> None:
        """Flush what is queued (waiting at most `timeout`) and stop the thread."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)


def _same_terminal(a: TextIO, b: TextIO) -> bool:
    try:
        return a.isatty() and b.isatty()
    except (OSError, ValueError):
        return False


class Daemon:
    """One charmix daemon: call start(), then run() (blocking) or stop()."""

    def __init__(
        self,
        config: Config,
        log: logging.Logger | None = None,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.log = log or logging.getLogger("charmix.daemon")
        self.echo = echo
        self.started_at = time.monotonic()
        self._stopping = False
        self._wake_w: socket.socket | None = None
        self._rate_mark = (time.monotonic(), 0)
        self.chars_per_s = 0.0
        self.engine: Engine
        self.controls: Controls
        self.broadcaster: Broadcaster
        self.server: ControlServer | None = None
        self.clock: Clock

    # -------------------------------------------------------------------------- startup
    def start(self, *, run_clock: bool = True) -> None:
        """Load, bind and start; StartupError for anything the user must fix."""
        cfg = self.config
        models = self._load_models()
        names = [m.name for m in models]
        weights = self._initial_weights(names)
        try:
            self.engine = Engine(models, seed=cfg.seed, weights=weights)
            self.controls = Controls(
                names, weights, temperature=cfg.temperature, mode=cfg.mode, topk=cfg.topk,
                topp=cfg.topp, slew=cfg.slew, rate=cfg.rate,
                model_temperature=cfg.model_temperature,
            )
        except (ValueError, ControlError) as exc:
            raise StartupError(str(exc)) from None
        destinations = [self._destination(ep) for ep in cfg.send]
        try:
            self.broadcaster = Broadcaster(
                names, self.engine.vocab, destinations, self.controls.counters,
                self.status_values, self.log, limit=cfg.max_datagram,
            )
        except OSError as exc:  # e.g. an IPv6 destination on a host with IPv6 disabled
            raise StartupError(f"--send: cannot open a socket: {exc.strerror or exc}") from None
        try:
            self.server = ControlServer(
                cfg.listen, self.controls, self.broadcaster, cfg.allow, self.log
            )
        except ListenError as exc:
            self.broadcaster.close()
            raise StartupError(str(exc)) from None
        if cfg.prime:
            self.engine.prime(cfg.prime)
        self.engine.advance()  # the first character's model step, before the clock starts
        self.clock = Clock(self.controls, self._step, self._service, self.log)
        self.controls.play_tick = self.clock.try_tick
        sys.setswitchinterval(SWITCH_INTERVAL)
        self.started_at = time.monotonic()
        self.server.start()
        self.broadcaster.announce()
        if run_clock:
            self.clock.start()

    def _load_models(self) -> list[StepModel]:
        cfg = self.config
        try:
            if cfg.models:
                paths = [resolve_model(spec, cfg.models_dir) for spec in cfg.models]
                models = [load_model(path) for path in paths]
            else:
                models, notes = default_models(cfg.models_dir)
                for note in notes:
                    self.log.info("%s", note)
                if not models:
                    where = cfg.models_dir or shipped_models_dir()
                    raise StartupError(f"no .onnx models in {where} (give --model or --models-dir)")
            # A style-conditioned model plays as one source per style (charmix.daemon.styles).
            models = expand(models, cfg.style_mode)
        except ModelError as exc:
            raise StartupError(str(exc)) from None
        names = [m.name for m in models]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise StartupError(f"two models are named {', '.join(duplicates)}; names must differ")
        for name in names:
            odd = sorted(set(name) & OSC_SPECIAL)
            if odd:
                self.log.warning(
                    "model name %r contains %s: its per-model OSC addresses (e.g. %s) may not be "
                    "reachable from every OSC sender; consider renaming the model", name,
                    " ".join(repr(c) for c in odd), PER_MODEL_INPUT.for_model(name),
                )
        return models

    def _initial_weights(self, names: list[str]) -> list[float] | None:
        weights = self.config.weights
        if weights is None:
            return None
        if isinstance(weights, dict):
            unknown = [name for name in weights if name not in names]
            if unknown:
                raise StartupError(
                    f"weights: unknown model {unknown[0]!r} (have: {', '.join(names)})"
                )
            return [weights.get(name, 0.0) for name in names]
        if len(weights) != len(names):
            raise StartupError(
                f"weights: {len(weights)} values for {len(names)} models ({', '.join(names)})"
            )
        return list(weights)

    @staticmethod
    def _destination(endpoint: Endpoint) -> Destination:
        try:
            family, sockaddr = endpoint.resolve()
        except ConfigError as exc:
            raise StartupError(f"--send {exc}") from None
        return Destination(str(endpoint), family, sockaddr)

    # -------------------------------------------------------------------- clock callbacks
    def _step(self, dt: float) -> None:
        frame: Frame = self.engine.step(self.controls.snapshot(), dt)
        self.broadcaster.send_frame(frame)
        if self.echo is not None:
            self.echo(frame.char)
        self._advance()

    def _advance(self) -> None:
        """The models' next step now, while nothing waits: the next tick or weights change then
        costs only the mix and the send (see Engine.advance). A failure here is logged, not
        counted as a failed step: this character was sent, and the next step retries."""
        try:
            self.engine.advance()
        except Exception as exc:
            self.clock.throttle.warn("advance", f"model step failed: {type(exc).__name__}: {exc}")

    def _service(self) -> None:
        """Between steps, on the clock thread: engine commands, then housekeeping."""
        commands = self.controls.take_commands()
        for command in commands:
            try:  # one failing command must not cost the others or the housekeeping below
                if command.kind == "prime":
                    self.engine.prime(command.text)
                elif command.kind == "reset":
                    self.engine.reset()
                elif command.kind == "seed":
                    self.engine.reseed(command.seed)
            except Exception as exc:
                self.clock.throttle.warn(f"command:{command.kind}",
                                   f"{command.kind} failed: {type(exc).__name__}: {exc}")
        if commands:
            self._advance()  # after a prime or reset, be ready for the next character
        now = time.monotonic()
        mark_time, mark_steps = self._rate_mark
        if now - mark_time >= RATE_WINDOW:
            self.chars_per_s = (self.clock.steps - mark_steps) / (now - mark_time)
            self._rate_mark = (now, self.clock.steps)
        self.broadcaster.housekeeping()

    # --------------------------------------------------------------------------- status
    def status_values(self) -> list[float]:
        """The /charmix/status numbers, in protocol.STATUS_FIELDS order."""
        c, counters = self.controls, self.controls.counters
        settings = c.snapshot()
        values = {
            "step": self.engine.step_count,
            "chars_per_s": self.chars_per_s,
            "rate": c.rate,
            "paused": float(c.paused),
            "temperature": settings.temperature,
            "mode": protocol.MODES.index(settings.mode),
            "topk": settings.topk,
            "topp": settings.topp,
            "rx_ok": counters.rx_ok,
            "rx_bad": counters.rx_bad,
            "rx_denied": counters.rx_denied,
            "tx_datagrams": counters.tx_datagrams,
            "tx_errors": counters.tx_errors,
            "overruns": counters.overruns,
            "subscribers": self.broadcaster.subscriber_count,
            "uptime": time.monotonic() - self.started_at,
            "ticks_dropped": counters.ticks_dropped,
            "step_errors": self.clock.step_errors,
        }
        return [float(values[name]) for name in protocol.STATUS_FIELDS]

    def status_line(self) -> str:
        """One line for the log: throughput, timing, traffic, problems, weights."""
        counters, clock = self.controls.counters, self.clock
        late = clock.lateness()
        late_text = f"late p99 {np.percentile(late, 99) * 1e3:.2f} ms" if late.size else "late -"
        clock.reset_lateness()
        pairs = zip(self.engine.names, self.engine.weights, strict=True)
        weights = " ".join(f"{name} {w:.2f}" for name, w in pairs)
        state = "paused" if self.controls.paused else (
            "ext clock" if self.controls.rate == 0 else f"{self.controls.rate:g}/s"
        )
        errors = f"  step errors {clock.step_errors}" if clock.step_errors else ""
        if counters.ticks_dropped:
            errors += f"  ticks dropped {counters.ticks_dropped}"
        return (
            f"{self.engine.step_count} chars  {self.chars_per_s:.1f} chars/s ({state})  "
            f"{late_text}  overruns {counters.overruns}  "
            f"rx {counters.rx_ok} ok {counters.rx_bad} bad {counters.rx_denied} denied  "
            f"tx {counters.tx_datagrams} sent {counters.tx_errors} errors  "
            f"subscribers {self.broadcaster.subscriber_count}{errors}  weights {weights}"
        )

    # ------------------------------------------------------------------------ lifecycle
    def request_stop(self, *_: object) -> None:
        """Ask run() or burst() to return; safe from a signal handler and from any thread."""
        self._stopping = True
        wake = self._wake_w
        if wake is not None:
            with contextlib.suppress(OSError):
                wake.send(b"\0")

    @contextlib.contextmanager
    def _signals(self) -> Iterator[socket.socket]:
        """SIGINT/SIGTERM → request_stop, with a wake-up socket that select() can wait on.

        The handler only sets a flag (taking a lock in a signal handler can deadlock); the
        wake-up fd makes the waiting select() return at once.
        """
        wake_r, wake_w = socket.socketpair()
        for sock in (wake_r, wake_w):
            sock.setblocking(False)
        self._wake_w = wake_w
        old_fd = signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
        previous = {sig: signal.signal(sig, self.request_stop) for sig in STOP_SIGNALS}
        try:
            yield wake_r
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            signal.set_wakeup_fd(old_fd)
            self._wake_w = None
            wake_r.close()
            wake_w.close()

    def run(self) -> int:
        """Block until SIGINT/SIGTERM (or request_stop), logging status; then stop. Returns 0.

        Must be called on the main thread (signal handlers live there).
        """
        every = self.config.status_every
        with self._signals() as wake:
            next_status = time.monotonic() + every
            try:
                while not self._stopping:
                    timeout = max(0.0, next_status - time.monotonic()) if every > 0 else None
                    select.select([wake], [], [], timeout)
                    with contextlib.suppress(OSError):
                        wake.recv(4096)
                    if every > 0 and time.monotonic() >= next_status and not self._stopping:
                        self.log.info("%s", self.status_line())
                        next_status = time.monotonic() + every
            finally:
                self.stop()
        return 0

    def burst(self, n: int) -> float:
        """Offline: n characters as fast as possible on this (main) thread, then stop; a signal
        ends it early. Returns the seconds the characters took."""
        with self._signals():
            try:
                return self.clock.burst(n, stop=lambda: self._stopping)
            finally:
                self.stop()

    def stop(self) -> None:
        """Stop the clock, then the control thread, then close the sockets (≤ ~1 s)."""
        clock = getattr(self, "clock", None)
        if clock is not None:
            clock.stop()
        if self.server is not None:
            self.server.stop()
            self.server = None
        broadcaster = getattr(self, "broadcaster", None)
        if broadcaster is not None:
            broadcaster.close()
