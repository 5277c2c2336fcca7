"""`charmix mouse` for real: an X server (Xvfb), xdotool moving the pointer, UDP catching OSC.

The bridge runs as a subprocess with a fixed --geometry and --debug, which prints where each
anchor is drawn; xdotool moves the real pointer there, and the weights that arrive over UDP
must put (almost) all the mass on that model.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest
from fakes.osc_receiver import OscReceiver

from charmix.controllers.mouse import TITLE

GEOMETRY = "420x520+0+0"
MODELS = ["shakespeare", "linux", "bible"]


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    """A private X server on a free display number (Xvfb picks it and tells us via -displayfd)."""
    for tool in ("Xvfb", "xdotool"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (Debian: apt-get install xvfb xdotool)")
    read_end, write_end = os.pipe()
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "800x700x24", "-nolisten", "tcp"],
        pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        with os.fdopen(read_end, "rb") as f:
            number = f.readline().strip().decode()  # blocks until the server is ready
        assert number.isdigit(), "Xvfb did not report a display number"
        yield f":{number}"
    finally:
        xvfb.terminate()
        xvfb.wait(10)


def xdotool(display: str, *args: str) -> str:
    env = dict(os.environ, DISPLAY=display)
    return subprocess.run(["xdotool", *args], env=env, check=True, capture_output=True,
                          text=True, timeout=20).stdout


class MouseBridge:
    """`charmix mouse` in a subprocess, with its anchors' pixel positions and its window id."""

    def __init__(self, display: str, target: str, *extra: str) -> None:
        env = dict(os.environ, DISPLAY=display)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "charmix.daemon.cli", "mouse", "--to", target,
             "--models", ",".join(MODELS), "--geometry", GEOMETRY, "--debug",
             "--query-timeout", "0.05", *extra],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        line = self.proc.stdout.readline()  # the first layout, printed once the window maps
        assert line.startswith("anchors "), (line, self.proc.stderr.read())
        self.anchors: dict[str, list[int]] = json.loads(line.split(" ", 1)[1])
        self.window = xdotool(display, "search", "--sync", "--name", TITLE).split()[0]
        self.display = display

    def point_at(self, name: str) -> None:
        """Move onto the anchor from one pixel beside it, so there is always a motion event."""
        x, y = self.anchors[name]
        for px in (x + 1, x):
            xdotool(self.display, "mousemove", "--window", self.window, str(px), str(y))

    def keys(self, *keys: str) -> None:
        xdotool(self.display, "key", *keys)  # no WM: focus follows the pointer onto our window

    def close(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(10)
        finally:
            self.proc.stdout.close()
            self.proc.stderr.close()


def dominant(model: str):
    i = MODELS.index(model)
    return lambda params: len(params) == len(MODELS) and params[i] > 0.99


def test_pointer_on_an_anchor_sends_that_model_alone(display: str) -> None:
    with OscReceiver() as rx:
        bridge = MouseBridge(display, rx.target)
        try:
            assert set(bridge.anchors) == set(MODELS)
            assert rx.of("weights") == []  # opening the window sends nothing
            bridge.point_at("linux")
            rx.wait_for("weights", dominant("linux"))
            bridge.point_at("bible")
            got = rx.wait_for("weights", dominant("bible"))
            assert sum(got.params) == pytest.approx(1.0, abs=1e-5)
            assert all(p >= 0 for p in got.params)
            bridge.point_at("shakespeare")
            rx.wait_for("weights", dominant("shakespeare"))
        finally:
            assert bridge.close() in (0, -15)


def test_keys_temperature_freeze_and_quit(display: str) -> None:
    with OscReceiver() as rx:
        bridge = MouseBridge(display, rx.target)
        try:
            bridge.point_at("linux")
            rx.wait_for("weights", dominant("linux"))
            bridge.keys("plus")
            t_up = rx.wait_for("temperature").params[0]
            assert t_up == pytest.approx(0.8 * 1.05, abs=1e-3)  # from the table's default, 0.8
            xdotool(display, "click", "5")  # wheel down
            rx.wait_for("temperature", lambda p: p[0] == pytest.approx(0.8, abs=1e-3))
            bridge.keys("space")  # freeze
            bridge.point_at("bible")
            bridge.keys("minus")  # X delivers in order: once this arrives, the move was seen
            rx.wait_for("temperature", lambda p: p[0] < 0.79)
            assert not [m for m in rx.of("weights") if dominant("bible")(m.params)]
            bridge.keys("space")  # thaw: the next motion counts again
            bridge.point_at("shakespeare")
            rx.wait_for("weights", dominant("shakespeare"))
            bridge.keys("q")
            assert bridge.proc.wait(10) == 0
        finally:
            bridge.close()


def test_window_title_tells_the_keys(display: str) -> None:
    with OscReceiver() as rx:
        bridge = MouseBridge(display, rx.target)
        try:
            title = xdotool(display, "getwindowname", bridge.window)
            for word in ("wheel", "+/-", "space", "freeze", "fullscreen", "Esc", "quit"):
                assert word in title
            bridge.keys("Escape")
            assert bridge.proc.wait(10) == 0
        finally:
            bridge.close()


def test_without_a_display_it_says_so() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    proc = subprocess.run(
        [sys.executable, "-m", "charmix.daemon.cli", "mouse", "--models", "a,b",
         "--to", "127.0.0.1:9", "--query-timeout", "0"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1  # a runtime failure: no display
    assert "cannot open a window" in proc.stderr and "DISPLAY" in proc.stderr
