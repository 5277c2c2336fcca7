"""The mixing engine: step every model, mix their distributions, sample, attribute, feed back.

One `Engine.step` is pure computation on numpy arrays plus the onnxruntime sessions — no sockets,
no sleeps, no logging — and returns a `Frame`, from which everything sent or shown is derived.

Per step, for models i = 1..N with target weights w and temperature T:

* p_i = softmax(logits_i / T_i) over the model's vocabulary, placed into the union vocabulary
  (zero where the model lacks a character). T_i is the model's override, else the global T.
* effective weights: the target, normalised to sum 1 (all zero → uniform), approached with
  exponential smoothing of time constant `slew`: w ← w + (target − w)(1 − e^(−dt/slew)).
* ``linear``:    p_mix = Σ w_i p_i  (the paper's mixture; weights already sum to 1).
  ``geometric``: p_mix ∝ Π max(p_i, 1e-6)^w_i  (product of experts). The floor keeps a character
  one model lacks possible, but penalised by that model's weight: a model at weight 0.5 that lacks
  a character multiplies its probability by 1e-3 relative to the others.
* top-k then top-p (nucleus) on p_mix, renormalised; sample c from p_mix.
* attribution r_i = w_i p_i(c) / Σ_j w_j p_j(c): the share of the sampled character each model
  contributed. In geometric mode the same formula is used — there it reads as "how much each
  expert, at its weight, vouched for c", not as a literal share of p_mix.
* entropy H_i of each p_i in bits (after temperature).
* c is fed to every model (by the rule in charmix.daemon.vocab if a model lacks it).

Stepping the models is split from the rest so that it can run *ahead*: the models' logits for the
next character depend only on the text so far, not on the weights, temperature or mode, so
`advance()` computes them as soon as a character has been sampled, and the next `step` only mixes
and samples (~40 µs instead of ~0.3–1 ms with six models). The daemon calls `advance()` right
after sending each frame; a tick or a weights change then reaches the next character without
waiting for the models. `step` advances by itself if nobody did, so the text is the same either
way (same seed, same settings → same characters).

A style-conditioned model enters as S sources, one per style (charmix.daemon.styles): to the
Engine they are models like the others, except that after each step it hands their group the
weights it applied (the mixed-style row of the next call), and that in `embedding` mode the
group's S pure distributions are replaced, for the mix only, by its blended row at the group's
total weight. p_models, the attribution and the entropies are always the pure rows'.

The Engine is not thread-safe: one thread (the clock) calls it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from charmix.daemon.model import StepModel
from charmix.daemon.protocol import MODES
from charmix.daemon.styles import blended, groups
from charmix.daemon.vocab import VocabMap, union_vocab

GEOMETRIC_FLOOR = 1e-6
LN2 = math.log(2.0)
LINE_LIMIT = 256
MIN_TEMPERATURE = 0.05
SETTLED = 1e-9  # a slewing weight this close to its target is snapped onto it


@dataclass
class Settings:
    """One snapshot of the live controls, read by Engine.step."""

    weights: np.ndarray
    temperature: float = 0.8
    model_temperature: np.ndarray | None = None
    mode: str = "linear"
    topk: int = 0
    topp: float = 1.0
    slew: float = 0.05


@dataclass
class Frame:
    """Everything one step produced."""

    step: int
    char: str
    index: int
    p_mix: np.ndarray
    p_models: np.ndarray
    weights: np.ndarray
    attribution: np.ndarray
    entropy: np.ndarray
    line: str


def normalise_weights(weights: np.ndarray) -> np.ndarray:
    """Weights summing to 1; all zero (or anything unusable) → uniform."""
    w = np.where(np.isfinite(weights) & (weights > 0), weights, 0.0).astype(np.float64)
    top = w.max(initial=0.0)
    if top <= 0.0:
        return np.full(w.shape, 1.0 / w.size)
    w /= top  # first, so that huge finite weights (1e308 each) cannot overflow the sum
    return w / w.sum()


def softmax_entropy(logits: np.ndarray, inv_temp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise p = softmax(logits / T) and its entropy in bits, sharing the exponentials.

    With z = logits / T − max and s = Σ e^z: log p = z − log s, so H = log s − Σ p z.
    """
    z = logits * inv_temp[:, None]
    z -= z.max(axis=1, keepdims=True)
    # A model that masks characters with -inf logits: p is 0 there either way, and the floor
    # keeps 0 * -inf from turning the entropy into NaN.
    np.maximum(z, -1e4, out=z)
    p = np.exp(z)
    total = p.sum(axis=1)
    p /= total[:, None]
    return p, (np.log(total) - (p * z).sum(axis=1)) / LN2


def mix(p: np.ndarray, w: np.ndarray, mode: str) -> np.ndarray:
    """p [N, V] rows summing to 1, w [N] summing to 1 → p_mix [V]."""
    if mode == "geometric":
        active = w > 0
        logp = w[active] @ np.log(np.maximum(p[active], GEOMETRIC_FLOOR))
        logp -= logp.max()
        out = np.exp(logp)
    else:
        out = w @ p
    return out / out.sum()


def truncate(p: np.ndarray, topk: int, topp: float) -> np.ndarray:
    """Top-k, then top-p (the smallest set of most likely characters with mass >= topp)."""
    if topk > 0 and topk < p.size:
        keep = np.argpartition(p, -topk)[-topk:]  # exactly k, even when probabilities tie
        q = np.zeros_like(p)
        q[keep] = p[keep]
        p = q / q.sum()
    if 0.0 < topp < 1.0:
        order = np.argsort(p)[::-1]
        cum = np.cumsum(p[order])
        keep = order[: int(np.searchsorted(cum, topp)) + 1]
        q = np.zeros_like(p)
        q[keep] = p[keep]
        p = q / q.sum()
    return p


class Engine:
    """Runs N step models as one instrument."""

    def __init__(
        self,
        models: Sequence[StepModel],
        seed: int | None = None,
        weights: Sequence[float] | None = None,
    ):
        if not models:
            raise ValueError("the engine needs at least one model")
        self.models = list(models)
        self.names = [m.name for m in self.models]
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"model names must be distinct: {', '.join(self.names)}")
        self.vocab = union_vocab([m.vocab for m in self.models])
        self.maps = [VocabMap(m.vocab, self.vocab) for m in self.models]
        self._shared = all(vm.identity for vm in self.maps)
        self._index = {ch: i for i, ch in enumerate(self.vocab)}
        n = len(self.models)
        initial = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
        if initial.shape != (n,):
            raise ValueError(f"{initial.size} initial weights for {n} models")
        self.weights = normalise_weights(initial)
        self._tokens = [np.zeros(1, np.int64) for _ in self.models]
        self.step_count = 0
        self._logits = np.zeros((n, len(self.vocab)), np.float32)  # shared vocabulary
        self._own_logits: list[np.ndarray] = [np.zeros((1, len(m.vocab))) for m in self.models]
        self._advanced = 0  # how many models have consumed the pending character (in order)
        self._temp_key: tuple | None = None
        self._inv_temp = np.ones(n)
        self._target_key = b""
        self._target = self.weights
        self._settled = False  # weights == target: nothing to slew until the target changes
        # Style-conditioned models (charmix.daemon.styles): their sources need the weights,
        # and those in embedding mode sample from their blended row.
        self._groups = groups(self.models)
        self._scatter = [None if self._shared else vm.scatter for vm in self.maps]
        self.reseed(seed)
        self.reset()

    # -- state ----------------------------------------------------------------------------
    def reset(self) -> None:
        """Zero every model's state; the next character follows a newline, as at the start.

        The step counter keeps counting: receivers use it to order frames.
        """
        for m in self.models:
            m.reset(1)
        self._set_pending("\n")
        self.line = ""

    def reseed(self, seed: int | None) -> None:
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def _set_pending(self, ch: str) -> None:
        u = self._index.get(ch)
        for tok, vm in zip(self._tokens, self.maps, strict=True):
            tok[0] = vm.feed[u] if u is not None else vm.token_for(ch)
        self._advanced = 0

    @property
    def ready(self) -> bool:
        """Every model has consumed the pending character: the next `step` only mixes."""
        return self._advanced == len(self.models)

    def advance(self) -> None:
        """Step every model on the pending character, keeping their logits for the next `step`.

        Does nothing if that was already done. This is the expensive part of a character; the
        daemon calls it right after a frame is sent, so that it is off the path from a tick or a
        weights message to the next character. If a model raises, the ones before it have moved
        on and are not stepped again: the next call resumes at the model that failed.
        """
        while self._advanced < len(self.models):
            i = self._advanced
            logits = self.models[i].step(self._tokens[i])
            if self._shared:
                self._logits[i] = logits[0]
            else:
                self._own_logits[i] = logits
            self._advanced += 1

    def prime(self, text: str) -> None:
        """Feed text to every model without producing output; the stream continues from it."""
        for ch in text:
            self.advance()  # the models consume the pending character...
            self._set_pending(ch)  # ...and ch becomes the next one
        if text:
            self.line = (self.line + text).split("\n")[-1][-LINE_LIMIT:]

    @property
    def vocab_index(self) -> dict[str, int]:
        """character -> index in the union vocabulary (for charmix.daemon.priming)."""
        return self._index

    def primed(self, pending: str, text: str) -> None:
        """The models' states were primed elsewhere (charmix.daemon.priming) with everything up
        to `pending`, the prime's last character, which the next step feeds."""
        self._set_pending(pending)
        self.line = (self.line + text).split("\n")[-1][-LINE_LIMIT:]

    # -- the step -------------------------------------------------------------------------
    def _inverse_temperatures(self, settings: Settings) -> np.ndarray:
        own = settings.model_temperature
        key = (settings.temperature, None if own is None else np.asarray(own).tobytes())
        if key != self._temp_key:
            temps = np.full(len(self.models), max(settings.temperature, MIN_TEMPERATURE))
            if own is not None:
                own = np.asarray(own, dtype=np.float64)
                temps = np.where(own > 0, np.maximum(own, MIN_TEMPERATURE), temps)
            self._temp_key, self._inv_temp = key, 1.0 / temps
        return self._inv_temp

    def _distributions(self, settings: Settings) -> tuple[np.ndarray, np.ndarray]:
        """The models' current logits → (p_i over the union [N, V], entropies [N])."""
        self.advance()
        inv_temp = self._inverse_temperatures(settings)
        if self._shared:
            return softmax_entropy(self._logits, inv_temp)
        p = np.zeros((len(self.models), len(self.vocab)))
        entropy = np.zeros(len(self.models))
        for i, (logits, vm) in enumerate(zip(self._own_logits, self.maps, strict=True)):
            row, h = softmax_entropy(logits, inv_temp[i : i + 1])
            p[i, vm.scatter] = row[0]
            entropy[i] = h[0]
        return p, entropy

    def _slew(self, settings: Settings, dt: float) -> np.ndarray:
        weights = np.asarray(settings.weights, dtype=np.float64)
        key = weights.tobytes()
        if key != self._target_key:
            if weights.shape != self.weights.shape:
                return self.weights  # callers validate arity; never let a bad snapshot through
            self._target_key, self._target = key, normalise_weights(weights)
            self._settled = False
        if self._settled:  # at the target already: the usual case between gestures
            return self.weights
        if settings.slew <= 0 or dt <= 0:
            alpha = 1.0 if settings.slew <= 0 else 0.0
        else:
            alpha = 1.0 - math.exp(-dt / settings.slew)
        if alpha > 0.0:
            self.weights = self.weights + (self._target - self.weights) * alpha
            self.weights /= self.weights.sum()
            if float(np.abs(self.weights - self._target).max()) < SETTLED:
                self.weights, self._settled = self._target.copy(), True
        return self.weights

    def step(self, settings: Settings, dt: float) -> Frame:
        """Generate one character."""
        p, entropy = self._distributions(settings)
        w = self._slew(settings, dt)
        mode = settings.mode if settings.mode in MODES else "linear"
        p_in, w_in = p, w
        if self._groups:
            p_k, w_k = blended(p[None], w[None], self._groups, self._inv_temp[None], self._scatter)
            p_in, w_in = p_k[0], w_k[0]
            for idx, group in self._groups:
                group.set_weights(w[idx])  # the mixed row of the next call
        p_mix = truncate(mix(p_in, w_in, mode), settings.topk, settings.topp)
        cdf = np.cumsum(p_mix)
        c = int(np.searchsorted(cdf, self.rng.random() * cdf[-1], side="right"))
        c = min(c, len(self.vocab) - 1)
        while p_mix[c] <= 0.0:  # float edge: never emit a zero-probability character
            c -= 1
        contrib = w * p[:, c]
        total = contrib.sum()
        attribution = contrib / total if total > 0 else w.copy()
        ch = self.vocab[c]
        self._set_pending(ch)
        self.line = "" if ch == "\n" else (self.line + ch)[-LINE_LIMIT:]
        frame = Frame(
            step=self.step_count,
            char=ch,
            index=c,
            p_mix=p_mix.astype(np.float32),
            p_models=p.astype(np.float32),
            weights=w.astype(np.float32),
            attribution=attribution.astype(np.float32),
            entropy=entropy.astype(np.float32),
            line=self.line,
        )
        self.step_count += 1
        return frame

    def generate(self, settings: Settings, n: int, dt: float = 0.0) -> str:
        """n characters as fast as possible (offline use: `charmix sample`, benchmarks)."""
        return "".join(self.step(settings, dt).char for _ in range(n))
