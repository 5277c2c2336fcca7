"""The monitor's OSC reader against the inputs issue 10 found it choking on.

Each test failed before its fix: a /charmix/step (or /charmix/index) sent as float NaN or inf made
`int()` raise inside `feed()`, which ended `run_monitor`; a /charmix/status with fields appended
by a newer daemon was refused although docs/osc.md promises that fields are only appended; and
the `learned` index -> char table grew by one entry per distinct index, forever.
"""

from __future__ import annotations

import math

import pytest
from test_monitor import bundle, frame_datagram, message

from charmix.daemon import protocol
from charmix.daemon.client import frames as client_frames
from charmix.daemon.client.frames import LEARNED_MAX
from charmix.daemon.monitor import view as monitor_view


def two_models() -> client_frames.MonitorState:
    state = client_frames.MonitorState()
    state.feed(bundle(message("models", "x", "y"), message("vocab", "ab")), 0.0)
    return state


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 1.5])
@pytest.mark.parametrize("suffix", ["step", "index"])
def test_a_step_or_index_that_is_not_a_whole_number_is_counted_not_raised(
    suffix: str, value: float
) -> None:
    state = two_models()
    state.feed(frame_datagram(0, "a", [1.0, 0.0]), 0.1)
    state.feed(bundle(message("char", "b"), message(suffix, value)), 0.2)  # must not raise
    assert state.counters.bad_args == 1
    assert state.step == 0
    state.feed(frame_datagram(1, "b", [0.0, 1.0]), 0.3)  # and the monitor goes on
    assert state.step == 1 and state.counters.dropped_steps == 0
    monitor_view.render(state, "test", 80, 24, now=0.4)


def test_a_whole_float_step_is_a_step() -> None:
    state = two_models()
    state.feed(message("step", 7.0), 0.1)
    assert state.step == 7 and state.counters.bad_args == 0


def test_status_with_appended_fields_is_read_by_position() -> None:
    state = two_models()
    n = len(protocol.STATUS_FIELDS)
    values = [float(i) for i in range(n + 3)]  # a newer daemon: three more fields
    state.feed(message("status", *values), 0.1)
    assert state.counters.bad_args == 0
    assert list(state.status) == list(protocol.STATUS_FIELDS)
    assert [state.status[k] for k in protocol.STATUS_FIELDS] == values[:n]
    state.feed(message("status", *values[: n - 1]), 0.2)  # one too few: refused
    assert state.counters.bad_args == 1
    state.feed(message("status", *values[:n], "x"), 0.3)  # a string among them: refused
    assert state.counters.bad_args == 2


def test_learned_indices_are_bounded() -> None:
    state = client_frames.MonitorState()  # no vocabulary yet: indices are learned from the frames
    for i in range(20_000):
        state.feed(bundle(message("char", chr(0x4E00 + i % 20_000)), message("index", i)), i)
    assert len(state.learned) <= LEARNED_MAX
    assert state.char_at(19_999) == chr(0x4E00 + 19_999)  # the most recent are kept
    assert state.char_at(0) == ""  # the oldest went


def test_a_char_that_is_not_one_character_is_refused_and_the_view_survives() -> None:
    """Found by the fuzzer: a /charmix/char of 98 non-printable characters made glyph()'s ord()
    raise inside render(), which ended the monitor."""
    state = two_models()
    state.feed(bundle(message("char", "\x01" * 98), message("step", 0)), 0.1)
    state.feed(bundle(message("char", ""), message("step", 1)), 0.2)
    assert state.counters.bad_args == 2 and not state.text
    assert monitor_view.glyph("\x01\x02") == "\\x01\\x02"
    monitor_view.render(state, "test", 80, 24, now=0.3)


def test_distributions_of_unannounced_models_are_not_kept() -> None:
    state = two_models()
    for i in range(500):
        state.feed(message(f"model/m{i}/dist", 0.5, 0.5), 0.1)
    assert set(state.dists) <= {"x", "y"} and state.counters.unknown == 500
    fresh = client_frames.MonitorState()  # before the names are known: only the latest few
    for i in range(500):
        fresh.feed(message(f"model/m{i}/dist", 0.5, 0.5), 0.1)
    assert len(fresh.dists) <= 64
