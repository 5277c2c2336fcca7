"""The Daemon in-process: wiring, commands between steps, reproducibility, status, the console."""

from __future__ import annotations

import functools
import io
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import helpers
import numpy as np
import pytest
from helpers import osc
from pythonosc.osc_bundle import OscBundle

from charmix.daemon import protocol
from charmix.daemon.runtime.config import build
from charmix.daemon.runtime.console import Console
from charmix.daemon.runtime.daemon import Daemon
from charmix.daemon.runtime.startup import StartupError

P = protocol.PREFIX
LOG = logging.getLogger("test.runtime")
wait_for = functools.partial(helpers.wait_for, timeout=5.0)  # test_record_daemon imports it


@pytest.fixture
def receiver() -> Iterator[socket.socket]:
    with helpers.udp_receiver() as sock:
        yield sock


@pytest.fixture
def daemon(tiny_model_dir: Path, receiver: socket.socket) -> Iterator[Callable[..., Daemon]]:
    with helpers.daemons(LOG, models_dir=tiny_model_dir, listen="127.0.0.1:0",
                         send=[f"127.0.0.1:{receiver.getsockname()[1]}"]) as make:
        yield make


def control(d: Daemon, data: bytes) -> None:
    assert d.server is not None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(data, d.server.address)


def test_same_seed_same_weight_timeline_same_text(daemon) -> None:
    texts = []
    for _ in range(2):
        out: list[str] = []
        d = daemon(run_clock=False, echo=out.append, seed=11, weights="1,0,0")
        d.clock.burst(150)
        d.controls.set_weights([0, 0, 1])  # the same gesture at the same step
        d.clock.burst(150)
        texts.append("".join(out))
        d.stop()
    assert texts[0] == texts[1] and len(texts[0]) == 300
    other: list[str] = []
    d = daemon(run_clock=False, echo=other.append, seed=12, weights="1,0,0")
    d.clock.burst(300)
    assert "".join(other) != texts[0]


def test_commands_apply_between_steps_on_the_clock_thread(daemon) -> None:
    out: list[str] = []
    d = daemon(echo=out.append, rate=0.0)
    control(d, osc(f"{P}/seed", ("i", 5)))
    control(d, osc(f"{P}/reset"))
    for _ in range(40):
        control(d, osc(f"{P}/tick"))
    wait_for(lambda: len(out) == 40)
    first = "".join(out)
    control(d, osc(f"{P}/seed", ("i", 5)))
    control(d, osc(f"{P}/reset"))
    for _ in range(40):
        control(d, osc(f"{P}/tick"))
    wait_for(lambda: len(out) == 80)
    assert "".join(out[40:]) == first  # reseeded and reset: the same characters again
    control(d, osc(f"{P}/prime", ("s", "To be, or not to be")))
    wait_for(lambda: "To be, or not to be" in d.engine.line)  # fed in slices, then adopted
    control(d, osc(f"{P}/tick"))
    wait_for(lambda: len(out) == 81)
    assert "To be, or not to be" in d.engine.line  # primed, then one more character


def test_frames_and_announcements_reach_the_destination(daemon, receiver: socket.socket) -> None:
    d = daemon(rate=100.0)
    seen: dict[str, list] = {}
    while f"{P}/attribution" not in seen or f"{P}/models" not in seen:
        data, _ = receiver.recvfrom(65535)
        assert len(data) <= protocol.MAX_DATAGRAM
        for m in OscBundle(data):
            seen[m.address] = m.params
    assert seen[f"{P}/models"] == d.engine.names
    assert len(seen[f"{P}/status"]) == len(protocol.STATUS_FIELDS)


def test_status_values_and_line(daemon) -> None:
    d = daemon(run_clock=False, rate=20.0, temperature=0.5, mode="geometric", topk=3)
    d.clock.burst(10)
    values = dict(zip(protocol.STATUS_FIELDS, d.status_values(), strict=True))
    assert values["step"] == 10 and values["rate"] == 20 and values["temperature"] == 0.5
    assert values["mode"] == protocol.MODES.index("geometric") and values["topk"] == 3
    assert values["paused"] == 0 and values["uptime"] >= 0
    line = d.status_line()
    assert "10 chars" in line and "weights bible 0.33 linux 0.33 shakespeare 0.33" in line
    assert "\n" not in line


def test_startup_errors(tiny_model_dir: Path, tiny_models: dict[str, Path]) -> None:
    def start(**cli) -> None:
        cli = {"models_dir": tiny_model_dir, "listen": "127.0.0.1:0", **cli}
        Daemon(build(cli), LOG).start()

    with pytest.raises(StartupError, match=r"weights: 2 values for 3 models"):
        start(weights="1,0")
    with pytest.raises(StartupError, match="two models are named linux"):
        start(models=[str(tiny_models["linux"]), str(tiny_models["linux"])])
    with pytest.raises(StartupError, match="weights: unknown model 'austen'"):
        start(weights="austen=1")
    with pytest.raises(StartupError, match="^cannot listen on no-such-host.invalid:7000: cannot "
                       "resolve host 'no-such-host.invalid'"):
        start(listen="no-such-host.invalid:7000")
    with pytest.raises(StartupError, match="^--send no-such-host.invalid:9: cannot resolve host"):
        start(send=["no-such-host.invalid:9"])


def test_weights_table_leaves_unnamed_models_at_zero(daemon) -> None:
    d = daemon(run_clock=False, weights="linux=0.5", slew=0.0)
    d.clock.burst(1)
    np.testing.assert_allclose(d.engine.weights, [0, 1, 0])


class Stuck(io.StringIO):
    """A stream whose writes block until released: a terminal paused with Ctrl-S."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    def write(self, s: str) -> int:
        self.release.wait()
        return super().write(s)


def test_console_never_blocks_the_caller() -> None:
    out, err = Stuck(), io.StringIO()
    console = Console(out, err, size=100)
    start = time.perf_counter()
    for _ in range(1000):
        console.text("x")
    assert time.perf_counter() - start < 5.0  # a blocked write would hang here for good
    # The writer thread may take a batch off the queue before its write blocks, so how many
    # get in varies with scheduling; that the rest are dropped and counted does not.
    assert console.dropped > 0
    out.release.set()
    wait_for(lambda: console._queue.empty())
    console.line("done")
    console.close(timeout=2)
    assert out.getvalue() == "x" * (1000 - console.dropped) and err.getvalue() == "done\n"


def test_a_flood_of_primes_is_refused_while_one_waits(daemon) -> None:
    out: list[str] = []
    d = daemon(echo=out.append, rate=0.0)
    bad_before = d.controls.counters.rx_bad
    for k in range(50):
        control(d, osc(f"{P}/prime", ("s", f"prime {k} " * 200)))
    control(d, osc(f"{P}/tick"))
    wait_for(lambda: len(out) == 1)
    counters = d.controls.counters
    assert counters.rx_bad - bad_before >= 1  # refused ones are counted, not queued
    for _ in range(20):  # and the music goes on
        control(d, osc(f"{P}/tick"))
    wait_for(lambda: len(out) == 21)


def test_the_models_run_ahead_between_characters(daemon) -> None:
    """After every frame, and after a prime or reset, the models' next step is already done, so
    that a tick or a weights change costs only the mix (Engine.advance)."""
    d = daemon(run_clock=False, seed=3)
    assert d.engine.ready  # the first character's step, before the clock started
    found_ready: list[bool] = []
    real_advance = d.engine.advance

    def advance() -> None:
        found_ready.append(d.engine.ready)
        real_advance()

    d.engine.advance = advance
    d.clock.burst(3)
    # Each step found the models ready (its own advance() was free); the daemon's call after
    # sending the frame did the work.
    assert found_ready == [True, False] * 3 and d.engine.ready
    d.controls.prime("Once upon a time")
    d.controls.reset()
    d._service()
    assert d.engine.ready
