"""A 1,024-character /charmix/prime against a playing daemon: does the text keep its rate?

    .venv/bin/python benchmarks/bench_prime.py            # the shipped models, 20 chars/s
    .venv/bin/python benchmarks/bench_prime.py --rate 60 --primes 5

The daemon runs in-process with the shipped models at --rate chars/s, sending frames over real
UDP to a receiver thread that timestamps every /charmix/step datagram. After a few seconds of
steady text a 1,024-character prime is sent over UDP to the control port; then, while the prime
is consumed, a /charmix/weights change (slew 0) measures how long a control message takes to
show in a frame. Printed: the atomic cost of the same prime (Engine.prime, what the clock thread
used to do at once), the time the sliced prime took to be consumed, the longest gap between two
characters during it (the goal: one period plus a few ms), the gap before it for comparison, and
the weights latency. One JSON line per prime with --json.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import threading
import time

import numpy as np
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket

from charmix.daemon import protocol
from charmix.daemon.runtime.config import build
from charmix.daemon.runtime.daemon import Daemon

P = protocol.PREFIX
TEXT = ("Whether 'tis nobler in the mind to suffer the slings and arrows of outrageous "
        "fortune, or to take arms against a sea of troubles. ") * 10


def osc(path: str, *args: object) -> bytes:
    b = OscMessageBuilder(path)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


class Receiver(threading.Thread):
    """Timestamps of /charmix/step datagrams, with the weights each frame carried."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.arrivals: list[tuple[float, float]] = []  # (time, first weight)
        self.running = True

    def run(self) -> None:
        while self.running:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            now = time.perf_counter()
            try:
                msgs = {m.message.address: m.message.params for m in OscPacket(data).messages}
            except Exception:
                continue
            if f"{P}/step" in msgs:
                w = msgs.get(f"{P}/weights", [float("nan")])
                self.arrivals.append((now, float(w[0])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--primes", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rx = Receiver()
    rx.start()
    d = Daemon(build({"listen": "127.0.0.1:0", "rate": args.rate, "slew": 0.0,
                      "send": [f"127.0.0.1:{rx.sock.getsockname()[1]}"]}),
               logging.getLogger("bench"))
    d.start()
    period = 1.0 / args.rate
    ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    assert d.server is not None
    n = len(d.engine.names)
    try:
        # the cost the clock thread used to pay at once: the same prime on a copy of the states
        saved = [(m.h.copy(), m.c.copy()) for m in d.engine.models]
        with d.clock._lock:  # noqa: SLF001  (a benchmark may look inside)
            t = time.perf_counter()
            d.engine.prime(TEXT[-protocol.PRIME_MAX:])
            atomic = time.perf_counter() - t
            for m, (h, c) in zip(d.engine.models, saved, strict=True):
                m.h, m.c = h, c
            d.engine.reset()
            d.engine.advance()
        print(f"{n} models ({', '.join(d.engine.names)}) at {args.rate:g} chars/s; "
              f"atomic 1,024-char prime: {atomic * 1e3:.0f} ms")
        for k in range(args.primes):
            time.sleep(3.0)
            before = [t for t, _ in rx.arrivals[-40:]]
            gap_before = float(np.diff(before).max()) if len(before) > 1 else float("nan")
            sent = time.perf_counter()
            ctl.sendto(osc(f"{P}/prime", TEXT[-protocol.PRIME_MAX:]), d.server.address)
            while not d.primer.active and time.perf_counter() - sent < 2:
                time.sleep(0.0005)
            target = float(k % 2)  # alternate the first model's weight 0 <-> 1
            wsent = time.perf_counter()
            ctl.sendto(osc(f"{P}/weights", *([target] + [1.0 - target] * (n - 1))),
                       d.server.address)
            while d.primer.active and time.perf_counter() - sent < 30:
                time.sleep(0.0005)
            done = time.perf_counter()
            time.sleep(2 * period)
            arrivals = list(rx.arrivals)
            during = [t for t, _ in arrivals if sent - period <= t <= done + period]
            gap = float(np.diff(during).max()) if len(during) > 1 else float("nan")
            seen = [t for t, w in arrivals if t > wsent and abs(w - target) < 1e-3]
            latency = (seen[0] - wsent) if seen else float("nan")
            row = {"prime_s": done - sent, "chars_during": len(during), "max_gap_ms": gap * 1e3,
                   "gap_before_ms": gap_before * 1e3, "weights_latency_ms": latency * 1e3,
                   "period_ms": period * 1e3, "slices": d.primer.slices,
                   "overruns": d.controls.counters.overruns}
            if args.json:
                print(json.dumps(row))
            else:
                print(f"prime {k + 1}: consumed in {row['prime_s']:.2f} s ({row['slices']} "
                      f"slices), {len(during)} characters meanwhile; longest gap "
                      f"{row['max_gap_ms']:.1f} ms (before: {row['gap_before_ms']:.1f} ms, "
                      f"period {period * 1e3:.0f} ms); weights -> frame "
                      f"{row['weights_latency_ms']:.1f} ms; overruns {row['overruns']}")
    finally:
        d.stop()
        rx.running = False


if __name__ == "__main__":
    main()
