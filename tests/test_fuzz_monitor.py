"""Fuzz `charmix monitor`'s input: 100,000 hostile datagrams into its reader in-process, then a
real-UDP portion into a running monitor loop.

Pass: nothing raises, every datagram is counted, the view renders after any of them, and every
structure the monitor keeps stays bounded (text history, learned indices, arrival times, per-model
distributions)."""

from __future__ import annotations

import io
import socket
import threading
import time

from helpers import wait_drained
from oscfuzz import Fuzzer
from rich.console import Console

from charmix.daemon import protocol
from charmix.daemon.client import frames as client_frames
from charmix.daemon.client import link as client_link
from charmix.daemon.client.frames import ARRIVALS_MAX, DISTS_MAX, LEARNED_MAX
from charmix.daemon.monitor import app as monitor
from charmix.daemon.monitor import view as monitor_view

SEED = 20261202
N_INPROCESS = 100_000
N_UDP = 5_000
RUN_FOR = 60.0  # at most this long the monitor runs while the UDP portion arrives
OUTPUTS = [(a.path, a.types) for a in protocol.OUTPUT]


def bounded(state: client_frames.MonitorState) -> None:
    assert len(state.text) <= state.history
    assert len(state.learned) <= LEARNED_MAX
    assert len(state.arrivals) <= ARRIVALS_MAX
    assert len(state.dists) <= max(DISTS_MAX, len(state.models))


def test_fuzz_the_monitor_reader() -> None:
    state = client_frames.MonitorState()
    fuzz = Fuzzer(SEED, OUTPUTS, ["a", "b"])
    started = time.monotonic()
    for i, data in enumerate(fuzz.stream(N_INPROCESS)):
        state.feed(data, i * 0.001)
        if i % 500 == 0:
            monitor_view.render(state, "fuzz", 100, 30, now=i * 0.001)
            bounded(state)
        assert time.monotonic() - started < 200, f"too slow: {i} datagrams"
    c = state.counters
    assert c.datagrams == N_INPROCESS
    assert c.malformed > 5000 and c.bad_args > 5000 and c.unknown > 100
    assert c.messages > N_INPROCESS // 2
    bounded(state)
    monitor_view.render(state, "fuzz", 100, 30, now=N_INPROCESS * 0.001)


class QuitWhenAllCounted(client_link.Link):
    """The monitor's Link, quitting the monitor the way Ctrl-C does (KeyboardInterrupt, which
    run_monitor ends on cleanly) once `expected` datagrams are counted, instead of making the
    test wait out the whole RUN_FOR."""

    expected: int | None = None

    def receive(self, state: client_frames.MonitorState, *args, **kwargs) -> None:
        super().receive(state, *args, **kwargs)
        if self.expected is not None and state.counters.datagrams >= self.expected:
            raise KeyboardInterrupt


def test_fuzz_a_running_monitor_over_udp() -> None:
    """run_monitor itself (its select loop, Link.receive, the plain view) while the fuzz
    arrives on its socket, until every datagram is counted (at most RUN_FOR seconds)."""
    link = QuitWhenAllCounted(("127.0.0.1", 9), ("127.0.0.1", 0))  # listen only; 9: nobody
    out = io.StringIO()
    console = Console(file=out, width=100, height=30, no_color=True)
    result: list[client_frames.MonitorState] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(monitor.run_monitor(console, link, monitor.RunLimits(duration=RUN_FOR),
                                              fps=5, top=5, plain=True, keys=False))
        except BaseException as exc:  # noqa: BLE001  (the test reports it)
            errors.append(exc)

    link.expected = N_UDP
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        fuzz = Fuzzer(SEED + 1, OUTPUTS, ["a", "b"])
        batch = 0
        started = time.monotonic()
        for data in fuzz.stream(N_UDP):
            sender.sendto(data, ("127.0.0.1", link.port))
            sent += 1
            batch += len(data)
            if batch > 500_000:  # stay well inside the monitor's 4 MB receive buffer:
                wait_drained(link.port, RUN_FOR)  # sized to the reader, however slow it is
                batch = 0
        assert time.monotonic() - started < RUN_FOR - 2, "sending took too long to check"
    assert sent == N_UDP  # (the monitor quits as soon as it has counted them all)
    thread.join(RUN_FOR + 10)
    assert not thread.is_alive() and not errors, errors
    state = result[0]
    assert state.counters.datagrams == sent
    bounded(state)
    assert "charmix monitor" in out.getvalue()
