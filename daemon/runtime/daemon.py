"""The running daemon: models → engine → clock → broadcaster, steered through one dispatcher.

`Daemon.start` builds everything from a Config and fails early with a StartupError (one line, no
traceback) for anything the user can fix: a missing or bad model, a port in use, an address that
does not resolve, weights that name no model. `Daemon.run` then blocks the main thread until
SIGINT or SIGTERM and stops cleanly (exit 0 well within a second), writing a one-line status
every `status_every` seconds.

This is the composition root: it builds each part once and hands it to the parts that use it.
One live/dispatch.Dispatcher applies every control datagram; the UDP reader thread
(live/reader.py) and the OSCQuery WebSocket (oscquery/server.py, started by services.py) are
both handed it, so control meets one allowlist, one validation and one set of counters.

Threads: the clock thread runs the engine and sends frames; the control thread applies OSC input;
the main thread waits for signals and logs status; the Console thread writes the echoed text and
log lines. Nothing on the clock or control thread ever writes to a terminal or pipe directly: a
terminal paused with Ctrl-S or a log pipe nobody reads would otherwise stop the music.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import logging
import select
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

from charmix.daemon.common.signals import wake_on_stop_signals
from charmix.daemon.engine.constraints import from_settings
from charmix.daemon.engine.mixer import Engine
from charmix.daemon.engine.model import StepModel
from charmix.daemon.engine.priming import Primer
from charmix.daemon.engine.voice import normalise_weights
from charmix.daemon.live.broadcast import Broadcaster
from charmix.daemon.live.clock import Clock
from charmix.daemon.live.conductor import Conductor
from charmix.daemon.live.controls import ControlError, Controls
from charmix.daemon.live.dispatch import Dispatcher
from charmix.daemon.live.performer import Performer
from charmix.daemon.live.reader import ControlReader, ListenError
from charmix.daemon.live.scenes import SceneBook, SceneError, scene_from
from charmix.daemon.live.score import Score, ScoreError
from charmix.daemon.live.score import load as load_score
from charmix.daemon.oscquery.advertise import default_name
from charmix.daemon.oscquery.services import Services, descriptions, oscquery_address
from charmix.daemon.recording.writer import RecordError
from charmix.daemon.runtime import startup, state
from charmix.daemon.runtime.config import Config
from charmix.daemon.runtime.console import Console  # noqa: F401  (re-exported for the CLI and tests)
from charmix.daemon.runtime.notify import Notifier
from charmix.daemon.runtime.scenefile import SceneFile
from charmix.daemon.runtime.startup import StartupError  # noqa: F401  (re-exported)
from charmix.daemon.runtime.status import Vitals, notify_status, status_line, status_values

SWITCH_INTERVAL = 0.001  # s; how long a busy thread may keep the GIL from the clock (default 5 ms)
RATE_WINDOW = 1.0  # s over which chars/s is measured
TRIM_EVERY = 60.0  # s between malloc_trim calls (see release_free_memory)
CLOCK_THREAD = "charmix-clock"  # Clock.start names its thread so


def release_free_memory() -> None:
    """Hand freed heap back to the system (glibc's malloc_trim), from the main thread.

    The soak found RSS creeping under a full mix of controls: not live objects (tracemalloc's
    heap is flat) but freed memory that glibc keeps, most of it from a 64 KiB allocation per
    received datagram (fixed in daemon/protocol/datagram.py). Trimming hands back what
    fragmentation is left. Best effort: nothing happens where there is no glibc."""
    libc = _libc()
    if libc is not None:
        with contextlib.suppress(Exception):
            libc.malloc_trim(0)


@functools.cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim  # noqa: B018  (musl has none)
    except (OSError, AttributeError):
        return None
    return libc


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
        self.dispatcher: Dispatcher  # the control router, one for UDP and WebSocket alike
        self.server: ControlReader | None = None  # the control port (its UDP reader thread)
        self.services: Services | None = None  # OSCQuery + mDNS (daemon/oscquery/services.py)
        self.clock: Clock
        self.performer: Performer
        self.primer: Primer  # voice 0's (the performer has one per voice)
        self.voice_controls: list[Controls] = []  # voice 0's is self.controls
        self.notify = Notifier()  # systemd's notify protocol, if $NOTIFY_SOCKET is set
        self.keeper: state.StateKeeper | None = None
        self.step_cost = ""  # what a character of the models costs here (startup.measured)
        self.conductor: Conductor  # scenes, morphs and the score (live/conductor.py)
        self.scene_file: SceneFile | None = None  # --scenes FILE

    # -------------------------------------------------------------------------- startup
    def start(self, *, run_clock: bool = True) -> None:
        """Load, bind and start; StartupError for anything the user must fix."""
        cfg = self.config
        models = startup.load_models(cfg, self.log)
        self.step_cost = startup.measured(models)  # for the banner; before any thread steps
        names = [m.name for m in models]
        weights = startup.initial_weights(cfg, names)
        try:
            self.engine = Engine(models, seed=cfg.seed, weights=weights, voices=cfg.voices)
            constraints = from_settings(cfg.blocklist, cfg.charset, cfg.fold)
            self.voice_controls = []
            for _ in range(cfg.voices):  # each voice its own settings; counters and wake shared
                first = self.voice_controls[0] if self.voice_controls else None
                self.voice_controls.append(Controls(
                    names, weights, temperature=cfg.temperature, mode=cfg.mode, topk=cfg.topk,
                    topp=cfg.topp, slew=cfg.slew, rate=cfg.rate, beta=cfg.beta,
                    model_temperature=cfg.model_temperature,
                    counters=first.counters if first else None,
                    wake=first.wake if first else None,
                    constraints=constraints, vocab=self.engine.vocab,
                ))
            self.controls = self.voice_controls[0]
        except (ValueError, ControlError) as exc:  # ConstraintError is a ValueError
            raise StartupError(str(exc)) from None
        destinations = [startup.destination(ep) for ep in cfg.send]
        try:
            self.broadcaster = Broadcaster(
                names, self.engine.vocab, destinations, self.controls.counters,
                self.status_values, self.log, limit=cfg.max_datagram,
            )
        except OSError as exc:  # e.g. an IPv6 destination on a host with IPv6 disabled
            raise StartupError(f"--send: cannot open a socket: {exc.strerror or exc}") from None
        self.conductor = self._conductor()
        self.dispatcher = Dispatcher(self.controls, self.broadcaster, cfg.allow, self.log,
                                     voices=self.voice_controls, conductor=self.conductor)
        try:
            self.server = ControlReader(cfg.listen, self.dispatcher)
        except ListenError as exc:
            self.broadcaster.close()
            raise StartupError(str(exc)) from None
        try:
            self.services = self._start_services(models, self.server.address)
        except OSError as exc:  # the OSCQuery port is taken
            self.server.stop()
            self.broadcaster.close()
            raise StartupError(str(exc)) from None
        if cfg.prime:
            for voice in range(cfg.voices):  # before the clock starts: nothing to stall yet
                self.engine.prime(cfg.prime, voice)
        self.engine.advance()  # the first character's model step, before the clock starts
        self.performer = Performer(self.engine, self.voice_controls, self.broadcaster, self.log,
                                   echo=self.echo)
        if self.services is not None:  # OSCQuery's values and streams: every voice's frames
            self.performer.on_frame = self.services.frame
        self.primer = self.performer.primers[0]
        self.clock = Clock(self.controls, self._step, self._service, self.log)
        self.performer.warn = self.clock.throttle.warn
        self.performer.before_step = self.conductor.step
        score = self.conductor.score
        if score is not None and score.loop and score.epoch is not None:
            self.clock.align_epoch = score.epoch  # several machines step together
        self.controls.play_tick = self.clock.try_tick
        self._load_state()  # after the clock exists: a restored subscriber gets a status
        self.conductor.start()  # the score's parts not resumed from the state, from the start
        if self.scene_file is not None:
            self.scene_file.start()
        if cfg.record is not None:  # after the state: the recording starts from it
            try:
                self.performer.start_recording(cfg.record)
            except RecordError as exc:
                if self.services is not None:  # no OSCQuery server or mDNS left behind
                    self.services.close()
                    self.services = None
                self.server.stop()
                self.broadcaster.close()
                raise StartupError(f"--record: {exc}") from None
        sys.setswitchinterval(SWITCH_INTERVAL)
        self.started_at = time.monotonic()
        self.server.start()
        self.broadcaster.announce()
        if run_clock:
            self.clock.start()
        self.notify.ready(f"{len(names)} models loaded, control on {self.server.address[1]}")

    def _conductor(self) -> Conductor:
        """Scenes (--scenes) and the score (--score); a bad scenes file is one warning and no
        scenes, a score that cannot be played a StartupError (a setting to fix)."""
        cfg = self.config
        scenes = {}
        if cfg.scenes is not None:
            self.scene_file = SceneFile(cfg.scenes, self.log)
            scenes = self.scene_file.load()
        seed = cfg.seed if cfg.seed is not None else self.engine.voices[0].seed
        score: Score | None = None
        if cfg.score:
            try:
                score = load_score(cfg.score, seed)
            except ScoreError as exc:
                self.broadcaster.close()
                raise StartupError(f"--score {exc}") from None
        book = SceneBook(scenes)
        conductor = Conductor(self.voice_controls, self.broadcaster, book, score=score,
                              hand_back=cfg.hand_back, seed=seed, log=self.log)
        if score is not None:
            self._check_score(score, conductor)
        self.broadcaster.extra_announce = conductor.scenes_datagrams
        scene_file = self.scene_file
        if scene_file is not None:
            conductor.on_scenes = lambda: scene_file.changed(book.all())
        return conductor

    def _check_score(self, score: Score, conductor: Conductor) -> None:
        """One line for each thing in the score this daemon cannot play; it plays the rest."""
        missing = sorted({c.scene for p in score.parts for c in p.cues
                          if c.drift is None and conductor.scene(c.scene) is None})
        if missing:
            self.log.warning("score: no scene %s (cues naming it hold where the voice is)",
                             ", ".join(repr(m) for m in missing))
        voices = sorted(p.voice for p in score.parts if p.voice >= self.config.voices)
        if voices:
            self.log.warning("score: parts for voice %s not played: this daemon has %d "
                             "voice(s) (--voices)", ", ".join(map(str, voices)),
                             self.config.voices)
        unknown = sorted({m for p in score.parts for c in p.cues if c.drift is not None
                          for m in c.drift.models if m not in self.engine.names})
        if unknown:
            self.log.warning("score: drift through %s: no such model (have: %s)",
                             ", ".join(unknown), ", ".join(self.engine.names))
        what = "the demo score" if score.source.endswith("demo_score.toml") else score.source
        self.log.info("score: playing %s (%d part%s, %s)", what, len(score.parts),
                      "s" if len(score.parts) != 1 else "", "looping" if score.loop else "once")

    def _start_services(self, models: Sequence[StepModel], listen: tuple[str, int]) -> Services:
        """OSCQuery and mDNS for the control port bound at `listen`; OSError (one line) when
        the OSCQuery port cannot open. Binary OSC from a WebSocket goes to the dispatcher."""
        cfg = self.config
        services = Services(
            name=cfg.name or default_name(), names=self.engine.names, vocab=self.engine.vocab,
            controls=self.voice_controls, status=self.status_values, dispatcher=self.dispatcher,
            listen=listen, oscquery=oscquery_address(cfg.oscquery, cfg.listen.host),
            mdns=cfg.mdns, descriptions=descriptions(m.info for m in models), log=self.log,
        )
        services.start()
        return services

    def _load_state(self) -> None:
        """--state (or, as a service, $STATE_DIRECTORY/state.json): restore, then keep saving."""
        path = self.config.state or state.default_path()
        if path is None:
            return
        self.keeper = state.StateKeeper(path, self.voice_controls, self.broadcaster, self.log,
                                        allowed=self.dispatcher.allowed)
        self.keeper.extra = self._scene_state
        done = self.keeper.load()
        done += self._restore_scenes(self.keeper.saved)
        if done:
            self.log.info("state: restored %s from %s", ", ".join(done), path)
            # Start at the restored weights instead of gliding there from the defaults.
            for voice, controls in zip(self.engine.voices, self.voice_controls, strict=True):
                voice.weights = normalise_weights(controls.target_weights())
        self.keeper.start()

    def _scene_state(self) -> dict[str, object]:
        """What --state keeps of scenes and the score: the score's place in it, and the scenes
        themselves when no --scenes file holds them."""
        out: dict[str, object] = {"score": self.conductor.position()}
        if self.scene_file is None:
            out["scenes"] = {n: s.as_dict() for n, s in self.conductor.book.all().items()}
        return out

    def _restore_scenes(self, saved: dict[str, object]) -> list[str]:
        done: list[str] = []
        table = saved.get("scenes")
        if self.scene_file is None and isinstance(table, dict) and table:
            scenes = {}
            for name, values in table.items():
                try:
                    scenes[str(name)] = scene_from(values)
                except SceneError:
                    continue
            self.conductor.book.replace(scenes)
            done.append(f"{len(scenes)} scene{'s' if len(scenes) != 1 else ''}")
        done += self.conductor.resume(saved.get("score"))
        return done

    # -------------------------------------------------------------------- clock callbacks
    def _step(self, dt: float) -> None:
        self.performer.step(dt)

    def _advance(self) -> None:
        self.performer.advance()

    def _service(self) -> None:
        """Between steps, on the clock thread: each voice's commands and a slice of any prime
        in progress, the recording (charmix.daemon.live.performer), then housekeeping."""
        # Prime slices run on the clock thread only: a tick played in place by the control
        # thread (Clock.try_tick) must not wait for one, and the models' states stay one
        # thread's allocations.
        on_clock = not self.clock.running or threading.current_thread().name == CLOCK_THREAD
        self.performer.service(self.clock.running, feed_primes=on_clock)
        now = time.monotonic()
        mark_time, mark_steps = self._rate_mark
        if now - mark_time >= RATE_WINDOW:
            self.chars_per_s = (self.clock.steps - mark_steps) / (now - mark_time)
            self._rate_mark = (now, self.clock.steps)
        self.broadcaster.housekeeping()
        controls = self.controls
        idle = controls.paused or controls.rate <= 0
        self.notify.tick(self.clock.steps, None if idle else 1.0 / controls.rate,
                         lambda: notify_status(self.vitals()))

    # --------------------------------------------------------------------------- status
    def vitals(self, lateness: bool = False) -> Vitals:
        """This moment's numbers for a status report; `lateness` takes (and resets) the clock's
        lateness window, which only the log line reports."""
        c = self.controls
        settings = c.snapshot()
        late = np.zeros(0)
        if lateness:
            late = self.clock.lateness()
            self.clock.reset_lateness()
        return Vitals(
            step=self.engine.step_count, chars_per_s=self.chars_per_s, rate=c.rate,
            paused=c.paused, temperature=settings.temperature, mode=settings.mode,
            topk=settings.topk, topp=settings.topp, counters=c.counters,
            subscribers=self.broadcaster.subscriber_count, started_at=self.started_at,
            step_errors=self.clock.step_errors,
            ws_dropped=self.services.dropped if self.services is not None else 0,
            names=tuple(self.engine.names), weights=tuple(float(w) for w in self.engine.weights),
            lateness=late, **self._guard_counts(),
        )

    def _guard_counts(self) -> dict[str, float]:
        """The constraints' counters of every voice, summed (read racily: numbers only)."""
        stats = [self.engine.guards.stats(k) for k in range(self.engine.n_voices)]
        return {"masked_mass": float(sum(s.masked_mass for s in stats)),
                "words_blocked": sum(s.words_blocked for s in stats),
                "mask_fallbacks": sum(s.fallbacks for s in stats)}

    def status_values(self) -> list[float]:
        """The /charmix/status numbers, in protocol.STATUS_FIELDS order."""
        return status_values(self.vitals())

    def status_line(self) -> str:
        """One line for the log (charmix.daemon.runtime.status)."""
        return status_line(self.vitals(lateness=True))

    def services_banner(self) -> list[str]:
        return self.services.banner() if self.services is not None else []

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
            next_trim = time.monotonic() + TRIM_EVERY
            try:
                while not self._stopping:
                    due = min(next_status, next_trim) if every > 0 else next_trim
                    select.select([wake], [], [], max(0.0, due - time.monotonic()))
                    with contextlib.suppress(OSError):
                        wake.recv(4096)
                    if every > 0 and time.monotonic() >= next_status and not self._stopping:
                        self.log.info("%s", self.status_line())
                        next_status = time.monotonic() + every
                    if time.monotonic() >= next_trim:
                        release_free_memory()
                        next_trim = time.monotonic() + TRIM_EVERY
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
        """Stop the clock (once no step runs: ≤ 5 s for a hung one), then the control thread,
        then close the sockets (≤ ~1 s in all when nothing hangs)."""
        self.notify.stopping()
        clock = getattr(self, "clock", None)
        if clock is not None:
            clock.stop()
        if self.services is not None:
            self.services.close()  # a goodbye on the LAN first: browsers forget us at once
            self.services = None
        performer = getattr(self, "performer", None)
        if performer is not None:
            performer.stop_recording()
        if self.keeper is not None:  # the last save, before the subscribers' sockets go
            self.keeper.stop()
            self.keeper = None
        if self.scene_file is not None:
            self.scene_file.stop()
            self.scene_file = None
        if self.server is not None:
            self.server.stop()
            self.server = None
        broadcaster = getattr(self, "broadcaster", None)
        if broadcaster is not None:
            broadcaster.close()
        self.notify.close()
