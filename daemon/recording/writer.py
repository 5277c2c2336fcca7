"""Recording a performance: the models, the starting state and every change, step by step.

A performance file is JSON lines, appended and flushed as the daemon plays, so it can be read
after a crash (a reader ignores a cut-off last line, with a note). Its lines, by their "k":

* ``header`` — format and version, the models (name, file, sha256, size), the vocabulary, the
  number of voices, each voice's seed and starting settings, the clock rate, and the engine's
  exact state (`Engine.state()`: each model's LSTM state and last logits, each voice's sampler):
  a recording started mid-performance replays exactly from where it began.
* ``set`` — one voice's settings from this step on (``s``: the step where they took effect).
* ``cmd`` — a prime, reset or seed, applied before step ``s`` (in file order). A prime is fed
  between steps while the voice plays on (charmix.daemon.engine.priming): ``prime`` is where it
  began, ``primed`` the step before which the primed state was adopted.
* ``step`` — one step: ``s``, ``t`` (seconds since the recording began, for --realtime and
  subtitles), ``dt`` (the slew interval the engine was given), each voice's character ``c``
  and attribution ``a``, and the effective weights ``w`` when they changed.
* ``end`` — a clean stop (absent after a crash).

Steps, not wall-clock time, are what a replay follows: the same seed, state and settings at the
same steps give the same text (charmix.daemon.tools.replay).

The clock thread only appends references to a deque (`step`: ~1 µs); the writer thread compares
settings, encodes JSON, writes and flushes every FLUSH_EVERY seconds. A full disk or an unwritable
file is one warning: the recording stops, the music does not. If the writer falls behind by
BACKLOG_MAX steps, new events are dropped and counted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from charmix.daemon import protocol

if TYPE_CHECKING:  # the engine imports onnxruntime; `charmix replay --help` must not
    from charmix.daemon.engine.mixer import Engine, Frame, Settings

FORMAT = "charmix-performance"
VERSION = 1
FLUSH_EVERY = 0.2  # s between writes: a crash loses at most this much
FSYNC_EVERY = 5.0  # s between fsyncs: a power cut loses at most this much
BACKLOG_MAX = 100_000  # events waiting for the writer before new ones are dropped
DIGITS = 4  # decimals kept of attributions and weights (checking and plots, not replay)


class RecordError(OSError):
    """A recording could not be started; str() is one line for the user."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def settings_dict(settings: Settings, constraints: bool = True) -> dict[str, Any]:
    """Settings as JSON values (arrays as lists of floats, exact). Constraints as their spec
    (terms, charset, fold: a replay rebuilds the same ones); `constraints` False leaves the key
    out, meaning "as before" (a list of 2,000 terms is not repeated at every weights change)."""
    out = asdict(replace(settings, constraints=None))  # asdict would copy their tables
    if constraints:
        c = settings.constraints
        out["constraints"] = c.spec() if c is not None else None
    else:
        del out["constraints"]
    out["weights"] = np.asarray(settings.weights, np.float64).tolist()
    if settings.model_temperature is not None:
        out["model_temperature"] = np.asarray(settings.model_temperature, np.float64).tolist()
    return out


def settings_from(values: dict[str, Any], previous: Settings | None = None) -> Settings:
    """Settings from `settings_dict`; without a "constraints" key, `previous`'s constraints."""
    from charmix.daemon.engine.constraints import Constraints
    from charmix.daemon.engine.mixer import Settings

    own = values.get("model_temperature")
    if "constraints" in values:
        spec = values["constraints"]
        constraints = Constraints.from_spec(spec) if spec else None  # one object per spec
    else:
        constraints = previous.constraints if previous is not None else None
    return Settings(
        constraints=constraints,
        weights=np.asarray(values["weights"], np.float64),
        temperature=float(values["temperature"]),
        model_temperature=None if own is None else np.asarray(own, np.float64),
        mode=str(values["mode"]),
        topk=int(values["topk"]),
        topp=float(values["topp"]),
        slew=float(values["slew"]),
        beta=float(values.get("beta", protocol.BETA_DEFAULT)),  # older recordings: the default
    )


def _same(a: Settings, b: Settings) -> bool:
    return (
        a.temperature == b.temperature and a.mode == b.mode and a.topk == b.topk
        and a.topp == b.topp and a.slew == b.slew and a.beta == b.beta
        and (a.constraints is b.constraints or a.constraints == b.constraints)
        and np.array_equal(a.weights, b.weights)
        and np.array_equal(
            np.asarray(a.model_temperature if a.model_temperature is not None else []),
            np.asarray(b.model_temperature if b.model_temperature is not None else []),
        )
    )


def _file(model: object) -> str | None:
    """The model's file as an absolute path (a replay may run from another folder)."""
    info = getattr(model, "info", None)
    return str(Path(info.path).resolve()) if info is not None else None


def header(engine: Engine, settings: Sequence[Settings], rate: float) -> dict[str, Any]:
    """The header line (without the models' sha256, which the writer thread adds: hashing a
    model file takes milliseconds and the clock must not wait for it)."""
    return {
        "k": "header",
        "format": FORMAT,
        "version": VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "models": [{"name": m.name, "file": _file(m)} for m in engine.models],
        "vocab": "".join(engine.vocab),
        "voices": engine.n_voices,
        "seeds": [v.seed for v in engine.voices],
        "settings": [settings_dict(s) for s in settings],
        "rate": rate,
        "state": engine.state(),
    }


class Recorder:
    """One performance file being written. Methods marked (clock) are cheap and never raise."""

    def __init__(self, path: Path, log: logging.Logger, *, exclusive: bool = True) -> None:
        """Create `path` (never an existing file unless exclusive=False: tests use /dev/full)."""
        self.path = Path(path)
        self.log = log
        self.dropped = 0
        self.failed: str | None = None
        self.steps = 0
        self._events: deque[tuple] = deque()
        self._wake = threading.Event()
        self._closing = False
        self._t0 = time.perf_counter()
        self._last: list[Settings | None] = []
        self._last_weights: list[np.ndarray | None] = []
        if exclusive and self.path.exists():
            raise RecordError(f"{self.path} exists; a recording never overwrites a take")
        try:
            # 'x': create, never truncate or append to an older take.
            self._file = open(self.path, "x" if exclusive else "a", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise RecordError(f"cannot record to {self.path}: {exc.strerror or exc}") from None
        self._thread = threading.Thread(target=self._run, name="charmix-record", daemon=True)
        self._thread.start()

    # -------------------------------------------------------------- clock-thread side
    def begin(self, engine: Engine, settings: Sequence[Settings], rate: float) -> None:
        """(clock) The header: the engine's state now, between two steps."""
        self._t0 = time.perf_counter()
        self._last = [None] * engine.n_voices
        self._last_weights = [None] * engine.n_voices
        paths = [getattr(m, "info", None) and m.info.path for m in engine.models]
        self._put(("header", header(engine, settings, rate), paths, list(settings)))

    def step(self, step: int, dt: float, settings: Sequence[Settings],
             frames: Sequence[Frame]) -> None:
        """(clock) One step: the settings it used and the frames it made (references only)."""
        self._put(("step", step, time.perf_counter() - self._t0, dt, settings, frames))

    def command(self, step: int, voice: int, kind: str, text: str = "", seed: int = 0) -> None:
        """(clock) A prime, reset or seed applied to `voice` before step `step`."""
        self._put(("cmd", step, voice, kind, text, seed))

    def _put(self, event: tuple) -> None:
        if self.failed is not None or self._closing:
            return
        if len(self._events) >= BACKLOG_MAX:
            self.dropped += 1
            return
        self._events.append(event)

    def close(self, timeout: float = 2.0) -> None:
        """Write what is queued, an end line, and close the file; wait up to `timeout` for the
        writer (0: don't wait — from the clock thread, which must not wait for a disk)."""
        if not self._closing:
            self._events.append(("end",))
            self._closing = True
            self._wake.set()
        if timeout > 0:
            self._thread.join(timeout)

    # --------------------------------------------------------------------- writer side
    def _run(self) -> None:
        last_sync = time.monotonic()
        while True:
            self._wake.wait(FLUSH_EVERY)
            self._wake.clear()
            lines: list[str] = []
            ended = False
            while self._events:
                event = self._events.popleft()
                if event[0] == "end":
                    ended = True
                    lines.append(json.dumps({"k": "end", "steps": self.steps,
                                             "dropped": self.dropped}))
                    break
                lines.extend(self._encode(event))
                time.sleep(0)  # let the clock thread have the GIL between steps' encoding
            if lines and self.failed is None:
                self._write("".join(line + "\n" for line in lines))
                if self.failed is None and time.monotonic() - last_sync >= FSYNC_EVERY:
                    last_sync = time.monotonic()
                    with contextlib.suppress(OSError):
                        os.fsync(self._file.fileno())
            if ended or (self._closing and not self._events):
                with contextlib.suppress(OSError):
                    self._file.flush()
                    os.fsync(self._file.fileno())
                with contextlib.suppress(OSError):
                    self._file.close()
                return

    def _write(self, data: str) -> None:
        try:
            self._file.write(data)
            self._file.flush()
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            self.failed = reason
            self._events.clear()
            self.log.warning("recording to %s stopped: %s (the music goes on)", self.path, reason)

    def _encode(self, event: tuple) -> list[str]:
        kind = event[0]
        if kind == "header":
            _, head, paths, settings = event
            for entry, path in zip(head["models"], paths, strict=True):
                if path is not None:
                    try:
                        entry["sha256"] = sha256(Path(path))
                        entry["size"] = Path(path).stat().st_size
                    except OSError:
                        entry["sha256"] = None
            self._last = list(settings)
            return [json.dumps(head, ensure_ascii=False)]
        if kind == "cmd":
            _, step, voice, what, text, seed = event
            out: dict[str, Any] = {"k": "cmd", "s": step, "v": voice, "cmd": what}
            if what == "prime":
                out["text"] = text
            elif what == "seed":
                out["seed"] = seed
            return [json.dumps(out, ensure_ascii=False)]
        _, step, t, dt, settings, frames = event
        lines = []
        for v, s in enumerate(settings):
            last = self._last[v] if v < len(self._last) else None
            if last is None or not _same(last, s):
                kept = last is not None and last.constraints is s.constraints
                lines.append(json.dumps({"k": "set", "s": step, "v": v,
                                         "settings": settings_dict(s, not kept)}))
                if v < len(self._last):
                    self._last[v] = s
        record: dict[str, Any] = {
            "k": "step", "s": step, "t": round(t, 6), "dt": dt,
            "c": [f.char for f in frames],
            "a": [np.round(f.attribution.astype(np.float64), DIGITS).tolist() for f in frames],
        }
        changed = False
        for v, f in enumerate(frames):
            last_w = self._last_weights[v] if v < len(self._last_weights) else None
            if last_w is None or not np.array_equal(last_w, f.weights):
                changed = True
                if v < len(self._last_weights):
                    self._last_weights[v] = f.weights
        if changed:
            record["w"] = [np.round(f.weights.astype(np.float64), DIGITS).tolist() for f in frames]
        self.steps += 1
        lines.append(json.dumps(record, ensure_ascii=False))
        return lines
