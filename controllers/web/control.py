"""Who may steer, and how many hands make one mix: the control side of `charmix web`.

No network and no aiohttp in here, so every rule is tested directly (tests/test_web_control.py).

- A page's message is parsed by `parse` into a small typed record or refused with a reason; the
  page is somebody's phone in a gallery, so nothing it sends is trusted: sizes, kinds, numbers
  (finite, clamped to the pad and to the address table's ranges) are all checked here.
- Every client has a token bucket (`RateLimit`): a page sends at most one pad message per
  animation frame, so 60/s with a burst of 120 never limits a person and stops a script.
- `PinGuard` checks `--pin` codes in constant time and locks an address out after a few wrong
  codes, so a four-digit code cannot be walked through by reconnecting.
- `Arbiter` turns the touches of every controlling client into one weight vector through the
  same PadMapping as `charmix mouse` (the page never computes weights, so there is one copy of
  the mapping): `last` — the newest pad message wins (its fingers blend); `blend` — every
  active touch of every client counts equally; `first` — the first client to touch holds every
  control until it has let go for HOLD_GRACE seconds, the others watch. With `--idle` the
  weights glide back to the rest mix when nobody has touched for that long — or, with `--rest
  score`, the daemon's score takes the voice back (/charmix/score/play: its own morph from
  where the performers left it, one mechanism with `charmix daemon --hand-back`).
"""

from __future__ import annotations

import hmac
import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from charmix.controllers.mapping import PadMapping
from charmix.controllers.sender import Sender
from charmix.controllers.sender_messages import entry, limits
from charmix.daemon import protocol

CONTROL_MODES = ("last", "blend", "first")
MAX_MESSAGE = 2048  # bytes: the largest thing a page sends is a pad message with ten fingers
MAX_TOUCHES = 10
HOLD_GRACE = 2.0  # s: --control first keeps the holder this long after its last touch ends
PIN_TRIES = 5  # wrong codes from one address …
PIN_LOCKOUT = 30.0  # … lock it out this long
PIN_ADDRESSES = 1024  # addresses remembered by the guard (oldest forgotten first)
GLIDE_STEP = 0.05  # s between the weight vectors of an idle glide

WEIGHTS, WEIGHT = entry("weights"), entry("weight/{name}")
TEMPERATURE, MODE, PAUSE, RESUME = (entry(s) for s in ("temperature", "mode", "pause", "resume"))
SCORE_PLAY, RECALL = entry("score/play"), entry("scene/recall")
SCENE_NAME_MAX = RECALL.args[0].max_length or 64
SCENE_MORPH = 2.0  # s: a scene button morphs there (a tap should be heard as a move, not a cut)
REST_SCORE = "score"  # --rest score: at idle, hand the voice back to the daemon's score
T_MIN, T_MAX = limits(TEMPERATURE)
W_MAX = 1.0  # a slider's top; the daemon normalises the weights anyway


@dataclass(frozen=True)
class Pad:
    touches: tuple[tuple[float, float], ...]  # pad units, clamped to [-1, 1]; () = let go


@dataclass(frozen=True)
class Weight:
    index: int
    value: float


@dataclass(frozen=True)
class Setting:
    kind: str  # "temperature" | "mode" | "pause" | "scene"
    value: float | str | bool


@dataclass(frozen=True)
class Pin:
    code: str


Message = Pad | Weight | Setting | Pin


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _clamp(value: float, lo: float, hi: float) -> float:
    return min(max(value, lo), hi)


def parse(text: str | bytes, models: int) -> Message | str:
    """One message from a page, or a short reason why it is refused (never an exception)."""
    if len(text) > MAX_MESSAGE:
        return "message too long"
    try:
        msg = json.loads(text)
    except (ValueError, RecursionError):
        return "not JSON"
    if not isinstance(msg, dict):
        return "not a JSON object"
    kind = msg.get("t")
    if kind == "pad":
        touches = msg.get("touches")
        if not isinstance(touches, list) or len(touches) > MAX_TOUCHES:
            return f"touches must be a list of at most {MAX_TOUCHES} [x, y] pairs"
        out = []
        for touch in touches:
            if not isinstance(touch, list) or len(touch) != 2:
                return "a touch is an [x, y] pair"
            x, y = _number(touch[0]), _number(touch[1])
            if x is None or y is None:
                return "touch coordinates must be finite numbers"
            out.append((_clamp(x, -1.0, 1.0), _clamp(y, -1.0, 1.0)))
        return Pad(tuple(out))
    if kind == "weight":
        index, value = msg.get("i"), _number(msg.get("v"))
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < models:
            return "no such model"
        if value is None:
            return "a weight must be a finite number"
        # signed: a slider below 0 (geometric mode) makes that model an anti-expert; the
        # daemon refuses a negative weight in linear mode (the page offers none there)
        return Weight(index, _clamp(value, -W_MAX, W_MAX))
    if kind == "temperature":
        value = _number(msg.get("v"))
        return "a temperature must be a finite number" if value is None else Setting(
            "temperature", round(_clamp(value, T_MIN, T_MAX), 3))
    if kind == "mode":
        value = msg.get("v")
        return Setting("mode", value) if value in protocol.MODES else "unknown mode"
    if kind == "pause":
        value = msg.get("v")
        return Setting("pause", value) if isinstance(value, bool) else "pause is true or false"
    if kind == "scene":  # a scene button: /charmix/scene/recall NAME (the daemon checks it)
        name = msg.get("v")
        if not isinstance(name, str) or not 0 < len(name) <= SCENE_NAME_MAX:
            return f"a scene is a name of 1 – {SCENE_NAME_MAX} characters"
        return Setting("scene", name)
    if kind == "pin":
        code = msg.get("code")
        return Pin(code) if isinstance(code, str) and len(code) <= 64 else "a PIN is a string"
    return "unknown message"


class RateLimit:
    """A token bucket: `rate` messages per second on average, bursts up to `burst`."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate, self.burst = rate, burst if burst is not None else 2 * rate
        self.tokens, self.stamp = self.burst, -math.inf

    def allow(self, now: float) -> bool:
        if self.stamp == -math.inf:
            self.stamp = now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class PinGuard:
    """`--pin`: a constant-time compare, and a lockout per address after PIN_TRIES wrong codes."""

    def __init__(self, code: str | None) -> None:
        self.code = code
        self._fails: OrderedDict[str, tuple[int, float]] = OrderedDict()  # addr → (count, since)

    @property
    def required(self) -> bool:
        return bool(self.code)

    def check(self, addr: str, code: str, now: float) -> str:
        """'ok', 'wrong' or 'locked'."""
        if not self.code:
            return "ok"
        count, since = self._fails.get(addr, (0, now))
        if count >= PIN_TRIES and now - since < PIN_LOCKOUT:
            return "locked"
        if hmac.compare_digest(code.encode(), self.code.encode()):
            self._fails.pop(addr, None)
            return "ok"
        count = 1 if count >= PIN_TRIES else count + 1  # a lapsed lockout starts over
        self._fails[addr] = (count, now if count == 1 else since)
        self._fails.move_to_end(addr)
        while len(self._fails) > PIN_ADDRESSES:
            self._fails.popitem(last=False)
        return "locked" if count >= PIN_TRIES else "wrong"


@dataclass
class Client:
    """One connected page."""

    id: int
    addr: str
    control: bool  # may steer (not --view-only, PIN given where one is needed)
    limiter: RateLimit
    touches: tuple[tuple[float, float], ...] = ()
    touched: float = -math.inf  # when its last pad message came
    refused: int = 0  # messages refused (bad, rate-limited, not allowed)
    dropped: int = 0  # frames it was too slow to take


@dataclass
class Arbiter:
    """Every client's touches and settings → OSC through one Sender (see the module docstring)."""

    mapping: PadMapping
    sender: Sender
    mode: str = "last"
    idle: float = 0.0  # s without touches before the glide to `rest` (0 = never)
    rest: Sequence[float] = ()
    glide: float = 4.0  # s the glide takes
    clock: Callable[[], float] = time.monotonic
    to_score: bool = False  # at idle: /charmix/score/play instead of a glide (--rest score)
    clients: dict[int, Client] = field(default_factory=dict)
    holder: int | None = None
    last_touch: float = field(default=0.0)
    daemon_weights: list[float] = field(default_factory=list)  # from the daemon's frames
    _glide_from: list[float] | None = None
    _glide_start: float = 0.0
    _rested: bool = False
    _last_pad: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in CONTROL_MODES:
            raise ValueError(f"--control must be one of {', '.join(CONTROL_MODES)}")
        self.last_touch = self.clock()

    # -- clients -----------------------------------------------------------------------------
    def join(self, client: Client) -> None:
        self.clients[client.id] = client

    def leave(self, client_id: int) -> None:
        client = self.clients.pop(client_id, None)
        if client is not None and client.touches:
            client.touches = ()
            self._send_pad()
        if self.holder == client_id:
            self.holder = None

    def allowed(self, client: Client, now: float) -> bool:
        """May this client steer right now (role, and the holder rule of --control first)?"""
        if not client.control:
            return False
        if self.mode != "first":
            return True
        self._expire_holder(now)
        return self.holder is None or self.holder == client.id

    def _expire_holder(self, now: float) -> None:
        held = self.clients.get(self.holder) if self.holder is not None else None
        if held is None or (not held.touches and now - held.touched > HOLD_GRACE):
            self.holder = None

    # -- messages ----------------------------------------------------------------------------
    def apply(self, client: Client, msg: Pad | Weight | Setting, now: float) -> str | None:
        """Act on one parsed control message; the reason when it is not allowed."""
        if not self.allowed(client, now):
            client.refused += 1
            return "view only" if not client.control else "another performer holds the controls"
        if self.mode == "first":
            self.holder = client.id
        self._touched(now)
        if isinstance(msg, Pad):
            client.touches, client.touched = msg.touches, now
            if msg.touches:
                self._last_pad = client.id
            self._send_pad()
        elif isinstance(msg, Weight):
            client.touched = now
            name = self.mapping.names[msg.index]
            self.sender.set(WEIGHT, msg.value, name=name)
        elif msg.kind == "pause":
            self.sender.event(PAUSE if msg.value else RESUME)
        elif msg.kind == "scene":
            self.sender.event(RECALL, msg.value, SCENE_MORPH)
        else:
            self.sender.set(TEMPERATURE if msg.kind == "temperature" else MODE, msg.value)
        return None

    def _touched(self, now: float) -> None:
        self.last_touch = now
        self._glide_from, self._rested = None, False

    def active_touches(self) -> list[tuple[float, float]]:
        """The touches that make the mix now, under the --control rule."""
        if self.mode == "blend":
            return [t for c in self.clients.values() if c.control for t in c.touches]
        who = self.holder if self.mode == "first" else self._last_pad
        client = self.clients.get(who) if who is not None else None
        return list(client.touches) if client is not None else []

    def weights_for(self, touches: Sequence[tuple[float, float]]) -> list[float]:
        """The mean of the mapping's weights at each touch: several fingers blend."""
        vectors = [self.mapping.weights(x, y) for x, y in touches]
        return [math.fsum(col) / len(vectors) for col in zip(*vectors, strict=True)]

    def _send_pad(self) -> None:
        touches = self.active_touches()
        if touches:  # all fingers up: the daemon keeps the mix where the gesture ended
            self.sender.set(WEIGHTS, *self.weights_for(touches))

    # -- the idle glide ----------------------------------------------------------------------
    def tick(self, now: float) -> list[float] | None:
        """Call every GLIDE_STEP s: glides to the rest mix once nobody has touched for `idle` s.
        Returns the vector it sent, if any."""
        if self.mode == "first":
            self._expire_holder(now)
        if not self.idle or self._rested or now - self.last_touch < self.idle:
            return None
        if any(c.touches for c in self.clients.values()):
            return None  # a finger resting on the pad is not idle
        if self.to_score:  # the daemon morphs back itself; sent once per idle spell
            self.sender.event(SCORE_PLAY)
            self._rested = True
            return None
        if self._glide_from is None:
            start = self.daemon_weights if len(self.daemon_weights) == len(self.rest) else None
            self._glide_from = list(start or self.rest)
            self._glide_start = now
        f = 1.0 if self.glide <= 0 else min((now - self._glide_start) / self.glide, 1.0)
        f = f * f * (3 - 2 * f)  # smoothstep: no jolt at either end
        vector = [a + (b - a) * f for a, b in zip(self._glide_from, self.rest, strict=True)]
        self.sender.set(WEIGHTS, *vector)
        if f >= 1.0:
            self._rested = True
        return vector


def parse_rest(text: str, names: Sequence[str]) -> list[float]:
    """--rest: 'even', 'w1,w2,…' in model order, or 'NAME=W,NAME=W' (others 0) → a vector;
    'score' → [] (the score takes the voice back)."""
    text = text.strip()
    if text == REST_SCORE:  # no mix of its own: the daemon's score (Arbiter.to_score)
        return []
    if text in ("", "even"):
        return [1.0 / len(names)] * len(names)
    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        if all("=" in p for p in parts):
            vector = [0.0] * len(names)
            for part in parts:
                name, _, value = part.partition("=")
                name = name.strip()
                if name not in names:
                    raise ValueError(f"no model named {name!r} (models: {', '.join(names)})")
                vector[list(names).index(name)] = float(value)
        else:
            vector = [float(p) for p in parts]
            if len(vector) != len(names):
                raise ValueError(f"{len(vector)} weights for {len(names)} models")
    except ValueError as exc:
        why = str(exc) if "model" in str(exc) else "weights must be numbers"
        raise ValueError(f"--rest {text!r}: {why}") from None
    if not all(math.isfinite(v) and v >= 0 for v in vector) or not sum(vector) > 0:
        raise ValueError(f"--rest {text!r}: weights must be >= 0 and not all 0")
    total = math.fsum(vector)
    return [v / total for v in vector]
