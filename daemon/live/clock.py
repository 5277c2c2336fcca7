"""The character clock: one thread that decides when each character is generated.

Free-running at `rate` chars/s, deadlines are absolute — the k-th character is due at t0 + k/rate
— so timing errors never accumulate into drift. The thread sleeps until shortly before a deadline
(`spin` seconds; Event.wait wakes ~0.05–0.1 ms late, more on a loaded machine) and then spins,
yielding the GIL, until the deadline. The spin costs CPU (0.15 ms × 20 chars/s = 0.3 % of a core),
so it is kept short, with the thread's timer slack lowered so that the sleep itself is precise.

If a step overruns (the machine was busy, a model is slow) the deadlines it missed are skipped
and counted (`overruns`) instead of being caught up in a burst, which would be audible and
visible as a stutter.

A rate change re-anchors the grid so the next character comes one new period after the last one.
Rate 0 is the external clock: nothing happens until /charmix/tick. A tick makes one character at
once at any rate (without moving the free-running grid). Pause stops both. When the clock thread
is idle, the control thread that received the tick plays it itself (`try_tick`): handing it over
would cost a thread wake-up and a GIL hand-over between the tick and its character, measured at
~0.9 ms on the development VM (docs/performance.md). When the
clock thread is stepping, or ticks are already waiting, the tick is queued for the clock thread
as before; so is a tick that follows a played one within FAST_TICK_GAP, so that a flood of ticks
meets the queue, which drops and counts what it cannot hold (ticks_dropped), instead of keeping
the control thread busy while the kernel drops the rest uncounted. A scheduled character that is
due goes before queued ticks, so a tick flood cannot hold the grid back. `_lock` makes sure only one
thread steps or services at a time. Engine commands
(prime, reset, seed) and housekeeping (announcements, subscriber expiry) run between steps, via
`service`, and at least every `housekeeping_every` seconds when no characters are due.

The slew `dt` passed to each step is the nominal period 1/rate, so the same seed and the same
weight timeline give the same text regardless of scheduling jitter; for ticks (no nominal period)
it is the measured time since the previous character, capped at MAX_TICK_DT.

`burst(n)` is the offline mode: n characters as fast as possible on the calling thread, with the
same service calls between them, for `charmix daemon --burst` and the benchmarks.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import sys
import threading
import time
from collections.abc import Callable

import numpy as np

from charmix.daemon import protocol
from charmix.daemon.live.controls import Controls
from charmix.daemon.live.counters import Throttle

NOMINAL_RATE = 15.0  # chars/s assumed for the slew when there is no clock rate (burst at rate 0)
MAX_TICK_DT = 10.0
SPIN = 0.00015  # seconds before a deadline at which sleeping stops and spinning starts
PR_SET_TIMERSLACK = 29  # linux/prctl.h
HOUSEKEEPING_EVERY = 0.25
LATENESS_WINDOW = 1 << 16  # most recent deadlines kept for lateness statistics
FAST_TICK_GAP = protocol.FAST_TICK_GAP  # s; a tick this soon after one played in place is queued
STOP_WAIT = 5.0  # s stop() waits for a step in progress (a step is ms; a hung model is not)


def tighten_timer_slack() -> None:
    """Ask Linux to wake this thread on time: by default a sleeping thread may wake up to 50 µs
    late (timer slack, which saves power by batching wake-ups); the clock thread wants 1 µs so
    that the sleep can end close to the deadline and the spin stays short. Best effort: nothing
    happens on other systems or if the call is refused."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_TIMERSLACK, 1000, 0, 0, 0)


class Clock:
    """Runs `step(dt)` on a deadline schedule on its own thread."""

    def __init__(
        self,
        controls: Controls,
        step: Callable[[float], None],
        service: Callable[[], None],
        log: logging.Logger,
        *,
        spin: float = SPIN,
        housekeeping_every: float = HOUSEKEEPING_EVERY,
    ) -> None:
        self.controls = controls
        self.counters = controls.counters
        self._step_fn = step
        self.service = service
        self.throttle = Throttle(log)
        self.spin = spin
        self.housekeeping_every = housekeeping_every
        self.steps = 0
        self.step_errors = 0
        self._lateness = np.zeros(LATENESS_WINDOW)
        self._late_count = 0
        self._last_step: float | None = None
        self._lock = threading.Lock()  # one thread at a time steps the engine or services it
        self._fast_done = -math.inf  # when the last tick played by try_tick finished
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        # A wall-clock aligned score (live/score.py `epoch`): the grid is anchored so that the
        # deadlines fall on epoch + n/rate of the wall clock, and daemons on several machines
        # step together (their cue changes then differ by their lateness, not by up to a
        # period). None: the grid starts when the clock does, as always.
        self.align_epoch: float | None = None

    # ------------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="charmix-clock", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = STOP_WAIT) -> None:
        """Stop for good: when this returns no step or service is running and none will start
        (steps check `_stopping` under `_lock`), so the caller may close what steps use — the
        sockets, the recording, the state file. Joining the thread alone was not enough: a step
        longer than the join (a slow model, a loaded machine) ran on after the daemon closed
        its sockets. A step hung for longer than `timeout` is left behind with a warning (the
        broadcaster, closed, then sends nothing and opens no socket)."""
        self._stopping.set()
        self.controls.wake.set()
        started = time.monotonic()
        if self._lock.acquire(timeout=timeout):
            self._lock.release()
        else:
            self.throttle.warn("stop", f"a step still running after {timeout:.1f} s: left behind")
        if self._thread is not None:
            # A signal can interrupt start() before the thread said it had started; join then
            # raises, and the thread, if it runs at all, sees _stopping and ends at once.
            with contextlib.suppress(RuntimeError):
                self._thread.join(max(0.0, timeout - (time.monotonic() - started)))
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # ---------------------------------------------------------------------- measurements
    def lateness(self) -> np.ndarray:
        """Seconds each recent scheduled step started after its deadline (oldest first)."""
        n = min(self._late_count, LATENESS_WINDOW)
        if self._late_count <= LATENESS_WINDOW:
            return self._lateness[:n].copy()
        start = self._late_count % LATENESS_WINDOW
        return np.concatenate([self._lateness[start:], self._lateness[:start]])

    def reset_lateness(self) -> None:
        self._late_count = 0

    # ------------------------------------------------------------------------ the steps
    def _step(self, dt: float) -> None:
        with self._lock:
            if not self._stopping.is_set():
                self._step_locked(dt)

    def _step_locked(self, dt: float) -> None:
        self._last_step = time.perf_counter()
        try:
            self._step_fn(dt)
        except Exception as exc:  # one bad step must not stop the music
            self.step_errors += 1
            self.throttle.warn("step", f"step failed: {type(exc).__name__}: {exc}")
        self.steps += 1

    def _service(self) -> None:
        with self._lock:
            if not self._stopping.is_set():
                self._service_locked()

    def _service_locked(self) -> None:
        try:
            self.service()
        except Exception as exc:
            self.throttle.warn("service", f"housekeeping failed: {type(exc).__name__}: {exc}")

    def try_tick(self) -> bool:
        """Play one tick now on the calling thread (the control thread), if the clock thread is
        running and not stepping and the last tick played here is FAST_TICK_GAP old; False
        otherwise, and the caller queues the tick for the clock thread instead. Commands queued
        before the tick are applied before its character."""
        if not self.running or self._stopping.is_set():
            return False
        if time.perf_counter() - self._fast_done < FAST_TICK_GAP:
            return False  # ticks this dense: the queue, with its limit and its count
        if not self._lock.acquire(blocking=False):
            return False
        if self._stopping.is_set():  # stop() came between the check above and the lock
            self._lock.release()
            return False
        try:
            self._service_locked()
            self._step_locked(self._tick_dt(time.perf_counter()))
        finally:
            self._fast_done = time.perf_counter()
            self._lock.release()
        return True

    def _tick_dt(self, now: float) -> float:
        if self._last_step is None:
            return 1.0 / NOMINAL_RATE
        return min(max(now - self._last_step, 0.0), MAX_TICK_DT)

    def burst(self, n: int, stop: Callable[[], bool] | None = None) -> float:
        """n characters as fast as possible on this thread (fewer if `stop` is set); returns
        the seconds taken. Pause and ticks do not apply: a burst is an offline run."""
        if self.running:
            raise RuntimeError("burst() while the clock thread runs")
        self._stopping.clear()  # a burst is a run of its own, like start()
        start = time.perf_counter()
        for _ in range(n):
            if stop is not None and stop():
                break
            self._service()
            rate = self.controls.rate
            self._step(1.0 / (rate if rate > 0 else NOMINAL_RATE))
        return time.perf_counter() - start

    # ------------------------------------------------------------------------- the loop
    def _run(self) -> None:
        tighten_timer_slack()
        controls, wake, now = self.controls, self.controls.wake, time.perf_counter
        rate: float | None = None  # the rate the grid was anchored for; None = re-anchor
        t0, k = 0.0, 0
        last_deadline: float | None = None
        while not self._stopping.is_set():
            wake.clear()  # before reading state: a change after this wakes the wait below
            self._service()
            if controls.paused:
                rate = None
                wake.wait(self.housekeeping_every)
                continue
            if controls.rate != rate:
                rate = controls.rate
                if rate > 0:
                    t0 = now() if last_deadline is None else max(now(), last_deadline + 1 / rate)
                    t0 += self._phase(t0, rate)
                    k = 0
            deadline = t0 + k / rate if rate > 0 else math.inf
            remaining = deadline - now()
            # A due scheduled step goes before waiting ticks: under a flood of /charmix/tick
            # the queue (up to TICKS_MAX) would otherwise hold the clock's grid back.
            if remaining > self.spin and controls.take_tick():
                self._step(self._tick_dt(now()))
                continue
            if rate == 0:
                wake.wait(self.housekeeping_every)
                continue
            if remaining > self.spin:
                wake.wait(min(remaining - self.spin, self.housekeeping_every))
                continue
            while now() < deadline:
                time.sleep(0)  # spin, but let the control thread have the GIL
            self._record(now() - deadline)
            last_deadline = deadline
            self._step(1.0 / rate)
            k += 1
            behind = now() - (t0 + k / rate)
            if behind > 0:  # overran the next deadline: skip what was missed, don't burst
                missed = math.floor(behind * rate) + 1
                k += missed
                self.counters.add("overruns", missed)

    def _phase(self, t0: float, rate: float) -> float:
        """Seconds to add to a grid anchored at t0 (perf_counter) so that its deadlines fall on
        the wall clock's epoch + n/rate; 0 without an aligned score."""
        if self.align_epoch is None:
            return 0.0
        period = 1.0 / rate
        wall = time.time() + (t0 - time.perf_counter())
        return (period - (wall - self.align_epoch) % period) % period

    def _record(self, late: float) -> None:
        self._lateness[self._late_count % LATENESS_WINDOW] = late
        self._late_count += 1
