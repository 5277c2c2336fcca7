"""Counting and rate-limited warnings: what every thread of the daemon reports problems with.

`Counters` are the numbers in /charmix/status; `Throttle` keeps a flood of bad input from becoming
a flood of log lines. Stdlib only, so that OSCQuery and the UDP reader load no numpy or models.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields

THROTTLE_KINDS = 1024  # distinct warning kinds remembered (weeks of subscribers coming and going)


@dataclass
class Counters:
    """Event counts for /charmix/status and the status log.

    Increment with `add` (from any thread: a lock makes the read-modify-write atomic, which a bare
    `+=` on an attribute is not); reads need no lock.
    """

    rx_ok: int = 0
    rx_bad: int = 0
    rx_denied: int = 0
    tx_datagrams: int = 0
    tx_errors: int = 0
    overruns: int = 0
    ticks_dropped: int = 0
    overrides: int = 0  # a performer's control during a morph or a score (live/conductor.py)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class Throttle:
    """Rate-limited warnings: at most one line per kind per `interval` seconds.

    The first event of a kind is logged at once; later ones within the interval are counted and
    reported with the next line of that kind ("(+123 more since last)"), so a flood of junk
    packets gives one line a second instead of thousands, and nothing is silently lost.
    """

    def __init__(
        self,
        log: logging.Logger,
        interval: float = 1.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = log
        self.interval = interval
        self.now = now
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def warn(self, kind: str, message: str) -> None:
        now = self.now()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.interval:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return
            if len(self._last) >= THROTTLE_KINDS:  # kinds name destinations: keep it bounded
                self._last.clear()
                self._suppressed.clear()  # counts of forgotten kinds go with them
            self._last[kind] = now
            extra = self._suppressed.pop(kind, 0)
        suffix = f" (+{extra} more since last)" if extra else ""
        self.log.warning("%s%s", message, suffix)
