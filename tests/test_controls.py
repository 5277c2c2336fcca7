"""Controls: validation before change, latest value wins, commands and ticks, rate-limited logs."""

from __future__ import annotations

import logging
import math
import threading

import numpy as np
import pytest

from charmix.daemon import protocol
from charmix.daemon.live import controls as ctl
from charmix.daemon.live.controls import ControlError, Controls
from charmix.daemon.live.counters import Throttle

NAMES = ["shakespeare", "linux", "bible"]


@pytest.fixture
def c() -> Controls:
    return Controls(NAMES)


def test_defaults_and_snapshot(c: Controls) -> None:
    s = c.snapshot()
    np.testing.assert_allclose(s.weights, [1 / 3] * 3)
    assert (s.temperature, s.mode, s.topk, s.topp, s.slew) == (0.8, "linear", 0, 1.0, 0.05)
    np.testing.assert_array_equal(s.model_temperature, [0, 0, 0])
    assert c.rate == 15.0 and not c.paused


def test_snapshot_arrays_are_copies(c: Controls) -> None:
    s = c.snapshot()
    s.weights[:] = 99
    s.model_temperature[:] = 99
    assert c.snapshot().weights[0] == pytest.approx(1 / 3)
    assert c.snapshot().model_temperature[0] == 0


def test_weights_latest_wins_and_partial_lists_keep_the_rest(c: Controls) -> None:
    c.set_weights([1, 0, 0])
    c.set_weights([0.2, 0.7, 0.1])
    np.testing.assert_allclose(c.snapshot().weights, [0.2, 0.7, 0.1])
    c.set_weights([0.5])
    np.testing.assert_allclose(c.snapshot().weights, [0.5, 0.7, 0.1])
    c.set_weight("bible", 1)
    np.testing.assert_allclose(c.snapshot().weights, [0.5, 0.7, 1])


@pytest.mark.parametrize(
    "values, message",
    [
        ([], "no values"),
        ([1, 2, 3, 4], "4 values for 3 models"),
        ([1, float("nan")], "finite"),
        ([1, float("inf")], "finite"),
        ([1, -0.1], "geometric mode only"),  # anti-experts: geometric mode only
        ([1, 1.5], "in -1 – 1"),
        ([1, -1.5], "in -1 – 1"),
        ([1, "x"], "number"),
        ([True], "number"),
    ],
)
def test_bad_weights_change_nothing(c: Controls, values: list, message: str) -> None:
    c.set_weights([0.5, 0.25, 0.25])
    with pytest.raises(ControlError, match=message):
        c.set_weights(values)
    np.testing.assert_allclose(c.snapshot().weights, [0.5, 0.25, 0.25])


def test_unknown_model_names_are_refused(c: Controls) -> None:
    with pytest.raises(ControlError, match="unknown model 'austen'.*shakespeare, linux, bible"):
        c.set_weight("austen", 1)
    with pytest.raises(ControlError, match="unknown model"):
        c.set_model_temperature("austen", 1)


@pytest.mark.parametrize(
    "setter, good, bad",
    [
        ("set_temperature", [0.05, 1, 5], [0, 0.04, 5.1, math.nan, -1, "hot"]),
        ("set_rate", [0, 0.5, 2000], [-1, 2001, math.inf]),
        ("set_slew", [0, 0.5, 10], [-0.1, 11, math.nan]),
        ("set_topk", [0, 5, 5.0], [-1, 2.5, math.nan]),
        ("set_topp", [0.01, 1], [0, -0.5, 1.01]),
        ("set_mode", ["linear", "geometric"], ["LINEAR", "", 3]),
    ],
)
def test_ranges(c: Controls, setter: str, good: list, bad: list) -> None:
    for value in good:
        getattr(c, setter)(value)
    before = c.snapshot(), c.rate
    for value in bad:
        with pytest.raises(ControlError):
            getattr(c, setter)(value)
    after = c.snapshot(), c.rate
    assert repr(before) == repr(after)


def test_model_temperature_zero_clears_and_range_is_checked(c: Controls) -> None:
    c.set_model_temperature("linux", 1.5)
    np.testing.assert_array_equal(c.snapshot().model_temperature, [0, 1.5, 0])
    c.set_model_temperature("linux", 0)
    np.testing.assert_array_equal(c.snapshot().model_temperature, [0, 0, 0])
    with pytest.raises(ControlError, match="0.05"):
        c.set_model_temperature("linux", 0.01)


def test_initial_values_are_validated_too() -> None:
    with pytest.raises(ControlError, match="temperature"):
        Controls(NAMES, temperature=0)
    with pytest.raises(ControlError, match="weight"):
        Controls(NAMES, weights=[1, -1, 0])
    c = Controls(NAMES, weights=[1, 0, 0], rate=0, mode="geometric", model_temperature={"bible": 2})
    s = c.snapshot()
    assert list(s.weights) == [1, 0, 0] and s.mode == "geometric" and c.rate == 0
    assert list(s.model_temperature) == [0, 0, 2]


def test_commands_are_queued_in_order_and_validated(c: Controls) -> None:
    c.prime("To be")
    c.reset()
    c.seed(42)
    c.seed(7.0)  # Max float boxes send whole numbers as floats
    with pytest.raises(ControlError):
        c.seed(1.5)
    for bad in (-1, protocol.SEED_MAX + 1):
        with pytest.raises(ControlError, match="seed must be in"):
            c.seed(bad)
    with pytest.raises(ControlError):
        c.prime(3)
    with pytest.raises(ControlError, match="still waiting"):  # one prime at a time
        c.prime("or not to be")
    kinds = [(k.kind, k.text, k.seed) for k in c.take_commands()]
    assert kinds == [("prime", "To be", 0), ("reset", "", 0), ("seed", "", 42), ("seed", "", 7)]
    assert c.take_commands() == []
    c.prime("ab" * protocol.PRIME_MAX)  # a long text keeps its most recent characters
    (command,) = c.take_commands()
    assert command.text == "ab" * (protocol.PRIME_MAX // 2)


def test_command_queue_is_bounded(c: Controls) -> None:
    for _ in range(ctl.COMMANDS_MAX):
        c.reset()
    with pytest.raises(ControlError, match="already waiting"):
        c.reset()
    assert len(c.take_commands()) == ctl.COMMANDS_MAX


def test_ticks_are_bounded_and_dropped_while_paused(c: Controls) -> None:
    for _ in range(ctl.TICKS_MAX + 10):
        c.tick()
    assert c.counters.ticks_dropped == 10
    taken = 0
    while c.take_tick():
        taken += 1
    assert taken == ctl.TICKS_MAX
    c.tick()
    c.pause()
    assert not c.take_tick()  # pausing discards pending ticks
    c.tick()
    assert not c.take_tick()  # and ignores new ones
    c.resume()
    c.tick()
    assert c.take_tick()


def test_wake_is_set_by_what_the_clock_waits_for(c: Controls) -> None:
    for action in (lambda: c.set_rate(3), c.pause, c.resume, c.tick, c.reset):
        c.wake.clear()
        action()
        assert c.wake.is_set()
    c.wake.clear()
    c.set_weights([1, 0, 0])  # weights are read at the next step: no need to wake
    assert not c.wake.is_set()


def test_concurrent_writers_leave_a_consistent_state(c: Controls) -> None:
    """Many threads setting weights while another snapshots: every snapshot is one that some
    writer set (never a mix of two), and the counters lose no increments."""
    patterns = [np.array([i, 10 - i, i * 2], dtype=float) / 20 for i in range(10)]
    seen: list[np.ndarray] = []
    stop = threading.Event()

    def writer(k: int) -> None:
        for j in range(300):
            c.set_weights(patterns[(k + j) % 10])
            c.counters.add("rx_ok")

    def reader() -> None:
        while not stop.is_set():
            seen.append(c.snapshot().weights)

    r = threading.Thread(target=reader)
    r.start()
    writers = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for w in writers:
        w.start()
    for w in writers:
        w.join()
    stop.set()
    r.join()
    valid = {tuple(p) for p in patterns} | {(1 / 3, 1 / 3, 1 / 3)}
    assert all(tuple(s) in valid for s in seen)
    assert c.counters.rx_ok == 1200


def test_throttle_logs_once_per_interval_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    clock = [100.0]
    throttle = Throttle(logging.getLogger("test.throttle"), interval=1.0, now=lambda: clock[0])
    with caplog.at_level(logging.WARNING, logger="test.throttle"):
        for _ in range(500):
            throttle.warn("junk", "ignored junk")
        throttle.warn("other", "another kind")
        clock[0] += 0.5
        throttle.warn("junk", "ignored junk")
        clock[0] += 1.0
        throttle.warn("junk", "ignored junk")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["ignored junk", "another kind", "ignored junk (+500 more since last)"]
