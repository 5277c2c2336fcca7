"""Training one style-conditioned model on several corpora (`charmix train --style NAME=TEXT`).

The model is charmix.export.model.CharLSTM with `styles` = S: each training row carries the
one-hot style of the corpus it reads. The corpora are sampled in balance whatever their sizes:
the batch's rows are split evenly between the styles (row r reads style r mod S), each style's
rows are parallel streams through that corpus's training split with the state carried, as for
a dedicated model, and a style whose streams reach the end of its corpus starts a new epoch of
its own (a new random offset, its rows' state zeroed) while the others carry on. A small corpus
is therefore read more often than a large one, every style gets the same characters per step.

Validation is each corpus's last 10%, evaluated at that style's one-hot vector; the model's val
loss is the mean over the styles, and each style's is kept (`charmix.style_val_loss`) so it can
be compared with the dedicated model of the same name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from charmix.export.dataset import Corpus, CorpusError, streams
from charmix.export.train import TrainConfig, Trainer, evaluate


class StyleTrainer(Trainer):
    """The Trainer with S corpora, balanced rows and per-style validation."""

    def __init__(self, cfg: TrainConfig, corpora: list[Corpus], ckpt_dir: Path):
        self.corpora = corpora
        n = len(corpora)
        if cfg.batch % n:
            lo, hi = cfg.batch - cfg.batch % n, cfg.batch - cfg.batch % n + n
            raise CorpusError(
                f"--batch {cfg.batch} does not split evenly between {n} styles; use "
                f"{lo or hi} or {hi}"
            )
        if not cfg.styles or [s["name"] for s in cfg.styles] != [c.name for c in corpora]:
            raise ValueError("cfg.styles must list the corpora's names, in order")
        self.rows = [np.arange(k, cfg.batch, n) for k in range(n)]
        merged = Corpus(
            name=cfg.name,
            vocab=corpora[0].vocab,
            train=np.concatenate([c.train for c in corpora]),
            val=np.concatenate([c.val for c in corpora]),
        )
        self.data: list[torch.Tensor] = []
        super().__init__(cfg, merged, ckpt_dir)
        style = torch.zeros(cfg.batch, n)
        for k, rows in enumerate(self.rows):
            style[rows, k] = 1.0
        self.style = style.to(self.device)

    # -- data position: one stream set per style ----------------------------------------------
    def _new_epoch(self, first: bool = False) -> None:
        if first:
            self.state.style_pos = [{"epoch": 0, "chunk": 0, "offset": 0} for _ in self.corpora]
            self.data = [None] * len(self.corpora)  # type: ignore[list-item]
            self.chunks = [0] * len(self.corpora)
            for k in range(len(self.corpora)):
                self._new_style_epoch(k, first=True)
            self.hidden = self.model.zero_state(self.cfg.batch, self.device)

    def _new_style_epoch(self, k: int, first: bool = False) -> None:
        pos = self.state.style_pos[k]
        if not first:
            pos["epoch"] += 1
            for t in self.hidden:
                t[:, self.rows[k]] = 0.0
        pos["offset"] = int(self.rng.integers(0, self.cfg.seq_len))
        pos["chunk"] = 0
        self._load_style(k)

    def _load_style(self, k: int) -> None:
        corpus, pos = self.corpora[k], self.state.style_pos[k]
        data = streams(corpus.train, len(self.rows[k]), pos["offset"])
        if data.shape[1] < self.cfg.seq_len + 1:
            raise CorpusError(
                f"style {corpus.name}: training split too short for {len(self.rows[k])} rows × "
                f"seq-len {self.cfg.seq_len}; lower --batch or --seq-len"
            )
        self.data[k] = torch.from_numpy(data).to(self.device)
        self.chunks[k] = (data.shape[1] - 1) // self.cfg.seq_len

    def _load_epoch(self) -> None:
        for k in range(len(self.corpora)):
            self._load_style(k)

    def _next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        t = self.cfg.seq_len
        x = torch.empty(self.cfg.batch, t, dtype=torch.int64, device=self.device)
        y = torch.empty_like(x)
        for k, rows in enumerate(self.rows):
            pos = self.state.style_pos[k]
            if pos["chunk"] >= self.chunks[k]:
                self._new_style_epoch(k)
            s = pos["chunk"] * t
            pos["chunk"] += 1
            x[rows] = self.data[k][:, s : s + t]
            y[rows] = self.data[k][:, s + 1 : s + t + 1]
        return x, y

    def _forward_loss(self) -> torch.Tensor:
        x, y = self._next_batch()
        h, c = (t.detach() for t in self.hidden)
        logits, self.hidden = self.model(x, (h, c), self.style)
        return torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), y.reshape(-1)
        )

    # -- validation: each style on its own corpus ---------------------------------------------
    def val_chars(self) -> int:
        return sum(min(c.val.size, self.cfg.eval_chars) for c in self.corpora)

    def style_losses(self, max_chars: int | None) -> dict[str, float]:
        return {
            c.name: evaluate(self.model, c.val, self.device, max_chars, style=k)
            for k, c in enumerate(self.corpora)
        }

    def _validate(self) -> tuple[float, dict]:
        losses = self.style_losses(self.cfg.eval_chars)
        mean = float(np.mean(list(losses.values())))
        return mean, {"styles": {k: round(v, 5) for k, v in losses.items()}}

    def checkpoint_extra(self) -> dict:
        return {
            "style_names": [c.name for c in self.corpora],
            "style_corpora": {s["name"]: s["corpus"] for s in self.cfg.styles or []},
        }

