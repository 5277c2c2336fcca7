"""Signed weights: experts and anti-experts (model arithmetic), as pure numpy on one step's arrays.

Why a module of its own: the mixer (engine/mixer.py) runs the step; this is the arithmetic of the
weights alone — normalisation, the two mixes, the plausibility rule, the attribution — so it can be
tested on hand-made arrays and read in one place (docs/anti-experts.md explains it for players).

The rules (issue #24):

* **Weights** are in −1 … 1. A positive weight makes a model an *expert* (the text is pulled
  toward it), a negative one an *anti-expert* (pushed away from it). Negative weights play only in
  the geometric mode; the linear mixture (the paper's) mixes the positive part and ignores the rest.
* **Normalisation** (`normalise`): the weights are divided by the sum of the positive ones, so the
  experts' weights sum to 1 as before and every anti-weight keeps its ratio to them
  (shakespeare 1, bible −0.5 stays 1 / −0.5; shakespeare 0.5, bible −0.25 becomes 1 / −0.5). An
  anti-weight is then clipped at −1: one anti-expert never outweighs the experts together, and the
  effective weights stay in −1 … 1 for every view. No positive weight at all → uniform (an
  anti-expert alone has nothing to steer; the daemon refuses such a message before it gets here).
  All non-negative → exactly the arithmetic of before (the same floats, the same text).
* **Geometric mix** (`geometric`): log p_mix = Σ_i w_i log max(p_i, floor) − log Z, the product of
  experts with negative exponents (Dekoninck et al., "model arithmetic", ICLR 2024).
* **Plausibility** (`plausible`): an anti-expert's negative exponent boosts every character *it*
  finds unlikely — including characters no expert would write. So, as in contrastive decoding
  (Li et al., 2023), only characters whose probability under the experts' own product is at least
  β times that product's best may be sampled. β = 0 turns the rule off; it only applies when some
  weight is negative (with none, the mask would be a change of today's sampling).
* **Attribution** (`attribution`): r_i = w_i p_i(c) / Σ_j |w_j| p_j(c). With non-negative
  weights that is exactly the old r_i = w_i p_i(c) / Σ_j w_j p_j(c) (shares summing to 1). With
  anti-experts r_i has the sign of w_i and Σ_i |r_i| = 1: an expert's r_i is its share of the
  vouching *for* c, an anti-expert's (negative) r_i how loudly it spoke *against* c — it was
  outvoted. The experts' shares sum to 1 − Σ |anti shares|; the writer (largest r_i) is always an
  expert.
"""

from __future__ import annotations

import numpy as np

from charmix.daemon import protocol

GEOMETRIC_FLOOR = 1e-6  # p_i below this counts as this in the geometric mix (log stays finite)
ANTI_LIMIT = -1.0  # an effective anti-weight is never below this
BETA_DEFAULT = protocol.BETA_DEFAULT  # /charmix/beta (the table); models/README.md measures it
_TINY = 1e-12  # a positive part smaller than this (mid-glide) is no positive part


def normalise(weights: np.ndarray) -> np.ndarray:
    """Signed weights [N] → the positive part summing to 1, anti-weights scaled alike and
    clipped at −1; non-finite values count as 0; no positive weight → uniform."""
    w = np.where(np.isfinite(weights), weights, 0.0).astype(np.float64)
    top = w.max(initial=0.0)
    if top <= 0.0:
        return np.full(w.shape, 1.0 / w.size)
    if w.min(initial=0.0) >= 0.0:  # the old arithmetic, to the last bit
        w /= top  # first, so that huge finite weights (1e308 each) cannot overflow the sum
        return w / w.sum()
    with np.errstate(over="ignore"):  # -1e308 / 1e-300: -inf, clipped at once
        w = np.maximum(w / top, -1.0 / _TINY)
    return np.maximum(w / np.where(w > 0, w, 0.0).sum(), ANTI_LIMIT)


def renormalise(w: np.ndarray) -> np.ndarray | None:
    """Weights part-way along a glide, made valid again: as before when non-negative (divided by
    their sum); signed: divided by the positive part, anti-weights clipped at −1. None when no
    positive part is left (a glide from one expert to another through a shared anti-expert):
    the caller then jumps to its target."""
    if w.min(initial=0.0) >= 0.0:
        return w / w.sum()
    positive = float(np.where(w > 0, w, 0.0).sum())
    if positive < _TINY:
        return None
    return np.maximum(w / positive, ANTI_LIMIT)


def linear_weights(w: np.ndarray) -> np.ndarray:
    """What the linear mixture plays: the weights themselves, or their positive part when some are
    negative (already summing to 1). Works on [N] and [K, N]."""
    return w if w.min(initial=0.0) >= 0.0 else np.maximum(w, 0.0)


def plausible(log_experts: np.ndarray, beta: float) -> np.ndarray | None:
    """The characters an anti-expert may still choose among: log p⁺(c) >= log p⁺_max + log β,
    where p⁺ is the experts' own product (unnormalised logs are fine: only differences count).
    None when β <= 0: every character."""
    if beta <= 0.0:
        return None
    return log_experts >= log_experts.max() + np.log(min(beta, 1.0))


def geometric(p: np.ndarray, w: np.ndarray, beta: float = BETA_DEFAULT) -> np.ndarray:
    """p [N, V] rows summing to 1, signed w [N] (normalised) → p_mix [V], the product of experts
    over anti-experts, restricted to the experts' plausible characters when there are
    anti-experts. Without negative weights: exactly the old geometric mix."""
    experts = w > 0
    logp = w[experts] @ np.log(np.maximum(p[experts], GEOMETRIC_FLOOR))
    anti = w < 0
    if anti.any():
        mask = plausible(logp, beta)
        logp = logp + w[anti] @ np.log(np.maximum(p[anti], GEOMETRIC_FLOOR))
        if mask is not None:
            logp = np.where(mask, logp, -np.inf)
    logp -= logp.max()
    out = np.exp(logp)
    return out / out.sum()


def attribution(w: np.ndarray, p_c: np.ndarray) -> np.ndarray:
    """Signed shares of the sampled character: w, p_c = p_i(c) both [K, N] → r [K, N] with
    r_i = w_i p_i(c) / Σ_j |w_j| p_j(c); where no model gave c any probability, each row's
    w / Σ|w| (w itself when non-negative, as before)."""
    contrib = w * p_c
    signed = w.min(initial=0.0) < 0.0
    total = (np.abs(contrib) if signed else contrib).sum(axis=1, keepdims=True)
    fallback = w / np.abs(w).sum(axis=1, keepdims=True) if signed else w
    return np.where(total > 0, contrib / np.where(total > 0, total, 1.0), fallback)
