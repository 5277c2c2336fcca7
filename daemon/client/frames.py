"""What `charmix monitor` knows about a daemon, updated one datagram at a time.

This is the monitor's OSC reader, and the one part of it that meets the network: every datagram
is untrusted. Whatever arrives (random bytes, NaN or inf where a step number belongs, a status
with fields a newer daemon appended, thousands of distinct indices) ends in a counter, never in
an exception, and nothing it keeps grows without bound.
"""

from __future__ import annotations

import math
import re
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from charmix.daemon import protocol
from charmix.daemon.protocol import oscread

RATE_WINDOW = 2.0  # seconds of arrivals behind the chars/s figure
LEARNED_MAX = 4096  # /charmix/index -> char pairs kept until the vocabulary arrives
DISTS_MAX = 64  # per-model distributions kept while the model names are not known
ARRIVALS_MAX = 8192  # step arrival times kept for chars/s (2 s at 4,000 chars/s)
_OUT = {a.path: a for a in protocol.OUTPUT if not a.per_model}
_PER_MODEL = [
    (re.compile(re.escape(a.path).replace(re.escape("{name}"), "([^/]+)") + "$"), a)
    for a in protocol.OUTPUT
    if a.per_model
]
_STEP = f"{protocol.PREFIX}/step"
_VOICES = protocol.VOICE_PREFIX
_FRAME = {f"{protocol.PREFIX}/{name}" for name in protocol.FRAME_ADDRESSES}
_MODEL = f"{protocol.PREFIX}/model/"
_STATUS = f"{protocol.PREFIX}/status"
_NUMBERS = ("step", "index")  # keys whose one argument must be a finite whole number
_SCENES = f"{protocol.PREFIX}/scenes"  # may come with no names at all (none saved)
_SCENE_VOICED = {f"{protocol.PREFIX}/scene/current", f"{protocol.PREFIX}/scene/progress"}
SCENES_MAX = protocol.control("scene/save").args[0].max_length or 64  # shown name length


def _tags(params: list[Any]) -> str:
    """OSC type tags of parsed arguments (python-osc keeps the values, not the tags)."""
    out = []
    for p in params:
        if isinstance(p, str):
            out.append("s")
        elif isinstance(p, bool) or p is None:
            out.append("T")  # never valid in a charmix message
        elif isinstance(p, int):
            out.append("i")
        elif isinstance(p, float):
            out.append("f")
        else:
            out.append("b")
    return "".join(out)


@dataclass
class Counters:
    """What arrived and what went wrong; every bad input ends here, never in an exception."""

    datagrams: int = 0
    bytes: int = 0
    messages: int = 0
    malformed: int = 0  # not parseable as OSC
    unknown: int = 0  # OSC, but no output address of the table
    bad_args: int = 0  # a known address with the wrong types or vector length
    dropped_steps: int = 0  # gaps in /charmix/step: every datagram of those steps was lost
    incomplete: int = 0  # steps that arrived without all their frame messages
    restarts: int = 0  # the step counter went backwards (daemon restarted)


@dataclass
class MonitorState:
    """Everything the view shows, updated one datagram at a time (latest value wins)."""

    history: int = 4096
    voice: int = 0  # which voice's frames to show (a daemon with --voices K sends K streams)
    counters: Counters = field(default_factory=Counters)
    models: list[str] = field(default_factory=list)
    vocab: str = ""
    step: int | None = None
    mix: np.ndarray | None = None
    dists: dict[str, np.ndarray] = field(default_factory=dict)
    weights: list[float] = field(default_factory=list)
    attribution: list[float] = field(default_factory=list)
    entropy: list[float] = field(default_factory=list)
    status: dict[str, float] = field(default_factory=dict)
    last_rx: float | None = None  # monotonic time of the last datagram
    scene: str = ""  # the scene or cue the voice is at or moving to ('' = no morph, no score)
    progress: float = 0.0  # of that morph, hold or drift, 0 – 1
    scenes: list[str] = field(default_factory=list)  # the daemon's saved scenes

    def __post_init__(self) -> None:
        self.text: deque[list[Any]] = deque(maxlen=self.history)  # [char, model index | None]
        self.arrivals: deque[float] = deque(maxlen=ARRIVALS_MAX)
        # index -> char from /charmix/index, until vocab comes; oldest forgotten past LEARNED_MAX
        self.learned: OrderedDict[int, str] = OrderedDict()
        self._frame: set[str] | None = None
        self._pending: list[Any] | None = None  # the text entry awaiting its attribution

    # -- input ----------------------------------------------------------------------------
    def feed(self, data: bytes, now: float) -> None:
        """Apply one datagram. A datagram holding /charmix/step starts a new frame."""
        c = self.counters
        c.datagrams += 1
        c.bytes += len(data)
        self.last_rx = now
        try:
            messages = oscread.messages(data)
        except Exception:  # ParseError, MalformedPacket, and worse on hostile bytes
            c.malformed += 1
            return
        seen = [(self._as_voice(m.address), m) for m in messages]
        if any(address == _STEP for address, _ in seen):
            self._close_frame()
            self._frame = set()
        for address, m in seen:
            c.messages += 1
            if address is None:  # another voice's frame: not ours to show, nothing wrong
                continue
            try:
                self._apply(address, list(m.params), now)
            except Exception:  # a case the checks below missed: count it, keep monitoring
                c.bad_args += 1

    def _as_voice(self, address: str) -> str | None:
        """The address as the chosen voice's view reads it: '/charmix/voice/K/char' →
        '/charmix/char' for voice K; None for another voice's frame messages."""
        if address.startswith(_VOICES):
            number, _, rest = address[len(_VOICES):].partition("/")
            return f"{protocol.PREFIX}/{rest}" if number == str(self.voice) else None
        if self.voice and (address in _FRAME or address.startswith(_MODEL)
                           or address in _SCENE_VOICED):
            return None  # voice 0's frames
        return address

    def _close_frame(self) -> None:
        expected = {f"{protocol.PREFIX}/{name}" for name in protocol.FRAME_ADDRESSES}
        if self._frame is not None and not expected <= self._frame:
            self.counters.incomplete += 1

    def _apply(self, address: str, args: list[Any], now: float) -> None:
        entry, name = _OUT.get(address), None
        if entry is None:
            for pattern, template in _PER_MODEL:
                if match := pattern.match(address):
                    entry, name = template, match.group(1)
                    break
        if entry is None:
            self.counters.unknown += 1
            return
        if not self._args_ok(entry, args):
            self.counters.bad_args += 1
            return
        if self._frame is not None:
            self._frame.add(address)
        key = entry.path.removeprefix(protocol.PREFIX + "/")
        if name is not None:
            if self.models and name not in self.models:
                self.counters.unknown += 1  # a model this daemon does not announce
                return
            self.dists[name] = np.asarray(args, np.float64)
            while len(self.dists) > DISTS_MAX:  # names unknown yet: keep the latest few
                del self.dists[next(iter(self.dists))]
        elif key == "char":
            self._pending = [args[0], None]
            self.text.append(self._pending)
        elif key == "index" and self._pending is not None:
            self._learn(int(args[0]), self._pending[0])
        elif key == "step":
            self._on_step(int(args[0]), now)
        elif key == "dist":
            self.mix = np.asarray(args, np.float64)
        elif key in ("weights", "attribution", "entropy"):
            setattr(self, key, [float(x) for x in args])
            if key == "attribution" and self._pending is not None:
                self._pending[1] = int(np.argmax(args))
                self._pending = None
        elif key == "models":
            if args != self.models:
                self.dists = {k: v for k, v in self.dists.items() if k in args}
            self.models = list(args)
        elif key == "vocab":
            self.vocab = args[0]
        elif key == "scene/current":
            self.scene = args[0][:SCENES_MAX]
        elif key == "scene/progress":
            self.progress = float(args[0])
        elif key == "scenes":
            self.scenes = [str(a)[:SCENES_MAX] for a in args[:256]]
        elif key == "status":
            # Fields are only ever appended (docs/osc.md): keep the ones this monitor knows.
            self.status = dict(zip(protocol.STATUS_FIELDS, map(float, args), strict=False))

    def _args_ok(self, entry: protocol.Address, args: list[Any]) -> bool:
        """Types, vector lengths and values a view can use; anything else is bad_args."""
        tags = _tags(args)
        if entry.path == _STATUS:  # a newer daemon's extra fields are fine, fewer are not
            return len(tags) >= len(protocol.STATUS_FIELDS) and set(tags) <= {"i", "f"}
        if entry.path == _SCENES:  # no names when none are saved
            return set(tags) <= {"s"}
        if not entry.accepts(tags) or not self._sizes_ok(entry.path, args):
            return False
        key = entry.path.rsplit("/", 1)[-1]
        if key == "char":  # one character per step: anything else would garble the view
            return len(args[0]) == 1
        if key in _NUMBERS:  # int(NaN) and int(inf) raise; a float step is fine if whole
            value = args[0]
            return isinstance(value, int) or (math.isfinite(value) and value == int(value))
        return True

    def _learn(self, index: int, char: str) -> None:
        self.learned[index] = char
        self.learned.move_to_end(index)
        while len(self.learned) > LEARNED_MAX:
            self.learned.popitem(last=False)

    def _sizes_ok(self, path: str, args: list[Any]) -> bool:
        """Vector lengths must fit the announced vocabulary and models (once they are known)."""
        if path.endswith("/dist") and self.vocab:
            return len(args) == len(self.vocab)
        if path.rsplit("/", 1)[-1] in ("weights", "attribution", "entropy") and self.models:
            return len(args) == len(self.models)
        return True

    def _on_step(self, step: int, now: float) -> None:
        if self.step is not None:
            if step > self.step + 1:
                self.counters.dropped_steps += step - self.step - 1
            elif step <= self.step:
                self.counters.restarts += 1
                self.arrivals.clear()
        self.step = step
        self.arrivals.append(now)

    # -- derived --------------------------------------------------------------------------
    def chars_per_s(self, now: float) -> float:
        """Steps received per second over the last RATE_WINDOW seconds."""
        while self.arrivals and self.arrivals[0] < now - RATE_WINDOW:
            self.arrivals.popleft()
        if len(self.arrivals) < 2:
            return 0.0
        # Intervals between arrivals; measured to `now` so the figure falls when the text stops.
        return (len(self.arrivals) - 1) / max(now - self.arrivals[0], 1e-6)

    def char_at(self, index: int) -> str:
        if 0 <= index < len(self.vocab):
            return self.vocab[index]
        return self.learned.get(index, "")

    def top(self, p: np.ndarray | None, k: int) -> list[tuple[str, float]]:
        if p is None or p.size == 0:
            return []
        k = min(k, p.size)
        best = np.argpartition(-p, k - 1)[:k]
        best = best[np.argsort(-p[best], kind="stable")]
        return [(self.char_at(int(i)) or f"#{i}", float(p[i])) for i in best]


