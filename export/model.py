"""The torch character model: embedding → LSTM → linear head, optionally style-conditioned.

Only training and export use this module; the daemon runs the ONNX graph built from its weights
(see charmix.export.onnx_export) and never imports torch.

A style-conditioned model (``styles`` = S > 0) takes a style vector s [B, S] (non-negative,
summing to 1; one-hot in training) beside the characters. Where s enters is ``style_into``:

* ``input``: a learned style embedding E·s is added to the character embedding (layer 0 only);
* ``gates``: s is appended to every layer's input, so each layer's input weights for it are a
  learned per-style bias on that layer's four gates;
* ``both``.

Either way the effect on each layer's gates is linear in s, which is what lets the export fold
it into one [S, layers·4·hidden] matrix (one tiny MatMul per step) and what makes a blended s a
blend *inside* the network. A conditioned model runs its layers as separate one-layer LSTMs so
that s can enter each; an unconditioned one keeps the single nn.LSTM (and its checkpoints).

Regularisation beyond dropout between layers, both aimed at the plateau long runs reach:
``embed_dropout`` drops whole characters' embedding rows (the same characters for the whole
batch), ``weight_dropout`` drops recurrent weights (DropConnect on W_hh, one mask per batch, as
in AWD-LSTM). Both are training-only; the exported graph is the same.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.func import functional_call

STYLE_INTO = ("input", "gates", "both")


@dataclass
class ModelConfig:
    vocab_size: int
    layers: int = 2
    hidden: int = 256
    embedding: int = 64
    dropout: float = 0.25
    styles: int = 0
    style_into: str = "both"
    embed_dropout: float = 0.0
    weight_dropout: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def style_input(self) -> bool:
        return self.styles > 0 and self.style_into in ("input", "both")

    @property
    def style_gates(self) -> bool:
        return self.styles > 0 and self.style_into in ("gates", "both")


class CharLSTM(nn.Module):
    """A character LSTM whose state is explicit, so training can carry it across chunks."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.style_into not in STYLE_INTO:
            raise ValueError(f"style_into must be one of {', '.join(STYLE_INTO)}")
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embedding)
        if cfg.styles:
            extra = cfg.styles if cfg.style_gates else 0
            self.layers = nn.ModuleList(
                nn.LSTM(
                    (cfg.embedding if i == 0 else cfg.hidden) + extra, cfg.hidden,
                    batch_first=True,
                )
                for i in range(cfg.layers)
            )
            if cfg.style_input:
                self.style_embed = nn.Linear(cfg.styles, cfg.embedding, bias=False)
                nn.init.normal_(self.style_embed.weight, std=0.1)
        else:
            self.lstm = nn.LSTM(
                cfg.embedding,
                cfg.hidden,
                num_layers=cfg.layers,
                dropout=cfg.dropout if cfg.layers > 1 else 0.0,
                batch_first=True,
            )
        self.drop = nn.Dropout(cfg.dropout)
        self.head = nn.Linear(cfg.hidden, cfg.vocab_size)

    def zero_state(self, batch: int, device: torch.device | str = "cpu"):
        shape = (self.cfg.layers, batch, self.cfg.hidden)
        return torch.zeros(shape, device=device), torch.zeros(shape, device=device)

    def _embed(self, tokens: torch.Tensor) -> torch.Tensor:
        p = self.cfg.embed_dropout
        if not (self.training and p > 0):
            return self.embed(tokens)
        keep = torch.empty(self.cfg.vocab_size, 1, device=tokens.device).bernoulli_(1 - p)
        return nn.functional.embedding(tokens, self.embed.weight * keep / (1 - p))

    def _run_lstm(self, lstm: nn.LSTM, x: torch.Tensor, state):
        """One nn.LSTM call, with DropConnect on its recurrent weights while training."""
        p = self.cfg.weight_dropout
        if not (self.training and p > 0):
            return lstm(x, state)
        dropped = {
            name: nn.functional.dropout(param, p, True)
            for name, param in lstm.named_parameters()
            if name.startswith("weight_hh")
        }
        return functional_call(lstm, dropped, (x, state), strict=False)

    def forward(self, tokens: torch.Tensor, state, style: torch.Tensor | None = None):
        """tokens [B, T] int64 (+ style [B, S]) → logits [B, T, V], (h, c) [layers, B, H]."""
        x = self._embed(tokens)
        if not self.cfg.styles:
            y, state = self._run_lstm(self.lstm, self.drop(x), state)
            return self.head(self.drop(y)), state
        if style is None:
            raise ValueError("a style-conditioned model needs a style [B, S]")
        if self.cfg.style_input:
            x = x + self.style_embed(style)[:, None, :]
        x = self.drop(x)
        s = style[:, None, :].expand(-1, x.shape[1], -1)
        h0, c0 = state
        hs, cs = [], []
        for i, lstm in enumerate(self.layers):
            inp = torch.cat([x, s], dim=2) if self.cfg.style_gates else x
            x, (h, c) = self._run_lstm(lstm, inp, (h0[i : i + 1], c0[i : i + 1]))
            x = self.drop(x)  # between layers, and before the head after the last
            hs.append(h)
            cs.append(c)
        return self.head(x), (torch.cat(hs), torch.cat(cs))

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
