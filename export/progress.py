"""The training progress bar: steps, chars/s, train and val loss, elapsed time and ETA (rich).

With a time budget the bar counts toward the budget (it fills with the wall time spent, and the
ETA is what is left of it); without one it counts steps. Elapsed time is the run's, so after
`--resume` it continues from where the checkpoint left off.
"""

from __future__ import annotations

import math
import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from charmix.export.train import Trainer, TrainState


def clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class TrainProgress:
    """A context manager whose update(state, val) is the Trainer's progress callback.

    On a terminal it is a live bar; elsewhere (CI, nohup logs) it prints a line per evaluation.
    """

    def __init__(self, trainer: Trainer):
        self.trainer = trainer
        self.cfg = cfg = trainer.cfg
        state = trainer.state
        self.console = Console(stderr=True)
        self.live = self.console.is_terminal
        self.budget = cfg.max_time
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.fields[count]}"),
            TextColumn("{task.fields[rate]:>7} chars/s"),
            TextColumn(
                "train {task.fields[train]}  val {task.fields[val]}  best {task.fields[best]}"
            ),
            TextColumn("{task.fields[elapsed]}  ETA {task.fields[eta]}"),
            console=self.console,
            disable=not self.live,
        )
        self.task = self.progress.add_task(
            cfg.name,
            total=self.budget if self.budget else cfg.max_steps,
            completed=self._completed(state),
            count=self._count(state),
            rate="-",
            train="-",
            val="-",
            best=_fmt(state.best_val),
            elapsed=clock(state.elapsed),
            eta="-",
        )
        self._t = time.perf_counter()
        self._step = state.step

    def _completed(self, st: TrainState) -> float:
        return st.elapsed if self.budget else st.step

    def _count(self, st: TrainState) -> str:
        if self.budget:
            return f"step {st.step}"
        return f"{st.step}/{self.cfg.max_steps}"

    def eta(self, st: TrainState) -> float:
        """Seconds left: of the budget (training, final evaluation and export), or, without one,
        the remaining steps at the speed so far (an upper bound: patience may stop it sooner)."""
        if self.budget:
            return max(0.0, self.budget - st.elapsed)
        per_step = st.elapsed / max(st.step, 1)
        return (self.cfg.max_steps - st.step) * per_step + self.trainer.reserve()

    def __enter__(self) -> TrainProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def stop(self) -> None:
        self.progress.stop()

    def update(self, st: TrainState, val: float | None) -> None:
        now = time.perf_counter()
        fields: dict[str, str] = {
            "train": _fmt(st.last_train_loss),
            "best": _fmt(st.best_val),
            "count": self._count(st),
            "elapsed": clock(st.elapsed),
            "eta": clock(self.eta(st)),
        }
        if now - self._t >= 1.0 or val is not None:
            rate = (st.step - self._step) * self.cfg.batch * self.cfg.seq_len / (now - self._t)
            fields["rate"] = f"{rate:,.0f}"
            self._t, self._step = now, st.step
        if val is not None:
            fields["val"] = _fmt(val)
        self.progress.update(self.task, completed=self._completed(st), **fields)
        if val is not None and not self.live:
            chars_s = st.train_chars / max(st.train_seconds, 1e-9)
            lr = self.trainer.opt.param_groups[0]["lr"]
            styles = st.history[-1].get("styles") if st.history else None
            extra = (" (" + " ".join(f"{k} {v:.3f}" for k, v in styles.items()) + ")"
                     if styles else "")
            steps = f"{st.step}" if self.budget else f"{st.step}/{self.cfg.max_steps}"
            self.console.print(
                f"{self.cfg.name} step {steps} "
                f"train {_fmt(st.last_train_loss)} "
                f"val {_fmt(val)} best {_fmt(st.best_val)} @ {st.best_step}{extra} "
                f"lr {lr:.2e} {chars_s:,.0f} chars/s, elapsed {clock(st.elapsed)}, "
                f"{'left' if self.budget else 'at most'} {clock(self.eta(st))}",
                highlight=False,
                soft_wrap=True,
            )


def _fmt(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.4f}"
