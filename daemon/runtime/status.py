"""What a running daemon reports about itself: the /charmix/status numbers and the log line.

Both read the same counters, so what a performer sees in `charmix monitor`, what a patch reads
from /charmix/status and what the log says every --status-every seconds agree.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from charmix.daemon import protocol

if TYPE_CHECKING:
    from charmix.daemon.runtime.daemon import Daemon


def status_values(daemon: Daemon) -> list[float]:
    """The /charmix/status numbers, in protocol.STATUS_FIELDS order."""
    c, counters = daemon.controls, daemon.controls.counters
    settings = c.snapshot()
    values = {
        "step": daemon.engine.step_count,
        "chars_per_s": daemon.chars_per_s,
        "rate": c.rate,
        "paused": float(c.paused),
        "temperature": settings.temperature,
        "mode": protocol.MODES.index(settings.mode),
        "topk": settings.topk,
        "topp": settings.topp,
        "rx_ok": counters.rx_ok,
        "rx_bad": counters.rx_bad,
        "rx_denied": counters.rx_denied,
        "tx_datagrams": counters.tx_datagrams,
        "tx_errors": counters.tx_errors,
        "overruns": counters.overruns,
        "subscribers": daemon.broadcaster.subscriber_count,
        "uptime": time.monotonic() - daemon.started_at,
        "ticks_dropped": counters.ticks_dropped,
        "step_errors": daemon.clock.step_errors,
        "ws_dropped": daemon.services.dropped if daemon.services is not None else 0,
    }
    return [float(values[name]) for name in protocol.STATUS_FIELDS]


def status_line(daemon: Daemon) -> str:
    """One line for the log: throughput, timing, traffic, problems, weights."""
    counters, clock, controls = daemon.controls.counters, daemon.clock, daemon.controls
    late = clock.lateness()
    late_text = f"late p99 {np.percentile(late, 99) * 1e3:.2f} ms" if late.size else "late -"
    clock.reset_lateness()
    pairs = zip(daemon.engine.names, daemon.engine.weights, strict=True)
    weights = " ".join(f"{name} {w:.2f}" for name, w in pairs)
    state = "paused" if controls.paused else (
        "ext clock" if controls.rate == 0 else f"{controls.rate:g}/s"
    )
    errors = f"  step errors {clock.step_errors}" if clock.step_errors else ""
    if counters.ticks_dropped:
        errors += f"  ticks dropped {counters.ticks_dropped}"
    if ws_dropped := (daemon.services.dropped if daemon.services is not None else 0):
        errors += f"  WebSocket clients dropped {ws_dropped}"
    return (
        f"{daemon.engine.step_count} chars  {daemon.chars_per_s:.1f} chars/s ({state})  "
        f"{late_text}  overruns {counters.overruns}  "
        f"rx {counters.rx_ok} ok {counters.rx_bad} bad {counters.rx_denied} denied  "
        f"tx {counters.tx_datagrams} sent {counters.tx_errors} errors  "
        f"subscribers {daemon.broadcaster.subscriber_count}{errors}  weights {weights}"
    )


def notify_status(daemon: Daemon) -> str:
    """The STATUS= line for systemd (`systemctl status charmix` shows it): the essentials."""
    c = daemon.controls.counters
    state = "paused" if daemon.controls.paused else (
        "external clock" if daemon.controls.rate == 0 else f"{daemon.chars_per_s:.1f} chars/s"
    )
    return (
        f"{state}, {daemon.engine.step_count} chars; rx {c.rx_ok} ok {c.rx_bad} bad "
        f"{c.rx_denied} denied; tx errors {c.tx_errors}; subscribers "
        f"{daemon.broadcaster.subscriber_count}; overruns {c.overruns}; "
        f"step errors {daemon.clock.step_errors}"
    )
