"""A score running for an hour at 200 chars/s: RSS stays flat and no deadline is missed.

    nice -n 10 .venv/bin/python benchmarks/bench_score.py                 # one hour
    .venv/bin/python benchmarks/bench_score.py --seconds 120              # a bounded run

An in-process daemon (the shipped six models by default) plays the demo score (`--score demo`:
scenes, morphs and drifts) on its real clock at --rate chars/s, with --state (the score's place is
saved every second) and --scenes (a scene saved and recalled now and then over UDP, so the
tomlkit file is rewritten). Every --interval seconds: characters, chars/s, RSS, the clock's
overruns, the cue. At the end: pass when RSS grew less than --rss-limit MB after the warm-up
(the first 10 % of the run, at least one interval) and the clock missed no deadline. Exit status
0 on pass, 1 on fail. Prints the CPU model and its AVX flags with the numbers.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

from pythonosc.osc_message_builder import OscMessageBuilder

from charmix.daemon import protocol
from charmix.daemon.runtime.config import build
from charmix.daemon.runtime.daemon import TRIM_EVERY, Daemon, release_free_memory

P = protocol.PREFIX
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE / 1e6


def cpu() -> str:
    model, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model == "unknown CPU":
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    avx = " ".join(sorted(f for f in flags if f in ("avx2", "avx512f", "avx512_vnni")))
    return f"{model} ({os.cpu_count()} cores; {avx or 'no avx2'})"


def message(path: str, *args: object) -> bytes:
    b = OscMessageBuilder(path)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=3600.0)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument("--interval", type=float, default=30.0)
    ap.add_argument("--rss-limit", type=float, default=1.0, help="MB after the warm-up")
    ap.add_argument("--models-dir", type=Path, default=None)
    args = ap.parse_args()
    print(f"CPU: {cpu()}")
    log = logging.getLogger("bench_score")
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as folder:
        cli = {"listen": "127.0.0.1:0", "send": ["127.0.0.1:9"], "oscquery": False,
               "rate": args.rate, "score": "demo", "seed": 1,
               "state": str(Path(folder) / "state.json"),
               "scenes": str(Path(folder) / "scenes.toml"), "status_every": 0}
        if args.models_dir is not None:
            cli["models_dir"] = args.models_dir
        d = Daemon(build(cli), log)
        d.start()
        assert d.server is not None
        control = d.server.address
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        start = time.monotonic()
        warm = max(args.interval, args.seconds * 0.1)
        base: float | None = None
        base_overruns = 0
        next_line = start + args.interval
        next_trim = start + TRIM_EVERY
        next_scene = start + 10.0
        worst = 0.0
        try:
            while (now := time.monotonic()) - start < args.seconds:
                time.sleep(min(1.0, max(0.0, next_line - now)))
                now = time.monotonic()
                if now >= next_scene:  # a save (the file rewritten); punch-in avoided
                    sock.sendto(message(f"{P}/scene/save", f"s{int(now) % 8}"), control)
                    next_scene = now + 10.0
                if now >= next_trim:  # as Daemon.run does
                    release_free_memory()
                    next_trim = now + TRIM_EVERY
                if base is None and now - start >= warm:
                    base = rss_mb()
                    base_overruns = d.controls.counters.overruns
                if now >= next_line:
                    rss = rss_mb()
                    if base is not None:
                        worst = max(worst, rss - base)
                    player = d.conductor.players[0]
                    print(f"{now - start:7.0f} s  {d.engine.step_count:8d} chars  "
                          f"{d.chars_per_s:6.1f}/s  RSS {rss:7.1f} MB  "
                          f"overruns {d.controls.counters.overruns}  cue {player.cue} "
                          f"({player.title or '-'}) cycle {player.cycle}", flush=True)
                    next_line = now + args.interval
        finally:
            sock.close()
            d.stop()
        overruns = d.controls.counters.overruns - base_overruns
        ok = base is not None and worst < args.rss_limit and overruns == 0
        print(f"RSS growth after warm-up {worst:.2f} MB (limit {args.rss_limit}), overruns after "
              f"warm-up {overruns}, {d.engine.step_count} chars in {args.seconds:g} s at "
              f"{args.rate:g}/s: {'PASS' if ok else 'FAIL'}")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
