"""Bridges against the real daemon: moving the pad from one model's anchor to another's moves
the daemon's /charmix/attribution (which model wrote each character) from one to the other.

The daemon runs as a subprocess on free ports with the three tiny real models; a UDP receiver
listens on its output port. The pad is driven two ways: the mouse bridge under Xvfb with
xdotool moving the real pointer, and the Leap bridge replaying a recorded take (no X needed).
With one model's weight at 1 and the others at 0, r_i = w_i p_i(c) / Σ_j w_j p_j(c) is exactly
1 for that model, so a run of characters all attributed to it shows where the pad is.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.osc_receiver import Received, path
from helpers import DaemonProcess
from test_mouse import MouseBridge, display  # noqa: F401 - display is a fixture

from charmix.controllers.leap import HandFrame
from charmix.controllers.mapping import PadMapping

RATE = 60  # chars/s: plenty of attributed characters per second of test
RUN = 12  # consecutive characters by one model that count as "the pad is on it"


class Daemon(DaemonProcess):
    """`charmix daemon` on free ports with the tiny models; its output lands in `self.out`."""

    def __init__(self, models: dict[str, Path]) -> None:
        super().__init__(models, RATE, "--seed", "1")

    def writer(self, params: tuple) -> str:
        """The model with > 95% of a character's attribution, else 'mix'."""
        best = max(range(len(params)), key=params.__getitem__)
        return self.names[best] if params[best] > 0.95 else "mix"

    def writers(self, messages: list[Received]) -> list[str]:
        return [self.writer(m.params) for m in messages if m.address == path("attribution")]

    def wait_for_run(self, name: str, after: int = 0) -> int:
        """Wait until RUN characters in a row (after the first `after`) are by `name`."""
        def ran(messages: list[Received]) -> bool:
            who = self.writers(messages)[after:]
            return any(who[k:k + RUN] == [name] * RUN for k in range(len(who) - RUN + 1))

        self.out.wait_until(ran, timeout=20, what=f"{RUN} characters in a row by {name}")
        return len(self.out.of("attribution"))


@pytest.fixture
def daemon(tiny_models: dict[str, Path]) -> Iterator[Daemon]:
    with contextlib.closing(Daemon(tiny_models)) as d:
        yield d


def test_mouse_pad_moves_the_daemons_attribution(daemon: Daemon, display: str) -> None:  # noqa: F811
    first, second = daemon.names[0], daemon.names[2]
    bridge = MouseBridge(display, daemon.control, "--query-timeout", "2")
    try:
        assert sorted(bridge.anchors) == sorted(daemon.names)  # names came from the daemon
        bridge.point_at(first)
        at_first = daemon.wait_for_run(first)
        bridge.point_at(second)
        daemon.wait_for_run(second, after=at_first)
        settled = daemon.writers(daemon.out.messages)[-RUN:]
        assert settled == [second] * RUN
    finally:
        bridge.close()


def test_leap_replay_moves_the_daemons_attribution(daemon: Daemon, tmp_path: Path) -> None:
    first, second = daemon.names[1], daemon.names[0]
    pad = PadMapping.for_models(daemon.names)
    take = tmp_path / "take.jsonl"
    lines = []
    for k in range(40):  # 0.8 s of the hand over the first anchor, then 0.8 s over the second
        a = pad.anchors[daemon.names.index(first if k < 20 else second)]
        lines.append(HandFrame(k * 0.04, a.x * 150, 200.0, -a.y * 150, 0.0, 0.0).to_json())
    take.write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "charmix.daemon.cli", "leap", "--replay", str(take), "--to",
         daemon.control, "--no-pinch", "--query-timeout", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        at_first = daemon.wait_for_run(first)
        daemon.wait_for_run(second, after=at_first)
    finally:
        err = proc.communicate(timeout=30)[1]
    assert proc.returncode == 0, err
    assert f"models {', '.join(daemon.names)} (from the daemon" in err
    count = len(daemon.out.of("attribution"))
    daemon.out.wait_count("attribution", count + RUN)  # the replay is over: it stays there
    assert daemon.writers(daemon.out.messages)[-RUN:] == [second] * RUN
