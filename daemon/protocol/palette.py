"""One colour per model, the same everywhere: the web page, the Tk pad, the monitor, the patches.

Why by name and not by position: a daemon may run any subset of the models in any order (the
tiny test models are shakespeare, linux, bible; a gallery may run two), and a performer learns
"bible is blue". So each shipped model owns a colour by name; a model with another name takes
a colour from EXTRA by its position in /charmix/models (stable for one daemon's model list).

Colours are chosen to be told apart on a dark stage and by the common colour-vision
deficiencies as far as six hues allow (amber/sky/violet/green/rose/orange differ in lightness as
well as hue). The patches (Processing, TouchDesigner, Max) cannot import Python from here; they
carry copies of these values and tests/test_palette.py checks each copy against this module.
"""

from __future__ import annotations

from collections.abc import Sequence

NAMED: dict[str, str] = {
    "shakespeare": "#f2c14e",  # amber
    "austen": "#ef6f9c",  # rose
    "nietzsche": "#a98bf5",  # violet
    "bible": "#4fc3f7",  # sky blue
    "linux": "#7bd96b",  # green
    "latex": "#ff8a3d",  # orange
}
EXTRA: tuple[str, ...] = ("#e0e0e0", "#4db6ac", "#d4e157", "#9fa8da", "#e57373", "#c9a27e")
UNKNOWN = "#808080"  # a character whose writer is not known (its attribution was lost)
SHIPPED_ORDER = tuple(sorted(NAMED))  # the daemon's order for the six shipped models


def colour(name: str, index: int) -> str:
    """'#rrggbb' for the model `name` at position `index` of the daemon's model list."""
    return NAMED.get(name) or EXTRA[index % len(EXTRA)]


def colours(names: Sequence[str]) -> list[str]:
    """One colour per model, in the daemon's order."""
    return [colour(name, i) for i, name in enumerate(names)]


def rgb(hex_colour: str) -> tuple[float, float, float]:
    """'#rrggbb' → (r, g, b) in 0–1 (TouchDesigner's colour parameters)."""
    value = hex_colour.lstrip("#")
    return tuple(int(value[i:i + 2], 16) / 255 for i in (0, 2, 4))  # type: ignore[return-value]
