"""Voices: what K independent streams cost, measured in one run (the table in docs/performance.md).

    .venv/bin/python benchmarks/bench_voices.py                   # the shipped models
    .venv/bin/python benchmarks/bench_voices.py --models-dir DIR  # any folder of .onnx models
    .venv/bin/python benchmarks/bench_voices.py --quick --markdown

For K = 1, 2, 4, 8 voices, the same daemon, in-process:

* CPU per step: the daemon's full step for all K voices (one model call per model with batch K,
  then each voice's mix, sample and frame, encoded and sent over UDP to a local receiver), run
  as fast as possible after a warm-up, by the CPU time of the stepping thread. Also split: the
  models alone (`Engine.advance`, the batched onnxruntime calls) and the rest.
* clock lateness: the daemon at 20 chars/s with its clock thread, how long after its absolute
  deadline each step started (p50, p99, max) and the deadlines missed, over `--seconds`.

Configurations are measured in rounds, interleaved (1, 2, 4, 8, 1, 2, …), so a change of load on
a shared machine hits all of them alike; the table gives each one's median over the rounds.
Goals (issue #13): 8 voices ≤ 2.5× the CPU per step of one; lateness p99 ≤ 1 ms at 20 chars/s
with 4 voices.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import numpy as np
from bench_daemon import ROOT, Sink, _drain_forever, bench_lateness, in_process

VOICES = (1, 2, 4, 8)


def cpu_per_step(models_dir: Path, voices: int, n: int) -> tuple[float, float]:
    """(µs of CPU per full step, µs of it in the models) for `voices` voices."""
    sink = Sink()
    drainer = threading.Thread(target=_drain_forever, args=(sink,), daemon=True)
    drainer.start()
    d = in_process(models_dir, sink, voices=voices, rate=0.0)
    d.start(run_clock=False)
    try:
        d.clock.burst(100)  # warm-up
        cpu = time.thread_time()
        d.clock.burst(n)
        full = (time.thread_time() - cpu) / n
        engine = d.engine
        cpu = time.thread_time()
        for _ in range(n):
            engine._advanced = 0  # re-run the batched model calls alone
            engine.advance()
        models = (time.thread_time() - cpu) / n
    finally:
        d.stop()
        sink.close()
    return full * 1e6, models * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--quick", action="store_true", help="shorter runs, rougher numbers")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--seconds", type=float, default=None,
                        help="lateness run per configuration and round (default 10, quick 4)")
    parser.add_argument("--rate", type=float, default=20.0)
    args = parser.parse_args()
    n = 400 if args.quick else 1500
    rounds = 2 if args.quick else 3
    seconds = args.seconds or (4.0 if args.quick else 10.0)
    full: dict[int, list[float]] = {k: [] for k in VOICES}
    models: dict[int, list[float]] = {k: [] for k in VOICES}
    late: dict[int, list[np.ndarray]] = {k: [] for k in VOICES}
    missed: dict[int, int] = dict.fromkeys(VOICES, 0)
    for r in range(rounds):
        for k in VOICES:
            print(f"  … round {r + 1}/{rounds}, {k} voice(s)", file=sys.stderr, flush=True)
            f, m = cpu_per_step(args.models_dir, k, n)
            full[k].append(f)
            models[k].append(m)
            lt, over = bench_lateness(args.models_dir, seconds, args.rate, voices=k)
            late[k].append(lt)
            missed[k] += over
    base = float(np.median(full[1]))
    rows = []
    for k in VOICES:
        f, m = float(np.median(full[k])), float(np.median(models[k]))
        lt = np.concatenate(late[k]) * 1e3
        rows.append((
            str(k), f"{f:,.0f} µs", f"{f / base:.2f}×", f"{m:,.0f} µs", f"{f - m:,.0f} µs",
            f"{np.percentile(lt, 50):.2f} ms", f"{np.percentile(lt, 99):.2f} ms",
            f"{lt.max():.2f} ms", str(missed[k]),
        ))
    head = ("voices", "CPU per step", "vs 1 voice", "models", "mix, sample, send",
            f"late p50 ({args.rate:g}/s)", "late p99", "late max", "overruns")
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "--:|" * len(head))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
        print("  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True)))
        for row in rows:
            print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    eight = float(np.median(full[8])) / base
    p99_4 = float(np.percentile(np.concatenate(late[4]), 99)) * 1e3
    met = {True: "met", False: "NOT met"}
    print(f"\n8 voices / 1 voice: {eight:.2f}× (goal ≤ 2.5×: {met[eight <= 2.5]}); lateness p99 "
          f"with 4 voices: {p99_4:.2f} ms (goal ≤ 1 ms: {met[p99_4 <= 1.0]})")


if __name__ == "__main__":
    main()
