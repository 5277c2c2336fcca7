"""The broadcaster: frames → the table's messages in ≤ 1,400-byte bundles → every destination."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator

import numpy as np
import pytest
from pythonosc.osc_bundle import OscBundle

from charmix.daemon import protocol
from charmix.daemon.engine.mixer import Frame
from charmix.daemon.live import broadcast
from charmix.daemon.live.broadcast import Broadcaster, Destination, destination
from charmix.daemon.live.counters import Counters

P = protocol.PREFIX
LOG = logging.getLogger("test.broadcast")
NAMES = ["shakespeare", "linux", "bible", "austen", "nietzsche", "kafka"]


def make_frame(v: int = 102, n: int = 6, step: int = 41) -> Frame:
    rng = np.random.default_rng(step)
    p = rng.random((n, v)).astype(np.float32)
    p /= p.sum(axis=1, keepdims=True)
    w = np.full(n, 1 / n, np.float32)
    return Frame(
        step=step, char="é", index=3, p_mix=(w @ p).astype(np.float32), p_models=p, weights=w,
        attribution=rng.random(n).astype(np.float32), entropy=rng.random(n).astype(np.float32),
        line="To be, or not to bé",
    )


class Receiver:
    """A UDP socket on a free loopback port that collects OSC messages."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.sock.settimeout(2)
        self.port = self.sock.getsockname()[1]
        self.sizes: list[int] = []

    def messages(self, datagrams: int) -> dict[str, list]:
        out: dict[str, list] = {}
        for _ in range(datagrams):
            data, _ = self.sock.recvfrom(65535)
            self.sizes.append(len(data))
            for m in OscBundle(data):
                out[m.address] = m.params
        return out

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def make(dests: list[Destination], clock: list[float] | None = None, **kw) -> Broadcaster:
    t = clock if clock is not None else [0.0]
    return Broadcaster(
        NAMES, [chr(32 + i) for i in range(102)], dests, Counters(),
        lambda: [float(i) for i in range(len(protocol.STATUS_FIELDS))], LOG,
        now=lambda: t[0], **kw,
    )


def test_frame_messages_follow_the_table(receiver: Receiver) -> None:
    b = make([destination("127.0.0.1", receiver.port)])
    frame = make_frame()
    datagrams = b.frame_datagrams(frame)
    assert all(len(d) <= protocol.MAX_DATAGRAM for d in datagrams)
    b.send_frame(frame)
    got = receiver.messages(len(datagrams))
    expected_paths = [f"{P}/{name}" for name in protocol.FRAME_ADDRESSES]
    expected_paths += [f"{P}/model/{name}/dist" for name in NAMES]
    assert list(got) == expected_paths  # every message, in the table's order
    assert got[f"{P}/char"] == ["é"] and got[f"{P}/index"] == [3] and got[f"{P}/step"] == [41]
    assert got[f"{P}/text"] == ["To be, or not to bé"]
    np.testing.assert_array_equal(np.float32(got[f"{P}/dist"]), frame.p_mix)
    np.testing.assert_array_equal(np.float32(got[f"{P}/attribution"]), frame.attribution)
    np.testing.assert_array_equal(np.float32(got[f"{P}/model/bible/dist"]), frame.p_models[2])
    assert b.counters.tx_datagrams == len(datagrams) and b.counters.tx_errors == 0


def test_every_frame_address_has_a_frame_field() -> None:
    fields = set(Frame.__dataclass_fields__)
    assert set(broadcast.FRAME_FIELDS) == set(protocol.FRAME_ADDRESSES)
    assert set(broadcast.FRAME_FIELDS.values()) <= fields


def test_step_wraps_instead_of_overflowing_int32() -> None:
    b = make([])
    msgs = b.frame_messages(make_frame(step=2**31 + 5))
    step = next(m for m in msgs if m.startswith(f"{P}/step\x00".encode()))
    assert step.endswith((5).to_bytes(4, "big"))


def test_datagram_limit_is_configurable(receiver: Receiver) -> None:
    b = make([destination("127.0.0.1", receiver.port)], limit=9000)
    assert len(b.frame_datagrams(make_frame())) == 1
    small = make([destination("127.0.0.1", receiver.port)], limit=600)
    assert all(len(d) <= 600 for d in small.frame_datagrams(make_frame()))


def test_announcement(receiver: Receiver) -> None:
    b = make([destination("127.0.0.1", receiver.port)])
    b.announce()
    got = receiver.messages(len(b.announce_datagrams()))
    assert got[f"{P}/models"] == NAMES
    assert got[f"{P}/vocab"] == ["".join(chr(32 + i) for i in range(102))]
    assert got[f"{P}/status"] == [float(i) for i in range(len(protocol.STATUS_FIELDS))]


def test_announces_every_few_seconds() -> None:
    clock = [100.0]
    b = make([destination("127.0.0.1", 9)], clock)  # nobody listens on the discard port
    b.housekeeping()
    sent = b.counters.tx_datagrams
    assert sent > 0
    clock[0] += protocol.ANNOUNCE_EVERY / 2
    b.housekeeping()
    assert b.counters.tx_datagrams == sent
    clock[0] += protocol.ANNOUNCE_EVERY / 2 + 0.01
    b.housekeeping()
    assert b.counters.tx_datagrams == 2 * sent
    assert b.counters.tx_errors == 0  # a receiver that is not running costs nothing


def test_a_failing_destination_does_not_affect_the_others(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    bad = Destination("127.0.0.1:0", socket.AF_INET, ("127.0.0.1", 0))  # sendto fails: EINVAL
    b = make([bad, destination("127.0.0.1", receiver.port)])
    frame = make_frame()
    n = len(b.frame_datagrams(frame))
    with caplog.at_level(logging.WARNING, logger="test.broadcast"):
        for _ in range(50):
            b.send_frame(frame)
            assert f"{P}/model/kafka/dist" in receiver.messages(n)
    assert b.counters.tx_errors == 50 * n and bad.errors == 50 * n
    assert b.counters.tx_datagrams == 50 * n
    assert len(caplog.records) == 1 and "send to 127.0.0.1:0 failed" in caplog.text


def test_a_datagram_too_large_for_udp_is_counted_not_raised(receiver: Receiver) -> None:
    b = Broadcaster(["m"], [chr(0x4E00 + i) for i in range(20_000)],
                    [destination("127.0.0.1", receiver.port)], Counters(),
                    lambda: [0.0] * len(protocol.STATUS_FIELDS), LOG)
    b.announce()  # the vocabulary string alone is 60 kB; its dist below is 80 kB
    frame = make_frame(v=20_000, n=1)
    b.send_frame(frame)
    assert b.counters.tx_errors >= 2


def test_subscribers_expire_unless_renewed(receiver: Receiver) -> None:
    clock = [0.0]
    b = make([], clock)
    assert b.subscribe("127.0.0.1", receiver.port)
    receiver.messages(len(b.announce_datagrams()))  # a new subscriber hears the layout at once
    clock[0] = protocol.SUBSCRIBER_TTL - 1
    assert b.subscribe("127.0.0.1", receiver.port)  # renew
    clock[0] = protocol.SUBSCRIBER_TTL + 1
    b.housekeeping()
    assert b.subscriber_count == 1
    clock[0] = 2 * protocol.SUBSCRIBER_TTL
    b.housekeeping()
    assert b.subscriber_count == 0 and b.targets == ()


def test_subscriber_table_is_bounded_and_statics_are_not_duplicated() -> None:
    b = make([destination("127.0.0.1", 9000)])
    assert b.subscribe("127.0.0.1", 9000) and b.subscriber_count == 0
    for port in range(broadcast.MAX_SUBSCRIBERS):
        assert b.subscribe("127.0.0.1", 20000 + port)
    assert not b.subscribe("127.0.0.1", 30000)
    assert b.unsubscribe("127.0.0.1", 20000)
    assert not b.unsubscribe("127.0.0.1", 20000)
    assert b.subscribe("::ffff:127.0.0.1", 30000)  # IPv4-mapped senders are plain IPv4
    assert b.targets[-1].sockaddr == ("127.0.0.1", 30000)


def group_receiver(group: str) -> Receiver:
    r = Receiver("")
    mreq = socket.inet_aton(group) + socket.inet_aton("0.0.0.0")
    r.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    return r


@pytest.mark.parametrize("kind", ["multicast", "broadcast"])
def test_multicast_and_broadcast_destinations(kind: str) -> None:
    try:
        r = group_receiver("239.255.77.77") if kind == "multicast" else Receiver("")
    except OSError as exc:
        pytest.skip(f"no {kind} here: {exc}")
    host = "239.255.77.77" if kind == "multicast" else "255.255.255.255"
    b = make([destination(host, r.port)])
    try:
        b.send_frame(make_frame())
        if b.counters.tx_errors:
            pytest.skip(f"this machine has no route for {kind}")
        try:
            got = r.messages(1)
        except TimeoutError:
            pytest.skip(f"{kind} is not looped back on this machine")
        assert f"{P}/char" in got
    finally:
        r.close()
        b.close()


def test_a_vocabulary_too_big_for_one_datagram_is_warned_about_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger=LOG.name):
        make([])
        assert not caplog.records  # 102 characters fit
        big = Broadcaster(NAMES, [chr(0x1000 + i) for i in range(600)], [], Counters(),
                          lambda: [0.0] * len(protocol.STATUS_FIELDS), LOG)
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert f"{P}/model/shakespeare/dist is" in warned and "600-character" in warned
    assert f"{P}/vocab is" in warned
    datagrams = big.frame_datagrams(make_frame(v=600))
    assert max(len(d) for d in datagrams) > protocol.MAX_DATAGRAM  # which is what it warned of
