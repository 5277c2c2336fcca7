"""The score: what an installation plays by itself, read from a TOML file (`--score FILE`).

    loop = true                      # or false: play once and stay at the last cue
    epoch = 1767225600               # optional, looping scores only: align the cycle to the
                                     # wall clock (unix seconds; cycles start at epoch + n × length)
    [scenes.morning]                 # scenes of the score's own (also the --scenes file's)
    weights = { bible = 1, austen = 0.5 }
    temperature = 0.6

    [[cue]]                          # voice 0's part: cues in order
    scene = "morning"
    morph = 20                       # seconds from wherever the voice is
    hold = 600                       # seconds at the scene

    [[cue]]
    drift = ["bible", "linux", "latex"]   # a seeded random walk through these models' weights
    speed = 0.02                     # simplex units per second
    margin = 0.1                     # no model below this while drifting (away from corners)
    duration = 300                   # seconds

    [[part]]                         # another voice's part (with --voices K)
    voice = 1
    [[part.cue]]
    scene = "evening"
    hold = 60

Time in a score is the clock's: each step advances it by the step's nominal period, so the
weights at step n are a function of n alone (tests compare the frames with the straight line by
step number) and a recording replays exactly. A drift's walk is drawn from a generator seeded by
the score's seed, the part, the cue and the cycle, so a looping drift never repeats exactly but a
replay does. With `epoch` the clock's grid falls on the wall clock's multiples of the period and
every step's place in the cycle is the wall clock's (a part more than half a period off seeks to
it), so daemons on machines with synchronised clocks play the same cue at the same moment, and
one restarted or paused rejoins them. (There the weights of step n follow the wall clock, not n.)

A problem in the file is one ScoreError line naming the cue (and its line in the file).
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from charmix.daemon import protocol
from charmix.daemon.live.scenes import Scene, SceneError, check_name, scene_from

MAX_BYTES = 1 << 20  # a score is a few KB
CUES_MAX = 4096
SECONDS_MAX = 366 * 86400.0  # a cue of a year at most
DEMO = "demo"  # --score demo: the tour shipped with charmix (daemon/live/demo_score.toml)
DEMO_PATH = Path(__file__).with_name("demo_score.toml")


class ScoreError(ValueError):
    """A score that cannot be played; str() is one line naming what and where."""


@dataclass(frozen=True)
class Drift:
    """A slow seeded walk through the weights of `models` (names)."""

    models: tuple[str, ...]
    speed: float  # simplex units (Euclidean) per second
    margin: float  # least weight of each drifting model
    seed: int | None = None


@dataclass(frozen=True)
class Cue:
    """A scene reached over `morph` seconds and held for `hold`, or a drift for `hold`."""

    scene: str = ""
    morph: float = 0.0
    hold: float = 0.0
    drift: Drift | None = None

    @property
    def length(self) -> float:
        return self.morph + self.hold

    @property
    def title(self) -> str:
        return self.scene if self.drift is None else "drift"


@dataclass(frozen=True)
class Part:
    voice: int
    cues: tuple[Cue, ...]

    @property
    def length(self) -> float:
        return sum(c.length for c in self.cues)


@dataclass(frozen=True)
class Score:
    parts: tuple[Part, ...]
    loop: bool = True
    epoch: float | None = None
    scenes: dict[str, Scene] = field(default_factory=dict)
    seed: int = 0
    source: str = ""


def _number(value: Any, what: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScoreError(f"{what} must be a number, got {value!r:.40}")
    if not math.isfinite(value) or not low <= value <= high:
        raise ScoreError(f"{what} must be in {low:g} – {high:g}, got {value:g}")
    return float(value)


def _cue(raw: Any, what: str) -> Cue:
    if not isinstance(raw, dict):
        raise ScoreError(f"{what} must be a table")
    known = {"scene", "morph", "hold", "drift", "speed", "margin", "duration", "seed"}
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        raise ScoreError(f"{what}: unknown key {unknown[0]!r:.40} "
                         f"(known: {', '.join(sorted(known))})")
    if "drift" in raw:
        models = raw["drift"]
        if (not isinstance(models, list) or not models or len(models) > 256
                or not all(isinstance(m, str) for m in models)):
            raise ScoreError(f"{what}: 'drift' must be a list of model names")
        margin = _number(raw.get("margin", 0.05), f"{what}: 'margin'", 0.0, 1.0 / len(models))
        seed = raw.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ScoreError(f"{what}: 'seed' must be a whole number >= 0")
        drift = Drift(tuple(models), _number(raw.get("speed", 0.02), f"{what}: 'speed'", 1e-6,
                                             10.0), margin, seed)
        hold = _number(raw.get("duration", raw.get("hold", 60.0)), f"{what}: 'duration'", 0.0,
                       SECONDS_MAX)
        return Cue(hold=hold, drift=drift)
    if "scene" not in raw:
        raise ScoreError(f"{what} needs a 'scene' (or a 'drift')")
    try:
        name = check_name(raw["scene"])
    except SceneError as exc:
        raise ScoreError(f"{what}: {exc}") from None
    morph = _number(raw.get("morph", 0.0), f"{what}: 'morph'", 0.0, SECONDS_MAX)
    hold = _number(raw.get("hold", 0.0), f"{what}: 'hold'", 0.0, SECONDS_MAX)
    return Cue(scene=name, morph=morph, hold=hold)


def _cues(raw: Any, what: str) -> tuple[Cue, ...]:
    if not isinstance(raw, list) or not raw:
        raise ScoreError(f"{what} has no cues ([[cue]] tables)")
    if len(raw) > CUES_MAX:
        raise ScoreError(f"{what} has {len(raw)} cues; at most {CUES_MAX}")
    cues = tuple(_cue(c, f"cue {i}{'' if what == 'the score' else ' of ' + what}")
                 for i, c in enumerate(raw))
    if sum(c.length for c in cues) <= 0:
        raise ScoreError(f"{what} lasts 0 seconds (give its cues a hold or morph time)")
    return cues


def parse(raw: dict[str, Any], seed: int = 0, source: str = "") -> Score:
    """A Score from a TOML document's table; ScoreError naming the problem."""
    known = {"loop", "epoch", "scenes", "cue", "part"}
    unknown = sorted(str(k) for k in raw if k not in known)
    if unknown:
        raise ScoreError(f"unknown key {unknown[0]!r:.40} (known: {', '.join(sorted(known))})")
    loop = raw.get("loop", True)
    if not isinstance(loop, bool):
        raise ScoreError("'loop' must be true or false")
    epoch = raw.get("epoch")
    if epoch is not None:
        if hasattr(epoch, "timestamp"):  # a TOML date-time
            epoch = epoch.timestamp()
        epoch = _number(epoch, "'epoch'", 0.0, 1e11)
        if not loop:
            raise ScoreError("'epoch' aligns a looping score; this one has loop = false")
    scenes: dict[str, Scene] = {}
    table = raw.get("scenes", {})
    if not isinstance(table, dict):
        raise ScoreError("'scenes' must be a table of [scenes.NAME] tables")
    for name, values in table.items():
        try:
            scenes[check_name(name)] = scene_from(values)
        except SceneError as exc:
            raise ScoreError(f"scene {str(name)[:64]!r}: {exc}") from None
    parts: list[Part] = []
    if "cue" in raw:
        parts.append(Part(0, _cues(raw["cue"], "the score")))
    extra = raw.get("part", [])
    if not isinstance(extra, list):
        raise ScoreError("'part' must be [[part]] tables")
    for i, part in enumerate(extra):
        if not isinstance(part, dict):
            raise ScoreError(f"part {i} must be a table")
        voice = part.get("voice", 0)
        if isinstance(voice, bool) or not isinstance(voice, int) or not 0 <= voice < \
                protocol.VOICES_MAX:
            raise ScoreError(f"part {i}: 'voice' must be 0 – {protocol.VOICES_MAX - 1}")
        if any(p.voice == voice for p in parts):
            raise ScoreError(f"part {i}: voice {voice} has a part already")
        parts.append(Part(voice, _cues(part.get("cue"), f"part {i}")))
    if not parts:
        raise ScoreError("has no cues ([[cue]] tables)")
    return Score(tuple(parts), loop, epoch, scenes, seed, source)


def _line_of(text: str, message: str) -> int | None:
    """The line a problem is on, best effort: the n-th [[cue]] of a 'cue n' message."""
    match = re.match(r"cue (\d+)", message)
    if match:
        header = r"^[ \t]*\[\[[ \t]*(part\.)?cue[ \t]*\]\]"
        starts = [m.start() for m in re.finditer(header, text, re.M)]
        n = int(match.group(1))
        if n < len(starts):
            return text.count("\n", 0, starts[n]) + 1
    match = re.match(r"scene '([^']*)'", message)
    if match:
        at = text.find(match.group(1))
        if at >= 0:
            return text.count("\n", 0, at) + 1
    return None


def load(spec: str | Path, seed: int = 0) -> Score:
    """Read a score file (or "demo"); ScoreError: one line naming the file, line and problem."""
    path = DEMO_PATH if str(spec) == DEMO else Path(spec)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ScoreError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > MAX_BYTES:
        raise ScoreError(f"{path}: over {MAX_BYTES >> 10} KB, too large to be a score")
    try:
        text = data.decode("utf-8")
        raw = tomllib.loads(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ScoreError(f"{path}: not valid TOML ({exc})") from None
    try:
        return parse(raw, seed, str(path))
    except ScoreError as exc:
        line = _line_of(text, str(exc))
        where = f" line {line}:" if line else ""
        raise ScoreError(f"{path}:{where} {exc}") from None


# ---------------------------------------------------------------------------- the drift
class Walk:
    """A drift in motion: straight lines between random waypoints inside the part of the
    simplex where each drifting model has at least `margin` (and the others 0), at `speed`."""

    def __init__(self, drift: Drift, index: list[int], n: int, seed: int) -> None:
        self.drift = drift
        self.index = index  # the drifting models' positions in model order
        self.n = n
        self.rng = np.random.default_rng(seed)
        self.at: np.ndarray | None = None
        self.goal = self._waypoint()

    def _waypoint(self) -> np.ndarray:
        goal = np.zeros(self.n)
        k = len(self.index)
        if k:
            inside = self.rng.dirichlet(np.ones(k))
            goal[self.index] = self.drift.margin + (1.0 - k * self.drift.margin) * inside
        return goal

    def step(self, weights: np.ndarray, dt: float) -> np.ndarray:
        """The weights one step of dt further along (starting from `weights` the first time)."""
        if self.at is None:
            self.at = np.asarray(weights, np.float64).copy()
        travel = self.drift.speed * dt
        for _ in range(8):  # several waypoints in one step only at absurd speeds
            gap = self.goal - self.at
            dist = float(np.sqrt(gap @ gap))
            if dist > travel:
                self.at = self.at + gap * (travel / dist)
                break
            self.at, travel = self.goal, travel - dist
            self.goal = self._waypoint()
        return self.at
