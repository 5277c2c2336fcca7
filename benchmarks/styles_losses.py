"""Per-style validation loss of the conditioned model against each dedicated model (issue 12).

Both are read from the files' metadata, measured the same way (each corpus's last 10% as 32
long streams, state carried; the 8-bit models' own numbers, the float32 originals' beside them):
`charmix.style_val_loss` of models/styles.onnx, `charmix.val_loss` of models/NAME.onnx. Goal:
within 0.05 nats/char on every style. Prints a Markdown table.

    python benchmarks/styles_losses.py
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL = 0.05


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "styles.onnx")
    ap.add_argument("--models-dir", type=Path, default=ROOT / "models")
    args = ap.parse_args()

    from charmix.daemon.engine.model import load_model
    from charmix.daemon.engine.modelformat import FP32_STYLE_VAL_LOSS_KEY, STYLE_VAL_LOSS_KEY

    meta = load_model(args.model).info.meta
    styles = json.loads(meta[STYLE_VAL_LOSS_KEY])
    fp32 = json.loads(meta.get(FP32_STYLE_VAL_LOSS_KEY, "{}"))
    print("| style | conditioned (8-bit) | fp32 | dedicated (8-bit) | difference | goal ≤ 0.05 |")
    print("|---|--:|--:|--:|--:|---|")
    worst = 0.0
    for name, loss in styles.items():
        dedicated = load_model(args.models_dir / f"{name}.onnx").info.val_loss
        diff = loss - dedicated
        worst = max(worst, diff)
        print(f"| {name} | {loss:.4f} | {fp32.get(name, float('nan')):.4f} | {dedicated:.4f} | "
              f"{diff:+.4f} | {'met' if diff <= GOAL else 'missed'} |")
    mean = sum(styles.values()) / len(styles)
    print(f"\nmean {mean:.4f} nats/char; worst difference {worst:+.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
