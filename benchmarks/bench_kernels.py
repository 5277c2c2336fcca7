"""Which matrix kernel steps the six models fastest on this CPU, and what each costs in accuracy.

    .venv/bin/python benchmarks/bench_kernels.py                  # the shipped six, ~1 minute
    .venv/bin/python benchmarks/bench_kernels.py --chars 20000    # nats/char on more text
    .venv/bin/python benchmarks/bench_kernels.py --markdown

The same six models (models/*.onnx, 8-bit; models/fp32/*.onnx, their float32 originals) in four
forms, built into a temporary folder (needs the `onnx` package: the `train` extra):

* MatMulNBits, accuracy level 4: the shipped files (8-bit blocks of 32, int8 arithmetic);
* MatMulNBits, accuracy level 0: the same weights, float arithmetic on dequantised blocks;
* MatMulInteger: the float32 originals through onnxruntime's dynamic quantisation (per-column
  int8 weights, the activations quantised per call);
* float32: the originals.

For each: CPU µs per character of the six stepped back to back and after a 50 ms pause (medians,
in interleaved rounds), and the mean loss in nats/char on the first `--chars` characters of the
validation split (the last 10 %) of each model's own corpus (`--corpora`, default
../shared/corpora as in the Makefile), minus the float32 original's (not for a form more than 4×
slower than the fastest: it would never be chosen). Issue #23: the 8-bit fast
path keeps within 0.001 nats/char of float32. The daemon's default is the shipped form; this says
whether another would be faster on a given CPU.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from bench_daemon import ROOT, cpu_line

from charmix.daemon.engine.model import StepModel, load_model

NAMES = ("austen", "bible", "latex", "linux", "nietzsche", "shakespeare")


def build(folder: Path) -> dict[str, list[Path]]:
    """The four forms of the six models; the derived ones written into `folder`."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    forms = {
        "MatMulNBits, accuracy 4 (shipped)": [ROOT / "models" / f"{n}.onnx" for n in NAMES],
        "MatMulNBits, accuracy 0": [],
        "MatMulInteger (dynamic)": [],
        "float32": [ROOT / "models" / "fp32" / f"{n}.onnx" for n in NAMES],
    }
    for sub in ("acc0", "integer"):
        (folder / sub).mkdir()
    for n in NAMES:
        model = onnx.load(str(ROOT / "models" / f"{n}.onnx"))
        for node in model.graph.node:
            for attr in node.attribute:
                if node.op_type == "MatMulNBits" and attr.name == "accuracy_level":
                    attr.i = 0
        onnx.save(model, str(folder / "acc0" / f"{n}.onnx"))
        forms["MatMulNBits, accuracy 0"].append(folder / "acc0" / f"{n}.onnx")
        out = folder / "integer" / f"{n}.onnx"
        quantize_dynamic(str(ROOT / "models" / "fp32" / f"{n}.onnx"), str(out),
                         weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])
        forms["MatMulInteger (dynamic)"].append(out)
    return forms


def timing(models: list[StepModel], n: int, pauses: int) -> tuple[list[float], list[float]]:
    token = np.zeros(1, np.int64)

    def one() -> float:
        t = time.thread_time()
        for m in models:
            m.step(token)
        return time.thread_time() - t

    for _ in range(30):
        one()
    hot = [one() for _ in range(n)]
    cold = []
    for _ in range(pauses):
        time.sleep(0.05)
        cold.append(one())
    return hot, cold


def nats_per_char(model: StepModel, text: str) -> float:
    """Mean −log p of each next character (characters outside the vocabulary are skipped)."""
    index = {ch: i for i, ch in enumerate(model.vocab)}
    model.reset(1)
    total, count, prev = 0.0, 0, index.get("\n", 0)
    for ch in text:
        logits = model.step(np.array([prev], np.int64))[0].astype(np.float64)
        nxt = index.get(ch)
        if nxt is None:
            continue
        top = logits.max()
        total += top + math.log(np.exp(logits - top).sum()) - logits[nxt]
        count += 1
        prev = nxt
    model.reset(1)
    return total / max(1, count)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=5000,
                        help="characters of each validation split for the loss (0: skip)")
    parser.add_argument("--corpora", type=Path, default=ROOT.parent / "shared" / "corpora")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    print(cpu_line()[1], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        forms = build(Path(tmp))
        loaded = {name: [load_model(p) for p in paths] for name, paths in forms.items()}
        hot: dict[str, list[float]] = {name: [] for name in forms}
        cold: dict[str, list[float]] = {name: [] for name in forms}
        for r in range(args.rounds):
            for name, models in loaded.items():
                print(f"  … round {r + 1}/{args.rounds}: {name}", file=sys.stderr, flush=True)
                h, c = timing(models, 300, 15)
                hot[name] += h
                cold[name] += c
        loss: dict[str, float] = {}
        fastest = min(float(np.median(h)) for h in hot.values())
        if args.chars > 0 and args.corpora.is_dir():
            for name, models in loaded.items():
                if float(np.median(hot[name])) > 4 * fastest:
                    continue  # far too slow to be chosen: its loss is not worth the minutes
                print(f"  … nats/char: {name}", file=sys.stderr, flush=True)
                per = []
                for n, m in zip(NAMES, models, strict=True):
                    text = (args.corpora / f"{n}.txt").read_text(encoding="utf-8")
                    per.append(nats_per_char(m, text[int(len(text) * 0.9):][: args.chars]))
                loss[name] = float(np.mean(per))
    base = loss.get("float32")
    head = ("kernel", "six models back to back", "after a 50 ms pause", "nats/char vs float32")
    rows = []
    for name in forms:
        d = "" if base is None or name not in loss else f"{loss[name] - base:+.5f}"
        d = d if name in loss or base is None else "(too slow: not measured)"
        rows.append((name, f"{np.median(hot[name]) * 1e6:,.0f} µs",
                     f"{np.median(cold[name]) * 1e6:,.0f} µs", d))
    if args.markdown:
        print("| " + " | ".join(head) + " |\n|---|--:|--:|--:|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
        for row in [head, *rows]:
            print("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                            for i, (c, w) in enumerate(zip(row, widths, strict=True))))
    if loss:
        print(f"(loss on the first {args.chars:,} characters of each validation split, mean of "
              f"the six; float32: {base:.4f} nats/char)")


if __name__ == "__main__":
    main()
