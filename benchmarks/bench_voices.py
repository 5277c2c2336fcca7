"""Voices: what K independent streams cost, measured in one run (the table in docs/performance.md).

    .venv/bin/python benchmarks/bench_voices.py                   # the shipped models
    .venv/bin/python benchmarks/bench_voices.py --models-dir DIR  # any folder of .onnx models
    .venv/bin/python benchmarks/bench_voices.py --quick --markdown
    .venv/bin/python benchmarks/bench_voices.py --compare         # session.run vs bound buffers

For K = 1, 2, 4, 8, 16 voices, the same daemon, in-process:

* CPU per step: the daemon's full step for all K voices (one model call per model with batch K,
  then each voice's mix, sample and frame, encoded and sent over UDP to a local receiver), run
  as fast as possible after a warm-up, by the CPU time of the stepping thread. Also split: the
  models alone (`Engine.advance`, the batched onnxruntime calls) and the rest.
* at 20 chars/s with its clock thread, over `--seconds`: how long after its absolute deadline
  each step started (p50, p99, max), the deadlines missed, and the daemon's CPU in % of one core
  (every thread but the benchmark's receiving one).

Configurations are measured in rounds, interleaved (1, 2, 4, 8, 16, 1, 2, …), so a change of load
on a shared machine hits all of them alike; the table gives each one's median over the rounds.
With --compare, every configuration runs with the models stepping through `session.run` per call
(before issue #23) and through bound buffers (after), interleaved too.
Goals (issue #23): 8 voices ≤ 2.5× the CPU per step of one; 16 voices at 20 chars/s with lateness
p99 ≤ 2 ms and under 40 % of a core.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import numpy as np
from bench_daemon import (
    COMPARE,
    ROOT,
    Sink,
    _drain_forever,
    bench_lateness_cpu,
    cpu_line,
    in_process,
    step_path,
    update_docs,
)

VOICES = (1, 2, 4, 8, 16)


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


def measure(models_dir: Path, paths: tuple[str | None, ...], n: int, rounds: int,
            seconds: float, rate: float) -> dict[str | None, list[tuple[str, ...]]]:
    """The table's rows for each step path."""
    keys = [(path, k) for path in paths for k in VOICES]
    full: dict = {key: [] for key in keys}
    models: dict = {key: [] for key in keys}
    late: dict = {key: [] for key in keys}
    cpu: dict = {key: [] for key in keys}
    missed: dict = dict.fromkeys(keys, 0)
    for r in range(rounds):
        for k in VOICES:
            for path in paths:
                key = (path, k)
                print(f"  … round {r + 1}/{rounds}, {k} voice(s)"
                      + (f", {path}" if path else ""), file=sys.stderr, flush=True)
                with step_path(path):
                    f, m = cpu_per_step(models_dir, k, n)
                    lt, over, c = bench_lateness_cpu(models_dir, seconds, rate, voices=k)
                full[key].append(f)
                models[key].append(m)
                late[key].append(lt)
                cpu[key].append(c)
                missed[key] += over
    out: dict[str | None, list[tuple[str, ...]]] = {}
    for path in paths:
        base = float(np.median(full[(path, 1)]))
        rows = []
        for k in VOICES:
            key = (path, k)
            f, m = float(np.median(full[key])), float(np.median(models[key]))
            lt = np.concatenate(late[key]) * 1e3
            rows.append((
                str(k), f"{f:,.0f} µs", f"{f / base:.2f}×", f"{m:,.0f} µs", f"{f - m:,.0f} µs",
                f"{np.percentile(lt, 50):.2f} ms", f"{np.percentile(lt, 99):.2f} ms",
                f"{lt.max():.2f} ms", str(missed[key]), f"{np.median(cpu[key]):.1f} %",
            ))
        out[path] = rows
    return out


def table(rows: list[tuple[str, ...]], rate: float, markdown: bool) -> str:
    head = ("voices", "CPU per step", "vs 1 voice", "models", "mix, sample, send",
            f"late p50 ({rate:g}/s)", "late p99", "late max", "overruns", f"CPU at {rate:g}/s")
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "--:|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True))
                     for row in [head, *rows])


def verdict(rows: list[tuple[str, ...]]) -> str:
    """The issue's goals, read back from the table's rows."""
    met = {True: "met", False: "NOT met"}
    by = {int(r[0]): r for r in rows}
    eight = float(by[8][2].rstrip("×"))
    p99, cpu = float(by[16][6].split()[0]), float(by[16][9].split()[0])
    return (f"8 voices / 1 voice: {eight:.2f}× (goal ≤ 2.5×: {met[eight <= 2.5]}); 16 voices: "
            f"lateness p99 {p99:.2f} ms (goal ≤ 2 ms: {met[p99 <= 2.0]}), CPU {cpu:.1f} % of a "
            f"core (goal < 40 %: {met[cpu < 40.0]})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--quick", action="store_true", help="shorter runs, rougher numbers")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--seconds", type=float, default=None,
                        help="lateness run per configuration and round (default 10, quick 4)")
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--compare", action="store_true",
                        help="session.run per call (before issue #23) and bound buffers (after)")
    parser.add_argument("--docs", type=Path,
                        help="write the tables into this page's block for this CPU class")
    args = parser.parse_args()
    n = 400 if args.quick else 1500
    rounds = 2 if args.quick else 3
    seconds = args.seconds or (4.0 if args.quick else 10.0)
    paths: tuple[str | None, ...] = COMPARE if args.compare else (None,)
    kind, cpu = cpu_line()
    print(cpu, flush=True)
    results = measure(args.models_dir, paths, n, rounds, seconds, args.rate)
    markdown = args.markdown or args.docs is not None
    parts = []
    for path, rows in results.items():
        title = {None: "", "run": "before: session.run per call", "bound": "after: bound buffers"}
        parts.append((f"{title[path]}\n\n" if path else "") + table(rows, args.rate, markdown)
                     + f"\n\n{verdict(rows)}\n")
    text = "\n".join(parts)
    print(text)
    if args.docs:
        when = time.strftime("%Y-%m-%d", time.gmtime())
        update_docs(args.docs, f"voices {kind}",
                    f"`make bench` on {when}{', --quick' if args.quick else ''}: {cpu}\n\n{text}")


if __name__ == "__main__":
    main()
