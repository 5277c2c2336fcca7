"""`charmix web` under load: the bridge's CPU with 1 and with 10 pages, and frame → painted latency.

    .venv/bin/python benchmarks/bench_web.py                  # 20 chars/s, 1 and 10 pages
    .venv/bin/python benchmarks/bench_web.py --rate 100 --pages 1 --seconds 20
    .venv/bin/python benchmarks/bench_web.py --pages 1 --readers 0 9   # 1 page + 9 WS clients

A real daemon with the six shipped models, a real bridge and headless Chromium (Debian's
/usr/bin/chromium) with N pages at a phone's size, all on loopback. For each N:

- bridge CPU: utime + stime of the bridge process from /proc over the window, as % of one core;
- latency: each frame carries `rx`, the wall-clock time its first datagram reached the bridge; the
  page records (performance.timeOrigin + performance.now()) − rx at the end of the
  requestAnimationFrame callback that drew it (the compositor shows it at the next vsync, up to
  one display frame later: not included). Page and bridge share this machine's clock;
- the same up to the page's onmessage (bridge + WebSocket + the page's event loop), which
  separates the bridge from the page's drawing;
- the page's animation frames per second, characters in the DOM (bounded by MAX_CHARS) and
  Chromium's JS heap before and after the window (bounded memory).

The machine is shared and timings move by a third between runs: compare within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from web_helpers import CHROMIUM, CHROMIUM_ARGS, PHONE, Bridge, wait_js  # noqa: E402

CLI = [sys.executable, "-m", "charmix.daemon.cli"]
TICK = os.sysconf("SC_CLK_TCK")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Reader:
    """A lightweight page: a WebSocket client (websocket-client) reading every message."""

    def __init__(self, bridge: Bridge) -> None:
        import websocket

        self.ws = websocket.create_connection(f"ws://127.0.0.1:{bridge.port}/ws", timeout=5)
        self.messages = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while True:
                self.ws.recv()
                self.messages += 1
        except Exception:  # closed at the end of the run
            return

    def close(self) -> None:
        self.ws.close()


def measure(browser, bridge: Bridge, pages: int, seconds: float, readers: int = 0) -> dict:
    extra = [Reader(bridge) for _ in range(readers)]
    contexts = [browser.new_context(**PHONE) for _ in range(pages)]
    tabs = [c.new_page() for c in contexts]
    for tab in tabs:
        tab.goto(bridge.url)
    for tab in tabs:
        wait_js(tab, "window.charmix && window.charmix.state().received > 10", timeout=20)
    heap = "performance.memory ? performance.memory.usedJSHeapSize : 0"
    time.sleep(2.0)  # warm: JIT, first layouts
    for tab in tabs:
        tab.evaluate("window.charmix.resetStats()")
    heap0 = [tab.evaluate(heap) for tab in tabs]
    c0, t0 = cpu_seconds(bridge.proc.pid), time.monotonic()
    time.sleep(seconds)
    c1, t1 = cpu_seconds(bridge.proc.pid), time.monotonic()
    lat: list[float] = []
    arrived: list[float] = []
    frames, shown, heap1 = [], [], []
    for tab in tabs:
        lat += tab.evaluate("window.charmix.latencies()")
        arrived += tab.evaluate("window.charmix.arrivals()")
        frames.append(tab.evaluate("window.charmix.frames()"))
        shown.append(tab.evaluate("window.charmix.state().shown"))
        heap1.append(tab.evaluate(heap))
    for c in contexts:
        c.close()
    for r in extra:
        r.close()
    wall = t1 - t0
    return {
        "pages": pages,
        "ws_readers": readers,
        "bridge_cpu_percent": round(100 * (c1 - c0) / wall, 1),
        "latency_ms_p50": round(statistics.median(lat), 2) if lat else None,
        "latency_ms_p99": round(percentile(lat, 0.99), 2) if lat else None,
        "latency_samples": len(lat),
        "in_page_ms_p50": round(statistics.median(arrived), 2) if arrived else None,
        "in_page_ms_p99": round(percentile(arrived, 0.99), 2) if arrived else None,
        "fps": round(statistics.mean(f["paints"] for f in frames) / wall, 1),
        "chars_in_dom_max": max(shown),
        "js_heap_mb_before_after": [round(statistics.mean(heap0) / 1e6, 1),
                                    round(statistics.mean(heap1) / 1e6, 1)],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=20.0, help="the daemon's chars/s")
    ap.add_argument("--pages", type=int, nargs="+", default=[1, 10])
    ap.add_argument("--seconds", type=float, default=20.0, help="measurement window per run")
    ap.add_argument("--readers", type=int, nargs="+", default=[0],
                    help="extra WebSocket clients per run, alongside the pages (a page's load on "
                    "the bridge without a browser's drawing on this machine's CPU)")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    control = f"127.0.0.1:{free_udp_port()}"
    daemon = subprocess.Popen([*CLI, "daemon", "--listen", control, "--send",
                               f"127.0.0.1:{free_udp_port()}", "--rate", str(args.rate),
                               "--no-echo"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    results = []
    try:
        time.sleep(3.0)  # the models load
        bridge = Bridge(control)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for n in args.pages:
                    for k in args.readers:
                        result = {"rate": args.rate,
                                  **measure(browser, bridge, n, args.seconds, k)}
                        print(json.dumps(result), flush=True)
                        results.append(result)
                browser.close()
        finally:
            bridge.close()
    finally:
        daemon.terminate()
        daemon.wait(10)
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
