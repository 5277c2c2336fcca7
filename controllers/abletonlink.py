"""`charmix link`: a Link session's beat → /charmix/tick, N characters a beat, on the beat grid.

Licence: this is the only charmix module that imports a Link binding (`aalink`, GPL-3.0-or-later,
which compiles in Ableton Link, GPL-2.0-or-later). It is loaded only when `charmix link` runs,
and `aalink` comes only with the optional extra `charmix[link]`; the daemon, every other command
and the default install never load it (tests/test_packaging.py checks). A process running this
bridge is a GPL combination; charmix's own code stays MIT. See docs/controllers.md.

How: aalink needs an asyncio loop (its Link object posts to one). Every POLL seconds the bridge
reads the session — the beat at Link's clock now, the tempo, whether it plays, the peers — and
hands the reading to a `BeatGrid` (controllers/ticks.py), which turns the session's timeline into
tick times; the shared `Ticker` thread (the one MIDI clock uses) sleeps until each tick is due
and sends it. The beat is read between two perf_counter() calls, so each reading is placed on
the ticker's clock within a few microseconds (a reading that took longer is dropped).

With `--follow-tempo` no ticks are sent: the daemon's own clock follows the session's tempo
(`/charmix/rate` = tempo / 60 × per-beat characters a second; 0 while the session is stopped),
which needs no timing from this process but is not phase-aligned.

Link itself keeps the session going: when the other peers leave, this bridge is the session,
and its ticks go on at the last tempo until a peer comes back (the status line shows 0 peers).
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

import aalink

from charmix.controllers.sender import Sender
from charmix.controllers.ticks import RATE, BeatGrid, Ticker
from charmix.daemon.common.signals import on_stop_signals

POLL = 0.005  # s between readings of the session
READ_SLACK = 0.0005  # s: a reading whose two clock samples are further apart is dropped
STATUS_EVERY = 0.25  # s between redraws of the status line on a terminal


@dataclass(frozen=True)
class LinkOptions:
    """The command line of `charmix link` (checked by controllers/commands.py)."""

    per_beat: float = 4.0
    quantum: float = 4.0
    offset_ms: float = 0.0
    tempo: float = 120.0  # the session's tempo while this bridge is alone in it
    follow_tempo: bool = False
    start_stop: bool = True  # follow the session's start/stop (Link "Start Stop Sync")
    resend: float = 2.0  # s between re-sends of the rate (0: only when it changes)


@dataclass(frozen=True)
class Reading:
    """The session as read at perf_counter time t."""

    t: float
    beat: float
    tempo: float
    playing: bool
    peers: int


def read(link: aalink.Link, now: Callable[[], float] = time.perf_counter) -> Reading | None:
    """One reading of the session, or None when reading it took longer than READ_SLACK (the
    thread was preempted between the clock samples: the beat's time is not known well)."""
    before = now()
    beat = link.beat
    after = now()
    if after - before > READ_SLACK:
        return None
    return Reading((before + after) / 2, beat, link.tempo, link.playing, link.num_peers)


class StatusLine:
    """One line: peers, tempo, the beat's phase in the bar, playing, ticks. On a terminal it is
    redrawn in place; elsewhere (a log, a test) a line is written when something but the beat
    changes."""

    def __init__(self, out: TextIO, quantum: float, tty: bool | None = None) -> None:
        self.out = out
        self.quantum = quantum
        self.tty = out.isatty() if tty is None else tty
        self.last_key: tuple | None = None
        self.next_draw = 0.0

    def text(self, r: Reading, ticks: int | None, rate: float | None) -> str:
        phase = r.beat % self.quantum
        pips = "".join("●" if i == int(phase) else "○" for i in range(int(math.ceil(self.quantum))))
        peers = f"{r.peers} peer{'s' if r.peers != 1 else ''}"
        state = "playing" if r.playing else "stopped"
        sent = f"{ticks} ticks" if ticks is not None else f"rate {rate:g} char/s"
        return (f"charmix link: {peers} · {r.tempo:.1f} BPM · beat {phase:.2f} of "
                f"{self.quantum:g} {pips} · {state} · {sent}")

    def show(self, r: Reading, ticks: int | None, rate: float | None = None) -> None:
        if self.tty:
            if r.t < self.next_draw:
                return
            self.next_draw = r.t + STATUS_EVERY
            self.out.write("\r\x1b[K" + self.text(r, ticks, rate))
            self.out.flush()
            return
        key = (r.peers, round(r.tempo, 1), r.playing)
        if key != self.last_key:
            self.last_key = key
            self.out.write(self.text(r, ticks, rate) + "\n")
            self.out.flush()

    def close(self) -> None:
        if self.tty:
            self.out.write("\n")
            self.out.flush()


class LinkBridge:
    """A Link peer whose session's beat drives the daemon (ticks, or its rate)."""

    def __init__(self, sender: Sender, options: LinkOptions, out: TextIO = sys.stderr,
                 now: Callable[[], float] = time.perf_counter) -> None:
        self.sender = sender
        self.options = options
        self.now = now
        self.grid = BeatGrid(options.per_beat, options.offset_ms / 1000.0, options.start_stop)
        self.ticker = None if options.follow_tempo else Ticker(sender, self.grid, now,
                                                                 name="charmix-link")
        self.status = StatusLine(out, options.quantum)
        self.stopping = False  # set by SIGINT/SIGTERM (a plain flag: no lock in a handler)
        self.readings = 0
        self.dropped = 0  # readings dropped (preempted between the clock samples)
        self.rate: float | None = None
        self.next_resend = 0.0

    def stop(self) -> None:
        self.stopping = True

    def _rate(self, r: Reading) -> None:
        """The daemon's rate: 0 (this bridge's ticks are its clock), or with --follow-tempo the
        session's tempo in characters a second (0 while stopped). Sent when it changes, and
        again every `resend` seconds as an event (sent even while ticks flow), so that a daemon
        started or restarted after the bridge goes over to its clock too."""
        rate = 0.0
        if self.ticker is None and (r.playing or not self.options.start_stop):
            rate = round(r.tempo / 60.0 * self.options.per_beat, 3)
        if rate != self.rate:
            self.rate = rate
            self.sender.set(RATE, rate)
            self.next_resend = r.t + self.options.resend
        elif self.options.resend > 0 and r.t >= self.next_resend:
            self.sender.event(RATE, rate)
            self.next_resend = r.t + self.options.resend

    def step(self, link: aalink.Link) -> Reading | None:
        """Read the session once and pass it on (the grid, or the rate)."""
        r = read(link, self.now)
        if r is None:
            self.dropped += 1
            return None
        self.readings += 1
        if self.ticker is not None:
            self.ticker.change(lambda: self.grid.update(r.t, r.beat, r.tempo, r.playing))
        self._rate(r)
        self.status.show(r, self.ticker.ticks if self.ticker else None, self.rate)
        return r

    async def run(self) -> None:
        """Join the session and follow it until stop() (Ctrl-C, SIGTERM)."""
        o = self.options
        link = aalink.Link(o.tempo)
        link.quantum = o.quantum
        link.start_stop_sync_enabled = o.start_stop
        link.enabled = True
        if self.ticker is not None:
            self.ticker.start(external_clock=False)  # step() sets the daemon to rate 0
        try:
            while not self.stopping:
                self.step(link)
                await asyncio.sleep(POLL)
        finally:
            if self.ticker is not None:
                self.ticker.stop()
            link.enabled = False
            self.status.close()


def run(bridge: LinkBridge) -> int:
    """Run the bridge in this (main) thread until Ctrl-C or SIGTERM; 0 when stopped so."""
    with on_stop_signals(bridge.stop):
        asyncio.run(bridge.run())
    return 0
