"""The pad mapping: non-negative weights summing to 1, anchor → that model, centre → even."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charmix.controllers.mapping import (
    PAD_RADIUS,
    Anchor,
    PadMapping,
    circle_anchors,
    parse_anchor,
)

NAMES = [f"m{i}" for i in range(8)]
coord = st.floats(min_value=-1.0, max_value=1.0, allow_nan=False)
width = st.one_of(st.floats(min_value=0.05, max_value=5.0), st.just(math.inf))


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 8), x=coord, y=coord, w=width)
def test_weights_are_a_distribution(n: int, x: float, y: float, w: float) -> None:
    weights = PadMapping.for_models(NAMES[:n], width=w).weights(x, y)
    assert len(weights) == n
    assert all(v >= 0.0 for v in weights)
    assert math.fsum(weights) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("n", range(1, 9))
@pytest.mark.parametrize("w", [0.1, 0.5, 2.0, math.inf])
def test_each_anchor_gives_that_model_alone(n: int, w: float) -> None:
    pad = PadMapping.for_models(NAMES[:n], width=w)
    for i, a in enumerate(pad.anchors):
        assert pad.weights(a.x, a.y) == [1.0 if j == i else 0.0 for j in range(n)]


@pytest.mark.parametrize("n", range(1, 9))
@pytest.mark.parametrize("w", [0.1, 0.5, 2.0, math.inf])
def test_centre_gives_an_even_mix(n: int, w: float) -> None:
    weights = PadMapping.for_models(NAMES[:n], width=w).weights(0.0, 0.0)
    assert weights == pytest.approx([1.0 / n] * n, abs=1e-9)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(2, 8), i=st.integers(0, 7), r=st.floats(0.0, 0.05))
def test_near_an_anchor_that_model_dominates(n: int, i: int, r: float) -> None:
    """Continuity at the anchors: within 0.05 pad units the model has > 95% of the mix."""
    pad = PadMapping.for_models(NAMES[:n])
    a = pad.anchors[i % n]
    assert pad.weights(a.x + r, a.y)[i % n] > 0.95


def test_the_width_knob_localises_the_blend() -> None:
    """Halfway between two neighbours, a third model's share shrinks as the width shrinks."""
    names = NAMES[:4]
    shares = []
    for w in (math.inf, 1.0, 0.5, 0.25):
        pad = PadMapping.for_models(names, width=w)
        a, b = pad.anchors[0], pad.anchors[1]
        weights = pad.weights((a.x + b.x) / 2, (a.y + b.y) / 2)
        assert weights[0] == pytest.approx(weights[1])
        shares.append(weights[2] + weights[3])
    assert shares == sorted(shares, reverse=True)
    assert shares[0] > 0.15 and shares[-1] < 0.01


def test_far_from_every_anchor_is_still_finite() -> None:
    """Narrow width, pad corner: every Gaussian underflows; the log-space softmax copes."""
    pad = PadMapping.for_models(NAMES[:3], width=0.01)
    weights = pad.weights(1.0, -1.0)
    assert all(math.isfinite(v) for v in weights) and math.fsum(weights) == pytest.approx(1.0)
    nearest = min(range(3), key=lambda i: math.dist((1, -1), (pad.anchors[i].x, pad.anchors[i].y)))
    assert weights[nearest] == pytest.approx(1.0)


def test_default_circle_clockwise_from_the_top() -> None:
    a, b, c, d = circle_anchors(["n", "e", "s", "w"])
    assert (a.x, a.y) == (0.0, PAD_RADIUS)
    assert (b.x, b.y) == (PAD_RADIUS, 0.0)
    assert (c.x, c.y) == (0.0, -PAD_RADIUS)
    assert (d.x, d.y) == (-PAD_RADIUS, 0.0)


def test_anchor_overrides_move_one_model() -> None:
    pad = PadMapping.for_models(["a", "b", "c"], ["b=0.5,-0.25"])
    assert pad.anchors[1] == Anchor("b", 0.5, -0.25)
    assert pad.weights(0.5, -0.25) == [0.0, 1.0, 0.0]
    assert pad.anchors[0] == circle_anchors(["a", "b", "c"])[0]


@pytest.mark.parametrize(
    ("text", "why"),
    [("b", "NAME=X,Y"), ("b=1", "NAME=X,Y"), ("=0,0", "NAME=X,Y"), ("b=x,0", "numbers"),
     ("b=2,0", "[-1, 1]"), ("b=nan,0", "[-1, 1]")],
)
def test_bad_anchor_text_says_why(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=re.escape(why)):
        parse_anchor(text)


def test_override_of_an_unknown_model_names_the_models() -> None:
    with pytest.raises(ValueError, match="no model named 'zz' .models: a, b"):
        PadMapping.for_models(["a", "b"], ["zz=0,0"])


def test_bad_mappings_are_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        PadMapping([])
    with pytest.raises(ValueError, match="width"):
        PadMapping.for_models(["a"], width=0.0)
    with pytest.raises(ValueError, match="width"):
        PadMapping.for_models(["a"], width=math.nan)
    with pytest.raises(ValueError, match="unique"):
        PadMapping([Anchor("a", 0, 0), Anchor("a", 1, 1)])
    with pytest.raises(ValueError, match="finite"):
        PadMapping.for_models(["a", "b"]).weights(math.nan, 0.0)


def test_coinciding_anchors_share_the_spot() -> None:
    pad = PadMapping([Anchor("a", 0.2, 0.2), Anchor("b", 0.2, 0.2), Anchor("c", -0.5, 0)])
    assert pad.weights(0.2, 0.2) == [0.5, 0.5, 0.0]






