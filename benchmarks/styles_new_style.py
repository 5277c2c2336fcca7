"""What does a new style cost? Learn only its style vector on the frozen conditioned network.

The paper names the price of one conditioned model: a new style means training again. The
cheapest answer tried here: add one style column (for `gates`, one per-layer gate bias; for
`input`, one embedding column; initialised at the mean of the existing styles), freeze every
other weight, and train that column alone on the new corpus. Reported: the new style's val loss
(last 10% of the corpus) over training time, against the mean-of-styles start and, when the corpus
is one the network was trained on, against that style's own jointly trained column.

    nice -n 10 python benchmarks/styles_new_style.py checkpoints/styles/best.pt \\
        --corpus ../shared/corpora/austen.txt --seconds 180

Caveat: with the six corpora all inside the network, a "new" style here is a relearned one; a
corpus the network never saw would show how far a frozen network carries a style it lacks.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--seconds", type=float, default=180.0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seq-len", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--eval-chars", type=int, default=40_000)
    ap.add_argument("--eval-every", type=float, default=30.0, help="seconds")
    args = ap.parse_args()

    import numpy as np
    import torch
    from torch import nn

    from charmix.export.dataset import load_corpus, streams
    from charmix.export.model import CharLSTM, ModelConfig
    from charmix.export.train import evaluate, load_checkpoint, model_from_checkpoint

    torch.set_num_threads(1)
    torch.manual_seed(0)
    ckpt = load_checkpoint(args.checkpoint)
    old = model_from_checkpoint(ckpt)
    names = ckpt["style_names"]
    corpus = load_corpus(args.corpus, ckpt["vocab"])
    mc = dict(ckpt["model_config"])
    S = mc["styles"]
    mc["styles"] = S + 1
    model = CharLSTM(ModelConfig(**mc))
    new_sd = model.state_dict()
    masks: dict[str, torch.Tensor] = {}
    for key, value in old.state_dict().items():
        target = new_sd[key]
        if target.shape == value.shape:
            new_sd[key] = value.clone()
            continue
        # the one parameter that grew: its last (new) column is the new style's
        grown = torch.zeros_like(target)
        grown[..., :-1] = value
        grown[..., -1] = value[..., -S:].mean(dim=-1) if key.endswith("weight_ih_l0") and \
            mc["style_into"] in ("gates", "both") else value.mean(dim=-1)
        new_sd[key] = grown
        mask = torch.zeros_like(target)
        mask[..., -1] = 1.0
        masks[key] = mask
    model.load_state_dict(new_sd)
    params = dict(model.named_parameters())
    for name, p in params.items():
        p.requires_grad_(name in masks)
        if name in masks:
            p.register_hook(lambda g, m=masks[name]: g * m)
    trainable = [params[n] for n in masks]
    opt = torch.optim.Adam(trainable, lr=args.lr)
    device = torch.device("cpu")
    own = corpus.name in names

    def val_at(style_index: int | None, blend: bool = False) -> float:
        model.eval()
        if blend:  # the mean of the existing styles: where the new column starts
            ids = corpus.val[: args.eval_chars]
            from charmix.export.dataset import val_streams

            data = torch.from_numpy(val_streams(ids))
            n = data.shape[0]
            s = torch.zeros(n, S + 1)
            s[:, :S] = 1.0 / S
            state = model.zero_state(n)
            total = count = 0
            with torch.no_grad():
                for start in range(0, data.shape[1] - 1, 256):
                    x, y = data[:, start:start + 256], data[:, start + 1:start + 257]
                    x = x[:, : y.shape[1]]
                    logits, state = model(x, state, s)
                    total += nn.functional.cross_entropy(
                        logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum"
                    ).item()
                    count += y.numel()
            return total / count
        loss = evaluate(model, corpus.val, device, args.eval_chars, style=style_index)
        return loss

    report = {"corpus": str(args.corpus), "trainable_parameters": int(sum(
        int(m.sum()) for m in masks.values())), "curve": []}
    report["start_new_column"] = round(val_at(S), 4)
    report["mean_of_styles"] = round(val_at(None, blend=True), 4)
    if own:
        report["joint_style"] = round(val_at(names.index(corpus.name)), 4)
    print(json.dumps(report), flush=True)
    data = torch.from_numpy(streams(corpus.train, args.batch))
    style = torch.zeros(args.batch, S + 1)
    style[:, S] = 1.0
    state = model.zero_state(args.batch)
    t0 = time.perf_counter()
    next_eval = args.eval_every
    chunk = 0
    chars = 0
    while time.perf_counter() - t0 < args.seconds:
        model.train()
        s = (chunk * args.seq_len) % (data.shape[1] - args.seq_len - 1)
        x, y = data[:, s:s + args.seq_len], data[:, s + 1:s + args.seq_len + 1]
        h, c = (t.detach() for t in state)
        logits, state = model(x, (h, c), style)
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        chunk += 1
        chars += x.numel()
        if time.perf_counter() - t0 >= next_eval:
            point = {"seconds": round(time.perf_counter() - t0, 1), "train_chars": chars,
                     "val": round(val_at(S), 4)}
            report["curve"].append(point)
            print(json.dumps(point), flush=True)
            next_eval += args.eval_every
    report["final"] = round(val_at(S), 4)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(report), flush=True)
    del np
    return 0


if __name__ == "__main__":
    sys.exit(main())
