"""The training loop behind `charmix train`.

Training is stateful truncated BPTT, as in char-rnn: the training split is cut into `batch`
parallel streams and each step trains on the next `seq_len` characters of every stream, carrying
the LSTM state forward (detached). That is how the daemon runs a model — one long stream with its
state carried — so validation measures the same thing: the validation split as a few long
streams with state carried through them.

A checkpoint holds everything needed to continue exactly: weights, optimiser, schedule step, data
position, carried state and both RNGs. Ctrl-C finishes the current step, saves, and exits.

A time budget (`max_time`) is the schedule, not only a stop: the learning rate decays over the
budget rather than over `max_steps`, and the budget is wall time for the whole run, evaluations
included. Training stops early enough for the final evaluation and the export to fit in it: that
reserve is re-estimated from the measured speed of the evaluations (`Trainer.reserve`).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from charmix.daemon.common.signals import install_stop_handlers
from charmix.export.dataset import Corpus, CorpusError, streams, val_streams
from charmix.export.model import CharLSTM, ModelConfig

EVAL_CHUNK = 256


@dataclass
class TrainConfig:
    name: str
    corpus_path: str
    description: str = ""
    layers: int = 2
    hidden: int = 256
    embedding: int = 64
    dropout: float = 0.25
    seq_len: int = 128
    batch: int = 64
    lr: float = 3e-3
    min_lr: float = 2e-4
    weight_decay: float = 0.1
    warmup: int = 100
    grad_clip: float = 1.0
    max_steps: int = 3000
    max_time: float | None = None
    eval_every: int = 100
    eval_chars: int = 250_000
    patience: int = 8
    seed: int = 1337
    device: str = "auto"
    batching: str = "stateful"  # or "random": independent windows from a zero state
    errors: str = "strict"  # how the corpus was decoded; --resume decodes it the same way
    embed_dropout: float = 0.0
    weight_dropout: float = 0.0
    export_chars: int = 0  # chars the export evaluates (the whole val split): part of the reserve
    styles: list[dict] | None = None  # [{"name", "corpus"}] for a style-conditioned model
    style_into: str = "both"


@dataclass
class TrainState:
    """Where training is; saved in every checkpoint."""

    step: int = 0
    epoch: int = 0
    chunk: int = 0
    offset: int = 0
    train_seconds: float = 0.0
    train_chars: int = 0
    best_val: float = math.inf
    best_step: int = 0
    evals_since_best: int = 0
    last_train_loss: float = math.nan
    history: list[dict] = field(default_factory=list)
    style_pos: list[dict] = field(default_factory=list)  # per style: epoch, chunk, offset
    elapsed: float = 0.0  # wall seconds of the run so far, evaluations included, across resumes
    eval_rate: float = 0.0  # characters per second the last evaluation measured


class Interrupted(Exception):
    """Raised after Ctrl-C once the checkpoint is safely written."""

    def __init__(self, checkpoint: Path):
        super().__init__(str(checkpoint))
        self.checkpoint = checkpoint


def pick_device(name: str) -> torch.device:
    """auto, cpu, cuda or cuda:N (mps where torch has it); anything else is a one-line error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise CorpusError(
            f"--device {name!r} is not a device (use auto, cpu, cuda or cuda:N)"
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise CorpusError("--device cuda was asked for but torch sees no CUDA device")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise CorpusError(
                f"--device {name}: torch sees {torch.cuda.device_count()} CUDA device(s)"
            )
    elif device.type == "mps":
        if not torch.backends.mps.is_available():
            raise CorpusError("--device mps was asked for but torch sees no MPS device")
    elif device.type != "cpu":
        raise CorpusError(f"--device {name!r}: charmix trains on cpu or cuda (or mps)")
    return device


def lr_at(cfg: TrainConfig, step: int, progress: float | None = None) -> float:
    """Linear warm-up then cosine decay from lr to min_lr: over max_steps, or, given `progress`
    (the fraction of the time budget spent, 0..1), over the time budget."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    if progress is None:
        progress = (step - cfg.warmup) / max(1, cfg.max_steps - cfg.warmup)
    progress = min(1.0, max(0.0, progress))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def evaluate(
    model: CharLSTM,
    ids: np.ndarray,
    device: torch.device,
    max_chars: int | None,
    style: int | None = None,
) -> float:
    """Mean next-character loss (nats) over ids as long streams with the state carried.

    For a style-conditioned model, `style` is the index of the one-hot style to evaluate at.
    """
    if max_chars is not None:
        ids = ids[:max_chars]
    data = torch.from_numpy(val_streams(ids)).to(device)
    n = data.shape[0]
    was_training = model.training
    model.eval()
    state = model.zero_state(n, device)
    extra = ()
    if model.cfg.styles:
        s = torch.zeros(n, model.cfg.styles, device=device)
        s[:, style or 0] = 1.0
        extra = (s,)
    total, count = 0.0, 0
    for start in range(0, data.shape[1] - 1, EVAL_CHUNK):
        x = data[:, start : start + EVAL_CHUNK]
        y = data[:, start + 1 : start + EVAL_CHUNK + 1]
        x = x[:, : y.shape[1]]
        logits, state = model(x, state, *extra)
        total += nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum"
        ).item()
        count += y.numel()
    model.train(was_training)
    return total / max(1, count)


class Trainer:
    """Owns the model, optimiser and data position; `run()` trains until a stop condition."""

    def __init__(self, cfg: TrainConfig, corpus: Corpus, ckpt_dir: Path):
        self.cfg, self.corpus, self.ckpt_dir = cfg, corpus, ckpt_dir
        self.device = pick_device(cfg.device)
        torch.manual_seed(cfg.seed)
        self.rng = np.random.default_rng(cfg.seed)
        self.mcfg = ModelConfig(
            len(corpus.vocab),
            cfg.layers,
            cfg.hidden,
            cfg.embedding,
            cfg.dropout,
            styles=len(cfg.styles or ()),
            style_into=cfg.style_into,
            embed_dropout=cfg.embed_dropout,
            weight_dropout=cfg.weight_dropout,
        )
        self.model = CharLSTM(self.mcfg).to(self.device)
        decay = [p for n, p in self.model.named_parameters() if p.dim() >= 2]
        no_decay = [p for n, p in self.model.named_parameters() if p.dim() < 2]
        self.opt = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": cfg.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=cfg.lr,
            betas=(0.9, 0.99),
        )
        self.state = TrainState()
        self.hidden = self.model.zero_state(cfg.batch, self.device)
        self._stop = False
        self._new_epoch(first=True)

    # -- data position ---------------------------------------------------------------------
    def _new_epoch(self, first: bool = False) -> None:
        if not first:
            self.state.epoch += 1
        self.state.offset = int(self.rng.integers(0, self.cfg.seq_len))
        self.state.chunk = 0
        self._load_epoch()
        self.hidden = self.model.zero_state(self.cfg.batch, self.device)

    def _load_epoch(self) -> None:
        data = streams(self.corpus.train, self.cfg.batch, self.state.offset)
        if data.shape[1] < self.cfg.seq_len + 1:
            raise CorpusError(
                f"{self.cfg.corpus_path}: training split too short for batch {self.cfg.batch} × "
                f"seq-len {self.cfg.seq_len}; lower --batch or --seq-len"
            )
        self.data = torch.from_numpy(data).to(self.device)
        self.chunks = (self.data.shape[1] - 1) // self.cfg.seq_len

    def _next_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.cfg.batching == "random":
            # Independent windows: decorrelated batches, but every window starts from a zero
            # state; validation still runs statefully, as the daemon does.
            n, t = self.corpus.train.size, self.cfg.seq_len
            starts = self.rng.integers(0, n - t - 1, size=self.cfg.batch)
            win = torch.from_numpy(self.corpus.train[starts[:, None] + np.arange(t + 1)])
            win = win.to(self.device)
            self.hidden = self.model.zero_state(self.cfg.batch, self.device)
            return win[:, :-1], win[:, 1:]
        if self.state.chunk >= self.chunks:
            self._new_epoch()
        s = self.state.chunk * self.cfg.seq_len
        self.state.chunk += 1
        return self.data[:, s : s + self.cfg.seq_len], self.data[
            :, s + 1 : s + self.cfg.seq_len + 1
        ]

    # -- checkpoints -----------------------------------------------------------------------
    def checkpoint_dict(self) -> dict:
        return {
            "format": 1,
            "train_config": asdict(self.cfg),
            "model_config": self.mcfg.to_dict(),
            "vocab": self.corpus.vocab,
            "corpus_name": self.corpus.name,
            "state": asdict(self.state),
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "hidden": [t.cpu() for t in self.hidden],
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
            "numpy_rng": self.rng.bit_generator.state,
            **self.checkpoint_extra(),
        }

    def checkpoint_extra(self) -> dict:
        """What a subclass adds to every checkpoint (the style trainer: its style names)."""
        return {}

    def save(self, name: str) -> Path:
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        path = self.ckpt_dir / name
        tmp = path.with_suffix(".tmp")
        torch.save(self.checkpoint_dict(), tmp)
        tmp.replace(path)  # atomic: a crash mid-write never leaves a broken checkpoint
        return path

    def restore(self, ckpt: dict) -> None:
        self.model.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["optimizer"])
        self.state = TrainState(**ckpt["state"])
        self.rng.bit_generator.state = ckpt["numpy_rng"]
        torch.set_rng_state(ckpt["torch_rng"])
        if ckpt.get("cuda_rng") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ckpt["cuda_rng"])
        self._load_epoch()
        self.hidden = tuple(t.to(self.device) for t in ckpt["hidden"])

    # -- the loop --------------------------------------------------------------------------
    def request_stop(self, *_args) -> None:
        self._stop = True

    def _forward_loss(self) -> torch.Tensor:
        x, y = self._next_batch()
        h, c = (t.detach() for t in self.hidden)
        logits, self.hidden = self.model(x, (h, c))
        return nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))

    def val_chars(self) -> int:
        """Characters one periodic evaluation reads."""
        return min(self.corpus.val.size, self.cfg.eval_chars)

    def reserve(self) -> float:
        """Seconds to keep for what follows the loop: a final evaluation and the export (which
        evaluates the whole val split and runs the parity check), at the measured eval speed.

        Before the first evaluation the speed is guessed from training's (a forward pass alone
        is about three times as fast as a training step per character).
        """
        st = self.state
        rate = st.eval_rate
        if rate <= 0:
            if st.train_seconds <= 0:
                return 0.0
            rate = 3 * st.train_chars / st.train_seconds
        chars = self.val_chars() + self.cfg.export_chars
        return 1.10 * chars / rate + 3.0  # +10% and the parity check's few seconds

    def budget_progress(self) -> float | None:
        """Fraction of the time budget's training part spent (None without a budget)."""
        if self.cfg.max_time is None:
            return None
        return self.state.elapsed / max(1e-9, self.cfg.max_time - self.reserve())

    def run(self, on_progress=None, started: float | None = None) -> TrainState:
        """Train until max_steps, the time budget or early stopping; Ctrl-C raises Interrupted.

        `started` (a time.perf_counter() value) is when the command began: the time spent
        before the loop (reading the corpus, importing torch) counts toward the budget too.
        """
        cfg, st = self.cfg, self.state
        restore = install_stop_handlers(self.request_stop)  # SIGINT and SIGTERM: save, stop
        chars_per_step = cfg.batch * cfg.seq_len
        wall0 = started if started is not None else time.perf_counter()
        elapsed0 = st.elapsed
        self.model.train()
        try:
            while st.step < cfg.max_steps:
                st.elapsed = elapsed0 + time.perf_counter() - wall0
                if cfg.max_time is not None and st.elapsed + self.reserve() >= cfg.max_time:
                    break
                if st.evals_since_best >= cfg.patience:
                    break
                t0 = time.perf_counter()
                lr = lr_at(cfg, st.step, self.budget_progress())
                for group in self.opt.param_groups:
                    group["lr"] = lr
                loss = self._forward_loss()
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                self.opt.step()
                st.step += 1
                st.train_chars += chars_per_step
                st.last_train_loss = float(loss.item())
                st.train_seconds += time.perf_counter() - t0
                val = None
                if st.step % cfg.eval_every == 0 or st.step == cfg.max_steps:
                    val = self._eval_and_keep_best()
                st.elapsed = elapsed0 + time.perf_counter() - wall0
                if on_progress is not None:
                    on_progress(st, val)
                if self._stop:
                    raise Interrupted(self.save("last.pt"))
            if not st.history or st.history[-1]["step"] != st.step:
                self._eval_and_keep_best()
            st.elapsed = elapsed0 + time.perf_counter() - wall0
            self.save("last.pt")
        finally:
            if restore is not None:
                restore()
        return st

    def _validate(self) -> tuple[float, dict]:
        """(val loss, anything more to keep in the history entry)."""
        return evaluate(self.model, self.corpus.val, self.device, self.cfg.eval_chars), {}

    def _eval_and_keep_best(self) -> float:
        st = self.state
        t0 = time.perf_counter()
        val, extra = self._validate()
        seconds = time.perf_counter() - t0
        st.eval_rate = self.val_chars() / max(seconds, 1e-6)
        st.history.append(
            {"step": st.step, "train": st.last_train_loss, "val": val, "seconds": st.train_seconds,
             **extra}
        )
        if val < st.best_val:
            st.best_val, st.best_step, st.evals_since_best = val, st.step, 0
            self.save("best.pt")
        else:
            st.evals_since_best += 1
        self.save("last.pt")  # a crash or power cut loses at most one evaluation period
        return val


def load_checkpoint(path: Path) -> dict:
    """Load a training checkpoint written by Trainer.save, with a one-line error otherwise."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise CorpusError(f"{path}: no such checkpoint") from None
    except Exception as exc:  # torch raises many types for a damaged file
        raise CorpusError(f"{path}: not a charmix checkpoint ({type(exc).__name__})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != 1 or "model" not in ckpt:
        raise CorpusError(f"{path}: not a charmix training checkpoint")
    return ckpt


def model_from_checkpoint(ckpt: dict) -> CharLSTM:
    model = CharLSTM(ModelConfig(**ckpt["model_config"]))
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model

