"""`charmix midi --clock`: MIDI clock in, /charmix/tick out — N characters per beat, on the beat.

MIDI clock is 24 pulses per quarter note (PPQN); Start sets the song position to 0 (the next
pulse is the downbeat), Stop halts it, Continue resumes where it stopped, and a Song Position
Pointer (in sixteenths) moves it while stopped. With `--per-beat N`, tick j is due at song
position j·24/N pulses — not necessarily on a pulse (N = 5 falls between them), and never in a
burst when pulses arrive bunched.

Pulses arrive jittered (USB MIDI, a sequencer's timer, the OS scheduler: a millisecond or two), so
the time of each position is *estimated*: an alpha-beta filter tracks the time of the latest pulse
and the pulse period (the tempo) — a second-order phase-locked loop. Each pulse corrects the
estimate by a fraction ALPHA of its error and the period by BETA; a tempo change is followed
within a beat or two, and a pulse's jitter moves the ticks by about a quarter of itself. A jump
(a pause in the pulses, a new source) restarts the estimate from the new pulses.

Ticks are predicted at most HORIZON pulses beyond the last pulse received: if the clock cable is
pulled mid-song the ticks stop within a pulse instead of running on at the old tempo.

`ClockFollower` is the pure part (messages with their arrival times in, tick times out), tested
with synthetic clocks; `ClockBridge` runs it: a reader thread time-stamps messages as they leave
the port (mido: rtmidi hardware, or an in-memory port in tests), and the ticker thread that
`charmix link` shares (controllers/ticks.py) sleeps until each tick is due and sends it. Other
messages (faders, buttons) go to the ordinary MIDI mapping.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

import mido

from charmix.controllers.sender import Sender
from charmix.controllers.ticks import Ticker

PPQN = 24
ALPHA = 0.2  # phase correction per pulse
BETA = 0.02  # period correction per pulse (≈ ALPHA² / (2 − ALPHA): critically damped)
CLAMP = 0.25  # periods the estimate may stray from a pulse's arrival (bounds the lag)
HORIZON = 1.5  # pulses beyond the last one that ticks may be predicted
JUMP = 4.0  # a pulse this many periods from its prediction restarts the estimate
CLOCK_TYPES = frozenset({"clock", "start", "stop", "continue", "songpos"})


class PulseFilter:
    """Alpha-beta estimate of the time of the latest pulse (`time`) and of the period."""

    def __init__(self, alpha: float = ALPHA, beta: float = BETA) -> None:
        self.alpha, self.beta = alpha, beta
        self.time: float | None = None
        self.period: float | None = None
        self.restarts = 0

    def pulse(self, t: float) -> None:
        if self.time is None:
            self.time = t
            return
        if self.period is None:
            self.period = t - self.time
            self.time = t
            return
        predicted = self.time + self.period
        error = t - predicted
        if abs(error) > JUMP * self.period or self.period <= 0:
            self.restarts += 1  # a gap or a new tempo: measure again from the next pulse
            self.time, self.period = t, None
            return
        estimate = predicted + self.alpha * error
        self.time = min(max(estimate, t - CLAMP * self.period), t + CLAMP * self.period)
        self.period += self.beta * error

    @property
    def bpm(self) -> float | None:
        return None if not self.period else 60.0 / (self.period * PPQN)


class ClockFollower:
    """MIDI clock messages (with arrival times) → when each tick is due. Not thread-safe."""

    def __init__(self, per_beat: float) -> None:
        if per_beat <= 0:
            raise ValueError(f"per_beat must be > 0, got {per_beat}")
        self.per_beat = per_beat
        self.filter = PulseFilter()
        self.running = False
        self.position = -1  # song position of the latest pulse, in pulses (-1: before the first)
        self.next_tick = 0  # index j of the next tick, due at position j * PPQN / per_beat

    def feed(self, kind: str, t: float, songpos: int = 0) -> None:
        if kind == "clock":
            self.filter.pulse(t)
            if self.running:
                self.position += 1
        elif kind == "start":
            self.running, self.position, self.next_tick = True, -1, 0
        elif kind == "stop":
            self.running = False
        elif kind == "continue":
            self.running = True
        elif kind == "songpos" and not self.running:
            self.position = songpos * (PPQN // 4) - 1  # the next pulse is at the pointer
            self._skip_to(self.position + 1)

    def _skip_to(self, position: float) -> None:
        self.next_tick = math.ceil(position * self.per_beat / PPQN - 1e-9)

    def due(self) -> float | None:
        """When the next tick is due (perf_counter seconds), or None while stopped, before the
        tempo is known, or beyond HORIZON pulses past the last pulse."""
        f = self.filter
        if not self.running or f.time is None or self.position < 0:
            return None
        at = self.next_tick * PPQN / self.per_beat
        if at < self.position - PPQN / self.per_beat:  # left behind by a stall: never burst
            self._skip_to(self.position)
            at = self.next_tick * PPQN / self.per_beat
        if f.period is None:  # tempo not known yet: only a tick on this very pulse
            return f.time if at <= self.position else None
        if at - self.position > HORIZON:
            return None
        return f.time + (at - self.position) * f.period

    def consume(self) -> None:
        self.next_tick += 1


class ClockBridge:
    """Runs a ClockFollower on a port: reader thread in, the shared ticker out (to a Sender)."""

    def __init__(
        self,
        sender: Sender,
        per_beat: float,
        other: Callable[[mido.Message], None] | None = None,
        now: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.sender = sender
        self.follower = ClockFollower(per_beat)
        self.other = other
        self.now = now
        self.ticker = Ticker(sender, self.follower, now, name="charmix-midiclock")

    @property
    def ticks(self) -> int:
        return self.ticker.ticks

    def message(self, msg: mido.Message, t: float) -> None:
        """One message from the port with its arrival time."""
        if msg.type in CLOCK_TYPES:
            # a new pulse may move the next tick
            self.ticker.change(lambda: self.follower.feed(msg.type, t, getattr(msg, "pos", 0)))
        elif self.other is not None:
            self.other(msg)

    def start(self) -> None:
        self.ticker.start()  # the daemon is set to rate 0: this bridge is its clock

    def stop(self) -> None:
        self.ticker.stop()

    def pump(
        self,
        port: mido.ports.BaseInput,
        present: Callable[[], bool] | None = None,
        stop: threading.Event | None = None,
    ) -> str:
        """Like MidiBridge.pump: run until the port closes or disappears ('closed', 'gone',
        'stopped'). Messages are read by a thread blocked in receive(), so each is time-stamped
        the moment the port hands it over (polling would add its interval as jitter)."""
        stop = stop or threading.Event()
        ended = threading.Event()

        def read() -> None:
            try:
                while not stop.is_set():
                    msg = port.receive()
                    self.message(msg, self.now())
            except (OSError, ValueError):  # the port closed
                pass
            finally:
                ended.set()

        reader = threading.Thread(target=read, name="charmix-midiclock-in", daemon=True)
        self.start()
        reader.start()
        try:
            while not stop.is_set():
                if ended.wait(0.1) or port.closed:
                    return "closed"
                if present is not None and not present():
                    return "gone"
            return "stopped"
        finally:
            self.stop()
