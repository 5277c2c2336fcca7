"""One tick scheduler, two sources: MIDI clock (`charmix midi --clock`) and Ableton Link.

A *source* knows when the next `/charmix/tick` is due (`due()`, perf_counter seconds, or None
while stopped or before it knows) and is told when that tick went out (`consume()`). The MIDI
clock source (`controllers/midi/clock.py`, `ClockFollower`) estimates the beat from jittered
pulses; the Link source (`BeatGrid` below) is told the session's beat timeline by the Link
bridge (`controllers/abletonlink.py`), which is already exact and needs no filtering.

`Ticker` is the part they share: a thread that sleeps until the next tick is due and sends it,
woken early whenever the source changes (a pulse, a new tempo, Stop), so a tick is placed from
the newest estimate and never sent twice; the daemon is set to rate 0 (external clock) when the
ticker starts. Sources are changed only through `Ticker.change()`, under the ticker's lock.

Both sources follow the same rules: tick j is due on the grid at beat j / per_beat (phase-aligned
to the beat, not to when the bridge started); ticks left behind by a stall are skipped, never sent
in a burst; Stop pauses (no ticks), Start or Continue resumes on the grid.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Protocol

from charmix.controllers.sender import Sender
from charmix.controllers.sender_messages import entry

TICK, RATE = entry("tick"), entry("rate")
IDLE_WAIT = 0.1  # s the ticker sleeps while the source has no tick due (a change wakes it)
LATE = 0.05  # s: a grid point passed at most this long before Start was seen still goes out
REANCHOR = 0.0005  # s: a beat this far from the predicted timeline re-anchors the grid


class TickSource(Protocol):
    """What the ticker schedules from (ClockFollower, BeatGrid)."""

    def due(self) -> float | None: ...

    def consume(self) -> None: ...


class Ticker:
    """Sends a source's ticks on time, from a thread of its own; see the module docstring."""

    def __init__(self, sender: Sender, source: TickSource,
                 now: Callable[[], float] = time.perf_counter,
                 name: str = "charmix-ticks") -> None:
        self.sender = sender
        self.source = source
        self.now = now
        self.name = name
        self.ticks = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def change(self, change: Callable[[], bool | None]) -> None:
        """Run `change` (which changes the source) under the ticker's lock; then the ticker
        recomputes its next tick, unless `change` returned False (nothing moved)."""
        with self._cond:
            if change() is not False:
                self._cond.notify()

    def start(self, external_clock: bool = True) -> None:
        """Start the thread; `external_clock` first sets the daemon to rate 0 (it waits for
        ticks: this bridge is its clock)."""
        if external_clock:
            self.sender.set(RATE, 0.0)
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(2.0)

    def _loop(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                due = self.source.due()
                if due is None:
                    self._cond.wait(IDLE_WAIT)
                    continue
                wait = due - self.now()
                if wait > 0:
                    # A change may move the tick: wake for it, then recompute.
                    self._cond.wait(wait)
                    if self._stop.is_set() or self.source.due() != due or self.now() < due:
                        continue
                self.source.consume()
            self.sender.event(TICK)
            self.ticks += 1


class BeatGrid:
    """A session's beat timeline (Ableton Link) → when each tick is due. Not thread-safe.

    `update(t, beat, tempo, playing)` gives the beat at perf_counter time `t` (the Link bridge
    polls the session every few ms). Between updates the timeline is a straight line of slope
    tempo / 60 beats a second, which is what a Link timeline is until the tempo changes; so the
    grid re-anchors only when the tempo or the playing state changes or the beat strays from the
    line by more than REANCHOR seconds (a peer joined, a beat was forced) — `update` returns
    True then, and the ticker is woken to recompute.

    `offset` (seconds, ±) shifts every tick against its beat: negative sends ticks early, to make
    up for the latency between a tick and the character being seen or heard.
    """

    def __init__(self, per_beat: float, offset: float = 0.0, start_stop: bool = True) -> None:
        if not per_beat > 0 or not math.isfinite(per_beat):
            raise ValueError(f"per_beat must be > 0, got {per_beat}")
        if not math.isfinite(offset):
            raise ValueError(f"offset must be finite, got {offset}")
        self.per_beat = per_beat
        self.offset = offset
        self.start_stop = start_stop  # False: tick whether or not the session plays
        self.t0: float | None = None  # anchor: beat0 was the session's beat at time t0
        self.seen = 0.0  # time of the latest update (the grid's "now")
        self.start_seen: float | None = None  # the update before the one that saw Start
        self.beat0 = 0.0
        self.tempo = 120.0
        self.playing = False
        self.next_tick: int | None = None  # None: place on the grid at the next due()
        self.reanchors = 0
        self.skipped = 0  # ticks left behind by a stall or a forward jump

    @property
    def running(self) -> bool:
        return self.t0 is not None and (self.playing or not self.start_stop)

    def beat_at(self, t: float) -> float:
        """The session's beat at perf_counter time t (from the anchor)."""
        assert self.t0 is not None
        return self.beat0 + (t - self.t0) * self.tempo / 60.0

    def time_of(self, beat: float) -> float:
        assert self.t0 is not None
        return self.t0 + (beat - self.beat0) * 60.0 / self.tempo

    def update(self, t: float, beat: float, tempo: float, playing: bool) -> bool:
        """The session at time t; True when the grid moved (the ticker must recompute)."""
        if not (math.isfinite(t) and math.isfinite(beat) and math.isfinite(tempo)) or tempo <= 0:
            return False  # a nonsensical reading: keep the last good timeline
        was_running = self.running
        before, self.seen = (self.seen if self.t0 is not None else None), t
        if self.t0 is None:
            predicted = None
        else:
            predicted = self.beat_at(t)
            if (tempo == self.tempo and playing == self.playing
                    and abs(predicted - beat) * 60.0 / tempo <= REANCHOR):
                return False
        self.t0, self.beat0, self.tempo, self.playing = t, beat, tempo, playing
        self.reanchors += 1
        if self.running and not was_running:
            self.next_tick = None  # (re)started: the next grid point, or one just passed
            self.start_seen = before  # Start came after this (None: the session was playing)
        elif predicted is not None and beat < predicted - 1.0 / self.per_beat:
            self.next_tick = None  # the beat jumped back (a new session, a forced beat)
        return True

    def _first_tick(self) -> int:
        """After Start: the first grid point since the last update that saw the session
        stopped (Start came after it), at most LATE seconds and half a tick ago; joining a
        session that plays already, the next grid point."""
        assert self.t0 is not None
        since = self.seen if self.start_seen is None else max(self.start_seen, self.seen - LATE)
        here = self.beat_at(since) - self.offset_beats()
        here = max(here, self.beat_at(self.seen) - self.offset_beats() - 0.5 / self.per_beat)
        return math.ceil(here * self.per_beat - 1e-9)

    def offset_beats(self) -> float:
        return self.offset * self.tempo / 60.0

    def due(self) -> float | None:
        if not self.running:
            return None
        if self.next_tick is None:
            self.next_tick = self._first_tick()
        # the grid point now, counting the offset (a tick at beat b goes out at time(b) + offset)
        here = (self.beat_at(self.seen) - self.offset_beats()) * self.per_beat
        if self.next_tick < here - 1.0:  # left behind (a stall, a forward jump): never burst
            ahead = math.ceil(here - 1e-9)
            self.skipped += ahead - self.next_tick
            self.next_tick = ahead
        return self.time_of(self.next_tick / self.per_beat) + self.offset

    def consume(self) -> None:
        if self.next_tick is not None:
            self.next_tick += 1
