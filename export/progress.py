"""The training progress bar: steps, chars/s, train and val loss, ETA (rich)."""

from __future__ import annotations

import math
import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from charmix.export.train import TrainConfig, TrainState


class TrainProgress:
    """A context manager whose update(state, val) is the Trainer's progress callback.

    On a terminal it is a live bar; elsewhere (CI, nohup logs) it prints a line per evaluation.
    """

    def __init__(self, cfg: TrainConfig, state: TrainState):
        self.cfg = cfg
        self.console = Console(stderr=True)
        self.live = self.console.is_terminal
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>7} chars/s"),
            TextColumn(
                "train {task.fields[train]}  val {task.fields[val]}  best {task.fields[best]}"
            ),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            disable=not self.live,
        )
        self.task = self.progress.add_task(
            cfg.name,
            total=cfg.max_steps,
            completed=state.step,
            rate="-",
            train="-",
            val="-",
            best=_fmt(state.best_val),
        )
        self._t = time.perf_counter()
        self._step = state.step

    def __enter__(self) -> TrainProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def stop(self) -> None:
        self.progress.stop()

    def update(self, st: TrainState, val: float | None) -> None:
        now = time.perf_counter()
        fields: dict[str, str] = {"train": _fmt(st.last_train_loss), "best": _fmt(st.best_val)}
        if now - self._t >= 1.0 or val is not None:
            rate = (st.step - self._step) * self.cfg.batch * self.cfg.seq_len / (now - self._t)
            fields["rate"] = f"{rate:,.0f}"
            self._t, self._step = now, st.step
        if val is not None:
            fields["val"] = _fmt(val)
        self.progress.update(self.task, completed=st.step, **fields)
        if val is not None and not self.live:
            chars_s = st.train_chars / max(st.train_seconds, 1e-9)
            per_step = st.train_seconds / max(st.step, 1)
            eta = (self.cfg.max_steps - st.step) * per_step / 60
            self.console.print(
                f"{self.cfg.name} step {st.step}/{self.cfg.max_steps} "
                f"train {_fmt(st.last_train_loss)} "
                f"val {_fmt(val)} best {_fmt(st.best_val)} @ {st.best_step} "
                f"{chars_s:,.0f} chars/s {st.train_seconds / 60:.1f} min, "
                f"at most {eta:.1f} min to go",
                highlight=False,
            )


def _fmt(x: float) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.4f}"
