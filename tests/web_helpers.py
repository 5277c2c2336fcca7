"""`charmix web` as a subprocess, and headless Chromium driven by Playwright, for the web tests.

Chromium is Debian's /usr/bin/chromium (Playwright cannot download browsers here); each launch
gets a fresh temporary profile from Playwright. Touch input goes through the Chrome DevTools
Protocol's Input.dispatchTouchEvent, which is what a phone's touchscreen produces: Chromium turns
the touches into the same Pointer Events a finger makes.
"""

from __future__ import annotations

import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True}


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium_or_skip() -> None:
    if not os.path.exists(CHROMIUM) or shutil.which("chromium") is None:
        if os.environ.get("CI"):
            pytest.fail("CI is missing chromium: run `make sysdeps`")
        pytest.skip("Debian's chromium is not installed (make sysdeps installs it)")
    pytest.importorskip("playwright.sync_api")


class Bridge:
    """`charmix web` on a free TCP port; its lines arrive in a queue as they are printed."""

    def __init__(self, control: str, *args: str, port: int | None = None) -> None:
        self.port = port or free_tcp_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        cmd = [sys.executable, "-m", "charmix.daemon.cli", "web", "--to", control,
               "--listen", f"127.0.0.1:{self.port}", "--no-qr", "--query-timeout", "2", *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.frames_port = 0
        self.wait_line("Ctrl-C stops", timeout=20)  # the last line at start-up

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.log.append(line)
            self.lines.put(line)

    def wait_line(self, text: str, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if "frames from" in line:
                self.frames_port = int(line.rsplit(":", 1)[1].split()[0])
            if text in line:
                return line
        raise AssertionError(f"charmix web never printed {text!r}; output: {''.join(self.log)}")

    def close(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        out = "".join(self.log)
        assert "Traceback" not in out, out
        return out


def wait_js(page: Any, expr: str, timeout: float = 10.0, what: str = "") -> Any:
    """Poll a JS expression in the page until it is truthy; its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = page.evaluate(expr)
        if value:
            return value
        if time.monotonic() > deadline:
            state = page.evaluate("window.charmix && window.charmix.state()")
            raise AssertionError(f"{what or expr} not true within {timeout} s; page: {state}")
        time.sleep(0.05)


class Touch:
    """Fingers on a page's pad, in pad units, through CDP touch events."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.cdp = page.context.new_cdp_session(page)
        self.box = page.evaluate(
            "(() => { const r = document.getElementById('pad').getBoundingClientRect();"
            " return [r.left, r.top, r.width, r.height]; })()")

    def pixels(self, x: float, y: float) -> tuple[float, float]:
        left, top, w, h = self.box
        return left + (x + 1) / 2 * w, top + (1 - y) / 2 * h

    def _send(self, kind: str, points: list[tuple[float, float]]) -> None:
        touch_points = [{"x": px, "y": py, "id": i, "radiusX": 4, "radiusY": 4, "force": 1}
                        for i, (px, py) in enumerate(self.pixels(x, y) for x, y in points)]
        self.cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": touch_points})

    def down(self, *points: tuple[float, float]) -> None:
        self._send("touchStart", list(points))

    def move(self, *points: tuple[float, float]) -> None:
        self._send("touchMove", list(points))

    def drag(self, start: tuple[float, float], end: tuple[float, float], steps: int = 8) -> None:
        """Finger down at start, moves to end in steps, stays down."""
        self.down(start)
        for k in range(1, steps + 1):
            f = k / steps
            self.move((start[0] + (end[0] - start[0]) * f, start[1] + (end[1] - start[1]) * f))
            time.sleep(0.03)

    def up(self) -> None:
        self.cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
