"""`charmix leap`: a hand over an Ultraleap/LeapMotion device steers the mix.

Palm x and z (millimetres over the device) inside the interaction box [-box, box]² map onto the
pad (mapping.py): x to the right, z away from the performer is "up". Pinch strength lowers the
temperature (open hand t_open, full pinch t_pinch, log-scaled), a fist (grab_strength > 0.8,
released below 0.6) freezes the mix so the hand can leave, and no hand means the daemon keeps
what it has: the bridge sends nothing.

Everything goes through `LeapMapper.handle(HandFrame)`. Live frames come from Ultraleap's Python
bindings (the `leap` module of github.com/ultraleap/leapc-python-bindings, imported only here,
inside a function); `--record` writes the frames used as JSON lines and `--replay` plays such a
file through the same mapper with its timing, so the instrument can be rehearsed, tested and
installed without the hardware.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import IO

from charmix.controllers.mapping import PadMapping
from charmix.controllers.sender import Sender
from charmix.controllers.sender_messages import Command, entry
from charmix.daemon.common.signals import install_stop_handlers

WEIGHTS, TEMPERATURE = entry("weights"), entry("temperature")
GRAB_ON, GRAB_OFF = 0.8, 0.6  # fist freezes above GRAB_ON, opens again below GRAB_OFF
RETRY = 3.0  # s between attempts to reach the tracking service
INSTALL_HINT = (
    "Ultraleap's Python bindings (the `leap` module) are not installed: install the Ultraleap "
    "Gemini hand-tracking service, then in a clone of github.com/ultraleap/leapc-python-bindings "
    "build and install leapc-cffi first (`pip install -r requirements.txt`, `python -m build "
    "leapc-cffi`, `pip install leapc-cffi/dist/leapc_cffi-*.tar.gz`), then `pip install -e "
    "leapc-python-api`, all with charmix's Python (the PyPI package named `leap` is unrelated); "
    "see docs/controllers.md. Without a device: charmix leap --replay FILE"
)


@dataclass(frozen=True)
class HandFrame:
    """One tracking frame as the bridge uses it; also one line of a --record file."""

    t: float  # seconds since the start of the recording
    x: float  # palm position, mm: right of the device's centre
    y: float  # height above the device (recorded, not mapped)
    z: float  # towards the performer
    pinch: float  # 0 (open) – 1 (thumb and index touching)
    grab: float  # 0 (open) – 1 (fist)

    def to_json(self) -> str:
        return json.dumps({k: round(v, 4) for k, v in asdict(self).items()})

    @classmethod
    def from_json(cls, line: str) -> HandFrame:
        """Parse one record line; ValueError (with the reason) for anything unusable."""
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON ({exc.msg})") from None
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        values = {}
        for key in ("t", "x", "y", "z", "pinch", "grab"):
            v = data.get(key)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise ValueError(f"{key!r} missing or not a finite number")
            values[key] = float(v)
        return cls(**values)


class LeapMapper:
    """HandFrames → Commands: the pad for the palm, pinch for temperature, fist to freeze."""

    def __init__(
        self,
        pad: PadMapping,
        box: float = 150.0,
        pinch: bool = True,
        t_open: float = 1.0,
        t_pinch: float = 0.25,
    ) -> None:
        self.pad, self.box, self.pinch = pad, box, pinch
        self.t_open, self.t_pinch = t_open, t_pinch
        self.frozen = False
        self.frames = 0
        self.bad = 0

    def position(self, frame: HandFrame) -> tuple[float, float]:
        """Palm (mm) → pad coordinates, clamped to the pad's edge outside the box."""
        x = frame.x / self.box
        y = -frame.z / self.box  # z grows towards the performer; away is "up" on the pad
        return min(max(x, -1.0), 1.0), min(max(y, -1.0), 1.0)

    def handle(self, frame: HandFrame | None) -> list[Command]:
        if frame is None:  # no hand: hold whatever the daemon has
            return []
        self.frames += 1
        values = (frame.x, frame.z, frame.pinch, frame.grab)
        if not all(math.isfinite(v) for v in values):
            self.bad += 1
            return []
        if self.frozen:
            self.frozen = frame.grab >= GRAB_OFF
        elif frame.grab > GRAB_ON:
            self.frozen = True
        if self.frozen:
            return []
        # 3 decimals: the sensor's jitter below that would only cost datagrams
        weights = tuple(round(w, 3) for w in self.pad.weights(*self.position(frame)))
        out = [Command(WEIGHTS, weights)]
        if self.pinch:
            pinch = min(max(frame.pinch, 0.0), 1.0)
            temperature = self.t_open * (self.t_pinch / self.t_open) ** pinch
            out.append(Command(TEMPERATURE, (round(temperature, 2),)))
        return out


# -- live: Ultraleap's bindings ------------------------------------------------------------
def import_leap() -> ModuleType | None:
    """Ultraleap's `leap` module, or None if it is missing or is the unrelated PyPI `leap`."""
    try:
        import leap
    except Exception:  # ImportError, or the bindings' own errors when the SDK is not found
        return None
    return leap if hasattr(leap, "Connection") and hasattr(leap, "Listener") else None


def bindings_available() -> bool:
    return import_leap() is not None


def hand_side(hand: object) -> str:
    """'left' or 'right' from the bindings' HandType enum (str() is 'HandType.Left')."""
    kind = getattr(hand, "type", None)
    return str(getattr(kind, "name", kind)).lower().rsplit(".", 1)[-1]


def frame_from_hand(hand: object, t: float) -> HandFrame:
    """A HandFrame from a bindings Hand: palm.position x/y/z, pinch_strength, grab_strength."""
    pos = hand.palm.position  # type: ignore[attr-defined]
    pinch, grab = hand.pinch_strength, hand.grab_strength  # type: ignore[attr-defined]
    return HandFrame(t, float(pos.x), float(pos.y), float(pos.z), float(pinch), float(grab))


class FrameSink:
    """Where frames go, live or replayed: the mapper, the sender and an optional recording."""

    def __init__(self, mapper: LeapMapper, sender: Sender, record: IO[str] | None = None):
        self.mapper, self.sender, self.record = mapper, sender, record

    def __call__(self, frame: HandFrame | None) -> None:
        if frame is not None and self.record is not None:
            try:
                self.record.write(frame.to_json() + "\n")
                self.record.flush()  # a crash or power cut keeps what was played
            except (OSError, ValueError) as exc:  # disk full, file closed: keep playing
                _say(f"recording stopped: {exc}")
                self.record = None
        self.sender.apply(self.mapper.handle(frame))


def make_listener(leap: ModuleType, sink: Callable[[HandFrame | None], None], hand: str,
                  say: Callable[[str], None]) -> object:
    """A leap.Listener whose tracking events feed `sink` (one hand, or None when there is none)."""
    start = time.monotonic()

    class Listener(leap.Listener):  # type: ignore[name-defined, misc]
        errors = 0

        def on_connection_event(self, event: object) -> None:
            say("connected to the Ultraleap tracking service")

        def on_connection_lost_event(self, event: object) -> None:
            say("lost the Ultraleap tracking service; the daemon keeps the last mix")

        def on_device_lost_event(self, event: object) -> None:
            say("the hand-tracking device was unplugged; the daemon keeps the last mix")

        def on_tracking_event(self, event: object) -> None:
            try:
                found = event.hands  # type: ignore[attr-defined]
                hands = [h for h in found if hand in ("any", hand_side(h))]
                sink(frame_from_hand(hands[0], time.monotonic() - start) if hands else None)
            except Exception as exc:  # a malformed frame must not kill the bindings' thread
                self.errors += 1
                if self.errors == 1:
                    say(f"skipping a tracking frame the bridge can't read ({exc!r}); counting")

    return Listener()


def _stop_on_signals() -> threading.Event:
    """An event SIGINT and SIGTERM set (charmix.daemon.common.signals), for the bridge's loop."""
    stop = threading.Event()
    install_stop_handlers(stop.set)
    return stop


def _say(msg: str) -> None:
    print(f"charmix leap: {msg}", file=sys.stderr, flush=True)


def _quiet(msg: str) -> None:
    pass


def run_live(mapper: LeapMapper, sender: Sender, hand: str = "any",
             record: Path | None = None, stop: threading.Event | None = None) -> int:
    """Track hands until `stop` (default: Ctrl-C/SIGTERM), retrying while the service is away."""
    leap = import_leap()
    if leap is None:
        _say(INSTALL_HINT)
        return 1  # a runtime failure: the bindings are missing, the command line was fine
    try:  # "x": a take is never overwritten, even one made since the command started
        rec_file = record.open("x", encoding="utf-8") if record else None
    except OSError as exc:
        _say(f"cannot write --record {record}: {exc.strerror or exc}")
        return 2
    stop = stop or _stop_on_signals()
    with rec_file or contextlib.nullcontext() as rec:
        listener = make_listener(leap, FrameSink(mapper, sender, rec), hand, _say)
        while not stop.is_set():
            # A fresh Connection per attempt: after a failed open() the bindings' Connection
            # still counts itself open and would refuse every retry.
            connection = leap.Connection()
            connection.add_listener(listener)
            try:
                with connection.open(timeout=RETRY):  # short, so Ctrl-C is never long ignored
                    mode = getattr(getattr(leap, "TrackingMode", None), "Desktop", None)
                    if mode is not None:  # palm-up desk mount: the mapping's coordinates
                        connection.set_tracking_mode(mode)
                    stop.wait()
            except Exception as exc:  # LeapTimeoutError etc.: service not running yet
                _say(f"cannot reach the Ultraleap tracking service ({exc!r}); is it running? "
                     f"retrying in {RETRY:.0f} s")
                stop.wait(RETRY)
    return 0


# -- replay ------------------------------------------------------------------------------
def unreadable(path: Path) -> str | None:
    """Why a --replay file can't be played (one line), or None when it can be opened."""
    if not path.exists():
        return f"no such record file: {path}"
    if not path.is_file():
        return f"{path} is not a record file (a directory?)"
    try:
        path.open("rb").close()
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    return None


def read_frames(path: Path, say: Callable[[str], None] = _say) -> Iterator[HandFrame]:
    """The usable frames of a record file in order; bad lines are said (the first 3) and counted."""
    bad = 0
    with path.open(encoding="utf-8", errors="replace") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield HandFrame.from_json(line)
            except ValueError as exc:
                bad += 1
                if bad <= 3:
                    say(f"{path}:{number}: skipping a bad line: {exc}")
    if bad:
        say(f"{path}: skipped {bad} bad line(s)")


def replay(path: Path, mapper: LeapMapper, sender: Sender, speed: float = 1.0,
           loop: bool = False, stop: threading.Event | None = None) -> int:
    """Play a record file through the mapper with its timing (÷ speed).

    0 when done (or stopped), 1 if it has no usable frames, 2 if it can't be read.
    """
    if why := unreadable(path):
        _say(why)
        return 2
    stop = stop or _stop_on_signals()
    sink = FrameSink(mapper, sender)
    say: Callable[[str], None] = _say
    while not stop.is_set():
        played, start, first = 0, time.monotonic(), None
        try:
            for frame in read_frames(path, say):
                first = frame.t if first is None else first
                delay = start + max(frame.t - first, 0.0) / speed - time.monotonic()
                if delay > 0 and stop.wait(delay):
                    return 0
                sink(frame)
                played += 1
        except OSError as exc:  # removed or made unreadable while looping, a read error
            _say(f"cannot read {path}: {exc.strerror or exc}")
            return 2
        if played == 0:
            _say(f"{path} has no usable frames")
            return 1
        if not loop:
            return 0
        say = _quiet  # bad lines were reported on the first pass
    return 0
