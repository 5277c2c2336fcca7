"""The torch character model: embedding → nn.LSTM → linear head.

Only training and export use this module; the daemon runs the ONNX graph built from its weights
(see charmix.export.onnx_export) and never imports torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass
class ModelConfig:
    vocab_size: int
    layers: int = 2
    hidden: int = 256
    embedding: int = 64
    dropout: float = 0.25

    def to_dict(self) -> dict:
        return asdict(self)


class CharLSTM(nn.Module):
    """A character LSTM whose state is explicit, so training can carry it across chunks."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab_size, cfg.embedding)
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

    def forward(self, tokens: torch.Tensor, state):
        """tokens [B, T] int64 → logits [B, T, V], (h, c) each [layers, B, hidden]."""
        x = self.drop(self.embed(tokens))
        y, state = self.lstm(x, state)
        return self.head(self.drop(y)), state

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
