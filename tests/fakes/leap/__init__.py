"""A stand-in for Ultraleap's `leap` module (github.com/ultraleap/leapc-python-bindings).

Shaped like the real API as far as charmix uses it: `Connection(...)` with `add_listener`,
`open()` (a context manager that starts a polling thread and emits a connection event), and
`set_tracking_mode`; `Listener` whose `on_event` dispatches to `on_connection_event`,
`on_tracking_event`, …; tracking events with `.hands`, `.tracking_frame_id`, `.timestamp`;
hands with `.id`, `.type` (a `HandType` enum whose str() is 'HandType.Left'), `.palm.position`
(`.x .y .z` in mm), `.pinch_strength`, `.grab_strength`, `.confidence`.

Instead of a camera it plays a script: the JSON-lines file named by $FAKE_LEAP_SCRIPT, each
line ``{"dt": seconds before this frame, "hands": [{"type": "right", "x": …, "y": …, "z": …,
"pinch": …, "grab": …}, …]}`` (an empty list is a frame with no hand). $FAKE_LEAP_FAIL_OPENS=N
makes the first N `open()` calls time out, like a tracking service that is not running yet.
"""

from __future__ import annotations

import enum
import json
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


class HandType(enum.Enum):
    Left = 0
    Right = 1


class TrackingMode(enum.Enum):
    Desktop = 0
    HMD = 1
    ScreenTop = 2


class EventType(enum.Enum):
    EventTypeNone = 0
    Connection = 1
    ConnectionLost = 2
    Tracking = 3


class LeapError(Exception):
    pass


class LeapTimeoutError(LeapError):
    pass


@dataclass
class Vector:
    x: float
    y: float
    z: float


@dataclass
class Palm:
    position: Vector


@dataclass
class Hand:
    id: int
    type: HandType
    palm: Palm
    pinch_strength: float
    grab_strength: float
    confidence: float = 1.0


@dataclass
class ConnectionEvent:
    type: EventType = EventType.Connection


@dataclass
class TrackingEvent:
    tracking_frame_id: int
    timestamp: int  # µs, like LeapC
    hands: list[Hand] = field(default_factory=list)
    type: EventType = EventType.Tracking


class Listener:
    """Subclass and override on_*_event, as with the real bindings."""

    def on_event(self, event: object) -> None:
        name = {
            EventType.Connection: "on_connection_event",
            EventType.ConnectionLost: "on_connection_lost_event",
            EventType.Tracking: "on_tracking_event",
        }.get(event.type, "on_none_event")  # type: ignore[attr-defined]
        getattr(self, name)(event)

    def on_error(self, error: LeapError) -> None:
        pass

    def on_none_event(self, event: object) -> None:
        pass

    def on_connection_event(self, event: object) -> None:
        pass

    def on_connection_lost_event(self, event: object) -> None:
        pass

    def on_device_lost_event(self, event: object) -> None:
        pass

    def on_tracking_event(self, event: object) -> None:
        pass


_opens = 0


class Connection:
    def __init__(self, *, listeners: list[Listener] | None = None, poll_timeout: float = 1,
                 response_timeout: float = 10, **_: object) -> None:
        self._listeners = list(listeners or [])
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.tracking_mode: TrackingMode | None = None

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def set_tracking_mode(self, mode: TrackingMode) -> None:
        self.tracking_mode = mode

    @contextmanager
    def open(self, *, auto_poll: bool = True, timeout: float = 10) -> Iterator[Connection]:
        global _opens
        _opens += 1
        if _opens <= int(os.environ.get("FAKE_LEAP_FAIL_OPENS", "0")):
            raise LeapTimeoutError("Did not received expected event in time")
        self._stop.clear()
        self._thread = threading.Thread(target=self._play, daemon=True)
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join(5)

    def _emit(self, event: object) -> None:
        for listener in self._listeners:
            try:
                listener.on_event(event)
            except Exception as exc:  # the real poll loop prints and carries on
                print(f"Caught exception in listener callback: {exc!r}")

    def _play(self) -> None:
        self._emit(ConnectionEvent())
        script = os.environ.get("FAKE_LEAP_SCRIPT")
        if not script:
            return
        with open(script, encoding="utf-8") as f:
            for frame_id, line in enumerate(f):
                frame = json.loads(line)
                if self._stop.wait(frame.get("dt", 0.0)):
                    return
                hands = [
                    Hand(i, HandType.Left if h.get("type") == "left" else HandType.Right,
                         Palm(Vector(h["x"], h.get("y", 200.0), h["z"])), h.get("pinch", 0.0),
                         h.get("grab", 0.0))
                    for i, h in enumerate(frame.get("hands", []))
                ]
                self._emit(TrackingEvent(frame_id, int(time.monotonic() * 1e6), hands))
