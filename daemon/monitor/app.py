"""`charmix monitor`: a live terminal view of a running daemon, the quickest proof that it works.

It shows what the daemon broadcasts, nothing more: the text coloured by the model that wrote each
character (argmax of /charmix/attribution), the weights, the most likely characters of p_mix and of
every p_i, entropies, chars/s, and the counters that tell a performer something is wrong (steps
lost on the way, datagrams that are not charmix OSC, the daemon's own status counters).

One thread, one UDP socket, `select` on the socket and the keyboard: no locks, no sleeps. The
socket reads whole datagrams (python-osc's socketserver truncates at 8 KiB) and python-osc's
OscPacket parses them. By default the monitor subscribes from an ephemeral port with
/charmix/subscribe and renews well before protocol.SUBSCRIBER_TTL, so it works whatever the
daemon's --send points at; `--listen PORT` only listens (e.g. on the daemon's --send port).

The jobs live in their own modules: monitor_state (the OSC reader), monitor_view (drawing),
monitor_link (the socket); this one runs the loop, and monitor_cmd registers the command (so
`charmix --help` loads none of them). Their public names are importable from here too.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

from rich.console import Console
from rich.live import Live

from charmix.daemon.client.frames import MonitorState
from charmix.daemon.client.link import Link
from charmix.daemon.common.signals import interrupt_on_signals
from charmix.daemon.monitor.view import render
from charmix.daemon.protocol import oscread

QUIT_KEYS = {"q", "Q", "\x1b"}


@contextlib.contextmanager
def keyboard(enabled: bool) -> Iterator[int | None]:
    """stdin in cbreak mode (keys arrive unbuffered, unechoed) and always restored; else None."""
    if not enabled:
        yield None
        return
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield fd
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@dataclass
class RunLimits:
    frames: int | None = None  # refreshes, then exit
    duration: float | None = None  # seconds, then exit
    once: bool = False  # one refresh as soon as a frame (and the model names) have arrived
    timeout: float = 5.0  # --once gives up after this long


def _quit_requested(fd: int) -> bool:
    """Read the waiting keys; q, Q or Esc quits, and so does a closed terminal (EOF)."""
    data = os.read(fd, 64)
    return not data or bool(QUIT_KEYS & set(data.decode(errors="replace")))


def run_monitor(console: Console, link: Link, limits: RunLimits, fps: float, top: int,
                plain: bool, keys: bool, voice: int = 0) -> MonitorState:
    """Wait on the socket and the keys until the next refresh, draw, repeat until told to stop.

    `plain` prints one view after another (pipes, logs, tests); otherwise a rich Live view
    redraws in place, on the terminal's alternate screen unless the run is bounded (then the
    last view stays on screen). Always closes the link, which unsubscribes.
    """
    state = MonitorState(voice=voice)
    oscread.silence_python_osc()  # its warnings would scroll over the view; we count instead
    start = time.monotonic()
    next_draw = start
    frames = 0
    bounded = limits.frames is not None or limits.duration is not None or limits.once

    def draw(live: Live | None) -> None:
        view = render(state, link.describe(), console.width, console.height, top,
                      fill=not plain)
        if live is not None:
            live.update(view, refresh=True)
        else:
            console.print(view)
            if not limits.once:
                console.print()
        console.file.flush()

    def finished(now: float) -> bool:
        if limits.once:
            return (state.step is not None and bool(state.models) and state.mix is not None
                    ) or now - start > limits.timeout
        if limits.frames is not None and frames >= limits.frames:
            return True
        return limits.duration is not None and now - start >= limits.duration

    live = None if plain else Live(console=console, auto_refresh=False, transient=False,
                                   screen=not bounded)
    with interrupt_on_signals(), keyboard(keys) as fd, live or contextlib.nullcontext():
        try:
            while True:
                now = time.monotonic()
                link.maintain(now, want_announce=not (state.models and state.vocab))
                waits = [link.sock] + ([fd] if fd is not None else [])
                timeout = 0.05 if limits.once else max(0.0, next_draw - now)
                ready, _, _ = select.select(waits, [], [], timeout)
                if link.sock in ready:
                    link.receive(state)
                if fd is not None and fd in ready and _quit_requested(fd):
                    break
                now = time.monotonic()
                if limits.once:
                    if finished(now):
                        if state.counters.datagrams:  # e.g. a paused daemon: status, no frame
                            draw(None)
                        break
                    continue
                if now >= next_draw:
                    draw(live)
                    frames += 1
                    next_draw = max(next_draw + 1.0 / fps, now)
                if finished(now):
                    break
        except KeyboardInterrupt:
            pass
        finally:
            link.close()
    return state
