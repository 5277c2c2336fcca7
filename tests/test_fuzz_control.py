"""Fuzz the daemon's control port: 100,000 hostile datagrams in-process, then a real-UDP portion
against a live `charmix daemon`.

In-process, a playing daemon (clock at 20 chars/s, tiny models, 64 loopback subscribers once the
fuzzed /charmix/subscribe messages have filled its table) gets every datagram through
Dispatcher.dispatch(), the function its socket thread calls, from allowed and from denied
senders, back to back on the test's thread (6,900 datagrams/s at load 4): a thread that keeps
the CPU busy in Python. After each one the counters must have moved by exactly what it holds: one
rx_denied for a denied sender, one rx_bad for a packet that does not parse (or an empty bundle),
else one of rx_ok / rx_bad / rx_denied per message. Throughout, the target weights stay finite
and in -1 … 1 (a negative one only beside a positive one), the effective weights finite with
their positive part summing to 1, the clock and control threads alive, no
step fails, and no scheduled step starts more than one period (50 ms) after its deadline, less
the time the machine kept this process's threads waiting for a CPU: the clock's own lateness
record of every step taken while the 100,000 datagrams arrive. A fuzzed valid /charmix/rate or
/charmix/pause is applied (those paths are fuzzed too), then undone at once, so that the daemon
keeps playing with a period of 50 ms.

This check found the GIL convoy (issue 10): each frame's 64 sends gave the GIL away 64 times, and
each take-back waited up to 5 ms for the flooding thread, so a frame took 150-300 ms and the next
step started 200-430 ms late, on an idle machine. The broadcaster now sends without giving the GIL
away (charmix.daemon.live.udpsend), and a due step goes before queued ticks (a tick flood held the
grid back by up to 64 ticks): worst lateness 13-24 ms in 7 runs at 20 chars/s, two trainings
beside it (load 3).

Over real UDP, a subprocess daemon at 20 chars/s takes a seeded stream of the same kinds of
datagram in chunks; after each chunk /charmix/status must show every datagram counted, and at the
end it must still be playing, with no step error and no run of overruns (no datagram stalled the
clock). That portion leaves valid /charmix/rate values out (a fuzzed rate of 2,000 chars/s on a
shared 2-core VM would make overruns of the machine, not of the daemon); rate's wrong arities
and types stay.
"""

from __future__ import annotations

import contextlib
import gc
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import free_udp_port
from helpers import osc
from oscfuzz import Fuzzer

from charmix.daemon import protocol
from charmix.daemon.live.dispatch import parse
from charmix.daemon.runtime.config import build
from charmix.daemon.runtime.daemon import Daemon

SEED = 20261201
N_INPROCESS = 100_000
N_UDP = 4_000
RATE = float(os.environ.get("FUZZ_RATE", "20"))  # chars/s in-process: one period late = 50 ms
CLI = [sys.executable, "-m", "charmix.daemon.cli"]
INPUTS = [(a.path, a.types) for a in protocol.INPUT]


def units(data: bytes) -> int:
    """How many counter increments the server owes a datagram from an allowed sender."""
    try:
        return max(1, len(parse(data)))
    except Exception:
        return 1


def total(d: Daemon) -> int:
    c = d.controls.counters
    return c.rx_ok + c.rx_bad + c.rx_denied


def schedstat() -> dict[int, tuple[float, float]]:
    """Per thread of this process: (seconds on a CPU, seconds runnable but waiting for one),
    from Linux's schedstat. The wait is the part of a late step that the machine, not the
    daemon, is to blame for."""
    out = {}
    for tid in os.listdir("/proc/self/task"):  # a thread that ended meanwhile is skipped
        with contextlib.suppress(OSError, ValueError, IndexError), \
                open(f"/proc/self/task/{tid}/schedstat") as f:
            on_cpu, waiting = f.read().split()[:2]
            out[int(tid)] = (int(on_cpu) / 1e9, int(waiting) / 1e9)
    return out


class LatenessProbe:
    """Each scheduled step's lateness (the clock's own record) beside the run-queue wait of this
    process's threads since the step before, sampled by the clock thread as the step starts.

    On an idle machine the wait is ~0 and the check is exactly "no step starts more than one
    period late". On a shared one (CI neighbours, this VM's trainings) a step is also late by
    the time the kernel kept the clock thread, or the thread holding the GIL it waits for, off
    the CPU; that time is the machine's, and is taken off. A datagram that stalls the clock (a
    parse holding the GIL, a command that blocks the clock's lock) does so on the CPU or asleep,
    not in the run queue, and still fails the check."""

    def __init__(self, clock) -> None:
        self.late: list[float] = []
        self.waited: list[float] = []
        self.started: list[float] = []
        self.datagram = 0  # the index of the datagram being handled (set by the test's loop)
        self.at: list[int] = []  # ... when each step started: a failure names what to replay
        self.gc_pauses: list[tuple[float, float, int]] = []  # (start, end, generation)
        self.clock_cpu: list[float] = []  # the clock thread's CPU time since the step before
        self._gc_start = 0.0
        self._last = schedstat()
        self._record = clock._record
        clock._record = self.record
        gc.callbacks.append(self._gc)

    def record(self, late: float) -> None:
        now, me = schedstat(), threading.get_native_id()
        self.started.append(time.perf_counter())
        self.late.append(late)
        self.waited.append(sum(w for _, w in now.values()) -
                           sum(w for _, w in self._last.values()))
        self.clock_cpu.append(now.get(me, (0, 0))[0] - self._last.get(me, (0, 0))[0])
        self.at.append(self.datagram)
        self._last = now
        self._record(late)

    def _gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        elif time.perf_counter() - self._gc_start > 0.005:
            self.gc_pauses.append((self._gc_start, time.perf_counter(), info["generation"]))

    def close(self) -> None:
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._gc)

    def check(self, period: float) -> None:
        late, waited = np.array(self.late), np.array(self.waited)
        excess = late - waited
        worst = int(np.argmax(excess))
        due = self.started[worst] - late[worst]
        pauses = [f"gen {g} {(b - a) * 1e3:.0f} ms" for a, b, g in self.gc_pauses
                  if b > due and a < self.started[worst]]
        first = self.at[worst - 1] if worst else 0
        over = int((excess >= period).sum())
        print(f"{late.size} steps: lateness p99 {np.percentile(late, 99) * 1e3:.1f} ms, max "
              f"{late.max() * 1e3:.1f} ms; worst not waiting for a CPU {excess[worst] * 1e3:.1f} "
              f"ms; run-queue wait {waited.sum():.2f} s")
        assert excess[worst] < period, (
            f"{over} steps more than one period late; worst: "
            f"step {worst} of {late.size} started {late[worst] * 1e3:.1f} ms late, "
            f"{excess[worst] * 1e3:.1f} ms of it not waiting for a CPU: more than one period "
            f"({period * 1e3:.0f} ms), while datagrams {first}-{self.at[worst]} were handled; "
            f"garbage collections then: {pauses or 'none over 5 ms'}; the clock thread was "
            f"on a CPU {self.clock_cpu[worst] * 1e3:.1f} ms since its step before. Lateness p99 "
            f"{np.percentile(late, 99) * 1e3:.1f} ms, max {late.max() * 1e3:.1f} ms; run-queue "
            f"wait {waited.sum():.2f} s in all")


def check_weights(d: Daemon) -> None:
    """Targets in -1 … 1, a negative one (an anti-expert, geometric mode) never without a
    positive one; the effective weights' positive part sums to 1, anti-weights at least -1."""
    target = d.controls.target_weights()
    assert np.all(np.isfinite(target)) and np.all(np.abs(target) <= 1), target
    assert target.min() >= 0 or target.max() > 0, target
    effective = np.asarray(d.engine.weights)
    assert np.all(np.isfinite(effective)) and effective.min() >= -1, effective
    assert abs(np.where(effective > 0, effective, 0).sum() - 1) < 1e-6, effective


@pytest.mark.timeout(300)
def test_fuzz_the_control_port_in_process(tiny_model_dir: Path) -> None:
    # Fuzzed /charmix/query and /charmix/subscribe are answered to the senders' ports, 40000 -
    # 40999 here (and in any other copy of this test running on the machine): the daemon must
    # not listen there, or answers arriving on its socket would be counted by its socket thread
    # too, racing the check below (seen twice in full runs, always 3 extra: models, vocab,
    # status).
    listen = next(p for p in iter(free_udp_port, None) if not 40000 <= p < 41000)
    d = Daemon(build({"models_dir": tiny_model_dir, "listen": f"127.0.0.1:{listen}",
                      "rate": RATE, "status_every": 0,
                      "send": [f"127.0.0.1:{free_udp_port()}"]}))
    d.start()
    assert d.server is not None
    fuzz = Fuzzer(SEED, INPUTS, d.engine.names)
    probe = LatenessProbe(d.clock)
    started = time.monotonic()
    try:
        for i, data in enumerate(fuzz.stream(N_INPROCESS)):
            denied = i % 10 == 9
            sender = ("10.0.0.7", 4000 + i % 100) if denied else ("127.0.0.1", 40000 + i % 1000)
            before = total(d)
            probe.datagram = i
            d.dispatcher.dispatch(data, sender)
            owed = 1 if denied else units(data)
            assert total(d) - before == owed, (i, data[:80], total(d) - before, owed)
            if d.controls.rate != RATE:  # a fuzzed rate was applied: back to the test's period
                d.controls.set_rate(RATE)
            if d.controls.paused:  # a fuzzed /charmix/pause was applied: play on, steps to measure
                d.controls.resume()
            if i % 1000 == 0:
                check_weights(d)
                assert d.clock.running, f"the clock thread ended (datagram {i})"
            assert time.monotonic() - started < 240, f"too slow: {i} datagrams"
        check_weights(d)
        c = d.controls.counters
        assert c.rx_denied >= N_INPROCESS // 10
        assert c.rx_ok > 1000 and c.rx_bad > 10000  # the valid path was exercised too
        assert d.clock.running and d.server._thread is not None and d.server._thread.is_alive()
        assert d.clock.step_errors == 0
        elapsed = time.monotonic() - started
        print(f"{N_INPROCESS:,} datagrams in {elapsed:.1f} s ({N_INPROCESS / elapsed:,.0f}/s)")
        assert len(probe.late) >= elapsed * RATE / 3, (len(probe.late), elapsed)  # it played
        probe.check(1 / RATE)
        d.controls.resume()
        steps = d.clock.steps
        deadline = time.monotonic() + 10
        while d.clock.steps < steps + 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert d.clock.steps >= steps + 5, "generation stopped"
    finally:
        probe.close()
        d.stop()


def status(sock: socket.socket, control: int) -> dict[str, float]:
    """/charmix/status from the daemon (asked with /charmix/query, answered to this socket)."""
    sock.sendto(osc(f"{protocol.PREFIX}/query"), ("127.0.0.1", control))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except TimeoutError:
            continue
        for m in parse(data):
            if m.address == f"{protocol.PREFIX}/status":
                return dict(zip(protocol.STATUS_FIELDS, m.params, strict=False))
    raise AssertionError("no /charmix/status reply")


def is_valid_rate(data: bytes) -> bool:
    try:
        return any(m.address == f"{protocol.PREFIX}/rate" and len(m.params) == 1 and
                   isinstance(m.params[0], int | float) and not isinstance(m.params[0], bool)
                   for m in parse(data))
    except Exception:
        return False


@pytest.mark.timeout(300)
def test_fuzz_the_control_port_over_udp(tiny_model_dir: Path) -> None:
    control = free_udp_port()
    proc = subprocess.Popen(
        [*CLI, "daemon", "--models-dir", str(tiny_model_dir), "--listen", f"127.0.0.1:{control}",
         "--allow", "127.0.0.1/32", "--send", f"127.0.0.1:{free_udp_port()}", "--rate", "20",
         "--no-echo", "--status-every", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    me = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    me.bind(("127.0.0.1", 0))
    me.settimeout(0.5)
    fuzzer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # replies to fuzzed queries land
    fuzzer.bind(("127.0.0.1", 0))  # here, unread, not on `me`
    outsider = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    outsider.bind(("127.0.0.2", 0))  # loopback, but outside --allow 127.0.0.1/32
    try:
        deadline = time.monotonic() + 30
        while True:  # until the daemon answers
            try:
                first = status(me, control)
                break
            except AssertionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
        counted = first["rx_ok"] + first["rx_bad"] + first["rx_denied"]
        owed = counted + 1  # the query that fetched `first` is counted after its reply
        sent = 0
        fuzz = Fuzzer(SEED + 1, INPUTS, ["a", "b", "c"])
        chunk_bytes = 0
        started = time.monotonic()
        for i, data in enumerate(fuzz.stream(N_UDP * 2)):
            if sent >= N_UDP:
                break
            if is_valid_rate(data):
                continue
            if i % 8 == 7:
                outsider.sendto(data, ("127.0.0.1", control))
                owed += 1
            else:
                fuzzer.sendto(data, ("127.0.0.1", control))
                owed += units(data)
            sent += 1
            chunk_bytes += len(data)
            if chunk_bytes > 200_000 or sent % 250 == 0:  # never more than the socket buffer
                s = status(me, control)
                owed += 1  # that query
                assert s["rx_ok"] + s["rx_bad"] + s["rx_denied"] == owed - 1, (sent, s)
                chunk_bytes = 0
            assert time.monotonic() - started < 200
        me.sendto(osc(f"{protocol.PREFIX}/resume"), ("127.0.0.1", control))
        owed += 1
        s = status(me, control)  # answered after the resume: the socket is read in order
        assert s["rx_ok"] + s["rx_bad"] + s["rx_denied"] == owed, s
        assert s["rx_denied"] - first["rx_denied"] >= sent // 8 - 1
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert s["step_errors"] == 0, s
        # A datagram that stalled the clock would show as a run of skipped deadlines (a 1 s
        # stall is 20 overruns at 20 chars/s). The bound is loose on purpose: on the shared VM
        # the scheduler alone costs a deadline now and then (the strict lateness check, one
        # period at most, is the in-process test's, with the clock's own record of each step).
        assert s["overruns"] <= 3 + s["step"] // 20, s
        deadline = time.monotonic() + 10
        while (later := status(me, control))["step"] <= s["step"] and not later["paused"]:
            assert time.monotonic() < deadline, f"generation stopped: {later}"
            time.sleep(0.05)
    finally:
        me.close()
        fuzzer.close()
        outsider.close()
        proc.terminate()
        try:
            err = proc.communicate(timeout=10)[1]
        except subprocess.TimeoutExpired:
            proc.kill()
            err = proc.communicate()[1]
    assert "Traceback" not in err, err[-3000:]
    assert proc.returncode == 0, err[-2000:]
