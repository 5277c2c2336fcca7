"""What a running daemon reports about itself: the /charmix/status numbers and the log line.

Both read the same counters, so what a performer sees in `charmix monitor`, what a patch reads
from /charmix/status and what the log says every --status-every seconds agree.

The three functions read a `Vitals` value, not the Daemon: the daemon takes one with
`Daemon.vitals()` (runtime/daemon.py), so this module needs nothing of the object that calls it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from charmix.daemon import protocol
from charmix.daemon.live.counters import Counters


@dataclass(frozen=True)
class Vitals:
    """A running daemon's numbers at one moment: what the status message and lines are made of."""

    step: int
    chars_per_s: float
    rate: float
    paused: bool
    temperature: float
    mode: str
    topk: int
    topp: float
    counters: Counters  # live: read when the report is made
    subscribers: int
    started_at: float  # time.monotonic() at start
    step_errors: int
    ws_dropped: int
    names: tuple[str, ...] = ()
    weights: tuple[float, ...] = ()
    lateness: np.ndarray = field(default_factory=lambda: np.zeros(0))  # s, since the last line
    # The constraints' counters, every voice together (daemon/engine/constraints.py GuardStats)
    masked_mass: float = 0.0
    words_blocked: int = 0
    mask_fallbacks: int = 0


def status_values(v: Vitals) -> list[float]:
    """The /charmix/status numbers, in protocol.STATUS_FIELDS order."""
    counters = v.counters
    values = {
        "step": v.step,
        "chars_per_s": v.chars_per_s,
        "rate": v.rate,
        "paused": float(v.paused),
        "temperature": v.temperature,
        "mode": protocol.MODES.index(v.mode),
        "topk": v.topk,
        "topp": v.topp,
        "rx_ok": counters.rx_ok,
        "rx_bad": counters.rx_bad,
        "rx_denied": counters.rx_denied,
        "tx_datagrams": counters.tx_datagrams,
        "tx_errors": counters.tx_errors,
        "overruns": counters.overruns,
        "subscribers": v.subscribers,
        "uptime": time.monotonic() - v.started_at,
        "ticks_dropped": counters.ticks_dropped,
        "step_errors": v.step_errors,
        "ws_dropped": v.ws_dropped,
        "masked_mass": v.masked_mass,
        "words_blocked": v.words_blocked,
        "mask_fallbacks": v.mask_fallbacks,
    }
    return [float(values[name]) for name in protocol.STATUS_FIELDS]


def status_line(v: Vitals) -> str:
    """One line for the log: throughput, timing, traffic, problems, weights."""
    counters, late = v.counters, v.lateness
    late_text = f"late p99 {np.percentile(late, 99) * 1e3:.2f} ms" if late.size else "late -"
    weights = " ".join(f"{name} {w:.2f}" for name, w in zip(v.names, v.weights, strict=True))
    state = "paused" if v.paused else ("ext clock" if v.rate == 0 else f"{v.rate:g}/s")
    errors = f"  step errors {v.step_errors}" if v.step_errors else ""
    if counters.ticks_dropped:
        errors += f"  ticks dropped {counters.ticks_dropped}"
    if v.ws_dropped:
        errors += f"  WebSocket clients dropped {v.ws_dropped}"
    if v.masked_mass or v.words_blocked or v.mask_fallbacks:
        errors += (f"  masked {v.masked_mass:.1f}  words blocked {v.words_blocked}  "
                   f"mask fallbacks {v.mask_fallbacks}")
    if counters.overrides:  # a performer's hand during a morph or the score (live/conductor.py)
        errors += f"  overrides {counters.overrides}"
    return (
        f"{v.step} chars  {v.chars_per_s:.1f} chars/s ({state})  "
        f"{late_text}  overruns {counters.overruns}  "
        f"rx {counters.rx_ok} ok {counters.rx_bad} bad {counters.rx_denied} denied  "
        f"tx {counters.tx_datagrams} sent {counters.tx_errors} errors  "
        f"subscribers {v.subscribers}{errors}  weights {weights}"
    )


def notify_status(v: Vitals) -> str:
    """The STATUS= line for systemd (`systemctl status charmix` shows it): the essentials."""
    c = v.counters
    state = "paused" if v.paused else (
        "external clock" if v.rate == 0 else f"{v.chars_per_s:.1f} chars/s"
    )
    return (
        f"{state}, {v.step} chars; rx {c.rx_ok} ok {c.rx_bad} bad "
        f"{c.rx_denied} denied; tx errors {c.tx_errors}; subscribers "
        f"{v.subscribers}; overruns {c.overruns}; "
        f"step errors {v.step_errors}"
    )
