"""CPU per character: one style-conditioned model at B = S + 1 against the dedicated models in turn.

The goal (issue 12): one onnxruntime call of the conditioned model with S + 1 rows (the live style
mix plus each pure style) costs at most a third of the S dedicated models stepped one after the
other, as the daemon steps them. Both are measured in one run, interleaved in rounds, because
timings on a shared VM move by a third between runs; the ratio is what counts.

    python benchmarks/bench_styles.py                      # models/styles.onnx vs the shipped six
    python benchmarks/bench_styles.py --candidate 2x256 --candidate 2x192   # random weights, 8-bit

`--candidate LxH` builds a conditioned model of that size with random weights (needs torch and
onnx, the train extra) and quantises it as `charmix quantize` would: a step costs the same
whatever the weights, so this chooses a size before training one.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
NAMES = ("shakespeare", "austen", "nietzsche", "bible", "linux", "latex")


def _session(data: bytes | str):
    import onnxruntime as ort

    from charmix.daemon.engine.model import session_options

    return ort.InferenceSession(data, sess_options=session_options(),
                                providers=["CPUExecutionProvider"])


def candidate(spec: str, styles: int, vocab: int, embedding: int) -> bytes:
    """A random-weight conditioned model of size LxH, 8-bit like the shipped ones ("LxH/fp32":
    float32)."""
    import torch

    from charmix.export.model import CharLSTM, ModelConfig
    from charmix.export.onnx_export import build_graph
    from charmix.export.quantize import quantize_proto

    size, _, kind = spec.lower().partition("/")
    layers, hidden = (int(x) for x in size.split("x"))
    torch.manual_seed(0)
    model = CharLSTM(ModelConfig(vocab, layers, hidden, embedding, 0.0, styles=styles)).eval()
    proto = build_graph(model)
    return (proto if kind == "fp32" else quantize_proto(proto)).SerializeToString()


def time_calls(fn, reps: int) -> float:
    """Median µs of fn() over reps calls (after a warm-up)."""
    for _ in range(20):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e6


def stepper(session, batch: int, styles: int):
    """A closure that steps `session` once at `batch` rows, carrying its state."""
    inputs = {i.name: i for i in session.get_inputs()}
    layers, _, hidden = inputs["h"].shape
    feed = {
        "tokens": np.zeros(batch, np.int64),
        "h": np.zeros((layers, batch, hidden), np.float32),
        "c": np.zeros((layers, batch, hidden), np.float32),
    }
    if "style" in inputs:
        s = np.zeros((batch, styles), np.float32)
        s[0] = 1.0 / styles
        s[1:] = np.eye(styles, dtype=np.float32)[: batch - 1]
        feed["style"] = s
    run = session._sess.run if hasattr(session, "_sess") else session.run
    out = ["logits", "h_out", "c_out"]

    def step() -> None:
        _, feed["h"], feed["c"] = run(out, feed, None)

    return step


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, action="append",
                    help="a conditioned model (repeat for several) [default: models/styles.onnx]")
    ap.add_argument("--candidate", action="append", default=[], help="LxH, random weights")
    ap.add_argument("--models-dir", type=Path, default=ROOT / "models")
    ap.add_argument("--reps", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    dedicated = [_session(str(args.models_dir / f"{n}.onnx")) for n in NAMES]
    styles = len(NAMES)
    steps = [stepper(s, 1, styles) for s in dedicated]
    vocab = dedicated[0].get_outputs()[0].shape[1]

    def six() -> None:
        for step in steps:
            step()

    subjects: dict[str, object] = {}
    for spec in args.candidate:
        subjects[f"random {spec}"] = stepper(
            _session(candidate(spec, styles, vocab, 64)), styles + 1, styles
        )
    if not args.candidate:
        for path in args.model or [ROOT / "models" / "styles.onnx"]:
            subjects[str(path)] = stepper(_session(str(path)), styles + 1, styles)

    results: dict[str, list[float]] = {"six dedicated in turn": []}
    results.update({k: [] for k in subjects})
    for _ in range(args.rounds):
        results["six dedicated in turn"].append(time_calls(six, args.reps // 4))
        for name, fn in subjects.items():
            results[name].append(time_calls(fn, args.reps))
    base = statistics.median(results["six dedicated in turn"])
    summary = {}
    for name, values in results.items():
        med = statistics.median(values)
        summary[name] = {"us_per_char": round(med, 1), "ratio_to_six": round(med / base, 3),
                         "rounds": [round(v, 1) for v in values]}
        print(f"{name:28s} {med:8.1f} µs/char   {med / base:5.2f} × the six"
              f"   (rounds: {', '.join(f'{v:.0f}' for v in values)})")
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
