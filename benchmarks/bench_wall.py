"""`/wall` under load: frame → painted latency with 1 and 4 walls, the CPU of the bridge and of
Chromium per wall, and a compressed day of text (the JS heap stays bounded).

    .venv/bin/python benchmarks/bench_wall.py                       # 20 chars/s, 1 and 4 walls
    .venv/bin/python benchmarks/bench_wall.py --walls 1 --seconds 20 --day-chars 500000
    .venv/bin/python benchmarks/bench_wall.py --walls --day-chars 100000   # the day only

A real daemon with the six shipped models, a real bridge and headless Chromium (Debian's
/usr/bin/chromium) with N walls at 1920×1080 (`--query`, default `fig=bottom&weights=1`), all on
loopback:

- latency: each frame carries `rx`, the wall-clock time its first datagram reached the bridge;
  the page records (performance.timeOrigin + performance.now()) − rx at the end of the
  requestAnimationFrame callback that drew it (the compositor shows it at the next vsync, up to
  one display frame later: not included). Page and bridge share this machine's clock;
- CPU: utime + stime from /proc over the window, as % of one core: the bridge process, and every
  Chromium process this benchmark started (browser, GPU/compositor, renderers) divided by N;
- the day: one more wall gets characters from the page's own test hook (`charmix.feed`), a frame
  per character with the Figure-1 vectors every frame, `--per-paint` characters per animation
  frame (as fast as the page paints), until `--day-chars`. The JS heap (after a forced garbage
  collection, through the DevTools protocol) after the first 10,000 characters and at the end,
  and the characters in the DOM. A real day at 20 chars/s is 1.7 million characters.
- restarts: the daemon is killed with SIGKILL and started again `--restarts` times; from its first
  datagram (its models announcement, on a socket standing for its --send target) to the wall
  drawing new characters.

Other processes share this machine: compare within one run; the CPU model is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from web_helpers import CHROMIUM, CHROMIUM_ARGS, Bridge, wait_js  # noqa: E402

CLI = [sys.executable, "-m", "charmix.daemon.cli"]
TICK = os.sysconf("SC_CLK_TCK")
SCREEN = {"width": 1920, "height": 1080}
DAY_JS = """async ([total, per, start]) => {
  const vocab = "etaoinshrdlu ETAOIN.,;\\n", models = 6;
  const mix = Array.from({length: 98}, (_, k) => (k * 37) % 1000);
  let sent = start;
  return await new Promise((resolve) => {
    function step() {
      for (let i = 0; i < per && sent < total; i++, sent++) {
        window.charmix.feed({t: "f", chars: [vocab[sent % vocab.length]], who: [sent % models],
          mix, w: [0.2, 0.2, 0.2, 0.2, 0.1, 0.1]});
      }
      if (sent >= total) requestAnimationFrame(() => resolve(sent));
      else requestAnimationFrame(step);
    }
    requestAnimationFrame(step);
  });
}"""


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def chromium_pids() -> list[int]:
    """Chromium processes below this one (started through Playwright's driver), not anyone's."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    me, found = os.getpid(), []
    for pid in parent:
        p, depth = pid, 0
        while p in parent and p != me and depth < 20:
            p, depth = parent[p], depth + 1
        if p == me:
            try:
                if "chromium" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                    found.append(pid)
            except OSError:
                continue
    return found


def chromium_cpu() -> float:
    return sum(cpu_seconds(pid) for pid in chromium_pids())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def measure(browser, bridge: Bridge, walls: int, seconds: float, query: str) -> dict:
    contexts = [browser.new_context(viewport=SCREEN) for _ in range(walls)]
    tabs = [c.new_page() for c in contexts]
    for tab in tabs:
        tab.goto(f"{bridge.url}wall?{query}")
    for tab in tabs:
        wait_js(tab, "window.charmix && window.charmix.state().received > 10", timeout=30)
    time.sleep(2.0)  # warm: JIT, first layouts
    for tab in tabs:
        tab.evaluate("window.charmix.resetStats()")
    b0, c0, t0 = cpu_seconds(bridge.proc.pid), chromium_cpu(), time.monotonic()
    time.sleep(seconds)
    b1, c1, t1 = cpu_seconds(bridge.proc.pid), chromium_cpu(), time.monotonic()
    lat: list[float] = []
    paints = []
    for tab in tabs:
        lat += tab.evaluate("window.charmix.latencies()")
        paints.append(tab.evaluate("window.charmix.frames().paints"))
    for c in contexts:
        c.close()
    wall = t1 - t0
    return {
        "walls": walls,
        "bridge_cpu_percent": round(100 * (b1 - b0) / wall, 1),
        "chromium_cpu_percent_per_wall": round(100 * (c1 - c0) / wall / walls, 1),
        "latency_ms_p50": round(statistics.median(lat), 2) if lat else None,
        "latency_ms_p99": round(percentile(lat, 0.99), 2) if lat else None,
        "latency_samples": len(lat),
        "paints_per_s": round(statistics.mean(paints) / wall, 1),
    }


def day(browser, bridge: Bridge, total: int, per: int, query: str) -> dict:
    """The compressed day on one wall: the heap after 10,000 characters and after `total`."""
    context = browser.new_context(viewport=SCREEN)
    page = context.new_page()
    page.goto(f"{bridge.url}wall?{query}")
    wait_js(page, "window.charmix && window.charmix.state().models.length > 0", timeout=30)
    cdp = context.new_cdp_session(page)

    def heap() -> int:
        cdp.send("HeapProfiler.collectGarbage")
        return int(cdp.send("Runtime.getHeapUsage")["usedSize"])

    first = min(10_000, total)
    t0 = time.monotonic()
    page.evaluate(DAY_JS, [first, per, 0])
    h0, nodes0 = heap(), page.evaluate("document.getElementsByTagName('*').length")
    page.evaluate(DAY_JS, [total, per, first])
    took = time.monotonic() - t0
    h1, nodes1 = heap(), page.evaluate("document.getElementsByTagName('*').length")
    state = page.evaluate("window.charmix.state()")
    context.close()
    return {"day_chars": total, "per_paint": per, "seconds": round(took, 1),
            "heap_mb_after_10k": round(h0 / 1e6, 2), "heap_mb_at_end": round(h1 / 1e6, 2),
            "heap_ratio": round(h1 / h0, 2), "elements_after_10k_end": [nodes0, nodes1],
            "chars_in_dom": state["shown"], "budget": state["budget"]}


class Restartable:
    """The daemon's command: calling it starts it (again); `proc` is the running one."""

    def __init__(self, cmd: list[str]) -> None:
        self.cmd = cmd
        self()

    def __call__(self) -> None:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)


def restarts(browser, bridge: Bridge, start: Restartable, out: socket.socket,
             times: int) -> dict:
    """kill -9 the daemon `times` times and restart it: from the new daemon's first datagram to
    the wall drawing new characters (the issue asks for under 3 s)."""
    context = browser.new_context(viewport=SCREEN)
    page = context.new_page()
    page.goto(f"{bridge.url}wall")
    wait_js(page, "window.charmix && window.charmix.state().received > 10", timeout=30)
    took = []
    for _ in range(times):
        proc = start.proc
        proc.kill()
        proc.wait(10)
        wait_js(page, "window.charmix.state().conn === 'waiting'", timeout=20)
        while True:  # empty the old daemon's datagrams
            try:
                out.recv(65536)
            except BlockingIOError:
                break
        seen = page.evaluate("window.charmix.state().received")
        start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                out.recv(65536)
                ready = time.monotonic()
                break
            except BlockingIOError:
                time.sleep(0.002)
        else:
            raise SystemExit("the restarted daemon sent nothing in 60 s")
        wait_js(page, f"window.charmix.state().received > {seen}", timeout=30)
        took.append(time.monotonic() - ready)
    context.close()
    return {"restarts": times, "daemon_ready_to_wall_writing_s": [round(t, 2) for t in took],
            "max_s": round(max(took), 2)}


def cpu_line() -> str:
    info = Path("/proc/cpuinfo").read_text()
    model = re.search(r"model name\s*:\s*(.*)", info)
    flags = set(re.search(r"flags\s*:\s*(.*)", info).group(1).split())  # type: ignore[union-attr]
    simd = [f for f in ("avx2", "avx512f") if f in flags]
    return f"{model.group(1) if model else '?'}; {os.cpu_count()} cores; {' '.join(simd)}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=float, default=20.0, help="the daemon's chars/s")
    ap.add_argument("--walls", type=int, nargs="*", default=[1, 4])
    ap.add_argument("--seconds", type=float, default=20.0, help="measurement window per run")
    ap.add_argument("--day-chars", type=int, default=500_000, help="0: no compressed day")
    ap.add_argument("--per-paint", type=int, default=100, help="the day's chars per frame")
    ap.add_argument("--query", default="fig=bottom&weights=1", help="the walls' URL parameters")
    ap.add_argument("--restarts", type=int, default=3, help="daemon kill -9 + restart trials")
    ap.add_argument("--screen", default="1920x1080", help="the walls' size, e.g. 3840x2160")
    args = ap.parse_args()
    width, _, height = args.screen.partition("x")
    SCREEN.update(width=int(width), height=int(height))
    from playwright.sync_api import sync_playwright

    print(json.dumps({"cpu": cpu_line()}), flush=True)
    control = f"127.0.0.1:{free_udp_port()}"
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # the daemon's --send: its "ready"
    out.bind(("127.0.0.1", 0))
    out.setblocking(False)
    cmd = [*CLI, "daemon", "--listen", control, "--send", f"127.0.0.1:{out.getsockname()[1]}",
           "--rate", str(args.rate), "--no-echo"]

    start = Restartable(cmd)
    results = []
    try:
        time.sleep(3.0)  # the models load
        bridge = Bridge(control)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                for n in args.walls:
                    got = measure(browser, bridge, n, args.seconds, args.query)
                    result = {"rate": args.rate, "screen": args.screen, **got,
                              "query": args.query}
                    print(json.dumps(result), flush=True)
                    results.append(result)
                if args.day_chars:
                    result = day(browser, bridge, args.day_chars, args.per_paint, args.query)
                    print(json.dumps(result), flush=True)
                    results.append(result)
                if args.restarts:
                    result = restarts(browser, bridge, start, out, args.restarts)
                    print(json.dumps(result), flush=True)
                    results.append(result)
                browser.close()
        finally:
            bridge.close()
    finally:
        start.proc.terminate()
        start.proc.wait(10)
        out.close()
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
