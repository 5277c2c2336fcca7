"""Does each style of the conditioned model write like its corpus? (issue 12's third measurement)

For every style, N texts are sampled from models/styles.onnx at that one-hot style (the daemon's
default temperature, 0.8, from the daemon's start: a newline and zero state). Each text is then
scored by the six dedicated models (mean loss per character, each from its own start), and the
text counts as "best explained by its style's model" when the dedicated model of the same name
gives it the lowest loss. Goal: at least 95% of all samples.

    python benchmarks/styles_identity.py [--samples 20] [--chars 300] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _session(path: Path):
    import onnxruntime as ort

    from charmix.daemon.engine.model import session_options

    return ort.InferenceSession(str(path), sess_options=session_options(),
                                providers=["CPUExecutionProvider"])


def _state(session, batch: int) -> tuple[np.ndarray, np.ndarray]:
    layers, _, hidden = next(i.shape for i in session.get_inputs() if i.name == "h")
    h = np.zeros((layers, batch, hidden), np.float32)
    return h, h.copy()


def sample(session, style: np.ndarray, start: int, chars: int, temperature: float,
           rng: np.random.Generator) -> np.ndarray:
    """Token ids [B, chars] sampled at each row's style (B = len(style)), all from `start`."""
    n = style.shape[0]
    h, c = _state(session, n)
    tokens = np.full(n, start, np.int64)
    out = np.zeros((n, chars), np.int64)
    for t in range(chars):
        logits, h, c = session.run(None, {"tokens": tokens, "h": h, "c": c, "style": style})
        z = logits.astype(np.float64) / temperature
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        u = rng.random(n)[:, None]
        tokens = np.minimum((p.cumsum(axis=1) < u).sum(axis=1), p.shape[1] - 1).astype(np.int64)
        out[:, t] = tokens
    return out


def score(session, texts: np.ndarray, start: int) -> np.ndarray:
    """Mean next-character loss (nats) of each row of texts [B, L] under one dedicated model."""
    n, length = texts.shape
    h, c = _state(session, n)
    tokens = np.full(n, start, np.int64)
    total = np.zeros(n)
    rows = np.arange(n)
    for t in range(length):
        logits, h, c = session.run(None, {"tokens": tokens, "h": h, "c": c})
        z = logits.astype(np.float64)
        z -= z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        total -= logp[rows, texts[:, t]]
        tokens = texts[:, t]
    return total / length


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "styles.onnx")
    ap.add_argument("--models-dir", type=Path, default=ROOT / "models")
    ap.add_argument("--samples", type=int, default=20, help="texts per style")
    ap.add_argument("--chars", type=int, default=300, help="characters per text")
    ap.add_argument("--temperature", type=float, default=0.8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from charmix.daemon.engine.model import load_model

    info = load_model(args.model).info
    names = info.styles
    if not names:
        print(f"{args.model}: not a style-conditioned model", file=sys.stderr)
        return 2
    start = info.vocab.index("\n")
    conditioned = _session(args.model)
    dedicated = {}
    for name in names:
        path = args.models_dir / f"{name}.onnx"
        if load_model(path).vocab != info.vocab:
            print(f"{path}: its vocabulary differs from {args.model}'s", file=sys.stderr)
            return 2
        dedicated[name] = _session(path)
    rng = np.random.default_rng(args.seed)
    S = len(names)
    confusion = np.zeros((S, S), int)  # [style sampled, dedicated model that explains it best]
    margins = []
    for k in range(S):
        style = np.zeros((args.samples, S), np.float32)
        style[:, k] = 1.0
        texts = sample(conditioned, style, start, args.chars, args.temperature, rng)
        losses = np.stack([score(dedicated[n], texts, start) for n in names], axis=1)
        best = losses.argmin(axis=1)
        for b in best:
            confusion[k, b] += 1
        others = np.delete(losses, k, axis=1).min(axis=1)
        margins.extend((others - losses[:, k]).tolist())
    hits = int(np.trace(confusion))
    total = int(confusion.sum())
    print(f"{hits}/{total} samples ({100 * hits / total:.1f}%) best explained by their style's "
          f"dedicated model ({args.samples} × {args.chars} chars per style, T {args.temperature})")
    print("sampled at \\ best explained by: " + " ".join(f"{n[:6]:>6}" for n in names))
    for k, name in enumerate(names):
        print(f"{name:>28}: " + " ".join(f"{v:6d}" for v in confusion[k]))
    print(f"median margin (next-best loss − own model's loss): {np.median(margins):.3f} nats/char")
    if args.json:
        print(json.dumps({"hits": hits, "total": total, "names": names,
                          "confusion": confusion.tolist(),
                          "median_margin": float(np.median(margins))}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
