"""`charmix midi --clock`: MIDI clock → evenly spread /charmix/tick, measured against an ideal grid.

The follower is fed synthetic clocks (jittered pulses, tempo changes, Start / Stop / Continue,
a pulled cable) with their times, so its tick times are exact to check; then the whole bridge
runs on an in-memory mido port (the same code path as rtmidi hardware) into a real UDP receiver.
"""

from __future__ import annotations

import threading
import time

import mido
import numpy as np
import pytest
from fakes.osc_receiver import OscReceiver
from test_midi import MemoryPort

from charmix.controllers.midi.clock import HORIZON, PPQN, ClockBridge, ClockFollower
from charmix.controllers.sender import Sender


def pulses(bpm: float | list[tuple[int, float]], n: int, jitter: float = 0.0, seed: int = 0,
           t0: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(true times, arrival times) of n pulses; bpm may change: [(from pulse, bpm), …]."""
    changes = [(0, bpm)] if isinstance(bpm, int | float) else bpm
    true = np.empty(n)
    t = t0
    for k in range(n):
        true[k] = t
        rate = [b for start, b in changes if k >= start][-1]
        t += 60.0 / (rate * PPQN)
    noise = np.random.default_rng(seed).uniform(-jitter, jitter, n)
    return true, true + noise


def simulate(follower: ClockFollower, events: list[tuple[float, str]]) -> list[float]:
    """Feed (time, kind) events in order; between them fire every tick that falls due, at the
    time it is due (what the ticker thread does)."""
    ticks: list[float] = []
    for k, (t, kind) in enumerate(events):
        follower.feed(kind, t)
        horizon = events[k + 1][0] if k + 1 < len(events) else t + 1.0
        while (due := follower.due()) is not None and due < horizon:
            ticks.append(max(due, t))
            follower.consume()
    return ticks


def ideal(true: np.ndarray, per_beat: float, count: int) -> np.ndarray:
    """Tick j at the true time of song position j·24/N (interpolated between true pulses, and
    extrapolated at the last tempo past the last pulse)."""
    positions = np.arange(count) * PPQN / per_beat
    inside = np.interp(positions, np.arange(true.size), true)
    last = true.size - 1
    return np.where(positions > last, true[-1] + (positions - last) * (true[-1] - true[-2]),
                    inside)


@pytest.mark.parametrize("per_beat", [4, 5, 1, 48])
def test_ticks_land_on_the_grid_despite_jittered_pulses(per_beat) -> None:
    true, arrive = pulses(120, 24 * 16, jitter=0.0015, seed=per_beat)
    follower = ClockFollower(per_beat)
    events = [(arrive[0] - 0.01, "start")] + [(t, "clock") for t in arrive]
    ticks = np.array(simulate(follower, events))
    expected = ideal(true, per_beat, ticks.size)
    assert ticks.size >= 16 * per_beat - 1
    settled = ticks.size // 4  # after the first four beats
    error = np.abs(ticks - expected)[settled:]
    raw = np.abs(arrive - true)
    rms = float(np.sqrt((error**2).mean()))
    raw_rms = float(np.sqrt((raw**2).mean()))
    assert rms < 0.6 * raw_rms and error.max() < raw.max(), (rms, raw_rms)  # smoother than pulses
    gaps = np.diff(ticks[settled:])
    assert gaps.min() > 0.8 * (0.5 / per_beat)  # evenly spread, never a burst


def test_a_tempo_change_is_followed_within_two_beats() -> None:
    true, arrive = pulses([(0, 120), (24 * 8, 150)], 24 * 16, jitter=0.001)
    follower = ClockFollower(4)
    events = [(arrive[0] - 0.01, "start")] + [(t, "clock") for t in arrive]
    ticks = np.array(simulate(follower, events))
    expected = ideal(true, 4, ticks.size)
    after = 4 * 10  # two beats after the change at beat 8
    assert np.abs(ticks - expected)[after:].max() < 0.002
    assert follower.filter.bpm == pytest.approx(150, rel=0.01)


def test_start_stop_continue_and_song_position() -> None:
    true, arrive = pulses(120, 24 * 8)
    follower = ClockFollower(2)
    beat = 24
    events = [(arrive[0] - 0.01, "start")]
    events += [(t, "clock") for t in arrive[: 2 * beat]]
    events += [(arrive[2 * beat] - 0.005, "stop")]
    events += [(t, "clock") for t in arrive[2 * beat : 4 * beat]]  # clock runs, song stopped
    events += [(arrive[4 * beat] - 0.005, "continue")]
    events += [(t, "clock") for t in arrive[4 * beat : 6 * beat]]
    ticks = simulate(follower, events)
    during_stop = [t for t in ticks if arrive[2 * beat] - 0.005 < t < arrive[4 * beat] - 0.005]
    assert during_stop == []
    # 2 beats before Stop, 2 after Continue, 2 per beat; continuing from position 48, not 0;
    # then the one due HORIZON pulses past the last (position 96).
    assert len([t for t in ticks if t <= arrive[6 * beat - 1]]) == 8
    assert len(ticks) == 9 and follower.next_tick == 9
    follower.feed("stop", arrive[6 * beat])
    follower.feed("songpos", arrive[6 * beat], songpos=16)  # bar 2 (16 sixteenths)
    assert follower.position == 16 * 6 - 1 and follower.next_tick == 8  # position 96: tick 8


def test_a_pulled_cable_stops_the_ticks_within_the_horizon() -> None:
    true, arrive = pulses(120, 24 * 2)
    follower = ClockFollower(48)  # two ticks per pulse
    events = [(arrive[0] - 0.01, "start")] + [(t, "clock") for t in arrive]
    ticks = simulate(follower, events)  # nothing after the last pulse but a second of silence
    last_pulse_position = 24 * 2 - 1
    assert len(ticks) == int((last_pulse_position + HORIZON) * 2) + 1


def test_no_tempo_no_ticks_and_nonsense_refused() -> None:
    follower = ClockFollower(4)
    follower.feed("start", 0.0)
    follower.feed("clock", 0.01)
    assert follower.due() == 0.01  # the downbeat, on its pulse
    follower.consume()
    assert follower.due() is None  # one pulse: no tempo yet to place the next tick
    with pytest.raises(ValueError):
        ClockFollower(0)


def test_the_bridge_on_a_port_sends_ticks_on_an_even_grid_over_udp() -> None:
    """An in-memory port fed a jittered 125 BPM clock in real time; the ticks arrive over real
    UDP. Their jitter against the best-fitting even grid is printed and bounded loosely (a
    loaded CI machine adds scheduling delays of its own)."""
    per_beat, bpm, beats = 4, 125.0, 6
    period = 60.0 / (bpm * PPQN)
    port = MemoryPort("clock")
    with OscReceiver() as rx, Sender([("127.0.0.1", rx.port)]) as sender:
        bridge = ClockBridge(sender, per_beat)
        worker = threading.Thread(target=bridge.pump, args=(port,), daemon=True)
        worker.start()
        rng = np.random.default_rng(1)
        port.send(mido.Message("start"))
        start = time.perf_counter()
        for k in range(PPQN * beats):
            due = start + k * period + rng.uniform(-0.001, 0.001)
            while time.perf_counter() < due:
                time.sleep(0.0002)
            port.send(mido.Message("clock"))
        port.send(mido.Message("stop"))
        time.sleep(0.2)
        port.close()
        worker.join(5)
        assert rx.wait_for("rate").params == (0.0,)
        ticks = np.array([m.t for m in rx.of("tick")])
    assert abs(ticks.size - per_beat * beats) <= 1
    index = np.arange(ticks.size)
    slope, offset = np.polyfit(index, ticks, 1)
    residual = ticks - (offset + slope * index)
    print(f"\nMIDI clock → ticks over UDP: {ticks.size} ticks, interval "
          f"{slope * 1e3:.2f} ms (ideal {60e3 / bpm / per_beat:.2f}), jitter vs grid: "
          f"rms {residual.std() * 1e3:.2f} ms, max {np.abs(residual).max() * 1e3:.2f} ms")
    assert slope == pytest.approx(60.0 / bpm / per_beat, rel=0.03)
    # ms-level on an idle machine (docs/controllers.md); on a loaded one a tick now and then
    # is late by a scheduler slice, so the test holds the typical tick to the grid (the
    # median), the rms being the benchmark's figure
    assert np.median(np.abs(residual)) < 0.006
    assert np.diff(ticks).min() > 0.4 * slope  # spread across the beat, never a burst


def test_the_clock_bridge_drives_a_real_daemon(tiny_model_dir) -> None:
    """The bridge sets the daemon to its external clock and its ticks make the characters: as
    many as the beats asked for, and none after Stop."""
    from test_daemon_runtime import wait_for

    from charmix.daemon.runtime.config import build
    from charmix.daemon.runtime.daemon import Daemon

    out: list[str] = []
    d = Daemon(build({"models_dir": tiny_model_dir, "listen": "127.0.0.1:0", "rate": 50.0,
                      "send": ["127.0.0.1:9"]}), echo=out.append)
    d.start()
    port = MemoryPort("clock")
    try:
        assert d.server is not None
        with Sender([d.server.address]) as sender:
            bridge = ClockBridge(sender, per_beat=2)
            worker = threading.Thread(target=bridge.pump, args=(port,), daemon=True)
            worker.start()
            wait_for(lambda: d.controls.rate == 0.0)
            before = len(out)
            period = 60.0 / (240 * PPQN)  # 240 BPM: 2 ticks a beat = 8 a second
            port.send(mido.Message("start"))
            start = time.perf_counter()
            for k in range(PPQN * 4):  # four beats
                while time.perf_counter() < start + k * period:
                    time.sleep(0.0005)
                port.send(mido.Message("clock"))
            port.send(mido.Message("stop"))
            wait_for(lambda: bridge.ticks >= 8)
            wait_for(lambda: len(out) - before >= bridge.ticks, timeout=30)  # a char a tick
            made = len(out) - before
            for _ in range(PPQN):  # the clock runs on while stopped: no characters
                port.send(mido.Message("clock"))
                time.sleep(period)
            time.sleep(0.2)
            port.close()
            worker.join(5)
    finally:
        d.stop()
    assert bridge.ticks in (8, 9)  # 8 on the beats; one more may fall due at the horizon
    assert made == bridge.ticks and len(out) - before == made
