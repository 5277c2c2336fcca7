"""The clock thread's work, for every voice: settings in, frames out, commands, primes, recording.

The daemon's Clock calls `step(dt)` for each character and `service()` between characters. Here
those become: one snapshot of each voice's Controls, one `Engine.step_voices` (one model call per
model for all K voices), a frame per voice to the broadcaster, and — when recording — the settings
and frames handed to the Recorder (references only: the writer thread encodes them). Between steps,
each voice's queued commands (prime, reset, seed) are applied in order, each voice's prime in
progress gets a slice (charmix.daemon.engine.priming), and the recording is started or stopped.
Every change that shapes the text is recorded at the step it took effect, so a replay gives the same
characters (charmix.daemon.tools.replay).

A recording asked for while a prime is being fed starts once it is in: the performance file's
starting state must not hide a half-fed prime.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from charmix.daemon.engine.constraints import fold_text
from charmix.daemon.engine.mixer import Engine, Frame, Settings
from charmix.daemon.engine.priming import Primer, slice_budget
from charmix.daemon.live.broadcast import Broadcaster
from charmix.daemon.live.controls import Command, Controls
from charmix.daemon.recording.writer import Recorder, RecordError

Warn = Callable[[str, str], None]


def folded(frames: list[Frame], settings: Sequence[Settings]) -> list[Frame]:
    """The frames as sent and shown: a voice with --fold gets its character and line in one
    case (engine/constraints.py); the models, and the recording, keep what was written."""
    out = frames
    for k, s in enumerate(settings):
        fold = s.constraints.fold if s.constraints is not None else ""
        if fold:
            if out is frames:
                out = list(frames)
            f = out[k]
            out[k] = replace(f, char=fold_text(f.char, fold), line=fold_text(f.line, fold))
    return out


class Performer:
    """Steps the engine for K voices and applies their commands; owns the recording."""

    def __init__(
        self,
        engine: Engine,
        controls: Sequence[Controls],
        broadcaster: Broadcaster,
        log: logging.Logger,
        echo: Callable[[str], None] | None = None,
    ) -> None:
        if len(controls) != engine.n_voices:
            raise ValueError(f"{len(controls)} controls for {engine.n_voices} voices")
        self.engine = engine
        self.controls = list(controls)
        self.broadcaster = broadcaster
        self.log = log
        self.echo = echo
        # Every voice's frames of a step (OSCQuery's values and LISTEN streams).
        self.on_frame: Callable[[Sequence[Frame]], None] | None = None
        # Scenes and the score (live/conductor.py): writes this step's settings before they
        # are read, so the recording holds what the score did.
        self.before_step: Callable[[float], None] | None = None
        self.primers = [Primer(engine, k) for k in range(engine.n_voices)]
        self.recorder: Recorder | None = None
        self._record_next: Path | None = None  # asked for; starts when no prime is being fed
        self.warn: Warn = lambda kind, message: log.warning("%s", message)

    # ------------------------------------------------------------------------- the step
    def step(self, dt: float) -> None:
        if self.before_step is not None:
            try:
                self.before_step(dt)
            except Exception as exc:  # the score must never cost a character
                self.warn("conductor", f"score/morph failed: {type(exc).__name__}: {exc}")
        settings = [c.snapshot() for c in self.controls]
        written = self.engine.step_voices(settings, dt)
        frames = folded(written, settings)
        send = self.broadcaster.send_frame
        for frame in frames:
            send(frame)
        if self.on_frame is not None:
            self.on_frame(frames)
        if self.echo is not None:
            self.echo(frames[0].char)
        if self.recorder is not None:  # what the models wrote (a replay feeds it back)
            self.recorder.step(written[0].step, dt, settings, written)
        self.advance()

    def advance(self) -> None:
        """The models' next step now, while nothing waits (Engine.advance). A failure is
        logged, not counted as a failed step: this character was sent; the next step retries."""
        try:
            self.engine.advance()
        except Exception as exc:
            self.warn("advance", f"model step failed: {type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ between steps
    def service(self, running: bool, feed_primes: bool = True) -> None:
        """Commands of every voice, a slice of each prime in progress, the recording.
        `running`: the clock thread runs (offline, a prime is fed at once). `feed_primes`
        False (the control thread playing a tick in place): primes wait for the clock thread,
        which is woken for them."""
        applied = False
        for voice, controls in enumerate(self.controls):
            for command in controls.take_commands():
                applied = True
                self._command(voice, command)
        for voice, primer in enumerate(self.primers):
            if primer.active and not feed_primes:
                self.controls[0].wake.set()
            elif primer.active:
                self._feed(voice, primer, running)
        if applied:
            self.advance()  # after a prime or reset, be ready for the next character
        if self._record_next is not None and not any(p.active for p in self.primers):
            self._begin_recording(self._record_next)

    def _command(self, voice: int, command: Command) -> None:
        step = self.engine.step_count
        try:  # one failing command must not cost the others or the housekeeping after them
            if command.kind == "prime":
                self.primers[voice].start(command.text)
                self._log_command(step, voice, "prime", text=command.text)
            elif command.kind == "reset":
                self.primers[voice].cancel()  # a reset after a prime always won
                self.engine.reset(voice)
                self._log_command(step, voice, "reset")
            elif command.kind == "seed":
                self.engine.reseed(command.seed, voice)
                self._log_command(step, voice, "seed", seed=command.seed)
            elif command.kind == "record":
                self.start_recording(Path(command.text))
            elif command.kind == "record_stop":
                self.stop_recording(wait=False)
        except Exception as exc:
            self.warn(f"command:{command.kind}",
                      f"{command.kind} failed: {type(exc).__name__}: {exc}")

    def _feed(self, voice: int, primer: Primer, running: bool) -> None:
        controls = self.controls[0]
        try:
            # Offline (a burst, no clock thread) nothing can stall: the whole prime at once,
            # so a burst's text stays a function of its seed and gestures.
            budget = slice_budget(controls.rate) if running else math.inf
            if primer.feed(budget):
                self._log_command(self.engine.step_count, voice, "primed")
                self.advance()
            else:
                controls.wake.set()  # come back for the next slice, not a period later
        except Exception as exc:
            primer.cancel()
            self.warn("command:prime", f"prime failed: {type(exc).__name__}: {exc}")

    def _log_command(self, step: int, voice: int, kind: str, text: str = "",
                     seed: int = 0) -> None:
        if self.recorder is not None:
            self.recorder.command(step, voice, kind, text=text, seed=seed)

    # ---------------------------------------------------------------------- recording
    def start_recording(self, path: Path) -> None:
        """Begin recording to `path` (a new file) between two steps; RecordError if it
        cannot be created. Stops a recording already running without waiting for its writer:
        this runs on the clock thread, and the writer's last fsync can take a while."""
        self.stop_recording(wait=False)
        if not path.parent.is_dir():
            raise RecordError(f"cannot record to {path}: the folder {path.parent} does not exist")
        if path.exists():
            raise RecordError(f"{path} exists; a recording never overwrites a take")
        self._record_next = path
        if not any(p.active for p in self.primers):
            self._begin_recording(path)

    def _begin_recording(self, path: Path) -> None:
        self._record_next = None
        try:
            recorder = Recorder(path, self.log)
        except RecordError as exc:
            self.warn("record", str(exc))
            return
        self.engine.advance()
        settings = [c.snapshot() for c in self.controls]
        recorder.begin(self.engine, settings, self.controls[0].rate)
        self.recorder = recorder
        self.log.info("recording to %s", path)

    def stop_recording(self, wait: bool = True) -> None:
        """End the recording; `wait` for its writer to finish (not on the clock thread: the
        writer flushes and fsyncs, which a slow disk can make take a while)."""
        self._record_next = None
        recorder, self.recorder = self.recorder, None
        if recorder is not None:
            recorder.close(2.0 if wait else 0.0)
            self.log.info("recording stopped: %s", recorder.path)
