"""Where should the style enter the network? A short, equal-budget ablation (issue 12).

Trains the same style-conditioned LSTM three times — style added to the input embedding, to the
gates' biases (s appended to every layer's input), or both — with the same seed, data order and
number of steps (equal steps, not equal minutes: on a shared machine the minutes are not equal),
and prints each style's validation loss (each corpus's last 10%, capped) and
the mean. One thread, so the budgets compare.

    nice -n 10 python benchmarks/styles_ablation.py --steps 150 --out ablation.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPORA = ROOT.parent / "shared" / "corpora"
NAMES = ("shakespeare", "austen", "nietzsche", "bible", "linux", "latex")


def style_gap(trainer, corpora, chars: int) -> float:
    """How much the style steers: for each corpus, its loss at the other styles (mean) minus its
    loss at its own style, averaged over the corpora (nats/char; 0 = the style is ignored)."""
    from charmix.export.train import evaluate

    gaps = []
    for k, corpus in enumerate(corpora):
        at = [evaluate(trainer.model, corpus.val, trainer.device, chars, style=j)
              for j in range(len(corpora))]
        gaps.append(sum(at[j] for j in range(len(at)) if j != k) / (len(at) - 1) - at[k])
    return sum(gaps) / len(gaps)


def analyse(variants: list[str], eval_chars: int) -> None:
    """The style gap of the checkpoints a previous run left in /tmp (no training)."""
    import torch

    from charmix.export.dataset import load_vocab
    from charmix.export.style_specs import load_styles
    from charmix.export.train import load_checkpoint, model_from_checkpoint

    torch.set_num_threads(1)
    corpora = load_styles([(n, CORPORA / f"{n}.txt") for n in NAMES],
                          load_vocab(ROOT / "models" / "vocab.json"))

    class Holder:
        device = torch.device("cpu")

    for variant in variants:
        holder = Holder()
        ckpt = load_checkpoint(Path("/tmp") / f"charmix-ablation-{variant}" / "last.pt")
        holder.model = model_from_checkpoint(ckpt)
        print(variant, "style gap", round(style_gap(holder, corpora, eval_chars), 4), flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--corpora", type=Path, default=CORPORA)
    ap.add_argument("--hidden", type=int, default=192)
    ap.add_argument("--batch", type=int, default=30)
    ap.add_argument("--variants", default="input,gates,both")
    ap.add_argument("--eval-chars", type=int, default=60_000)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--analyse", action="store_true",
                    help="only measure the style gap of the checkpoints in /tmp")
    args = ap.parse_args()
    if args.analyse:
        analyse(args.variants.split(","), args.eval_chars // 4)
        return 0

    import torch

    from charmix.export.dataset import load_vocab
    from charmix.export.style_specs import load_styles
    from charmix.export.styles import StyleTrainer
    from charmix.export.train import TrainConfig

    torch.set_num_threads(1)
    vocab = load_vocab(ROOT / "models" / "vocab.json")
    specs = [(n, args.corpora / f"{n}.txt") for n in NAMES]
    corpora = load_styles(specs, vocab)
    results = {}
    for variant in args.variants.split(","):
        cfg = TrainConfig(
            name=f"ablation-{variant}", corpus_path="", hidden=args.hidden, batch=args.batch,
            dropout=0.1, lr=3e-3, min_lr=2e-4, warmup=args.warmup, max_steps=args.steps,
            eval_every=10**9, eval_chars=args.eval_chars, patience=10**9, seed=1337,
            device="cpu", style_into=variant,
            styles=[{"name": n, "corpus": str(p)} for n, p in specs],
        )
        ckpt = Path("/tmp") / f"charmix-ablation-{variant}"
        trainer = StyleTrainer(cfg, corpora, ckpt)
        t0 = time.perf_counter()
        state = trainer.run()
        per_style = state.history[-1]["styles"]
        gap = style_gap(trainer, corpora, args.eval_chars // 4)
        results[variant] = {
            "mean": round(state.history[-1]["val"], 4),
            "styles": per_style,
            "steps": state.step,
            "train_chars": state.train_chars,
            "seconds": round(time.perf_counter() - t0, 1),
            "parameters": trainer.model.num_parameters(),
            "style_gap": round(gap, 4),
        }
        print(variant, json.dumps(results[variant]), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
