"""The GIL convoy: one frame's fan-out to N subscribers, alone and beside a thread busy in Python.

    .venv/bin/python benchmarks/bench_convoy.py            # 64 subscribers, 20 frames each way
    .venv/bin/python benchmarks/bench_convoy.py --subscribers 8 --frames 50

A busy thread stands for the control thread under a flood of datagrams. socket.sendto gives the GIL
away for each send, and beside that thread each take-back waits for its switch interval (5 ms).
charmix.daemon.live.udpsend keeps the GIL (libc's sendto through ctypes.PyDLL, MSG_DONTWAIT). Both
paths go through Broadcaster._send to closed loopback ports (nothing listens: the kernel drops the
datagrams, as for a receiver that is not running). The figures are in docs/performance.md.
"""

from __future__ import annotations

import argparse
import logging
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from charmix.daemon.live import udpsend  # noqa: E402
from charmix.daemon.live.broadcast import Broadcaster  # noqa: E402
from charmix.daemon.live.counters import Counters  # noqa: E402


def closed_ports(n: int) -> list[int]:
    """n loopback UDP ports that nothing listens on (bound, noted, closed)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def frames(b: Broadcaster, n: int, keep_gil: bool) -> list[float]:
    targets = list(b.targets)
    saved = [d.packed for d in targets]
    if not keep_gil:
        for d in targets:
            d.packed = None  # socket.sendto's path
    dgram = b"/charmix/char\x00\x00\x00,s\x00\x00z\x00\x00\x00"
    out = []
    try:
        for _ in range(n):
            start = time.perf_counter()
            b._send([dgram], targets)
            out.append(time.perf_counter() - start)
            time.sleep(0.002)
    finally:
        for d, p in zip(targets, saved, strict=True):
            d.packed = p
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--subscribers", type=int, default=64)
    ap.add_argument("--frames", type=int, default=20)
    args = ap.parse_args()
    if not udpsend.AVAILABLE:
        sys.exit("udpsend's libc path is Linux's: nothing to compare here")
    b = Broadcaster(["a"], ["a"], [], Counters(), lambda: [], logging.getLogger("bench"))
    for port in closed_ports(args.subscribers):
        b.subscribe("127.0.0.1", port, ttl=600)
    stop = False

    def spin() -> None:
        n = 0
        while not stop:
            n += 1

    rows = []
    for busy in (False, True):
        spinner = threading.Thread(target=spin, daemon=True)
        if busy:
            spinner.start()
            time.sleep(0.05)
        for keep in (False, True):
            times = frames(b, args.frames, keep)
            rows.append((busy, keep, statistics.median(times), max(times)))
        if busy:
            stop = True
            spinner.join()
    b.close()
    print(f"{args.subscribers} subscribers, {args.frames} frames each, switch interval "
          f"{sys.getswitchinterval() * 1e3:g} ms")
    print(f"{'beside':<14} {'send':<22} {'median ms':>10} {'max ms':>8}")
    for busy, keep, med, worst in rows:
        print(f"{'a busy thread' if busy else 'nothing':<14} "
              f"{'udpsend (keeps GIL)' if keep else 'socket.sendto':<22} "
              f"{med * 1e3:>10.2f} {worst * 1e3:>8.2f}")


if __name__ == "__main__":
    main()
