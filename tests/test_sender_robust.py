"""The bridges' side of bad input (issue 10): junk replies, newer daemons, a failing log.

Each of these once stopped a bridge: python-osc raises UnicodeDecodeError (not only ParseError)
on a stray datagram, a daemon with more /charmix/status fields looked like no daemon, and an error
inside the sending thread's OSError branch killed it with `_busy` set.
"""

from __future__ import annotations

import logging
import random
import struct
import time

import pytest
from fakes.osc_receiver import OscReceiver

from charmix.controllers.sender import Sender
from charmix.controllers.sender_messages import entry
from charmix.controllers.sender_query import query
from charmix.daemon import protocol
from charmix.daemon.live.counters import THROTTLE_KINDS, Throttle

WEIGHTS, TEMPERATURE = entry("weights"), entry("temperature")


def junk_datagrams(seed: int = 7, count: int = 200) -> list[bytes]:
    """Replies a stray peer might send: every kind python-osc chokes on, seeded."""
    rng = random.Random(seed)
    known = [
        b"/\xff\xfe\x00,\x00\x00\x00",  # invalid UTF-8 address: UnicodeDecodeError
        b"/charmix/models\x00,s\x00\x00\xff\xfe\xfd\x00",  # invalid UTF-8 argument
        b"",  # empty
        b"#bundle\x00",  # truncated bundle
        b"#bundle\x00" + bytes(8) + struct.pack(">i", 9999) + b"/x",  # element past the end
        b"/charmix/status\x00\x00\x00\x00\x00,f\x00\x00",  # a float with no bytes
        b"/charmix/models\x00,s",  # unterminated type tags
    ]
    rand = [(b"/" if rng.random() < 0.5 else b"#bundle\x00")
            + bytes(rng.randrange(256) for _ in range(rng.randint(0, 48)))
            for _ in range(count - len(known))]
    return known + rand


def test_query_survives_any_junk_reply(caplog: pytest.LogCaptureFixture) -> None:
    junk = junk_datagrams()
    with (caplog.at_level(logging.WARNING),
          OscReceiver(answer_models=["austen", "bible"], answer_junk=junk) as daemon):
        replies = query([("127.0.0.1", daemon.port)], timeout=5.0)
    assert [r.models for r in replies] == [["austen", "bible"]]
    assert replies[0].vocab == "abc" and replies[0].status is not None
    # python-osc's own root-logger warnings about the junk stay out of the bridge's terminal
    assert not [r for r in caplog.records if "pythonosc" in r.pathname]


@pytest.mark.parametrize("extra", [0, 1, 7])
def test_a_newer_daemons_longer_status_is_read(extra: int) -> None:
    """docs/osc.md: fields are only appended, readers ignore the ones they do not know."""
    n = len(protocol.STATUS_FIELDS) + extra
    with OscReceiver(answer_models=["austen"], status_fields=n) as daemon:
        (info,) = query([("127.0.0.1", daemon.port)], timeout=5.0)
    assert info.status is not None and list(info.status) == list(protocol.STATUS_FIELDS)
    assert info.status["uptime"] == protocol.STATUS_FIELDS.index("uptime")


def test_a_shorter_status_is_not_taken_as_one() -> None:
    with OscReceiver(answer_models=["austen"], status_fields=5) as daemon:
        (info,) = query([("127.0.0.1", daemon.port)], timeout=1.0)
    assert info.status is None and info.models == ["austen"]


def test_a_failing_log_never_kills_the_sending_thread() -> None:
    """A datagram too big for UDP (EMSGSIZE) takes the OSError branch; its log call fails."""
    calls: list[str] = []

    def broken_log(message: str) -> None:
        calls.append(message)
        raise OSError("stderr is gone")  # e.g. a closed terminal

    with OscReceiver() as rx:
        s = Sender([("127.0.0.1", rx.port)], log=broken_log)
        try:
            s.set(WEIGHTS, *([0.5] * 20_000))  # 80 kB: sendto raises EMSGSIZE
            assert s.flush(timeout=3.0), "flush timed out: the sending thread died"
            assert calls, "the failure was not reported"
            s.set(TEMPERATURE, 0.7)
            assert s.flush(timeout=3.0)
            assert rx.wait_for("temperature", timeout=3.0).params == pytest.approx((0.7,))
            assert s.stats.errors >= 1
        finally:
            s.close(timeout=1.0)


def test_a_bug_in_the_sending_thread_costs_one_batch_not_the_sender(monkeypatch) -> None:
    """Whatever escapes a send (here a TypeError from a broken socket) is caught and counted."""
    with OscReceiver() as rx:
        s = Sender([("127.0.0.1", rx.port)], log=lambda m: None)
        try:
            real = s._send
            fail = [True]

            def flaky(dgram, dests):
                if fail.pop() if fail else False:
                    raise TypeError("a bug")
                real(dgram, dests)

            monkeypatch.setattr(s, "_send", flaky)
            s.event(entry("tick"))
            assert s.flush(timeout=3.0), "flush timed out: the sending thread died"
            s.set(TEMPERATURE, 0.4)
            assert rx.wait_for("temperature", timeout=3.0).params == pytest.approx((0.4,))
            assert s.stats.errors >= 1
        finally:
            s.close(timeout=1.0)


def test_throttle_memory_is_bounded_for_suppressed_kinds_too() -> None:
    clock = [0.0]
    throttle = Throttle(logging.getLogger("test.throttle.bound"), interval=1.0,
                        now=lambda: clock[0])
    start = time.monotonic()
    for k in range(THROTTLE_KINDS * 3):
        kind = f"to 10.0.{k // 256}.{k % 256}:9000"  # subscribers coming and going for weeks
        throttle.warn(kind, "cannot send")
        throttle.warn(kind, "cannot send")  # within the interval: suppressed and counted
        assert time.monotonic() - start < 20
    assert len(throttle._last) <= THROTTLE_KINDS
    assert len(throttle._suppressed) <= THROTTLE_KINDS


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # on purpose
def test_a_dead_sending_thread_is_never_waited_on_nor_queued_into(monkeypatch) -> None:
    """Even what the catch-all cannot catch (here SystemExit) leaves a usable Sender."""
    with OscReceiver() as rx:
        s = Sender([("127.0.0.1", rx.port)], log=lambda m: None)
        try:
            def dies() -> bool:
                raise SystemExit("gone")

            monkeypatch.setattr(s, "_round", dies)
            s._start_thread()  # the next round kills this thread
            s._thread.join(2)
            assert not s._thread.is_alive()
            monkeypatch.undo()
            with s._cond:
                s._events.append(b"stale")  # work queued before anyone noticed
            start = time.monotonic()
            assert not s.flush(timeout=5.0)  # says so at once instead of timing out
            assert time.monotonic() - start < 4.0  # not the 5 s timeout
            s.set(TEMPERATURE, 0.3)  # restarts the thread: nothing queues into a corpse
            assert s.stats.restarts == 1
            assert rx.wait_for("temperature", timeout=3.0).params == pytest.approx((0.3,))
        finally:
            s.close(timeout=1.0)
