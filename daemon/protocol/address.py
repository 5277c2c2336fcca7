"""Typed OSC addresses: `Arg` and `Address`, the vocabulary of the address table.

daemon/protocol/table.py holds the table itself (and documents this API at its top); this module
holds the types and their rules — checking and clipping a value, matching OSC type tags, the range
as text and as OSCQuery attributes — so the table stays short enough to read as the protocol. Part
of the protocol kernel: standard library only, loaded by every bridge.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache, cached_property
from numbers import Real
from typing import Any, Literal

PREFIX = "/charmix"  # every address starts with it (protocol.PREFIX)

Direction = Literal["in", "out"]
Access = Literal["r", "w", "rw"]
ClipMode = Literal["none", "low", "high", "both"]
Repeat = Literal["", "?", "+"]
Per = Literal["", "model", "vocab"]
Value = float | int | str

OSC_ACCESS = {"r": 1, "w": 2, "rw": 3}  # OSCQuery ACCESS: 1 read, 2 write, 3 both
TRIGGER_TAGS = frozenset("NI")  # what a trigger may carry: Nil, Impulse (no value either way)


class BadValue(ValueError):
    """A value the table refuses; str() is one line: '[what ]must be …, got …'."""


def show_number(x: float) -> str:
    """A bound as people write it: 0.05, 2000, 2^63−1."""
    if isinstance(x, int) and x >= 2**31 and (x + 1) & x == 0:
        return f"2^{(x + 1).bit_length() - 1}−1"
    return f"{x:g}" if isinstance(x, float) else str(x)


def _shown(value: object) -> str:
    text = repr(value) if isinstance(value, str) else show_number(value) if isinstance(
        value, Real) and not isinstance(value, bool) else repr(value)
    return text if len(text) <= 40 else text[:37] + "…"


@dataclass(frozen=True)
class Arg:
    """One argument of an address, or a run of them (``repeat="+"``): its type and range."""

    name: str
    type: Literal["f", "i", "s"]
    repeat: Repeat = ""
    per: Per = ""
    min: float | None = None
    max: float | None = None
    min_open: bool = False
    special: tuple[float, ...] = ()
    values: tuple[str, ...] = ()
    max_length: int | None = None
    clip: ClipMode = "none"
    default: Value | None = None
    unit: str = ""
    description: str = ""

    # -- the range, as numbers and as text ----------------------------------------------------
    @property
    def low(self) -> float:
        """The lowest number accepted (specials included); -inf when unbounded."""
        lows = [v for v in (self.min, *self.special) if v is not None]
        return min(lows) if lows else -math.inf

    @property
    def high(self) -> float:
        highs = [v for v in (self.max, *self.special) if v is not None]
        return max(highs) if highs else math.inf

    def span(self) -> str:
        """The range as text ('' when unconstrained): '0.05 – 5', '0 or 0.05 – 5', '(0, 1]'."""
        if self.values:
            return " | ".join(self.values)
        if self.max_length is not None:
            return f"<= {self.max_length} chars"
        lo, hi = self.min, self.max
        if lo is not None and hi is not None:
            text = (f"({show_number(lo)}, {show_number(hi)}]" if self.min_open
                    else f"{show_number(lo)} – {show_number(hi)}")
        elif lo is not None:
            text = f"{'>' if self.min_open else '>='} {show_number(lo)}"
        elif hi is not None:
            text = f"<= {show_number(hi)}"
        else:
            return ""
        specials = " or ".join(show_number(v) for v in self.special)
        return f"{specials} or {text}" if specials else text

    def oscquery_range(self) -> dict[str, Any]:
        """OSCQuery RANGE for this argument: {"MIN", "MAX"} (either may be absent), {"VALS"}."""
        if self.values:
            return {"VALS": list(self.values)}
        out: dict[str, Any] = {}
        if math.isfinite(self.low):
            out["MIN"] = self.low
        if math.isfinite(self.high):
            out["MAX"] = self.high
        return out

    # -- checking ------------------------------------------------------------------------
    def fits(self, value: object) -> bool:
        """Whether a Python value is of this argument's kind (any number for f and i)."""
        if self.type == "s":
            return isinstance(value, str)
        return isinstance(value, Real) and not isinstance(value, bool)

    def check(self, value: object, what: str = "") -> Value:
        """The value typed (float, int or str) and clipped, or BadValue saying why not."""
        try:
            return self._check(value)
        except BadValue as exc:
            raise BadValue(f"{what} {exc}" if what else str(exc)) from None

    def _check(self, value: object) -> Value:
        if self.type == "s":
            if not isinstance(value, str):
                raise BadValue(f"must be a string, got {_shown(value)}")
            if self.values and value not in self.values:
                raise BadValue(f"must be one of {', '.join(self.values)}, got {_shown(value)}")
            if self.max_length is not None and len(value) > self.max_length:
                if self.clip in ("high", "both"):
                    return value[-self.max_length :]  # a prime: the recent past matters
                raise BadValue(f"must be at most {self.max_length} characters, got {len(value)}")
            return value
        if not self.fits(value):
            kind = "a whole number" if self.type == "i" else "a number"
            raise BadValue(f"must be {kind}, got {_shown(value)}")
        number: float | int = value  # type: ignore[assignment]
        if isinstance(number, float) and not math.isfinite(number):
            raise BadValue(f"must be finite, got {number}")
        if self.type == "i":
            if isinstance(number, float):
                if not number.is_integer():
                    raise BadValue(f"must be a whole number, got {show_number(number)}")
                number = int(number)
            number = int(number)
        else:
            number = float(number)
        number = self._ranged(number)
        if self.type == "i" and not -(2**63) <= number < 2**63:  # what OSC can carry (int64)
            raise BadValue(f"must be a 64-bit integer, got {number}")
        return number

    def _ranged(self, number: float | int) -> float | int:
        """The number clipped to the range by `clip`, or BadValue when it is outside."""
        if number in self.special:
            return number
        lo, hi = self.min, self.max
        below = lo is not None and (number < lo or (self.min_open and number == lo))
        above = hi is not None and number > hi
        if below and self.clip in ("low", "both") and not self.min_open:
            return type(number)(lo)  # type: ignore[arg-type]
        if above and self.clip in ("high", "both"):
            return type(number)(hi)  # type: ignore[arg-type]
        if below or above:
            span = self.span()
            words = "must be" if span.startswith((">", "<")) else "must be in"
            if self.special:
                words = "must be"
            raise BadValue(f"{words} {span}, got {show_number(number)}")
        return number


@dataclass(frozen=True)
class Address:
    """One OSC address in one direction: path, access, typed arguments and meaning."""

    path: str
    access: Access
    description: str
    args: tuple[Arg, ...] = ()
    example: str = ""
    voice: bool = False  # one per voice with --voices K: /charmix/voice/K/… (K >= 1)

    @property
    def direction(self) -> Direction:
        return "in" if "w" in self.access else "out"

    @property
    def osc_access(self) -> int:
        """OSCQuery ACCESS: 1 read-only, 2 write-only, 3 read and write."""
        return OSC_ACCESS[self.access]

    @property
    def short(self) -> str:
        """'/charmix/model/{name}/temperature' → 'model/{name}/temperature'."""
        return self.path.removeprefix(PREFIX + "/")

    @cached_property
    def types(self) -> str:
        """The tag pattern: one letter per argument with its quantifier ('f+', 'i?s?')."""
        return "".join(a.type + a.repeat for a in self.args)

    @property
    def signature(self) -> str:
        """The arguments as docs and help show them: 'w_1 … w_N', 'port [host]'."""
        parts = []
        for a in self.args:
            if a.repeat == "+":
                last = {"model": "N", "vocab": "V"}.get(a.per, "n")
                parts.append(f"{a.name}_1 … {a.name}_{last}")
            else:
                parts.append(f"[{a.name}]" if a.repeat == "?" else a.name)
        return " ".join(parts)

    @property
    def per_model(self) -> bool:
        return "{name}" in self.path

    def for_model(self, name: str) -> str:
        return self.path.replace("{name}", name)

    def template_regex(self) -> re.Pattern[str]:
        """Matches this address's concrete paths; group 1 is the model name."""
        return _template_regex(self.path)

    def label(self, name: str | None = None, index: int | None = None) -> str:
        """What a message calls a value of this address: 'temperature of bible', 'weight 2'."""
        base = self.args[0].name if self.args else self.short
        if index is not None:
            return f"{base} {index + 1}"
        return f"{base} of {name}" if name is not None else base

    def accepts(self, tags: str) -> bool:
        """Whether an incoming message's type tags fit this address's pattern. An address
        without arguments (a trigger) also takes Nil and Impulse (``N``, ``I``): OSCQuery
        clients that follow its TYPE "N" send those."""
        if not self.args and tags and set(tags) <= TRIGGER_TAGS:
            return True
        return _tag_regex(self.types).fullmatch(tags) is not None

    def _match(self, values: Sequence[object]) -> list[Arg]:
        """The Arg each value belongs to, by kind and quantifier; BadValue when they do not fit."""
        out: list[Arg] = []
        i = 0
        for arg in self.args:
            count = 0
            while i < len(values) and arg.fits(values[i]) and (arg.repeat == "+" or count == 0):
                out.append(arg)
                i, count = i + 1, count + 1
            if count == 0 and arg.repeat != "?":
                break
        wanted = self.signature or "no arguments"
        if i != len(values) or len(out) != len(values) or not self.accepts(
                "".join(a.type for a in out)):
            shown = ", ".join(_shown(v) for v in values) or "none"
            raise BadValue(f"{self.path} takes {wanted}, got {shown}")
        return out

    def check(self, values: Sequence[object], name: str | None = None) -> list[Value]:
        """Every value typed and clipped by its Arg, or BadValue (the first problem)."""
        if len(self.args) == 1 and self.args[0].repeat != "?":  # say what is wrong with a value
            arg = self.args[0]
            if not values or (arg.repeat == "" and len(values) != 1):
                n = len(values)
                raise BadValue(f"{self.path} takes {self.signature}, got {n} value"
                               f"{'' if n == 1 else 's'}")
            run = arg.repeat == "+"
            return [arg.check(v, self.label(name, k if run else None))
                    for k, v in enumerate(values)]
        out = []
        for k, (arg, value) in enumerate(zip(self._match(values), values, strict=True)):
            index = k if arg.repeat == "+" else None
            what = self.label(name, index) if index is not None or name else arg.name
            out.append(arg.check(value, what))
        return out

    def tags(self, values: Sequence[object]) -> str:
        """The concrete OSC type tags for `values` (after `check`): 'fff', 'is'."""
        return "".join(a.type for a in self._match(values))

    def oscquery(self, models: int | None = None, vocab: int | None = None) -> dict[str, Any]:
        """This node's OSCQuery attributes (without VALUE, which is the server's live state).

        A ``+`` run is expanded to one entry per model or per vocabulary character when their
        number is given (else it counts once); optional arguments are listed like the others.
        CLIPMODE is "none" for string arguments (OSCQuery clips numbers only).
        """
        expanded: list[Arg] = []
        for a in self.args:
            n = {"model": models, "vocab": vocab}.get(a.per) if a.repeat == "+" else 1
            expanded += [a] * (n if n is not None else 1)
        node: dict[str, Any] = {
            "FULL_PATH": self.path, "ACCESS": self.osc_access, "DESCRIPTION": self.description,
        }
        if expanded:
            node["TYPE"] = "".join(a.type for a in expanded)
            node["RANGE"] = [a.oscquery_range() for a in expanded]
            node["CLIPMODE"] = ["none" if a.type == "s" else a.clip for a in expanded]
            node["UNIT"] = [a.unit or "none" for a in expanded]
        return node


@cache
def _tag_regex(pattern: str) -> re.Pattern[str]:
    classes = {"f": "[ifdh]", "i": "[ifdh]", "s": "s"}
    out = "".join(classes.get(ch, re.escape(ch)) if ch not in "+?*" else ch for ch in pattern)
    return re.compile(out)


@cache
def _template_regex(path: str) -> re.Pattern[str]:
    return re.compile(re.escape(path).replace(re.escape("{name}"), "([^/]+)"))
