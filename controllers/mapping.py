"""A 2-D position → mixture weights: the pad that the mouse and the Leap bridges share.

The pad is the square [-1, 1] × [-1, 1], x to the right and y up. Each model has an anchor on
it; by default the anchors sit evenly on a circle of radius 0.75, the first model at the top and
the rest clockwise, so the centre is equally far from all of them.

The kernel is Shepard's inverse-square weighting, localised by a Gaussian of width σ::

    k_i = exp(-d_i² / (2σ²)) / d_i²        w_i = k_i / Σ_j k_j

where d_i is the distance from the position to anchor i. Why this one:

- the 1/d² factor makes an anchor exact: on anchor i the weights are model i alone (the limit,
  computed as one-hot), so a performer can always reach a pure voice;
- the Gaussian keeps the blend local: halfway between two anchors you hear mostly those two,
  not a wash of every model (pure inverse distance has long tails). σ is the width knob, in pad
  units: small σ gives near-Voronoi regions with quick crossfades, large σ (math.inf) is plain
  inverse-square blending;
- a point equally far from every anchor (the centre of the default circle) gives an even mix.

The weights are non-negative and sum to 1 (up to float rounding). The daemon normalises anyway.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

PAD_RADIUS = 0.75  # default anchor circle, in pad units (the pad is [-1, 1]²)
DEFAULT_WIDTH = 0.5  # σ of the Gaussian, in pad units
_SNAP = 1e-9  # closer than this to an anchor counts as on it


@dataclass(frozen=True)
class Anchor:
    """Where one model sits on the pad."""

    name: str
    x: float
    y: float


def circle_anchors(names: Sequence[str], radius: float = PAD_RADIUS) -> list[Anchor]:
    """Models evenly on a circle, the first at the top, then clockwise (like a clock face)."""
    n = len(names)
    out = []
    for i, name in enumerate(names):
        angle = math.pi / 2 - 2 * math.pi * i / n
        x, y = radius * math.cos(angle), radius * math.sin(angle)
        out.append(Anchor(name, round(x, 12), round(y, 12)))  # 0, not 4.6e-17, on the axes
    return out


def parse_anchor(text: str) -> tuple[str, float, float]:
    """'NAME=X,Y' (pad units) → (name, x, y); ValueError with the reason otherwise."""
    name, sep, coords = text.partition("=")
    parts = coords.split(",")
    if not sep or not name.strip() or len(parts) != 2:
        raise ValueError(f"anchor {text!r} is not NAME=X,Y (e.g. bible=0.5,-0.5)")
    try:
        x, y = float(parts[0]), float(parts[1])
    except ValueError:
        raise ValueError(f"anchor {text!r}: X and Y must be numbers") from None
    if not (-1.0 <= x <= 1.0 and -1.0 <= y <= 1.0):
        raise ValueError(f"anchor {text!r}: X and Y must lie in [-1, 1]")
    return name.strip(), x, y


class PadMapping:
    """Anchors plus the kernel above; `weights(x, y)` is the whole mapping."""

    def __init__(self, anchors: Sequence[Anchor], width: float = DEFAULT_WIDTH) -> None:
        if not anchors:
            raise ValueError("the pad needs at least one model anchor")
        if not width > 0:  # also rejects NaN
            raise ValueError(f"width must be > 0 (got {width})")
        names = [a.name for a in anchors]
        if len(set(names)) != len(names):
            raise ValueError(f"anchor names must be unique: {names}")
        self.anchors = list(anchors)
        self.width = width

    @classmethod
    def for_models(
        cls, names: Sequence[str], overrides: Sequence[str] = (), width: float = DEFAULT_WIDTH
    ) -> PadMapping:
        """The default circle for `names`, with 'NAME=X,Y' overrides moving single anchors."""
        anchors = {a.name: a for a in circle_anchors(names)}
        for text in overrides:
            name, x, y = parse_anchor(text)
            if name not in anchors:
                known = ", ".join(names)
                raise ValueError(f"anchor {text!r}: no model named {name!r} (models: {known})")
            anchors[name] = Anchor(name, x, y)
        return cls(list(anchors.values()), width)

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.anchors]

    def weights(self, x: float, y: float) -> list[float]:
        """Mixture weights at pad position (x, y): non-negative, summing to 1."""
        if not (math.isfinite(x) and math.isfinite(y)):
            raise ValueError(f"pad position must be finite (got {x}, {y})")
        d2 = [(x - a.x) ** 2 + (y - a.y) ** 2 for a in self.anchors]
        on = [i for i, d in enumerate(d2) if d < _SNAP * _SNAP]
        if on:  # on an anchor (or several that coincide): those models alone
            return [1.0 / len(on) if i in on else 0.0 for i in range(len(d2))]
        inv_2s2 = 0.0 if math.isinf(self.width) else 1.0 / (2.0 * self.width * self.width)
        logk = [-d * inv_2s2 - math.log(d) for d in d2]  # log of exp(-d²/2σ²) / d²
        top = max(logk)
        k = [math.exp(v - top) for v in logk]  # softmax: far from every anchor still works
        total = math.fsum(k)
        return [v / total for v in k]
