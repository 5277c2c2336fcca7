"""Which MIDI control does what: the default layout, and user layouts as TOML files.

The default suits an 8-fader controller such as a KORG nanoKONTROL2 in its factory (CC) mode;
docs/controllers.md shows it as a table. A TOML file with the same keys replaces it::

    channel = 0                  # 1-16 listens to one MIDI channel; 0 = any
    temperature_cc = 16          # omit to leave temperature alone
    rate_cc = 17
    temperature_range = [0.1, 2.0]   # CC 0 → 0.1, CC 127 → 2.0, log-scaled
    rate_range = [1.0, 100.0]        # chars/s, log-scaled
    [weights]                    # CC = model: faders set that model's weight (0-127 → 0-1)
    0 = 1                        # a model is a number from 1 (weight order) or a "name"
    1 = "bible"
    [solo_cc]                    # buttons: pressed (>= 64) solos the model, released restores
    32 = 1
    [solo_notes]                 # note-on solos the model, note-off restores
    36 = 1
    [actions]                    # buttons: pressed (>= 64) sends an argument-less message
    41 = "resume"
    42 = "pause"

Every key is optional; a missing table is empty. The file is checked as a whole on load and any
problem is one line naming the file and the key.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from charmix.controllers.sender_messages import entry, limits
from charmix.daemon import protocol

ModelRef = int | str  # 1-based position in weight order, or a model name


class LayoutError(Exception):
    """A mapping file that can't be used; str() is one line naming the file and the problem."""


def action_names() -> list[str]:
    """Messages a button may send: the table's input addresses that take no arguments."""
    prefix = protocol.PREFIX + "/"
    return [a.path.removeprefix(prefix) for a in protocol.INPUT
            if a.types == "" and not a.per_model]


@dataclass(frozen=True)
class MidiLayout:
    channel: int = 0  # 0 = any, 1–16 = that channel only (as printed on the hardware)
    weights: dict[int, ModelRef] = field(default_factory=dict)
    solo_cc: dict[int, ModelRef] = field(default_factory=dict)
    solo_notes: dict[int, ModelRef] = field(default_factory=dict)
    actions: dict[int, str] = field(default_factory=dict)
    temperature_cc: int | None = None
    rate_cc: int | None = None
    temperature_range: tuple[float, float] = (0.1, 2.0)
    rate_range: tuple[float, float] = (1.0, 100.0)
    scene_notes: dict[int, str] = field(default_factory=dict)  # note → a scene to recall

    def cc_roles(self) -> dict[int, str]:
        """Every bound CC → a word for its role (to report clashes and show the layout)."""
        roles: dict[int, str] = {}
        pairs = [(cc, f"weight of model {m}") for cc, m in self.weights.items()]
        pairs += [(cc, f"solo of model {m}") for cc, m in self.solo_cc.items()]
        pairs += [(cc, f"action {a}") for cc, a in self.actions.items()]
        pairs += [(self.temperature_cc, "temperature"), (self.rate_cc, "rate")]
        for cc, role in pairs:
            if cc is None:
                continue
            if cc in roles:
                raise LayoutError(f"CC {cc} is bound twice: {roles[cc]} and {role}")
            roles[cc] = role
        return roles

    def with_learned(self, learned: dict[int, ModelRef]) -> MidiLayout:
        """This layout with `learned` as the weight faders; other roles on those CCs are dropped."""
        def keep(table: dict) -> dict:
            return {k: v for k, v in table.items() if k not in learned}

        return replace(
            self, weights=dict(learned), solo_cc=keep(self.solo_cc), actions=keep(self.actions),
            temperature_cc=None if self.temperature_cc in learned else self.temperature_cc,
            rate_cc=None if self.rate_cc in learned else self.rate_cc,
        )


def default_layout() -> MidiLayout:
    """nanoKONTROL2 factory CCs: faders 0–7, knobs 16–23, S buttons 32–39, transport 41/42."""
    return MidiLayout(
        weights={cc: cc + 1 for cc in range(8)},  # faders → weights of models 1–8
        temperature_cc=16,  # knob 1
        rate_cc=17,  # knob 2
        solo_cc={32 + i: i + 1 for i in range(8)},  # S buttons solo while held
        solo_notes={36 + i: i + 1 for i in range(8)},  # drum pads (C1…G1) solo while held
        actions={41: "resume", 42: "pause"},  # ▶ play, ■ stop
    )


def load_layout(path: Path) -> MidiLayout:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise LayoutError(f"{path}: {exc}") from None
    try:
        return parse_layout(data)
    except LayoutError as exc:
        raise LayoutError(f"{path}: {exc}") from None


def parse_layout(data: dict) -> MidiLayout:
    """A MidiLayout from parsed TOML, every value checked."""
    known = {"channel", "weights", "solo_cc", "solo_notes", "actions", "temperature_cc",
             "rate_cc", "temperature_range", "rate_range", "scene_notes"}
    if unknown := sorted(set(data) - known):
        raise LayoutError(f"unknown key(s) {', '.join(unknown)} "
                          f"(known: {', '.join(sorted(known))})")
    channel = data.get("channel", 0)
    if not isinstance(channel, int) or isinstance(channel, bool) or not 0 <= channel <= 16:
        raise LayoutError(f"channel must be 0 (any) or 1-16, not {channel!r}")
    actions = {_number(k, "actions"): v for k, v in _table(data, "actions").items()}
    for cc, name in actions.items():
        if name not in action_names():
            choices = ", ".join(action_names())
            raise LayoutError(f"actions: CC {cc} = {name!r} is not one of {choices}")
    scene_notes = {}
    name_max = entry("scene/recall").args[0].max_length or 64
    for k, v in _table(data, "scene_notes").items():
        note = _number(k, "scene_notes")
        if not isinstance(v, str) or not 0 < len(v) <= name_max:
            raise LayoutError(f"scene_notes: {k} = {v!r:.40}: a scene is a name of 1 – "
                              f"{name_max} characters")
        scene_notes[note] = v
    layout = MidiLayout(
        channel=channel,
        scene_notes=scene_notes,
        weights=_models(data, "weights"),
        solo_cc=_models(data, "solo_cc"),
        solo_notes=_models(data, "solo_notes"),
        actions=actions,
        temperature_cc=_optional_number(data, "temperature_cc"),
        rate_cc=_optional_number(data, "rate_cc"),
        temperature_range=_range(data, "temperature_range", (0.1, 2.0), "temperature"),
        rate_range=_range(data, "rate_range", (1.0, 100.0), "rate"),
    )
    layout.cc_roles()  # raises on a CC bound twice
    if both := sorted(set(layout.solo_notes) & set(layout.scene_notes)):
        raise LayoutError(f"note {both[0]} is bound twice: a solo and scene_notes")
    return layout


def _table(data: dict, key: str) -> dict:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise LayoutError(f"{key} must be a table ([{key}])")
    return value


def _number(text: object, where: str) -> int:
    """A CC or note number: 0-127 (TOML keys arrive as strings)."""
    try:
        n = int(text)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        n = -1
    if isinstance(text, bool) or not 0 <= n <= 127 or str(n) != str(text).strip():
        raise LayoutError(f"{where}: {text!r} is not a MIDI number 0-127")
    return n


def _optional_number(data: dict, key: str) -> int | None:
    return None if data.get(key) is None else _number(data[key], key)


def _models(data: dict, key: str) -> dict[int, ModelRef]:
    out: dict[int, ModelRef] = {}
    for k, v in _table(data, key).items():
        n = _number(k, key)
        if isinstance(v, bool) or not isinstance(v, int | str) or (isinstance(v, int) and v < 1):
            raise LayoutError(f"{key}: {k} = {v!r}: a model is a number from 1 or a name")
        out[n] = v
    return out


def _range(data: dict, key: str, default: tuple[float, float], what: str) -> tuple[float, float]:
    value = data.get(key, list(default))
    lo_ok, hi_ok = limits(entry(what))
    ok = (isinstance(value, list) and len(value) == 2
          and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value))
    if not ok or not 0 < value[0] < value[1] or value[0] < lo_ok or value[1] > hi_ok:
        raise LayoutError(f"{key} must be [low, high] with 0 < low < high inside the daemon's "
                          f"{what} range {entry(what).args[0].span()}, not {value!r}")
    return float(value[0]), float(value[1])


def dump_layout(layout: MidiLayout, names: list[str] | None = None) -> str:
    """TOML text for a layout; `names` adds a comment naming each numbered model."""
    def ref(m: ModelRef) -> str:
        if isinstance(m, str):
            return json.dumps(m, ensure_ascii=False)  # a TOML basic string
        named = names and 1 <= m <= len(names)
        return f"{m}  # {names[m - 1]}" if named else str(m)  # type: ignore[index]

    lines = ["# charmix MIDI mapping (see docs/controllers.md)",
             f"channel = {layout.channel}  # 0 = any"]
    for key in ("temperature_cc", "rate_cc"):
        value = getattr(layout, key)
        lines.append(f"{key} = {value}" if value is not None else f"# {key} = (unbound)")
    for key in ("temperature_range", "rate_range"):
        lo, hi = getattr(layout, key)
        lines.append(f"{key} = [{lo}, {hi}]")
    for key in ("weights", "solo_cc", "solo_notes"):
        lines += ["", f"[{key}]"] + [f"{k} = {ref(v)}" for k, v in getattr(layout, key).items()]
    lines += ["", "[actions]"] + [f"{k} = {json.dumps(v)}" for k, v in layout.actions.items()]
    if layout.scene_notes:
        lines += ["", "[scene_notes]"] + [f"{k} = {json.dumps(v, ensure_ascii=False)}"
                                          for k, v in layout.scene_notes.items()]
    return "\n".join(lines) + "\n"
