"""What recording costs the instrument: the clock thread's share, and clock lateness with it on.

    .venv/bin/python benchmarks/bench_record.py [--models-dir DIR] [--seconds S] [--voices K]

* CPU per step of the daemon's full step (models, mix, send) without and with --record, in
  alternating rounds (a shared machine's load hits both alike), by the stepping thread's CPU time:
  the difference is what recording adds on the clock thread (it only hands references to a deque;
  the writer thread encodes JSON and writes).
* Clock lateness at 20 chars/s with --record on, against the same without, for --seconds each.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from bench_daemon import ROOT, Sink, _drain_forever, daemon_models, in_process


def cpu_per_step(models_dir: Path, n: int, record: Path | None, voices: int) -> float:
    sink = Sink()
    threading.Thread(target=_drain_forever, args=(sink,), daemon=True).start()
    extra = {"record": str(record)} if record else {}
    d = in_process(models_dir, sink, rate=0.0, voices=voices, **extra)
    d.start(run_clock=False)
    try:
        d.clock.burst(50)
        cpu = time.thread_time()
        d.clock.burst(n)
        return (time.thread_time() - cpu) / n * 1e6
    finally:
        d.stop()
        sink.close()


def lateness(models_dir: Path, seconds: float, record: Path | None, voices: int) -> np.ndarray:
    sink = Sink()
    threading.Thread(target=_drain_forever, args=(sink,), daemon=True).start()
    extra = {"record": str(record)} if record else {}
    d = in_process(models_dir, sink, rate=20.0, voices=voices, **extra)
    d.start()
    try:
        time.sleep(1.0)
        d.clock.reset_lateness()
        time.sleep(seconds)
        return d.clock.lateness() * 1e3
    finally:
        d.stop()
        sink.close()


def handoff_cost(models_dir: Path, n: int, voices: int) -> tuple[float, float]:
    """(µs per Recorder.step on the calling thread, µs of writer-thread work per step), from
    real frames of the engine: the clock thread's share, and what the writer spends encoding."""
    import logging

    from charmix.daemon.engine.mixer import Engine, Settings
    from charmix.daemon.recording.writer import Recorder

    # exactly what the daemon loads (models/styles.onnx is not among them)
    engine = Engine(daemon_models(models_dir), seed=1, voices=voices)
    settings = [Settings(weights=np.ones(len(engine.models)))] * voices
    frames = [engine.step_voices(settings, 0.05) for _ in range(n)]
    with tempfile.TemporaryDirectory() as folder:
        rec = Recorder(Path(folder) / "x.jsonl", logging.getLogger("bench"))
        rec.begin(engine, settings, 20.0)
        t = time.perf_counter()
        for k, f in enumerate(frames):
            rec.step(k, 0.05, settings, f)
        clock_side = (time.perf_counter() - t) / n
        rec._events.clear()
        t = time.thread_time()
        for k, f in enumerate(frames):
            rec._encode(("step", k, 0.0, 0.05, settings, f))
        writer = (time.thread_time() - t) / n
        rec.close()
    return clock_side * 1e6, writer * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--voices", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    clock_side, writer = handoff_cost(args.models_dir, 2000, args.voices)
    print(f"{args.voices} voice(s): Recorder.step on the clock thread {clock_side:.2f} µs a step; "
          f"the writer thread's JSON encoding {writer:.0f} µs per step")
    with tempfile.TemporaryDirectory() as folder:
        off, on, late_off, late_on = [], [], [], []
        for r in range(args.rounds):
            off.append(cpu_per_step(args.models_dir, 1000, None, args.voices))
            on.append(cpu_per_step(args.models_dir, 1000, Path(folder) / f"b{r}.jsonl",
                                   args.voices))
            late_off.append(lateness(args.models_dir, args.seconds, None, args.voices))
            late_on.append(lateness(args.models_dir, args.seconds, Path(folder) / f"l{r}.jsonl",
                                    args.voices))
        a, b = float(np.median(off)), float(np.median(on))
        lo, ln = np.concatenate(late_off), np.concatenate(late_on)
        print(f"{args.voices} voice(s): CPU per step {a:,.0f} µs without recording, {b:,.0f} µs "
              f"with ({b - a:+,.0f} µs, {100 * (b - a) / a:+.1f} %)")
        print(f"lateness at 20/s: p50 {np.percentile(lo, 50):.2f} / p99 {np.percentile(lo, 99):.2f}"
              f" ms without, p50 {np.percentile(ln, 50):.2f} / p99 {np.percentile(ln, 99):.2f} ms "
              "with recording")


if __name__ == "__main__":
    main()
