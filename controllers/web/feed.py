"""The daemon's frames, as the pages receive them: decoded by the monitor's code, sent as JSON.

Decoding is the monitor's (`MonitorState.feed`: python-osc parses, the address table checks every
message's types and vector lengths, bad datagrams are counted). `FrameFeed` only adds what a
page needs on top: the characters that arrived since the last flush (each with the model that
wrote it, its step and when its datagram reached the bridge) and which vectors changed.

`flush()` returns one JSON text per call, encoded once and sent to every page. Probabilities go
as integers in per mille (0–1000): a bar on a phone has fewer pixels than that, and a frame of
seven 98-character distributions is ~2 KB instead of ~6 KB of float text. The arrival times
(`rx`, ms since the epoch) let a page measure frame → painted latency against the bridge's clock
(the same clock when the page runs on the bridge's machine, as in the benchmark).
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import numpy as np

from charmix.daemon import protocol
from charmix.daemon.client.frames import MonitorState
from charmix.daemon.protocol.palette import colours

PENDING_WAIT = 0.25  # s a character waits for its attribution before it goes out as unknown
MAX_FRESH = 4096  # characters kept between two flushes (a stalled loop cannot grow memory)


def per_mille(values: Any) -> list[int]:
    arr = np.nan_to_num(np.asarray(values, np.float64), nan=0.0, posinf=1.0, neginf=0.0)
    return np.rint(np.clip(arr, 0.0, 1.0) * 1000).astype(int).tolist()


def finite(values: Any, digits: int = 4) -> list[float | None]:
    """Rounded floats, None where not finite: JSON that a browser's JSON.parse accepts."""
    return [round(float(v), digits) if math.isfinite(v) else None for v in values]


class FrameFeed(MonitorState):
    """MonitorState plus the bookkeeping of what is new since the last `flush`."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.fresh: list[list[Any]] = []  # [entry ([char, model]), step | None, rx ms]
        self.changed: set[str] = set()
        self.layout_changed = False

    def _apply(self, address: str, args: list[Any], now: float) -> None:
        before = self.counters.unknown + self.counters.bad_args
        models, vocab = self.models, self.vocab
        super()._apply(address, args, now)
        if self.counters.unknown + self.counters.bad_args != before:
            return  # refused by the monitor's checks: nothing new for the pages
        key = address.removeprefix(protocol.PREFIX + "/")
        if key == "char":
            self.fresh.append([self.text[-1], None, time.time() * 1000.0])
            if len(self.fresh) > MAX_FRESH:
                del self.fresh[: len(self.fresh) - MAX_FRESH]
        elif key == "step" and self.fresh and self.fresh[-1][1] is None:
            self.fresh[-1][1] = self.step
        elif key.startswith("model/"):
            self.changed.add("p")
        elif key in ("dist", "weights", "attribution", "entropy", "status"):
            self.changed.add(key)
        elif key in ("scenes", "scene/current", "scene/progress"):
            self.changed.add("scene")
        if self.models != models or self.vocab != vocab:
            self.layout_changed = True

    def layout(self) -> dict[str, Any]:
        """What a page needs to lay out the view: model names, colours, vocabulary."""
        return {"models": self.models, "colours": colours(self.models), "vocab": self.vocab}

    def settings(self) -> dict[str, Any]:
        """The daemon's temperature, mode and pause state from its last /charmix/status."""
        s = self.status
        if not s:
            return {}

        def num(key: str, digits: int) -> float | None:
            return round(s[key], digits) if math.isfinite(s[key]) else None

        mode = s["mode"]
        known = math.isfinite(mode) and 0 <= mode < len(protocol.MODES)
        return {"temperature": num("temperature", 3), "paused": s["paused"] == 1.0,
                "mode": protocol.MODES[int(mode)] if known else None,
                "chars_per_s": num("chars_per_s", 1)}

    def scene_info(self) -> dict[str, Any]:
        """The daemon's scenes (the page's buttons) and the running scene or cue."""
        progress = self.progress if math.isfinite(self.progress) else 0.0
        return {"names": self.scenes, "current": self.scene,
                "progress": round(min(max(progress, 0.0), 1.0), 3)}

    def flush(self, now: float | None = None) -> str | None:
        """The JSON frame message for everything new, or None when nothing is."""
        wall = time.time() * 1000.0 if now is None else now * 1000.0
        ready = []
        while self.fresh:
            entry, step, rx = self.fresh[0]
            last = len(self.fresh) == 1
            if entry[1] is None and last and wall - rx < PENDING_WAIT * 1000:
                break  # its attribution is probably in the next datagram
            ready.append(self.fresh.pop(0))
        if not ready and not self.changed:
            return None
        msg: dict[str, Any] = {"t": "f", "step": self.step}
        if ready:
            msg["chars"] = [(e[0] if isinstance(e[0], str) else "")[:1] or "\ufffd"
                            for e, _, _ in ready]  # one character each, whatever arrived
            msg["who"] = [-1 if e[1] is None else e[1] for e, _, _ in ready]
            msg["s0"] = ready[0][1]
            msg["rx"] = [round(rx, 2) for _, _, rx in ready]
        changed, self.changed = self.changed, set()
        if "dist" in changed and self.mix is not None:
            msg["mix"] = per_mille(self.mix)
        if "p" in changed:
            empty: list[int] = []
            msg["p"] = [per_mille(self.dists[n]) if n in self.dists else empty
                        for n in self.models]
        for key, short in (("weights", "w"), ("attribution", "a"), ("entropy", "h")):
            if key in changed:
                msg[short] = finite(getattr(self, key))
        if "status" in changed:
            msg["settings"] = self.settings()
        if "scene" in changed:
            msg["scene"] = self.scene_info()
        return json.dumps(msg, separators=(",", ":"), ensure_ascii=False)
