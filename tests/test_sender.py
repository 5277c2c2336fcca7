"""The Sender over real UDP: only on change, rate-limited with a trailing send, never blocking."""

from __future__ import annotations

import socket
import time

import pytest
from fakes.osc_receiver import OscReceiver
from pythonosc.osc_message_builder import OscMessageBuilder

from charmix.controllers.sender import Sender
from charmix.controllers.sender_messages import Command, entry, limits, parse_target
from charmix.controllers.sender_query import ModelsUnknown, query, resolve_models
from charmix.daemon import protocol
from charmix.daemon.protocol.encode import encode

WEIGHTS, TEMPERATURE = entry("weights"), entry("temperature")
TICK, PRIME = entry("tick"), entry("prime")


@pytest.fixture
def rx():
    with OscReceiver() as r:
        yield r


def sender_to(*receivers: OscReceiver, **kw) -> Sender:
    return Sender([("127.0.0.1", r.port) for r in receivers], **kw)


def test_state_is_sent_only_when_it_changes(rx: OscReceiver) -> None:
    with sender_to(rx) as s:
        for _ in range(3):
            s.set(TEMPERATURE, 0.7)
            assert s.flush()
        s.set(TEMPERATURE, 0.8)
        assert s.flush()
        s.set(TEMPERATURE, 0.8)
        s.event(TICK)  # loopback keeps one socket's order: after the tick, nothing else is due
    rx.wait_count("tick", 1)
    got = rx.of("temperature")
    assert [m.params for m in got] == [(pytest.approx(0.7),), (pytest.approx(0.8),)]
    assert s.stats.suppressed == 3


def test_a_value_changed_back_before_the_flush_is_not_sent(rx: OscReceiver) -> None:
    with sender_to(rx, max_rate=2.0) as s:  # 0.5 s window: both sets land in it
        s.set(TEMPERATURE, 0.5)
        rx.wait_count("temperature", 1)
        s.set(TEMPERATURE, 0.9)
        s.set(TEMPERATURE, 0.5)
        assert s.flush()
    s.set(TEMPERATURE, 0.6)  # after close: ignored, not raised
    assert [m.params[0] for m in rx.of("temperature")] == [pytest.approx(0.5)]


def test_rate_limit_with_the_newest_value_delivered(rx: OscReceiver) -> None:
    rate = 50.0
    with sender_to(rx, max_rate=rate) as s:
        start = time.monotonic()
        i = 0
        while time.monotonic() - start < 0.4 or i < 2000:  # a burst far faster than the rate
            i += 1
            s.set(WEIGHTS, 1.0, i / 1e6)
        elapsed = time.monotonic() - start
        newest = i / 1e6
        last = rx.wait_for("weights", lambda p: p[1] == pytest.approx(newest, rel=1e-6))
    got = rx.of("weights")
    assert i > 3 * elapsed * rate, "the burst should be much faster than the rate limit"
    assert 5 <= len(got) <= elapsed * rate + 3
    # arrival times jitter (the burst holds the GIL), so check the mean spacing, not each gap
    assert (got[-1].t - got[0].t) / (len(got) - 1) > 0.8 / rate
    assert got[-1] == last  # the trailing send is the last thing that arrived


def test_events_are_always_sent_in_order(rx: OscReceiver) -> None:
    with sender_to(rx) as s:
        for _ in range(5):
            s.event(TICK)
        s.event(PRIME, "To be")
        s.event(PRIME, "or not")
    assert len(rx.wait_count("tick", 5)) == 5
    got = rx.wait_count("prime", 2)
    assert [m.params for m in got] == [("To be",), ("or not",)]


def test_changes_flush_in_the_order_they_were_made(rx: OscReceiver) -> None:
    """A value updated after another address changed goes after it (stale-last is a bug)."""
    weight_a = entry("weight/{name}")
    with sender_to(rx, max_rate=2.0) as s:
        s.set(TEMPERATURE, 0.3)  # opens a 0.5 s window
        rx.wait_count("temperature", 1)
        s.set(weight_a, 0.3, name="a")
        s.set(WEIGHTS, 0.3, 1.0)
        s.set(weight_a, 0.4, name="a")
    rx.wait_count("weight/a", 1)
    rx.wait_count("weights", 1)
    order = [m.address for m in rx.messages]
    assert order[-2:] == [protocol.PREFIX + "/weights", protocol.PREFIX + "/weight/a"]


def test_the_vector_and_a_per_model_weight_make_each_other_stale(rx: OscReceiver) -> None:
    """A fader back at its old value after a solo vector is sent again, and vice versa."""
    weight_a = entry("weight/{name}")
    with sender_to(rx) as s:
        for step in [
            lambda: s.set(weight_a, 0.504, name="a"),
            lambda: s.set(WEIGHTS, 0.0, 1.0),
            lambda: s.set(weight_a, 0.504, name="a"),
            lambda: s.set(WEIGHTS, 0.0, 1.0),
        ]:
            step()
            assert s.flush()
        s.event(TICK)
    rx.wait_count("tick", 1)
    assert [m.params for m in rx.of("weight/a")] == [(pytest.approx(0.504),)] * 2
    assert [m.params for m in rx.of("weights")] == [(0.0, 1.0)] * 2
    assert s.stats.suppressed == 0


def test_a_fader_flushed_before_a_vector_is_stale_after_it(rx: OscReceiver) -> None:
    """Both in one window go out fader first; then the vector holds, not the fader's value."""
    weight_a = entry("weight/{name}")
    with sender_to(rx, max_rate=5.0) as s:
        s.set(TEMPERATURE, 0.3)  # opens a 0.2 s window: the next two share one flush
        rx.wait_count("temperature", 1)
        s.set(weight_a, 0.5, name="a")
        s.set(WEIGHTS, 0.0, 1.0)
        assert s.flush()
        s.set(weight_a, 0.5, name="a")
        s.event(TICK)
        assert s.flush()
        s.event(TICK)
    rx.wait_count("tick", 2)
    order = [m.address.removeprefix(protocol.PREFIX + "/") for m in rx.messages]
    assert order == ["temperature", "weight/a", "weights", "tick", "weight/a", "tick"]


def test_resend_replays_in_the_order_last_sent(rx: OscReceiver) -> None:
    """An old vector must not replay after a newer fader (it would undo it)."""
    weight_a = entry("weight/{name}")
    with sender_to(rx, resend=0.5) as s:
        for address, args, name in [
            (weight_a, (0.2,), "a"),
            (WEIGHTS, (1.0, 1.0), None),
            (weight_a, (0.3,), "a"),
            (TEMPERATURE, (0.5,), None),
            (TEMPERATURE, (0.6,), None),
        ]:
            s.set(address, *args, name=name)
            assert s.flush()
        rx.wait_count("temperature", 2)
        count = len(rx.messages)
        rx.wait_count("temperature", 3, timeout=5)  # the replay's last message
    replay = [m.address.removeprefix(protocol.PREFIX + "/") for m in rx.messages[count:]][:3]
    assert replay == ["weights", "weight/a", "temperature"]


def test_every_target_gets_it_and_a_missing_daemon_costs_nothing(rx: OscReceiver) -> None:
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()  # nothing listens there now
    with OscReceiver() as rx2:
        logs: list[str] = []
        s = Sender([("127.0.0.1", dead_port), ("127.0.0.1", rx.port), ("127.0.0.1", rx2.port)],
                   log=logs.append)
        for k in range(20):
            t0 = time.perf_counter()
            s.set(TEMPERATURE, 0.5 + k / 100)
            assert time.perf_counter() - t0 < 1.0  # a blocking lookup takes seconds
            s.flush()
        s.close()
        for r in (rx, rx2):
            r.wait_for("temperature", lambda p: p[0] == pytest.approx(0.69))
            assert len(r.of("temperature")) == 20
    assert s.stats.errors == 0 and s.stats.datagrams == 60


def test_an_unresolvable_host_never_stalls_the_others(rx: OscReceiver) -> None:
    logs: list[str] = []
    s = Sender([("no-such-host.invalid", 7770), ("127.0.0.1", rx.port)], log=logs.append)
    with s:
        for k in range(10):
            t0 = time.perf_counter()
            s.set(TEMPERATURE, 1.0 + k / 10)
            assert time.perf_counter() - t0 < 1.0  # a blocking lookup takes seconds
        rx.wait_for("temperature", lambda p: p[0] == pytest.approx(1.9))
    assert s.stats.errors >= 1
    assert sum("cannot resolve no-such-host.invalid:7770" in line for line in logs) == 1


def test_resend_keeps_a_restarted_daemon_current(rx: OscReceiver) -> None:
    with sender_to(rx, resend=0.1) as s:
        s.set(TEMPERATURE, 0.42)
        got = rx.wait_count("temperature", 3, timeout=5)
    assert all(m.params[0] == pytest.approx(0.42) for m in got)


def test_messages_match_python_osc_and_the_table_types() -> None:
    def built(path: str, *typed: tuple[object, str]) -> bytes:
        b = OscMessageBuilder(path)
        for value, tag in typed:
            b.add_arg(value, tag)
        return b.build().dgram

    p = protocol.PREFIX
    assert encode(WEIGHTS, (1, 0.5)) == built(f"{p}/weights", (1.0, "f"), (0.5, "f"))
    assert encode(entry("seed"), (42,)) == built(f"{p}/seed", (42, "i"))
    assert encode(entry("topk"), (5.0,)) == built(f"{p}/topk", (5, "i"))
    assert encode(entry("mode"), ("geometric",)) == built(f"{p}/mode", ("geometric", "s"))
    assert encode(entry("weight/{name}"), (0.25,), name="bible") == built(f"{p}/weight/bible",
                                                                         (0.25, "f"))
    assert encode(entry("subscribe"), (9000, "h")) == built(f"{p}/subscribe", (9000, "i"),
                                                            ("h", "s"))
    assert encode(entry("query"), ()) == built(f"{p}/query")
    # past int32, an int goes as OSC int64 ('h'), which the daemon reads as an i
    assert encode(entry("seed"), (2**63 - 1,)) == built(f"{p}/seed", (2**63 - 1, "h"))


@pytest.mark.parametrize(
    ("suffix", "args", "name", "why"),
    [
        ("weights", (), None, "takes weight_1 … weight_N, got 0 values"),
        ("weights", (1.0, "x"), None, "weight 2 must be a number, got 'x'"),
        ("weights", (-1.1, 1.0), None, "weight 1 must be in -1 – 1, got -1.1"),
        ("weights", (float("inf"),), None, "finite"),
        ("temperature", (float("nan"),), None, "finite"),
        ("temperature", (9.0,), None, "must be in 0.05 – 5, got 9"),
        ("topp", (0.0,), None, r"must be in \(0, 1\]"),
        ("model/{name}/temperature", (0.01,), "a", "temperature of a must be 0 or 0.05 – 5"),
        ("mode", ("loud",), None, "must be one of linear, geometric"),
        ("seed", (2**63,), None, "must be in 0 – 2\\^63−1"),
        ("topk", (2**64,), None, "64-bit"),
        ("seed", (1.5,), None, "whole number"),
        ("seed", (-1,), None, "must be in 0 – 2\\^63−1"),
        ("tick", (1,), None, "takes no arguments"),
        ("subscribe", (9000, "h", 3), None, "takes \\[port\\] \\[host\\]"),
        ("subscribe", (0,), None, "port must be in 1 – 65535"),
        ("weight/{name}", (0.5,), None, "needs a model name"),
        ("temperature", (0.5,), "a", "takes no model name"),
        ("weights", (True,), None, "must be a number, got True"),
    ],
)
def test_bad_arguments_are_refused_with_the_reason(suffix, args, name, why) -> None:
    with pytest.raises(ValueError, match=why):
        encode(entry(suffix), args, name)


def test_a_long_prime_is_clipped_as_the_daemon_would() -> None:
    """/charmix/prime's CLIPMODE is high: the sender sends the last PRIME_MAX characters."""
    text = "".join(chr(ord("a") + i % 26) for i in range(5000))
    assert encode(entry("prime"), (text,)) == encode(entry("prime"), (text[-protocol.PRIME_MAX:],))


def test_knob_limits_come_from_the_table() -> None:
    assert limits(TEMPERATURE) == (0.05, 5.0)
    assert limits(entry("model/{name}/temperature")) == (0.0, 5.0)
    assert limits(entry("weights")) == (-1.0, 1.0)  # signed: anti-experts (geometric mode)


def test_bad_arguments_never_reach_the_queue(rx: OscReceiver) -> None:
    with sender_to(rx) as s:
        with pytest.raises(ValueError):
            s.set(TEMPERATURE, -3.0)
        with pytest.raises(ValueError):
            s.apply([Command(TEMPERATURE, (0.5,)), Command(TEMPERATURE, ("hot",))])
        s.event(TICK)
    # Events and settings leave on the sender's thread in either order: wait for both.
    rx.wait_count("tick", 1)
    rx.wait_count("temperature", 1)
    assert [m.params for m in rx.of("temperature")] == [(0.5,)]


@pytest.mark.parametrize(
    ("text", "target"),
    [("10.0.0.2:7770", ("10.0.0.2", 7770)), ("host.local:9000", ("host.local", 9000)),
     ("[::1]:7770", ("::1", 7770)), (":9000", (protocol.DEFAULT_HOST, 9000)),
     ("9000", (protocol.DEFAULT_HOST, 9000)), ("host", ("host", protocol.CONTROL_PORT))],
)
def test_parse_target(text: str, target: tuple[str, int]) -> None:
    assert parse_target(text) == target


@pytest.mark.parametrize("text", ["", "host:", "host:0", "host:70000", "[::1", "a:b"])
def test_parse_target_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="target .*(port must be|empty|missing)"):
        parse_target(text)


def test_query_reads_a_daemons_bundled_reply() -> None:
    with OscReceiver(answer_models=["austen", "bible", "linux"]) as daemon:
        replies = query([("127.0.0.1", daemon.port)], timeout=5.0)
    assert len(replies) == 1
    info = replies[0]
    assert info.models == ["austen", "bible", "linux"]
    assert info.vocab == "abc"
    assert info.status is not None and list(info.status) == list(protocol.STATUS_FIELDS)
    assert info.status["temperature"] == protocol.STATUS_FIELDS.index("temperature")


def test_daemons_with_different_models_are_named_in_one_warning() -> None:
    logs: list[str] = []
    with (
        OscReceiver(answer_models=["a", "b"]) as one,
        OscReceiver(answer_models=["b", "a"]) as two,
        OscReceiver(answer_models=["a", "b"]) as three,
    ):
        targets = [("127.0.0.1", r.port) for r in (one, two, three)]
        names, info = resolve_models(targets, None, 5.0, log=logs.append)
    assert info is not None and names == info.models
    first = f"127.0.0.1:{info.source[1]}"
    odd = [f"127.0.0.1:{r.port}" for r in (one, two, three) if r.answer_models != names]
    assert len(logs) == len(odd) >= 1  # one line per daemon that differs from the first
    for other in odd:
        (line,) = [line for line in logs if other in line]
        assert "disagree" in line and first in line and "\n" not in line


def test_query_may_ask_a_broadcast_address() -> None:
    """SO_BROADCAST is set, so --to 192.168.1.255:7770 works (tested on loopback's broadcast)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        listener.bind(("127.255.255.255", 0))
    except OSError:
        listener.close()
        pytest.skip("this system cannot bind loopback's broadcast address")
    listener.settimeout(5.0)
    with listener:
        query([("127.255.255.255", listener.getsockname()[1])], timeout=0.05)
        data, _ = listener.recvfrom(1024)  # without SO_BROADCAST sendto fails (EACCES)
    assert data == encode(entry("query"), ())


def test_resolve_models_prefers_the_daemon_then_the_option(rx: OscReceiver) -> None:
    logs: list[str] = []
    with OscReceiver(answer_models=["x", "y"]) as daemon:
        names, info = resolve_models([("127.0.0.1", daemon.port)], "a,b", 5.0, log=logs.append)
    assert names == ["x", "y"] and info is not None
    assert "using that instead of --models a,b" in logs[0]
    t0 = time.monotonic()
    names, info = resolve_models([("127.0.0.1", rx.port)], "a, b,c", 0.2)
    assert names == ["a", "b", "c"] and info is None
    assert time.monotonic() - t0 < 1.0
    with pytest.raises(ModelsUnknown, match="no daemon answered .* --models a,b,c"):
        resolve_models([("127.0.0.1", rx.port)], None, 0.1)
    with pytest.raises(ModelsUnknown, match="twice"):
        resolve_models([("127.0.0.1", rx.port)], "a,a", 0)
    with pytest.raises(ModelsUnknown, match="empty"):
        resolve_models([("127.0.0.1", rx.port)], " , ", 0)
