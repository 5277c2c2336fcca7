"""Soak: what weeks do to the daemon, compressed — memory, file descriptors, every structure.

    nice -n 10 .venv/bin/python benchmarks/soak.py                  # 1,000,000 characters
    .venv/bin/python benchmarks/soak.py --chars 20000 --models-dir DIR --rss-limit 50   # short

An in-process daemon (the shipped six models by default) plays at full speed (clock rate 2,000
chars/s: it makes what the machine can and counts the deadlines it misses), with --state, while
- a controller sends ~100 control messages/s over UDP: weights, weight/NAME, temperatures,
  model temperatures, mode, slew, top-k, top-p, seed, now and then prime, reset, tick, a short
  pause, and junk (malformed packets, unknown addresses) that must be counted and dropped;
- subscribers subscribe, renew, stop renewing and expire (the subscriber TTL is shortened to a
  few seconds so that a run sees hundreds of them come and go), some on ports nobody reads and
  some on ports that are closed (ICMP port unreachable);
- receivers come and go: sockets are opened, read for a while, and closed.

Like Daemon.run, the main loop hands freed heap back to the system every TRIM_EVERY seconds.
Every --interval seconds it prints one line: characters, chars/s, RSS, open fds, and the size of
every queue and dict the daemon keeps (commands, subscribers, targets, sending sockets, the
allow cache, the throttles' tables, the primer's text, lateness window). At the end: pass when
RSS grew less than --rss-limit MB after the warm-up (the first 10 % of the characters, at least
one interval), the fd count is back where it was after warm-up, and every structure stayed
within its bound. Exit status 0 on pass, 1 on fail. Bounded in characters and in --max-seconds.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import random
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from pythonosc.osc_message_builder import OscMessageBuilder

from charmix.daemon import protocol
from charmix.daemon.live.broadcast import MAX_SUBSCRIBERS
from charmix.daemon.runtime.config import build
from charmix.daemon.runtime.daemon import TRIM_EVERY, Daemon, release_free_memory

P = protocol.PREFIX
PAGE = os.sysconf("SC_PAGE_SIZE")
FULL_SPEED = 2000.0  # chars/s: the clock's highest rate; the machine sets the real one


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 1e6


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class _MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                               "usmblks", "fsmblks", "uordblks", "fordblks",
                                               "keepcost")]


def heap_mb() -> dict[str, float]:
    """glibc's heap: its size, the part in use, the part free but kept (all arenas). RSS that
    grows while "in use" stays flat is fragmentation, not a leak: this is how the soak told the
    two apart (the 64 KiB-per-datagram recvfrom, see daemon/protocol/datagram.py). Empty without
    glibc."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        m = libc.mallinfo2()
    except (OSError, AttributeError):
        return {}
    return {"heap_mb": round(m.arena / 1e6, 2), "heap_used_mb": round(m.uordblks / 1e6, 2),
            "heap_free_mb": round(m.fordblks / 1e6, 2)}


def osc(path: str, *args: object) -> bytes:
    b = OscMessageBuilder(path)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


def sizes(d: Daemon) -> dict[str, int]:
    """Every growable structure the daemon keeps, by name."""
    c, b, s = d.controls, d.broadcaster, d.dispatcher
    out = {
        "commands": len(c._commands),  # noqa: SLF001  (a soak looks inside on purpose)
        "ticks": c._ticks,  # noqa: SLF001
        "subscribers": len(b._subscribers),  # noqa: SLF001
        "targets": len(b.targets),
        "sockets": len(b._sockets),  # noqa: SLF001
        "allow_cache": len(s._allowed_cache) if s else 0,  # noqa: SLF001
        "primer_text": d.primer.remaining,
    }
    for name, throttle in (("clock", d.clock.throttle), ("broadcast", b.throttle),
                           ("server", s.throttle if s else None)):
        if throttle is not None:
            out[f"throttle_{name}"] = len(throttle._last) + len(throttle._suppressed)  # noqa: SLF001
    return out


BOUNDS = {"commands": 256, "ticks": protocol.TICKS_MAX, "subscribers": MAX_SUBSCRIBERS,
          "targets": MAX_SUBSCRIBERS + 8, "sockets": 2, "allow_cache": 4097,
          "primer_text": protocol.PRIME_MAX, "throttle_clock": 1024,
          "throttle_broadcast": 1024, "throttle_server": 1024}


class Controller(threading.Thread):
    """~rate control messages/s over UDP, with junk mixed in."""

    def __init__(self, port: int, names: list[str], rate: float, seed: int) -> None:
        super().__init__(daemon=True, name="soak-controller")
        self.port, self.names, self.rate = port, names, rate
        self.r = random.Random(seed)
        self.stop = threading.Event()
        self.sent = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def message(self) -> bytes:
        r, n = self.r, len(self.names)
        k = r.random()
        if k < 0.4:
            return osc(f"{P}/weights", *[r.random() for _ in range(n)])
        if k < 0.5:
            return osc(f"{P}/weight/{r.choice(self.names)}", r.random())
        if k < 0.6:
            return osc(f"{P}/temperature", r.uniform(0.3, 1.5))
        if k < 0.65:
            return osc(f"{P}/model/{r.choice(self.names)}/temperature", r.choice([0.0, 0.7, 1.2]))
        if k < 0.7:
            return osc(f"{P}/mode", r.choice(protocol.MODES))
        if k < 0.75:
            return osc(f"{P}/topk", r.choice([0, 3, 10]))
        if k < 0.8:
            return osc(f"{P}/topp", r.choice([1.0, 0.9, 0.5]))
        if k < 0.83:
            return osc(f"{P}/slew", r.choice([0.0, 0.05, 0.5]))
        if k < 0.85:
            return osc(f"{P}/seed", r.randrange(2**31))
        if k < 0.852:  # a prime every ~5 s: each costs as much as ~1,000 characters
            return osc(f"{P}/prime", "Once upon a time " * r.randrange(1, 60))
        if k < 0.855:
            return osc(f"{P}/reset")
        if k < 0.9:
            return osc(f"{P}/tick")
        if k < 0.95:
            return r.randbytes(r.randrange(1, 100))  # junk
        return osc(f"{P}/no/such/address", 1.0)

    def run(self) -> None:
        period = 1.0 / self.rate
        next_t = time.monotonic()
        while not self.stop.is_set():
            self.sock.sendto(self.message(), ("127.0.0.1", self.port))
            self.sent += 1
            if self.sent % 3000 == 0:  # a short pause now and then (~every 30 s)
                self.sock.sendto(osc(f"{P}/pause"), ("127.0.0.1", self.port))
                time.sleep(0.05)
                self.sock.sendto(osc(f"{P}/resume"), ("127.0.0.1", self.port))
            next_t += period
            self.stop.wait(max(0.0, next_t - time.monotonic()))
        self.sock.close()


class Crowd(threading.Thread):
    """Subscribers and receivers that come and go."""

    def __init__(self, port: int, seed: int) -> None:
        super().__init__(daemon=True, name="soak-crowd")
        self.port = port
        self.r = random.Random(seed)
        self.stop = threading.Event()
        self.opened = 0
        self.live: list[tuple[socket.socket, float, bool]] = []  # socket, until, renews

    def run(self) -> None:
        while not self.stop.wait(0.1):
            now = time.monotonic()
            if len(self.live) < 12 and self.r.random() < 0.3:
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.bind(("127.0.0.1", 0))
                sock.setblocking(False)
                self.opened += 1
                renews = self.r.random() < 0.5  # the others let their subscription expire
                sock.sendto(osc(f"{P}/subscribe"), ("127.0.0.1", self.port))
                self.live.append((sock, now + self.r.uniform(1, 8), renews))
            keep = []
            for sock, until, renews in self.live:
                if self.r.random() < 0.5:  # reads now and then; otherwise its buffer fills
                    for _ in range(200):
                        try:
                            sock.recv(65536)
                        except BlockingIOError:
                            break
                if now > until:
                    sock.close()  # gone: the daemon's sends now meet a closed port
                    continue
                if renews and self.r.random() < 0.2:
                    sock.sendto(osc(f"{P}/subscribe"), ("127.0.0.1", self.port))
                keep.append((sock, until, renews))
            self.live = keep
        for sock, _, _ in self.live:
            sock.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chars", type=int, default=1_000_000)
    ap.add_argument("--models-dir", type=Path, default=None)
    ap.add_argument("--interval", type=float, default=30.0)
    ap.add_argument("--controls", type=float, default=100.0, help="control messages per second")
    ap.add_argument("--subscriber-ttl", type=float, default=3.0)
    ap.add_argument("--warmup-chars", type=int, default=None,
                    help="characters before the RSS reference is taken (default: 10 %%)")
    ap.add_argument("--rss-limit", type=float, default=1.0, help="MB of growth after warm-up")
    ap.add_argument("--max-seconds", type=float, default=6 * 3600)
    ap.add_argument("--seed", type=int, default=10)
    ap.add_argument("--json", type=Path, default=None, help="write the samples here too")
    args = ap.parse_args()

    log = logging.getLogger("soak")
    log.addHandler(logging.NullHandler())
    log.propagate = False
    state_dir = tempfile.TemporaryDirectory(prefix="charmix-soak-")
    closed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    closed.bind(("127.0.0.1", 0))
    dead_port = closed.getsockname()[1]
    closed.close()  # a static --send destination nobody listens on: ICMP unreachable
    cli: dict = {"listen": "127.0.0.1:0", "rate": FULL_SPEED,
                 "send": [f"127.0.0.1:{dead_port}"], "seed": args.seed,
                 "state": Path(state_dir.name) / "state.json", "status_every": 0}
    if args.models_dir:
        cli["models_dir"] = args.models_dir
    d = Daemon(build(cli), log)
    d.start()
    d.broadcaster.subscriber_ttl = args.subscriber_ttl
    assert d.server is not None
    port = d.server.address[1]
    controller = Controller(port, d.engine.names, args.controls, args.seed)
    crowd = Crowd(port, args.seed + 1)
    controller.start()
    crowd.start()
    started = time.monotonic()
    warm_at = args.warmup_chars if args.warmup_chars is not None else max(args.chars // 10, 1)
    samples: list[dict] = []
    peaks: dict[str, int] = {}
    warm: dict | None = None
    next_print = started
    next_trim = started + TRIM_EVERY

    def sample() -> dict:
        s = {"t": round(time.monotonic() - started, 1), "chars": d.engine.step_count,
             "chars_per_s": round(d.chars_per_s, 1), "rss_mb": round(rss_mb(), 2), "fds": fds(),
             "overruns": d.controls.counters.overruns, "rx_ok": d.controls.counters.rx_ok,
             "rx_bad": d.controls.counters.rx_bad, "tx_errors": d.controls.counters.tx_errors,
             "subscribed": crowd.opened, **heap_mb(), **sizes(d)}
        for k, v in sizes(d).items():
            peaks[k] = max(peaks.get(k, 0), v)
        return s

    first = sample()
    print(f"soak: {len(d.engine.names)} models ({', '.join(d.engine.names)}), "
          f"{args.chars:,} characters, controls {args.controls:g}/s; start RSS "
          f"{first['rss_mb']:.1f} MB, {first['fds']} fds", flush=True)
    try:
        while d.engine.step_count < args.chars:
            time.sleep(0.2)
            now = time.monotonic()
            for k, v in sizes(d).items():
                peaks[k] = max(peaks.get(k, 0), v)
            if warm is None and d.engine.step_count >= warm_at and now - started >= \
                    min(args.interval, 5.0):
                warm = sample()
                print(f"warm-up done: {json.dumps(warm)}", flush=True)
            if now >= next_trim:  # what Daemon.run does on its main thread
                release_free_memory()
                next_trim = now + TRIM_EVERY
            if now >= next_print:
                samples.append(sample())
                print(json.dumps(samples[-1]), flush=True)
                next_print = now + args.interval
            if now - started > args.max_seconds:
                print("soak: --max-seconds reached", flush=True)
                break
    finally:
        controller.stop.set()
        crowd.stop.set()
        controller.join(5)
        crowd.join(5)
    time.sleep(args.subscriber_ttl + 1.0)  # let the last subscribers expire before the end
    end = sample()
    samples.append(end)
    d.stop()
    state_dir.cleanup()
    warm = warm or first
    growth = end["rss_mb"] - warm["rss_mb"]
    over = {k: v for k, v in peaks.items() if v > BOUNDS.get(k, 1 << 30)}
    ok = growth < args.rss_limit and end["fds"] <= warm["fds"] and not over
    elapsed = time.monotonic() - started
    print(f"soak: {end['chars']:,} characters in {elapsed:.0f} s "
          f"({end['chars'] / max(elapsed, 1e-9):.0f} chars/s), {controller.sent:,} control "
          f"messages, {crowd.opened} subscribers came and went; RSS start {first['rss_mb']:.1f}"
          f" MB, after warm-up {warm['rss_mb']:.1f} MB, end {end['rss_mb']:.1f} MB (growth "
          f"{growth:+.2f} MB, limit {args.rss_limit:g}); fds {first['fds']} / {warm['fds']} / "
          f"{end['fds']}; peaks {json.dumps(peaks)}; {'PASS' if ok else 'FAIL'}"
          + (f" (over bound: {over})" if over else ""), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"first": first, "warm": warm, "end": end,
                                         "samples": samples, "peaks": peaks, "pass": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
