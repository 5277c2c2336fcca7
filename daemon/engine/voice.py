"""One voice of the engine: everything about a stream of text that is not the models' weights.

A daemon with `--voices K` steps every model once per character with a batch of K rows, one row
per voice (docs/model-format.md: the step graph's batch dimension B). What makes the K streams
independent lives here: each voice's sampler (its own seed and random generator), its smoothed
weights, its temperature cache, its current line and the recent text it was fed. The LSTM state of
voice k is row k of each model's h and c, owned by the model; the pending character of voice k is
entry k of the engine's token arrays.

A voice's random generator is always seeded with a concrete number (a random one when the user
gave none), so a recording can name the seed and a replay can start from it.
"""

from __future__ import annotations

import math
import secrets
from typing import Any

import numpy as np

from charmix.daemon import protocol
from charmix.daemon.engine import arithmetic

LINE_LIMIT = 256
CONTEXT_LIMIT = protocol.PRIME_MAX  # recent text kept, to prime other models in a replay
MIN_TEMPERATURE = 0.05
SETTLED = 1e-9  # a slewing weight this close to its target is snapped onto it


def normalise_weights(weights: np.ndarray) -> np.ndarray:
    """Weights whose positive part sums to 1 (anti-weights alike, at least −1: see
    charmix.daemon.engine.arithmetic); no positive weight (or anything unusable) → uniform."""
    return arithmetic.normalise(np.asarray(weights, dtype=np.float64))


def fresh_seed() -> int:
    """A random seed in the range /charmix/seed accepts."""
    return secrets.randbelow(protocol.SEED_MAX + 1)


class Voice:
    """The sampler, smoothed weights and text of one stream."""

    def __init__(self, index: int, n_models: int, weights: np.ndarray, seed: int | None) -> None:
        self.index = index
        self.weights = normalise_weights(weights)
        self.target = self.weights
        self.target_key = b""
        self.settled = False  # weights == target: nothing to slew until the target changes
        self.temp_key: tuple | None = None
        self.inv_temp = np.ones(n_models)
        self.line = ""
        self.context = ""  # the text since the last reset (its last CONTEXT_LIMIT characters)
        self.reseed(seed)

    def reseed(self, seed: int | None) -> None:
        self.seed = fresh_seed() if seed is None else int(seed)
        self.rng = np.random.default_rng(self.seed)

    def cleared(self) -> None:
        """After a reset: the next character follows a newline, as at the start."""
        self.line = ""
        self.context = ""

    def fed(self, text: str) -> None:
        """Text the models consumed for this voice (primed or generated)."""
        if text:
            self.line = (self.line + text).split("\n")[-1][-LINE_LIMIT:]
            self.context = (self.context + text)[-CONTEXT_LIMIT:]

    def wrote(self, ch: str) -> None:
        """One generated character: the line and context follow it (cheaper than `fed`)."""
        self.line = "" if ch == "\n" else (self.line + ch)[-LINE_LIMIT:]
        context = self.context + ch
        self.context = context if len(context) <= CONTEXT_LIMIT else context[-CONTEXT_LIMIT:]

    def inverse_temperatures(self, temperature: float, own: np.ndarray | None) -> np.ndarray:
        key = (temperature, None if own is None else np.asarray(own).tobytes())
        if key != self.temp_key:
            temps = np.full(self.inv_temp.size, max(temperature, MIN_TEMPERATURE))
            if own is not None:
                own = np.asarray(own, dtype=np.float64)
                temps = np.where(own > 0, np.maximum(own, MIN_TEMPERATURE), temps)
            self.temp_key, self.inv_temp = key, 1.0 / temps
        return self.inv_temp

    def slew(self, weights: np.ndarray, slew: float, dt: float) -> np.ndarray:
        """The effective weights after one step of exponential smoothing toward `weights`."""
        weights = np.asarray(weights, dtype=np.float64)
        key = weights.tobytes()
        if key != self.target_key:
            if weights.shape != self.weights.shape:
                return self.weights  # callers validate arity; never let a bad snapshot through
            self.target_key, self.target = key, normalise_weights(weights)
            self.settled = False
        if self.settled:  # at the target already: the usual case between gestures
            return self.weights
        if slew <= 0:
            alpha = 1.0  # no smoothing: straight to the target
        elif dt <= 0:
            alpha = 0.0
        else:
            alpha = 1.0 - math.exp(-dt / slew)
        if alpha > 0.0:
            glided = arithmetic.renormalise(self.weights + (self.target - self.weights) * alpha)
            self.weights = self.target.copy() if glided is None else glided
            if float(np.abs(self.weights - self.target).max()) < SETTLED:
                self.weights, self.settled = self.target.copy(), True
        return self.weights

    # -- state for recordings ---------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything a replay needs to continue this voice exactly (JSON-ready)."""
        return {
            "seed": self.seed,
            "rng": self.rng.bit_generator.state,
            "weights": self.weights.tolist(),
            "target": self.target.tolist(),
            "target_key": np.frombuffer(self.target_key, np.float64).tolist(),
            "settled": self.settled,
            "line": self.line,
            "context": self.context,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.reseed(int(state["seed"]))
        self.rng.bit_generator.state = state["rng"]
        self.weights = np.asarray(state["weights"], np.float64)
        self.target = np.asarray(state["target"], np.float64)
        self.target_key = np.asarray(state["target_key"], np.float64).tobytes()
        self.settled = bool(state["settled"])
        self.line = str(state["line"])
        self.context = str(state["context"])
