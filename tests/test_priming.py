"""A prime is fed in slices between characters (charmix.daemon.engine.priming), never at once on the
clock thread: the text and the controls keep going while a long prime is consumed, and the
primed state is exactly what an atomic prime gives. Timing goals (the longest gap between two
characters during a 1,024-character prime) live in benchmarks/bench_prime.py."""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import helpers
import numpy as np
import pytest

from charmix.daemon import protocol
from charmix.daemon.engine.mixer import Engine
from charmix.daemon.engine.model import load_model
from charmix.daemon.engine.modelformat import model_files
from charmix.daemon.engine.priming import Primer, slice_budget
from charmix.daemon.runtime.config import build
from charmix.daemon.runtime.daemon import Daemon

TEXT = ("It is a truth universally acknowledged, that a single man in possession of a good "
        "fortune, must be in want of a wife.\n€Ω ") * 9  # > PRIME_MAX, with unknown characters


def engine(folder: Path) -> Engine:
    return Engine([load_model(p) for p in model_files(folder)], seed=1)


def states(e: Engine) -> list[np.ndarray]:
    return [a.copy() for m in e.models for a in (m.h, m.c)]


def test_slices_give_exactly_the_atomic_prime(tiny_model_dir: Path) -> None:
    atomic, sliced = engine(tiny_model_dir), engine(tiny_model_dir)
    for e in (atomic, sliced):
        e.prime("Once upon ")
        e.advance()
    atomic.prime(TEXT[-protocol.PRIME_MAX:])
    primer = Primer(sliced)
    primer.start(TEXT)  # longer than PRIME_MAX: its last PRIME_MAX characters
    before = states(sliced)
    assert not primer.feed(1.0, max_chars=100)
    assert all(np.array_equal(a, b) for a, b in zip(before, states(sliced), strict=True)), \
        "the live state must not move while the prime is consumed"
    while not primer.feed(1.0, max_chars=100):
        pass
    assert primer.slices == math.ceil((protocol.PRIME_MAX - 1) / 100)
    assert all(np.array_equal(a, b) for a, b in zip(states(atomic), states(sliced), strict=True))
    assert sliced.line == atomic.line
    settings = atomic_settings(atomic)
    assert atomic.generate(settings, 50) == sliced.generate(settings, 50)


def atomic_settings(e: Engine):
    from charmix.daemon.engine.mixer import Settings

    return Settings(weights=np.ones(len(e.models)))


def test_a_second_prime_joins_the_first_and_a_reset_drops_it(tiny_model_dir: Path) -> None:
    joined, reference = engine(tiny_model_dir), engine(tiny_model_dir)
    reference.prime("To be, or not to be")
    primer = Primer(joined)
    primer.start("To be, ")
    primer.feed(1.0, max_chars=3)
    primer.start("or not to be")
    while not primer.feed(1.0, max_chars=3):
        pass
    assert all(np.array_equal(a, b) for a, b in zip(states(reference), states(joined),
                                                    strict=True))
    primer.start(TEXT)
    primer.feed(1.0, max_chars=5)
    primer.cancel()
    assert not primer.active and not primer.feed(1.0)


def test_the_budget_is_a_share_of_the_period() -> None:
    assert slice_budget(0) == slice_budget(20) > 0
    assert slice_budget(2000) == pytest.approx(0.25 / 2000)


@pytest.fixture
def receiver() -> Iterator[socket.socket]:
    with helpers.udp_receiver(timeout=None) as sock:
        yield sock


def test_characters_and_controls_go_on_while_a_long_prime_is_consumed(
    tiny_model_dir: Path, receiver: socket.socket
) -> None:
    """A running daemon at 200 chars/s: characters keep coming while a 1,024-character prime
    is fed in many slices."""
    out: list[str] = []
    d = Daemon(build({"models_dir": tiny_model_dir, "listen": "127.0.0.1:0", "rate": 200.0,
                      "send": [f"127.0.0.1:{receiver.getsockname()[1]}"]}), echo=out.append)
    d.start()
    try:
        slow = [m.step for m in d.engine.models]
        for m, step in zip(d.engine.models, slow, strict=True):  # ~1 ms a character: 1 s of prime
            def slowed(tokens, step=step):
                time.sleep(0.001 / len(slow))
                return step(tokens)
            m.step = slowed
        d.controls.prime(TEXT)
        deadline = time.monotonic() + 10
        while not d.primer.active and time.monotonic() < deadline:
            time.sleep(0.001)
        during = len(out)
        while d.primer.active and time.monotonic() < deadline:
            time.sleep(0.002)
        assert not d.primer.active, "the prime was never finished"
        assert len(out) - during >= 20, "the text stopped while the prime was consumed"
        assert d.primer.slices > 10
        assert d.clock.step_errors == 0
    finally:
        d.stop()
