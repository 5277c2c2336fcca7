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
import math
import select
import socket
import sys
import time
from collections.abc import Callable

from charmix.daemon import startup, state
from charmix.daemon.broadcast import Broadcaster
from charmix.daemon.clock import Clock
from charmix.daemon.config import Config
from charmix.daemon.console import Console  # noqa: F401  (re-exported for the CLI and tests)
from charmix.daemon.controls import ControlError, Controls
from charmix.daemon.engine import Engine, Frame, normalise_weights
from charmix.daemon.notify import Notifier
from charmix.daemon.priming import Primer, slice_budget
from charmix.daemon.server import ControlServer, ListenError
from charmix.daemon.signals import wake_on_stop_signals
from charmix.daemon.startup import StartupError  # noqa: F401  (re-exported)
from charmix.daemon.status import notify_status, status_line, status_values

SWITCH_INTERVAL = 0.001  # s; how long a busy thread may keep the GIL from the clock (default 5 ms)
RATE_WINDOW = 1.0  # s over which chars/s is measured


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
        self.primer: Primer
        self.notify = Notifier()  # systemd's notify protocol, if $NOTIFY_SOCKET is set
        self.keeper: state.StateKeeper | None = None

    # -------------------------------------------------------------------------- startup
    def start(self, *, run_clock: bool = True) -> None:
        """Load, bind and start; StartupError for anything the user must fix."""
        cfg = self.config
        models = startup.load_models(cfg, self.log)
        names = [m.name for m in models]
        weights = startup.initial_weights(cfg, names)
        try:
            self.engine = Engine(models, seed=cfg.seed, weights=weights)
            self.controls = Controls(
                names, weights, temperature=cfg.temperature, mode=cfg.mode, topk=cfg.topk,
                topp=cfg.topp, slew=cfg.slew, rate=cfg.rate,
                model_temperature=cfg.model_temperature,
            )
        except (ValueError, ControlError) as exc:
            raise StartupError(str(exc)) from None
        destinations = [startup.destination(ep) for ep in cfg.send]
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
            self.engine.prime(cfg.prime)  # before the clock starts: nothing to stall yet
        self.primer = Primer(self.engine)
        self.engine.advance()  # the first character's model step, before the clock starts
        self.clock = Clock(self.controls, self._step, self._service, self.log)
        self.controls.play_tick = self.clock.try_tick
        self._load_state()  # after the clock exists: a restored subscriber gets a status
        sys.setswitchinterval(SWITCH_INTERVAL)
        self.started_at = time.monotonic()
        self.server.start()
        self.broadcaster.announce()
        if run_clock:
            self.clock.start()
        self.notify.ready(f"{len(names)} models loaded, control on {self.server.address[1]}")

    def _load_state(self) -> None:
        """--state (or, as a service, $STATE_DIRECTORY/state.json): restore, then keep saving."""
        path = self.config.state or state.default_path()
        if path is None:
            return
        assert self.server is not None
        self.keeper = state.StateKeeper(path, self.controls, self.broadcaster, self.log,
                                        allowed=self.server.allowed)
        done = self.keeper.load()
        if done:
            self.log.info("state: restored %s from %s", ", ".join(done), path)
            # Start at the restored weights instead of gliding there from the defaults.
            self.engine.weights = normalise_weights(self.controls.target_weights())
        self.keeper.start()

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
        """Between steps, on the clock thread: engine commands, a slice of any prime in
        progress, then housekeeping."""
        commands = self.controls.take_commands()
        for command in commands:
            try:  # one failing command must not cost the others or the housekeeping below
                if command.kind == "prime":
                    self.primer.start(command.text)
                elif command.kind == "reset":
                    self.primer.cancel()  # a reset after a prime always won
                    self.engine.reset()
                elif command.kind == "seed":
                    self.engine.reseed(command.seed)
            except Exception as exc:
                self.clock.throttle.warn(f"command:{command.kind}",
                                   f"{command.kind} failed: {type(exc).__name__}: {exc}")
        if self.primer.active:
            try:
                # Offline (a burst, no clock thread) nothing can stall: the whole prime at once,
                # so a burst's text stays a function of its seed and gestures.
                budget = slice_budget(self.controls.rate) if self.clock.running else math.inf
                if self.primer.feed(budget):
                    self._advance()  # finished: ready for the next character, as after a reset
                else:
                    self.controls.wake.set()  # come back for the next slice, not a period later
            except Exception as exc:
                self.primer.cancel()
                self.clock.throttle.warn("command:prime",
                                         f"prime failed: {type(exc).__name__}: {exc}")
        if commands:
            self._advance()  # after a prime or reset, be ready for the next character
        now = time.monotonic()
        mark_time, mark_steps = self._rate_mark
        if now - mark_time >= RATE_WINDOW:
            self.chars_per_s = (self.clock.steps - mark_steps) / (now - mark_time)
            self._rate_mark = (now, self.clock.steps)
        self.broadcaster.housekeeping()
        controls = self.controls
        idle = controls.paused or controls.rate <= 0
        self.notify.tick(self.clock.steps, None if idle else 1.0 / controls.rate,
                         lambda: notify_status(self))

    # --------------------------------------------------------------------------- status
    def status_values(self) -> list[float]:
        """The /charmix/status numbers, in protocol.STATUS_FIELDS order."""
        return status_values(self)

    def status_line(self) -> str:
        """One line for the log (charmix.daemon.status)."""
        return status_line(self)

    # ------------------------------------------------------------------------ lifecycle
    def request_stop(self, *_: object) -> None:
        """Ask run() or burst() to return; safe from a signal handler and from any thread."""
        self._stopping = True
        wake = self._wake_w
        if wake is not None:
            with contextlib.suppress(OSError):
                wake.send(b"\0")

    def run(self) -> int:
        """Block until SIGINT/SIGTERM (or request_stop), logging status; then stop. Returns 0.

        Must be called on the main thread (signal handlers live there).
        """
        every = self.config.status_every
        with wake_on_stop_signals(self.request_stop) as (wake, writer):
            self._wake_w = writer
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
                self._wake_w = None
                self.stop()
        return 0

    def burst(self, n: int) -> float:
        """Offline: n characters as fast as possible on this (main) thread, then stop; a signal
        ends it early. Returns the seconds the characters took."""
        with wake_on_stop_signals(self.request_stop):
            try:
                return self.clock.burst(n, stop=lambda: self._stopping)
            finally:
                self.stop()

    def stop(self) -> None:
        """Stop the clock, then the control thread, then close the sockets (≤ ~1 s)."""
        self.notify.stopping()
        clock = getattr(self, "clock", None)
        if clock is not None:
            clock.stop()
        if self.keeper is not None:  # the last save, before the subscribers' sockets go
            self.keeper.stop()
            self.keeper = None
        if self.server is not None:
            self.server.stop()
            self.server = None
        broadcaster = getattr(self, "broadcaster", None)
        if broadcaster is not None:
            broadcaster.close()
        self.notify.close()
