"""The mixing engine: step every model, mix their distributions, sample, attribute, feed back.

One `Engine.step` is pure computation on numpy arrays plus the onnxruntime sessions — no sockets,
no sleeps, no logging — and returns a `Frame`, from which everything sent or shown is derived.

Per step, for models i = 1..N with target weights w and temperature T:

* p_i = softmax(logits_i / T_i) over the model's vocabulary, placed into the union vocabulary
  (zero where the model lacks a character). T_i is the model's override, else the global T.
* effective weights: the target, normalised (all zero → uniform), approached with
  exponential smoothing of time constant `slew`: w ← w + (target − w)(1 − e^(−dt/slew)).
  Weights may be negative (anti-experts, charmix.daemon.engine.arithmetic): the positive part
  sums to 1, anti-weights keep their ratio to it (at least −1).
* ``linear``:    p_mix = Σ w_i p_i  (the paper's mixture; weights already sum to 1). A negative
  weight plays as 0 here (and is reported as 0).
  ``geometric``: p_mix ∝ Π max(p_i, 1e-6)^w_i  (product of experts). The floor keeps a character
  one model lacks possible, but penalised by that model's weight: a model at weight 0.5 that lacks
  a character multiplies its probability by 1e-3 relative to the others. With anti-experts
  (w_i < 0) only the characters the experts' product finds plausible (>= β × its best) are kept.
* top-k then top-p (nucleus) on p_mix, renormalised; then a voice's constraints (blocklist,
  charset: charmix.daemon.engine.constraints) zero what it may not write, renormalised; sample c
  from p_mix. With no constraints nothing of this changes (the same text for the same seed).
* attribution r_i = w_i p_i(c) / Σ_j |w_j| p_j(c): the share of the sampled character each model
  contributed (with non-negative weights Σ_j w_j p_j(c), shares summing to 1; an anti-expert's
  share is negative: how loudly it spoke against c). In geometric mode the same formula is used —
  there it reads as "how much each expert, at its weight, vouched for c", not as a literal share
  of p_mix.
* entropy H_i of each p_i in bits (after temperature).
* c is fed to every model (by the rule in charmix.daemon.engine.vocab if a model lacks it).

Stepping the models is split from the rest so that it can run *ahead*: the models' logits for the
next character depend only on the text so far, not on the weights, temperature or mode, so
`advance()` computes them as soon as a character has been sampled, and the next `step` only mixes
and samples (~40 µs instead of ~0.3–1 ms with six models). The daemon calls `advance()` right
after sending each frame; a tick or a weights change then reaches the next character without
waiting for the models. `step` advances by itself if nobody did, so the text is the same either
way (same seed, same settings → same characters).

With `voices=K` the engine runs K independent streams (charmix.daemon.engine.voice) in one pass:
each model is stepped once per character with a batch of K rows, one per voice, and each voice mixes
and samples with its own settings, seed and weights. Priming or resetting one voice steps its row
alone. `state()` and `restore()` capture everything a recording needs to continue exactly.

The Engine is not thread-safe: one thread (the clock) calls it.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from charmix.daemon.engine import arithmetic
from charmix.daemon.engine.constraints import Constraints, Guards
from charmix.daemon.engine.model import StepModel
from charmix.daemon.engine.styles import blended, groups
from charmix.daemon.engine.vocab import VocabMap, union_vocab
from charmix.daemon.engine.voice import Voice

GEOMETRIC_FLOOR = arithmetic.GEOMETRIC_FLOOR
LN2 = math.log(2.0)


@dataclass
class Settings:
    """One snapshot of the live controls of one voice, read by Engine.step."""

    weights: np.ndarray
    temperature: float = 0.8
    model_temperature: np.ndarray | None = None
    mode: str = "linear"
    topk: int = 0
    topp: float = 1.0
    slew: float = 0.05
    constraints: Constraints | None = None  # blocklist, charset, fold (engine/constraints.py)
    beta: float = arithmetic.BETA_DEFAULT  # plausibility, with anti-experts (geometric only)


@dataclass
class Frame:
    """Everything one step of one voice produced."""

    step: int
    char: str
    index: int
    p_mix: np.ndarray
    p_models: np.ndarray
    weights: np.ndarray
    attribution: np.ndarray
    entropy: np.ndarray
    line: str
    voice: int = 0


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array, np.float32).tobytes()).decode("ascii")


def _unb64(text: str, shape: Sequence[int]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), np.float32).reshape(shape).copy()


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


def mix(p: np.ndarray, w: np.ndarray, mode: str,
        beta: float = arithmetic.BETA_DEFAULT) -> np.ndarray:
    """p [N, V] rows summing to 1, w [N] normalised (engine/arithmetic.py) → p_mix [V]."""
    if mode == "geometric":
        return arithmetic.geometric(p, w, beta)
    out = arithmetic.linear_weights(w) @ p
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
    """Runs N step models as one instrument, for K voices at once (one batch row per voice)."""

    def __init__(
        self,
        models: Sequence[StepModel],
        seed: int | None = None,
        weights: Sequence[float] | None = None,
        voices: int = 1,
    ):
        if not models:
            raise ValueError("the engine needs at least one model")
        if voices < 1:
            raise ValueError(f"the engine needs at least one voice, got {voices}")
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
        # Voice k's seed is seed + k, so one --seed makes every voice repeatable.
        self.voices = [
            Voice(k, n, initial, None if seed is None else (seed + k) % (2**63))
            for k in range(voices)
        ]
        self._tokens = [np.zeros(voices, np.int64) for _ in self.models]
        self._raw = [np.zeros((voices, len(m.vocab)), np.float32) for m in self.models]
        self.step_count = 0
        self._advanced = 0  # how many models have consumed the pending characters (in order)
        # Style-conditioned models (charmix.daemon.engine.styles): their sources need each voice's
        # weights (the mixed-style row of the next call), and in embedding mode the mix takes
        # their blended row in place of their pure rows.
        self._groups = groups(self.models)
        self._scatter = [None if self._shared else vm.scatter for vm in self.maps]
        self.guards = Guards(self.vocab, voices)  # each voice's blocklist state and counters
        self.reset()

    # -- voice 0, the whole instrument when there is one voice ------------------------------
    @property
    def n_voices(self) -> int:
        return len(self.voices)

    @property
    def seed(self) -> int:
        return self.voices[0].seed

    @property
    def rng(self) -> np.random.Generator:
        return self.voices[0].rng

    @property
    def weights(self) -> np.ndarray:
        return self.voices[0].weights

    @weights.setter
    def weights(self, value: np.ndarray) -> None:
        """Voice 0's smoothed weights, set at once (no glide from the ones before)."""
        self.voices[0].weights = np.asarray(value, np.float64)

    @property
    def line(self) -> str:
        return self.voices[0].line

    # -- state ----------------------------------------------------------------------------
    def reset(self, voice: int | None = None) -> None:
        """Zero the models' state of one voice (None: all); its next character follows a
        newline, as at the start. The step counter keeps counting: receivers order frames by it.
        Resetting one of several voices steps the models for its row alone, at once."""
        if voice is None or self.n_voices == 1:
            for m in self.models:
                m.reset(self.n_voices)
            for k, v in enumerate(self.voices):
                self._set_pending(k, "\n")
                v.cleared()
            self._advanced = 0
            return
        self.advance()
        for m in self.models:
            m.reset_voice(voice)
        self._set_pending(voice, "\n")
        self.voices[voice].cleared()
        self._step_row(voice)

    def reseed(self, seed: int | None, voice: int = 0) -> None:
        self.voices[voice].reseed(seed)

    def _set_pending(self, voice: int, ch: str) -> None:
        u = self._index.get(ch)
        for tok, vm in zip(self._tokens, self.maps, strict=True):
            tok[voice] = vm.feed[u] if u is not None else vm.token_for(ch)

    @property
    def ready(self) -> bool:
        """Every model has consumed the pending characters: the next `step` only mixes."""
        return self._advanced == len(self.models)

    def advance(self) -> None:
        """Step every model on the pending characters (one call per model for all voices),
        keeping their logits for the next `step`.

        Does nothing if that was already done. This is the expensive part of a character; the
        daemon calls it right after a frame is sent, so that it is off the path from a tick or a
        weights message to the next character. If a model raises, the ones before it have moved
        on and are not stepped again: the next call resumes at the model that failed.
        """
        while self._advanced < len(self.models):
            i = self._advanced
            self._raw[i] = self.models[i].step(self._tokens[i])
            self._advanced += 1

    def _step_row(self, voice: int) -> None:
        """Step every model for one voice's row only (priming or resetting that voice)."""
        for i, m in enumerate(self.models):
            if self.n_voices == 1:
                self._raw[i] = m.step(self._tokens[i])
            else:
                self._raw[i][voice] = m.step_voice(self._tokens[i][voice : voice + 1], voice)[0]

    def prime(self, text: str, voice: int = 0) -> None:
        """Feed text to every model for one voice without producing output; that voice's
        stream continues from it."""
        if not text:
            return
        self.advance()
        for ch in text:
            self._set_pending(voice, ch)
            self._step_row(voice)
        self.voices[voice].fed(text)

    @property
    def vocab_index(self) -> dict[str, int]:
        """character -> index in the union vocabulary (for charmix.daemon.engine.priming)."""
        return self._index

    def primed(self, pending: str, text: str, voice: int = 0) -> None:
        """The models' state (row `voice`) was primed elsewhere (charmix.daemon.engine.priming) with
        `text` up to `pending`, its last character; that is fed now (the voice's row alone when
        there are several), so the engine is ready for the next step, as after `prime`."""
        self.advance()
        self._set_pending(voice, pending)
        self._step_row(voice)
        self.voices[voice].fed(text)

    # -- the step -------------------------------------------------------------------------
    def _distributions(self, settings: Sequence[Settings]) -> tuple[np.ndarray, np.ndarray]:
        """The models' current logits → (p_i over the union [K, N, V], entropies [K, N])."""
        self.advance()
        self._inv_temp = inv_temp = np.stack([
            v.inverse_temperatures(s.temperature, s.model_temperature)
            for v, s in zip(self.voices, settings, strict=True)
        ])
        k, n = inv_temp.shape
        if self._shared:  # one softmax over every (voice, model) row
            logits = np.stack(self._raw, axis=1).reshape(k * n, -1)
            p, entropy = softmax_entropy(logits, inv_temp.reshape(-1))
            return p.reshape(k, n, -1), entropy.reshape(k, n)
        p = np.zeros((k, n, len(self.vocab)))
        entropy = np.zeros((k, n))
        for i, (logits, vm) in enumerate(zip(self._raw, self.maps, strict=True)):
            rows, h = softmax_entropy(logits, inv_temp[:, i])
            p[:, i, vm.scatter] = rows
            entropy[:, i] = h
        return p, entropy

    def step_voices(self, settings: Sequence[Settings], dt: float) -> list[Frame]:
        """One character for every voice, each with its own settings (one per voice).

        Vectorised over the voices: one linear mix, one cumulative sum, one attribution for all
        K rows; only a geometric mix or a top-k/top-p truncation is done row by row."""
        if len(settings) != self.n_voices:
            raise ValueError(f"{len(settings)} settings for {self.n_voices} voices")
        p, entropy = self._distributions(settings)
        voices, size = self.voices, len(self.vocab)
        w = np.stack([v.slew(s.weights, s.slew, dt)
                      for v, s in zip(voices, settings, strict=True)])
        p_in, w_in = p, w
        if self._groups:
            p_in, w_in = blended(p, w, self._groups, self._inv_temp, self._scatter)
            for idx, group in self._groups:
                group.set_weights(w[:, idx])  # each voice's mixed row of the next call
        p_mix = np.einsum("kn,knv->kv", arithmetic.linear_weights(w_in), p_in)
        p_mix /= p_mix.sum(axis=1, keepdims=True)
        guarded = self.guards.engage([s.constraints for s in settings],
                                     [v.context for v in voices])
        untruncated = p_mix.copy() if guarded else p_mix
        for k, s in enumerate(settings):
            if s.mode == "geometric":
                p_mix[k] = untruncated[k] = arithmetic.geometric(p_in[k], w_in[k], s.beta)
            elif w[k].min() < 0.0:  # linear plays (and reports) the positive part
                w[k] = arithmetic.linear_weights(w[k])
            if 0 < s.topk < size or 0.0 < s.topp < 1.0:
                p_mix[k] = truncate(p_mix[k], s.topk, s.topp)
        if guarded:  # what a voice may not write gets 0, the rest renormalised
            self.guards.mask(p_mix, untruncated)
        cdf = np.cumsum(p_mix, axis=1)
        draws = np.fromiter((v.rng.random() for v in voices), np.float64, len(voices))
        u = draws * cdf[:, -1]
        c = np.minimum((cdf <= u[:, None]).sum(axis=1), size - 1)
        rows = np.arange(len(voices))
        for k in np.flatnonzero(p_mix[rows, c] <= 0.0):  # float edge: never a zero-probability
            while p_mix[k, c[k]] <= 0.0:  # character
                c[k] -= 1
        attribution = arithmetic.attribution(w, p[rows, :, c])
        p32, entropy32 = p.astype(np.float32), entropy.astype(np.float32)
        mix32, w32, attr32 = (a.astype(np.float32) for a in (p_mix, w, attribution))
        frames = []
        step = self.step_count
        for k, voice in enumerate(voices):
            index = int(c[k])
            ch = self.vocab[index]
            self._set_pending(k, ch)
            voice.wrote(ch)
            frames.append(Frame(step, ch, index, mix32[k], p32[k], w32[k], attr32[k],
                                entropy32[k], voice.line, k))
        if guarded:
            self.guards.wrote(c, draws, [v.context for v in voices])
        self._advanced = 0
        self.step_count += 1
        return frames

    def step(self, settings: Settings, dt: float) -> Frame:
        """Generate one character (every voice steps, all with these settings; voice 0's frame)."""
        return self.step_voices([settings] * self.n_voices, dt)[0]

    def generate(self, settings: Settings, n: int, dt: float = 0.0) -> str:
        """n characters as fast as possible (offline use: `charmix sample`, benchmarks)."""
        return "".join(self.step(settings, dt).char for _ in range(n))

    # -- state for recordings ---------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything needed to continue exactly from here, JSON-ready: each model's LSTM state
        and last logits (float32, base64), the pending characters, and each voice's sampler and
        weights. Call it between steps."""
        models = []
        for m, tok, raw in zip(self.models, self._tokens, self._raw, strict=True):
            models.append({
                "name": m.name, "shape": list(m.h.shape), "h": _b64(m.h), "c": _b64(m.c),
                "tokens": tok.tolist(), "logits": _b64(raw), "logits_shape": list(raw.shape),
            })
        return {
            "step": self.step_count, "advanced": self._advanced, "models": models,
            "voices": [v.state() for v in self.voices],
        }

    def restore(self, state: dict[str, Any], models: bool = True) -> None:
        """Continue from `state()` (ValueError if it does not fit these models and voices).
        models=False restores the voices (samplers, weights, text) but not the models' state:
        for a replay through other models, which are primed with each voice's context instead."""
        voices = state["voices"]
        if len(voices) != self.n_voices:
            raise ValueError(f"the state has {len(voices)} voices, the engine {self.n_voices}")
        self.step_count = int(state["step"])
        for v, vs in zip(self.voices, voices, strict=True):
            v.restore(vs)
        if not models:
            return
        if len(state["models"]) != len(self.models):
            raise ValueError(f"the state has {len(state['models'])} models, not {len(self.models)}")
        for i, (m, ms) in enumerate(zip(self.models, state["models"], strict=True)):
            if list(m.h.shape) != list(ms["shape"]):
                raise ValueError(f"{m.name}: state shape {ms['shape']}, model {list(m.h.shape)}")
            m.h, m.c = _unb64(ms["h"], ms["shape"]), _unb64(ms["c"], ms["shape"])
            self._tokens[i] = np.asarray(ms["tokens"], np.int64)
            self._raw[i] = _unb64(ms["logits"], ms["logits_shape"])
        self._advanced = int(state["advanced"])
