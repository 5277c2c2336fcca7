"""What the daemon checks before it plays: the models, the starting weights, the destinations.

Everything the user can fix ends in a StartupError whose str() is the one line to show them (a
missing or bad model, two models with one name, weights that name no model, an address that
does not resolve), so `charmix daemon` never greets a performer with a traceback.
"""

from __future__ import annotations

import logging
import os
import time

import numpy as np

from charmix.daemon import protocol
from charmix.daemon.engine.model import StepModel, default_models, load_model
from charmix.daemon.engine.modelformat import ModelError, resolve_model, shipped_models_dir
from charmix.daemon.engine.styles import expand
from charmix.daemon.live.broadcast import Destination
from charmix.daemon.protocol.endpoint import ConfigError, Endpoint
from charmix.daemon.runtime.config import Config

OSC_SPECIAL = set(" #*,/?[]{}")  # characters with a meaning in OSC address patterns
# How the models call onnxruntime (charmix.daemon.engine.model.StepModel): "bound" (the default:
# buffers bound once, ~10 µs a model faster) or "run" (session.run per call, the path before issue
# #23; the same text). An override is said in one line at start-up, never silently taken.
STEP_PATH_ENV = "CHARMIX_STEP_PATH"
STEP_PATHS = ("bound", "run")
PER_MODEL_INPUT = next(a for a in protocol.INPUT if a.per_model)  # for the example in a warning


class StartupError(Exception):
    """Something stops the daemon from starting; str() is the one line to show the user."""


def load_models(cfg: Config, log: logging.Logger) -> list[StepModel]:
    """The configured models (or every ordinary model in the folder: the shipped six), loaded,
    with each style-conditioned one expanded into its styles (charmix.daemon.engine.styles); names
    must differ."""
    try:
        if cfg.models:
            paths = [resolve_model(spec, cfg.models_dir) for spec in cfg.models]
            models = [load_model(path) for path in paths]
        else:
            models, notes = default_models(cfg.models_dir)
            for note in notes:
                log.info("%s", note)
            if not models:
                where = cfg.models_dir or shipped_models_dir()
                raise StartupError(f"no .onnx models in {where} (give --model or --models-dir)")
        step_path(models, log)
        models = expand(models, cfg.style_mode)
    except ModelError as exc:
        raise StartupError(str(exc)) from None
    names = [m.name for m in models]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise StartupError(f"two models are named {', '.join(duplicates)}; names must differ")
    for name in names:
        odd = sorted(set(name) & OSC_SPECIAL)
        if odd:
            log.warning(
                "model name %r contains %s: its per-model OSC addresses (e.g. %s) may not be "
                "reachable from every OSC sender; consider renaming the model", name,
                " ".join(repr(c) for c in odd), PER_MODEL_INPUT.for_model(name),
            )
    return models


def initial_weights(cfg: Config, names: list[str]) -> list[float] | None:
    """--weights in model order (None: equal), or a StartupError naming what does not fit."""
    weights = cfg.weights
    if weights is None:
        return None
    if isinstance(weights, dict):
        unknown = [name for name in weights if name not in names]
        if unknown:
            raise StartupError(f"weights: unknown model {unknown[0]!r} (have: {', '.join(names)})")
        return [weights.get(name, 0.0) for name in names]
    if len(weights) != len(names):
        raise StartupError(
            f"weights: {len(weights)} values for {len(names)} models ({', '.join(names)})"
        )
    return list(weights)


def destination(endpoint: Endpoint) -> Destination:
    """A --send endpoint, resolved once at start."""
    try:
        family, sockaddr = endpoint.resolve()
    except ConfigError as exc:
        raise StartupError(f"--send {exc}") from None
    return Destination(str(endpoint), family, sockaddr)


def step_path(models: list[StepModel], log: logging.Logger) -> None:
    """Apply $CHARMIX_STEP_PATH (for a comparison, or a machine where binding misbehaves)."""
    wanted = os.environ.get(STEP_PATH_ENV, "").strip().lower()
    if not wanted:
        return
    if wanted not in STEP_PATHS:
        log.warning("%s=%s is not one of %s: ignored", STEP_PATH_ENV, wanted, ", ".join(STEP_PATHS))
        return
    for m in models:
        m.bound = wanted == "bound" and getattr(m, "bindable", False)
    log.info("models step through %s (%s=%s)",
             "onnxruntime's session.run per call" if wanted == "run" else "bound buffers",
             STEP_PATH_ENV, wanted)


def measured(models: list[StepModel], chars: int = 15) -> str:
    """What a character of the loaded models costs on this CPU, measured now (median of `chars`
    characters, ~10 ms with the shipped six), with the weights and the step path, for the
    banner: a slow path (float32 where 8-bit is faster, `session.run`) is said at start, not
    found in a benchmark later. Call it before the clock runs; each model's state is put back,
    so the text is not touched. A style (charmix.daemon.engine.styles) is measured as its
    conditioned model, once."""
    unique: dict[int, StepModel] = {}
    for m in models:
        group = getattr(m, "group", None)  # a StyleSource: its group's one model
        model = group.model if group is not None else m
        unique.setdefault(id(model), model)
    steppers = list(unique.values())
    saved = [(m.h, m.c) for m in steppers]
    tokens = [np.zeros(h.shape[1], np.int64) for h, _ in saved]
    try:
        times = []
        for _ in range(chars + 3):
            t = time.perf_counter()
            for m, token in zip(steppers, tokens, strict=True):
                m.step(token)
            times.append(time.perf_counter() - t)
    finally:
        for m, (h, c) in zip(steppers, saved, strict=True):
            m.h, m.c = h, c
    us = float(np.median(times[3:])) * 1e6
    weights = ", ".join(sorted({m.info.weights for m in steppers}))
    paths = sorted({"bound buffers" if m.bound else "session.run" for m in steppers})
    return (f"{us:,.0f} µs a character on this CPU for {len(steppers)} model"
            f"{'s' if len(steppers) != 1 else ''} ({weights} weights; {', '.join(paths)})")
