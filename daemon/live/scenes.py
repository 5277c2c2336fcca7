"""Scenes: named snapshots of one voice's settings, and the arithmetic of moving between them.

A scene keeps a voice's live settings by *name* — weights as {model: weight}, so a daemon started
with a different set of models keeps what it can — and any subset of them: a hand-written scene
that only says `temperature = 0.5` moves only the temperature. Rate is the daemon's, not a
voice's, so a scene carries it only when written there by hand (or saved so).

A morph (live/conductor.py) goes from a `Point` (every setting of a voice, as numbers) to the
scene's target Point. `between` says where it is at progress p: weights on the straight line in
the simplex (both ends are normalised, so every point between sums to 1), temperatures on a log
scale (a step from 0.4 to 0.8 sounds like one from 0.8 to 1.6), top-p and slew linearly, and the
enumerations — mode and top-k — switch at the midpoint. A per-model temperature of 0 ("follow the
global one") is morphed as the global temperature it stands for, and set back to 0 at the end.

`SceneBook` is the daemon's set of scenes: any thread reads, the dispatcher writes, and each
change calls `on_change` (the file is saved and /charmix/scenes sent by whoever listens).
Everything a scene holds is checked by the address table's typed arguments, so a scene can hold
nothing that an OSC message could not set.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from charmix.daemon import protocol
from charmix.daemon.engine.voice import normalise_weights
from charmix.daemon.live.controls import ControlError, Controls
from charmix.daemon.protocol.table import SCENE_NAME_MAX, SCENES_MAX

SETTINGS = ("weights", "temperature", "model_temperature", "mode", "beta", "topk", "topp", "slew",
            "rate")
NAME_MAX = SCENE_NAME_MAX
_C = protocol.control


class SceneError(ControlError):
    """A scene (or scene name) that cannot be used; str() is one line saying why (a
    ControlError, so a bad /charmix/scene/… message is counted as rx_bad like any other)."""


def check_name(name: object) -> str:
    """A scene name: 1 – NAME_MAX printable characters (a title a visual may show)."""
    if not isinstance(name, str) or not name.strip():
        raise SceneError("a scene needs a name")
    if len(name) > NAME_MAX:
        raise SceneError(f"a scene name has at most {NAME_MAX} characters, got {len(name)}")
    if not name.isprintable():
        raise SceneError(f"scene name {name[:NAME_MAX]!r} has control characters")
    return name


@dataclass(frozen=True)
class Scene:
    """A voice's settings by name; None = not part of this scene (left as it is)."""

    weights: dict[str, float] | None = None
    temperature: float | None = None
    model_temperature: dict[str, float] | None = None
    mode: str | None = None
    beta: float | None = None  # plausibility with anti-experts (geometric)
    topk: int | None = None
    topp: float | None = None
    slew: float | None = None
    rate: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The settings it holds, as plain TOML/JSON values."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = dict(value) if isinstance(value, dict) else value
        return out


def _checked(short: str, value: Any, what: str) -> Any:
    try:
        return _C(short).args[0].check(value, what)
    except protocol.BadValue as exc:
        raise SceneError(str(exc)) from None


def _table(value: Any, key: str, short: str) -> dict[str, float]:
    if not isinstance(value, dict) or not value:
        raise SceneError(f"'{key}' must be a table of model = number, got {value!r:.60}")
    if len(value) > 4096:
        raise SceneError(f"'{key}' names {len(value)} models")
    return {str(k)[:NAME_MAX * 4]: float(_checked(short, v, f"'{key}.{k}'"))
            for k, v in value.items()}


def scene_from(values: Any) -> Scene:
    """A scene from a TOML/JSON table; SceneError (one line) for anything wrong in it."""
    if not isinstance(values, dict):
        raise SceneError(f"must be a table of settings, got {type(values).__name__}")
    unknown = sorted(str(k) for k in values if k not in SETTINGS)
    if unknown:
        raise SceneError(f"unknown setting {unknown[0]!r:.60} (known: {', '.join(SETTINGS)})")
    if not values:
        raise SceneError("holds no settings")
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key == "weights":
            out[key] = _table(value, key, "weight/{name}")
        elif key == "model_temperature":
            out[key] = _table(value, key, "model/{name}/temperature")
        else:
            out[key] = _checked(key, value, f"'{key}'")
    return Scene(**out)


def capture(controls: Controls) -> Scene:
    """A voice's settings now (its target weights, not the slewed ones; no rate)."""
    s = controls.snapshot()
    names = controls.names
    return Scene(
        weights={n: float(w) for n, w in zip(names, controls.target_weights(), strict=True)},
        temperature=float(s.temperature),
        model_temperature={n: float(t) for n, t in
                           zip(names, np.asarray(s.model_temperature), strict=True) if t > 0},
        mode=s.mode, beta=float(s.beta), topk=int(s.topk), topp=float(s.topp),
        slew=float(s.slew),
    )


# ------------------------------------------------------------------------- the arithmetic
@dataclass
class Point:
    """Every setting of a voice as numbers: where a morph starts, or where it goes."""

    weights: np.ndarray  # normalised, in model order
    temperature: float
    model_temperature: np.ndarray  # 0 = follows the global temperature
    mode: str
    topk: int
    topp: float
    slew: float
    rate: float
    beta: float


def point_of(controls: Controls) -> Point:
    s = controls.snapshot()
    return Point(normalise_weights(controls.target_weights()), float(s.temperature),
                 np.asarray(s.model_temperature, np.float64).copy(), s.mode, int(s.topk),
                 float(s.topp), float(s.slew), float(controls.rate), float(s.beta))


def target(scene: Scene, start: Point, names: list[str]) -> tuple[Point, set[str]]:
    """Where `scene` takes a voice that is at `start`, and which settings it moves. Weights
    of models the scene does not name go to 0; a scene naming none of this daemon's models
    leaves the weights alone."""
    end = Point(start.weights.copy(), start.temperature, start.model_temperature.copy(),
                start.mode, start.topk, start.topp, start.slew, start.rate, start.beta)
    keys: set[str] = set()
    if scene.weights is not None:
        w = np.array([scene.weights.get(n, 0.0) for n in names], np.float64)
        if w.max() > 0:  # (signed: anti-experts in geometric mode)
            end.weights = normalise_weights(w)
            keys.add("weights")
    if scene.model_temperature is not None:
        known = {n: t for n, t in scene.model_temperature.items() if n in names}
        if known:
            end.model_temperature = np.array([known.get(n, 0.0) for n in names], np.float64)
            keys.add("model_temperature")
    for key in ("temperature", "mode", "beta", "topk", "topp", "slew", "rate"):
        value = getattr(scene, key)
        if value is not None:
            setattr(end, key, value)
            keys.add(key)
    return end, keys


def _log_lerp(a: float, b: float, p: float) -> float:
    return math.exp((1.0 - p) * math.log(a) + p * math.log(b))


def between(a: Point, b: Point, p: float, keys: Iterable[str]) -> dict[str, Any]:
    """The settings `keys` at progress p (0 = a, 1 = b exactly)."""
    p = min(max(p, 0.0), 1.0)
    half = p >= 0.5
    out: dict[str, Any] = {}
    for key in keys:
        if p >= 1.0:
            out[key] = getattr(b, key)
        elif key == "weights":
            out[key] = (1.0 - p) * a.weights + p * b.weights
        elif key == "temperature":
            out[key] = _log_lerp(a.temperature, b.temperature, p)
        elif key == "model_temperature":
            ta = np.where(a.model_temperature > 0, a.model_temperature, a.temperature)
            tb = np.where(b.model_temperature > 0, b.model_temperature, b.temperature)
            mixed = np.exp((1.0 - p) * np.log(ta) + p * np.log(tb))
            both_follow = (a.model_temperature <= 0) & (b.model_temperature <= 0)
            out[key] = np.where(both_follow, 0.0, mixed)
        elif key in ("mode", "topk"):
            out[key] = getattr(b if half else a, key)
        elif key == "rate" and a.rate > 0 and b.rate > 0:
            out[key] = _log_lerp(a.rate, b.rate, p)
        elif key == "rate":
            out[key] = b.rate if half else a.rate
        else:  # topp, slew, beta
            out[key] = (1.0 - p) * getattr(a, key) + p * getattr(b, key)
    return out


def apply(controls: Controls, values: dict[str, Any]) -> None:
    """Write settings through the validated setters (a morph's or a recall's; not a touch).
    A value a setter refuses (a rounding at a bound) is skipped, never raised into the clock.

    The order is fixed (a set of keys has none): a switch to geometric goes first and one to
    linear last, so anti-expert weights land in the mode that plays them; while a voice is
    linear a negative weight is written as 0, which is how linear plays it anyway."""
    order = sorted(values, key=lambda k: (k == "mode" and values[k] != "geometric",
                                          k != "mode", SETTINGS.index(k)))
    for key in order:
        value = values[key]
        try:
            if key == "weights":
                w = [float(v) for v in value]
                if controls.snapshot().mode != "geometric":
                    w = [max(v, 0.0) for v in w]
                controls.set_weights(w)
            elif key == "beta":
                controls.set_beta(float(value))
            elif key == "model_temperature":
                for name, t in zip(controls.names, value, strict=True):
                    controls.set_model_temperature(name, float(t))
            elif key == "temperature":
                controls.set_temperature(float(value))
            elif key == "mode":
                controls.set_mode(value)
            elif key == "topk":
                controls.set_topk(int(value))
            elif key == "topp":
                controls.set_topp(min(1.0, float(value)))
            elif key == "slew":
                controls.set_slew(float(value))
            elif key == "rate":
                controls.set_rate(float(value))
        except (ControlError, ValueError):
            continue


# ------------------------------------------------------------------------- the book
class SceneBook:
    """The daemon's scenes by name; thread-safe; `on_change()` after every change."""

    def __init__(self, scenes: dict[str, Scene] | None = None) -> None:
        self._lock = threading.Lock()
        self._scenes: dict[str, Scene] = dict(scenes or {})
        self.on_change: Callable[[], None] | None = None

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._scenes)

    def get(self, name: str) -> Scene | None:
        with self._lock:
            return self._scenes.get(name)

    def all(self) -> dict[str, Scene]:
        with self._lock:
            return dict(self._scenes)

    def put(self, name: str, scene: Scene) -> None:
        name = check_name(name)
        with self._lock:
            if name not in self._scenes and len(self._scenes) >= SCENES_MAX:
                raise SceneError(f"{SCENES_MAX} scenes already saved; delete one first")
            self._scenes[name] = scene
        self._changed()

    def delete(self, name: str) -> None:
        with self._lock:
            if self._scenes.pop(name, None) is None:
                raise SceneError(f"no scene {name[:NAME_MAX]!r} (have: {self._have()})")
        self._changed()

    def replace(self, scenes: dict[str, Scene]) -> None:
        """All scenes at once (a restored state); no on_change."""
        with self._lock:
            self._scenes = dict(list(scenes.items())[:SCENES_MAX])

    def missing(self, name: str) -> SceneError:
        with self._lock:
            return SceneError(f"no scene {name[:NAME_MAX]!r} (have: {self._have()})")

    def _have(self) -> str:
        names = sorted(self._scenes)
        text = ", ".join(names[:12]) + (" …" if len(names) > 12 else "")
        return text or "none"

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()
