"""Anti-experts (issue #24): the signed-weights arithmetic of engine/arithmetic.py, and that
non-negative weights give exactly the distributions, attribution and text of before.

The `_old_*` functions are the engine's arithmetic as it was before signed weights (the same
formulas, kept here as the reference): with weights >= 0 the new code must match them bit for bit.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from charmix.daemon.engine import arithmetic
from charmix.daemon.engine.arithmetic import (
    attribution,
    geometric,
    linear_weights,
    normalise,
    plausible,
    renormalise,
)
from charmix.daemon.engine.mixer import Engine, Settings
from charmix.daemon.engine.model import load_model
from charmix.daemon.engine.voice import Voice

FLOOR = arithmetic.GEOMETRIC_FLOOR


def _old_normalise(weights: np.ndarray) -> np.ndarray:
    w = np.where(np.isfinite(weights) & (weights > 0), weights, 0.0).astype(np.float64)
    top = w.max(initial=0.0)
    if top <= 0.0:
        return np.full(w.shape, 1.0 / w.size)
    w /= top
    return w / w.sum()


def _old_geometric(p: np.ndarray, w: np.ndarray) -> np.ndarray:
    active = w > 0
    logp = w[active] @ np.log(np.maximum(p[active], FLOOR))
    logp -= logp.max()
    out = np.exp(logp)
    return out / out.sum()


def _old_attribution(w: np.ndarray, p_c: np.ndarray) -> np.ndarray:
    contrib = w * p_c
    total = contrib.sum(axis=1, keepdims=True)
    return np.where(total > 0, contrib / np.where(total > 0, total, 1.0), w)


def _dists(rng: np.random.Generator, n: int, v: int) -> np.ndarray:
    p = rng.dirichlet(np.full(v, 0.3), size=n)
    p[rng.random(p.shape) < 0.1] = 0.0  # characters a model lacks
    return p / p.sum(axis=1, keepdims=True)


# ------------------------------------------------------------------------- normalisation
def test_non_negative_weights_normalise_exactly_as_before() -> None:
    rng = np.random.default_rng(1)
    cases = [rng.random(n) * scale for n in (1, 3, 6, 9, 20) for scale in (1e-9, 1, 1e300)]
    cases += [np.zeros(4), np.array([0.0, 1.0, 0.0]), np.array([np.nan, 1.0, np.inf])]
    for w in cases:
        assert np.array_equal(normalise(w), _old_normalise(w)), w


@pytest.mark.parametrize("w, want", [
    ([1.0, -0.5], [1.0, -0.5]),  # the positive part already sums to 1
    ([0.5, -0.25, 0.0], [1.0, -0.5, 0.0]),  # ratios kept
    ([0.5, 0.5, -0.5], [0.5, 0.5, -0.5]),
    ([0.25, 0.25, -1.0], [0.5, 0.5, -1.0]),  # -2 clipped: no anti-weight beyond -1
    ([0.1, -1.0], [1.0, -1.0]),
    ([-1.0, -0.5, 0.0], [1 / 3] * 3),  # no expert: uniform (the daemon refuses this earlier)
    ([1.0, np.nan, -np.inf], [1.0, 0.0, 0.0]),  # anything not finite counts as 0
    ([1e-300, -1e308], [1.0, -1.0]),  # no overflow
])
def test_signed_normalisation(w: list[float], want: list[float]) -> None:
    got = normalise(np.array(w))
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert np.where(got > 0, got, 0).sum() == pytest.approx(1.0)
    assert got.min() >= -1.0


def test_a_glide_renormalises_and_jumps_when_no_expert_is_left() -> None:
    assert np.array_equal(renormalise(np.array([0.25, 0.5])), np.array([1 / 3, 2 / 3]))
    np.testing.assert_allclose(renormalise(np.array([0.5, -0.75])), [1.0, -1.0])
    assert renormalise(np.array([0.0, 0.0, -0.5])) is None
    # Voice.slew: from (1, 0, -1) to (0, 1, -1) at alpha 0.5 is (0.5, 0.5, -1), valid; but
    # (1, -1) to (-1, 1) halfway is (0, 0): the voice jumps to its target instead.
    voice = Voice(0, 2, np.array([1.0, -1.0]), seed=0)
    np.testing.assert_allclose(voice.weights, [1.0, -1.0])
    dt = 0.1 * math.log(2)  # alpha = 1/2
    np.testing.assert_allclose(voice.slew(np.array([-1.0, 1.0]), 0.1, dt), [-1.0, 1.0])
    voice = Voice(0, 3, np.array([1.0, 0.0, -0.5]), seed=0)
    np.testing.assert_allclose(voice.slew(np.array([0.0, 1.0, -0.5]), 0.1, dt), [0.5, 0.5, -0.5])


def test_linear_plays_the_positive_part() -> None:
    w = np.array([0.6, 0.4, 0.0])
    assert linear_weights(w) is w  # untouched, not even copied
    np.testing.assert_array_equal(linear_weights(np.array([[1.0, -0.5]])), [[1.0, 0.0]])


# ------------------------------------------------------------------------- plausibility
def test_the_plausibility_mask() -> None:
    log_experts = np.log(np.array([0.5, 0.3, 0.04, 0.16]))
    assert plausible(log_experts, 0.0) is None
    np.testing.assert_array_equal(plausible(log_experts, 0.1), [True, True, False, True])
    np.testing.assert_array_equal(plausible(log_experts, 0.5), [True, True, False, False])
    np.testing.assert_array_equal(plausible(log_experts, 1.0), [True, False, False, False])


def test_non_negative_weights_mix_exactly_as_before() -> None:
    rng = np.random.default_rng(2)
    for _ in range(50):
        n = int(rng.integers(1, 7))
        p = _dists(rng, n, 98)
        w = normalise(rng.random(n) * (rng.random(n) < 0.7))
        for beta in (0.0, 0.1, 1.0):  # beta plays no part without anti-experts
            assert np.array_equal(geometric(p, w, beta), _old_geometric(p, w))


def test_an_anti_expert_chooses_only_among_what_the_experts_find_plausible() -> None:
    expert = np.array([0.5, 0.3, 0.15, 0.05])
    anti = np.array([0.6, 0.05, 0.05, 0.3])
    p = np.stack([expert, anti])
    alone = geometric(p, np.array([1.0, 0.0]))
    np.testing.assert_allclose(alone, expert)
    steered = geometric(p, np.array([1.0, -0.5]), beta=0.2)
    assert steered[3] == 0.0  # 0.05 < 0.2 × 0.5: never, however much the anti-expert dislikes it
    assert steered.sum() == pytest.approx(1.0)
    assert steered[0] < alone[0] and steered[1] > alone[1]  # away from the anti-expert's choice
    # without the rule, the character nobody wants but the anti-expert dislikes rises
    free = geometric(p, np.array([1.0, -0.5]), beta=0.0)
    assert free[3] > 0.0
    # the experts' best is always possible
    rng = np.random.default_rng(3)
    for _ in range(50):
        p = _dists(rng, 3, 60)
        w = normalise(np.array([1.0, rng.random(), -rng.random()]))
        best = np.argmax(w[:2] @ np.log(np.maximum(p[:2], FLOOR)))
        out = geometric(p, w, float(rng.random()))
        assert out[best] > 0 and np.isfinite(out).all() and out.sum() == pytest.approx(1.0)


# --------------------------------------------------------------------------- attribution
def test_non_negative_attribution_is_exactly_as_before() -> None:
    rng = np.random.default_rng(4)
    w = np.stack([normalise(rng.random(5)) for _ in range(8)])
    p_c = rng.random((8, 5)) * (rng.random((8, 5)) < 0.8)
    p_c[0] = 0.0  # no model gave c anything: the weights themselves
    assert np.array_equal(attribution(w, p_c), _old_attribution(w, p_c))


def test_signed_attribution_sums_and_signs() -> None:
    r = attribution(np.array([[1.0, -0.5]]), np.array([[0.2, 0.4]]))
    np.testing.assert_allclose(r, [[0.5, -0.5]])  # 0.2 for, 0.5 × 0.4 against
    rng = np.random.default_rng(5)
    w = np.stack([normalise(rng.uniform(-1, 1, 6) + [2, 0, 0, 0, 0, 0]) for _ in range(20)])
    p_c = rng.random((20, 6))
    r = attribution(w, p_c)
    np.testing.assert_allclose(np.abs(r).sum(axis=1), 1.0)
    assert np.all(np.sign(r) == np.sign(w))
    assert np.all(w[np.arange(20), r.argmax(axis=1)] > 0)  # the writer is always an expert


def test_one_hot_attribution() -> None:
    # one expert alone: it wrote everything; an anti-expert at 0 has no share
    np.testing.assert_array_equal(attribution(np.array([[1.0, 0.0]]), np.array([[0.3, 0.9]])),
                                  [[1.0, 0.0]])
    # an expert that gave c nothing, beside an anti-expert: the anti-expert's share is all -1
    np.testing.assert_allclose(attribution(np.array([[1.0, -0.5]]), np.array([[0.0, 0.4]])),
                               [[0.0, -1.0]])
    # nobody gave c anything: the weights, scaled so that their magnitudes sum to 1
    np.testing.assert_allclose(attribution(np.array([[1.0, -0.25]]), np.zeros((1, 2))),
                               [[0.8, -0.2]])


# ------------------------------------------------------------------------------ the engine
@pytest.fixture(scope="module")
def three(shipped_models: list[Path]) -> list[Path]:
    by_name = {p.stem: p for p in shipped_models}
    return [by_name[n] for n in ("shakespeare", "bible", "linux")]


def _frames(files: list[Path], settings: Settings, n: int = 300) -> list:
    engine = Engine([load_model(f) for f in files], seed=11)
    return [engine.step(settings, 1 / 15) for _ in range(n)]


@pytest.mark.parametrize("mode", ["linear", "geometric"])
def test_non_negative_weights_give_the_same_text_as_before(three: list[Path], mode: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(weights=np.array([0.5, 0.3, 0.2]), mode=mode, slew=0.1, topk=20)
    new = _frames(three, settings)
    monkeypatch.setattr(arithmetic, "normalise", _old_normalise)
    monkeypatch.setattr(arithmetic, "geometric", lambda p, w, beta: _old_geometric(p, w))
    monkeypatch.setattr(arithmetic, "attribution", _old_attribution)
    old = _frames(three, settings)
    assert "".join(f.char for f in new) == "".join(f.char for f in old)
    for a, b in zip(new, old, strict=True):
        assert np.array_equal(a.p_mix, b.p_mix) and np.array_equal(a.weights, b.weights)
        assert np.array_equal(a.attribution, b.attribution)


def test_anti_experts_play_repeatably_and_report_signed_frames(three: list[Path]) -> None:
    settings = Settings(weights=np.array([1.0, -0.5, 0.0]), mode="geometric", slew=0.0)
    first, again = _frames(three, settings), _frames(three, settings)
    assert "".join(f.char for f in first) == "".join(f.char for f in again)  # same seed
    assert "".join(f.char for f in first) != "".join(
        f.char for f in _frames(three, Settings(weights=np.array([1.0, 0.0, 0.0]),
                                                mode="geometric", slew=0.0)))
    for f in first:
        np.testing.assert_allclose(f.weights, [1.0, -0.5, 0.0])
        assert f.attribution[0] > 0 >= f.attribution[1] and f.attribution[2] == 0
        assert abs(f.attribution).sum() == pytest.approx(1.0, abs=1e-6)
        assert f.p_mix.sum() == pytest.approx(1.0, abs=1e-5)


def test_linear_mode_plays_a_negative_weight_as_zero(three: list[Path]) -> None:
    signed = _frames(three, Settings(weights=np.array([1.0, -0.5, 0.5]), slew=0.0))
    positive = _frames(three, Settings(weights=np.array([1.0, 0.0, 0.5]), slew=0.0))
    assert "".join(f.char for f in signed) == "".join(f.char for f in positive)
    np.testing.assert_allclose(signed[-1].weights, [2 / 3, 0.0, 1 / 3], rtol=1e-6)
