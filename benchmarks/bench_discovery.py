"""Benchmarks for discovery and OSCQuery (the numbers in docs/performance.md, "Discovery").

    .venv/bin/python benchmarks/bench_discovery.py            # both, the shipped models
    .venv/bin/python benchmarks/bench_discovery.py --quick    # shorter, rougher
    .venv/bin/python benchmarks/bench_discovery.py --only lateness   # or: found

* found: `charmix daemon --listen 0.0.0.0:7770 --name …` is spawned in one network namespace
  (tests/netns.py: namespaces on a bridge of their own, nothing on the machine's real network);
  a discovery client in another namespace (`charmix.daemon.client.discovery.resolve`, what every
  `--to NAME` runs) asks for the name in a loop. Reported: seconds from spawning the daemon to the
  client holding its address, over several runs; and, for scale, how long the same daemon takes
  to load its models and send its first character (both include Python start-up and model
  loading: a user waits for both). Needs root (`ip netns`); skipped with the reason otherwise.
* follow: a daemon found by name from another namespace, followed there by a `Follower` (what a
  bridge with `--to NAME` runs); the daemon is killed with SIGKILL (no goodbye on the LAN) and
  restarted on other ports. Reported: kill → the follower says the daemon stopped answering, and
  restart → the follower points at the new ports (includes the new daemon's start-up).
* lateness: one in-process daemon at 20 chars/s, its clock's lateness against its absolute
  deadlines in alternating phases with no WebSocket client and with four clients LISTENing to
  /charmix/char, /charmix/attribution and /charmix/dist (four real `websockets` clients in a
  process of their own, reading everything). Phases alternate (none, four, none, four, …) so
  that load changes on the machine hit both alike; the ratio of the two p99s is the number to
  compare.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from netns import Lan, venv_bin  # noqa: E402

from charmix.daemon import protocol  # noqa: E402
from charmix.daemon.runtime.config import build  # noqa: E402
from charmix.daemon.runtime.daemon import Daemon  # noqa: E402

P = protocol.PREFIX
MDNS = {"CHARMIX_MDNS": "1", "PYTHONUNBUFFERED": "1"}
FIND = """
import sys, time
from charmix.daemon.client import discovery
start, limit = float(sys.argv[1]), time.monotonic() + 60
while time.monotonic() < limit:
    try:
        discovery.resolve("bench rig", timeout=0.25)
    except discovery.DiscoveryError:
        continue
    print(time.time() - start)
    break
"""
FIRST_CHAR = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 7771))
print("ready", flush=True)
while b"/charmix/char" not in s.recv(65535):
    pass
print(time.time())
"""


FOLLOW = """
import sys, time
from charmix.daemon.client import discovery
from charmix.daemon.client.follow import Follower
found = None
while found is None:
    try:
        found = discovery.resolve("bench rig", timeout=0.25)
    except discovery.DiscoveryError:
        pass
print("found", time.time(), flush=True)
def say(message):
    print(("lost" if "stopped" in message else "line"), time.time(), message, flush=True)
def moved(new):
    print("moved", time.time(), new.osc_port, flush=True)
follower = Follower(found, moved, say).start()
sys.stdin.readline()
"""


def bench_follow(runs: int, models_dir: str | None) -> tuple[list[float], list[float]]:
    """(kill -9 -> a follower says it is gone, restart on other ports -> the follower moves)."""
    lost, moved = [], []
    models = ["--models-dir", models_dir] if models_dir else []
    base = [venv_bin("charmix"), "daemon", "--allow", "10.77.0.0/24", "--name", "bench rig",
            "--rate", "20", "--no-echo", "--status-every", "0", *models]
    for _ in range(runs):
        with Lan() as lan:
            a, b = lan.host("daemon"), lan.host("bridge")
            daemon = a.popen([*base, "--listen", "0.0.0.0:7770"], env=MDNS,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            watcher = b.popen([sys.executable, "-c", FOLLOW], env=MDNS, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
            assert watcher.stdin is not None and watcher.stdout is not None
            assert watcher.stdout.readline().startswith("found")
            time.sleep(1.0 + random.random())  # at a random phase of the follower's checks
            killed = time.time()
            daemon.kill()
            daemon.wait(10)
            line = watcher.stdout.readline().split()
            lost.append(float(line[1]) - killed)
            time.sleep(0.5)
            restarted = time.time()
            again = a.popen([*base, "--listen", "0.0.0.0:7780", "--oscquery", "0.0.0.0:7790"],
                            env=MDNS, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            while True:
                line = watcher.stdout.readline().split()
                if not line or line[0] == "moved":
                    break
            moved.append(float(line[1]) - restarted if line else float("nan"))
            watcher.communicate("stop\n", timeout=10)
            again.terminate()
            again.wait(10)
    return lost, moved


def bench_found(runs: int, models_dir: str | None) -> tuple[list[float], list[float]]:
    found, first = [], []
    for _ in range(runs):
        with Lan() as lan:
            a, b = lan.host("daemon"), lan.host("browser")
            listener = a.popen([sys.executable, "-c", FIRST_CHAR], stdout=subprocess.PIPE,
                               text=True)
            assert listener.stdout is not None and listener.stdout.readline().strip() == "ready"
            start = time.time()
            models = ["--models-dir", models_dir] if models_dir else []
            daemon = a.popen([venv_bin("charmix"), "daemon", "--listen", "0.0.0.0:7770",
                              "--allow", "10.77.0.0/24", "--name", "bench rig", "--rate", "20",
                              "--no-echo", "--status-every", "0", *models], env=MDNS,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            done = b.run([sys.executable, "-c", FIND, str(start)], env=MDNS, timeout=90)
            found.append(float(done.stdout.strip()))
            out, _ = listener.communicate(timeout=60)
            first.append(float(out.strip()) - start if out.strip() else float("nan"))
            daemon.terminate()
            daemon.wait(10)
    return found, first


CLIENTS = """
import asyncio, json, sys, websockets
port, n, paths = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
async def one(counts, i):
    async with websockets.connect(f"ws://127.0.0.1:{port}/") as ws:
        for path in paths:
            await ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": path}))
        async for _ in ws:
            counts[i] += 1
async def main():
    counts = [0] * n
    tasks = [asyncio.create_task(one(counts, i)) for i in range(n)]
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for t in tasks:
        t.cancel()
    print(sum(counts))
asyncio.run(main())
"""


def _clients(port: int, n: int) -> subprocess.Popen:
    """n LISTENing WebSocket clients in a process of their own (their cost is not ours)."""
    paths = [f"{P}/char", f"{P}/attribution", f"{P}/dist"]
    return subprocess.Popen([sys.executable, "-c", CLIENTS, str(port), str(n), *paths],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def bench_lateness(seconds: float, phases: int, models_dir: str | None,
                   rate: float = 20.0) -> tuple[np.ndarray, np.ndarray, int, list[float]]:
    cli = {"listen": "127.0.0.1:0", "send": ["127.0.0.1:9"], "oscquery": "127.0.0.1:0",
           "rate": rate, "status_every": 0}
    if models_dir:
        cli["models_dir"] = Path(models_dir)
    d = Daemon(build(cli), logging.getLogger("bench"))
    d.start()
    none, four, received = [], [], 0
    cpu = [0.0, 0.0]  # the daemon process's CPU seconds in the phases without / with clients
    try:
        port = d.services.server.port
        time.sleep(1.0)  # settle
        for phase in range(2 * phases):
            clients = _clients(port, 4) if phase % 2 else None
            if clients is not None:
                deadline = time.monotonic() + 10
                while d.services.server._listening < 4 and time.monotonic() < deadline:
                    time.sleep(0.01)
            d.clock.reset_lateness()
            used = time.process_time()
            time.sleep(seconds)
            cpu[phase % 2] += time.process_time() - used
            (four if clients else none).append(d.clock.lateness().copy())
            if clients is not None:
                out, _ = clients.communicate("stop\n", timeout=10)
                received += int(out.strip() or 0)
    finally:
        d.stop()
    return np.concatenate(none), np.concatenate(four), received, [c / (seconds * phases)
                                                                  for c in cpu]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=("found", "follow", "lateness"))
    parser.add_argument("--models-dir", default=None)
    args = parser.parse_args()
    if args.only in (None, "found"):
        reason = Lan.available()
        if reason:
            print(f"found: skipped ({reason})")
        else:
            found, first = bench_found(2 if args.quick else 5, args.models_dir)
            print(f"daemon start -> found by name in another namespace: median "
                  f"{np.median(found):.2f} s, min {min(found):.2f}, max {max(found):.2f} "
                  f"({len(found)} runs)")
            print(f"daemon start -> first character (same runs): median "
                  f"{np.nanmedian(first):.2f} s")
    if args.only in (None, "follow") and Lan.available() is None:
        lost, moved = bench_follow(2 if args.quick else 5, args.models_dir)
        print(f"daemon killed (-9) -> a follower says so: median {np.median(lost):.2f} s, max "
              f"{max(lost):.2f}; restarted on other ports -> followed: median "
              f"{np.nanmedian(moved):.2f} s, max {np.nanmax(moved):.2f} ({len(lost)} runs)")
    if args.only in (None, "lateness"):
        seconds, phases = (5.0, 2) if args.quick else (15.0, 4)
        none, four, received, cpu = bench_lateness(seconds, phases, args.models_dir)
        p_none, p_four = (float(np.percentile(x, 99)) * 1e3 for x in (none, four))
        print(f"clock lateness p99 at 20 chars/s: no WebSocket client {p_none:.3f} ms "
              f"({none.size} deadlines), four LISTENing clients {p_four:.3f} ms ({four.size} "
              f"deadlines, {received} frames received); ratio {p_four / p_none:.2f}")
        print(f"  daemon process CPU: {cpu[0] * 100:.1f} % vs {cpu[1] * 100:.1f} % of a core")
        for q in (50, 90):
            print(f"  p{q}: {np.percentile(none, q) * 1e3:.3f} ms vs "
                  f"{np.percentile(four, q) * 1e3:.3f} ms")
        print(f"  max: {none.max() * 1e3:.2f} ms vs {four.max() * 1e3:.2f} ms; load average "
              f"{os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
