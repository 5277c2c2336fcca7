"""The control port over real UDP on loopback (live/reader.py feeding live/dispatch.py): dispatch
from the table, bad input, allowlist."""

from __future__ import annotations

import functools
import logging
import math
import socket
import struct
import time
from collections.abc import Iterator

import helpers
import numpy as np
import pytest
from helpers import osc as msg  # test_server_robust imports it
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage

from charmix.daemon import protocol
from charmix.daemon.live.broadcast import Broadcaster
from charmix.daemon.live.controls import Controls
from charmix.daemon.live.counters import Counters
from charmix.daemon.live.dispatch import Dispatcher
from charmix.daemon.live.reader import ControlReader, ListenError
from charmix.daemon.protocol.endpoint import Endpoint

NAMES = ["shakespeare", "linux", "bible"]
P = protocol.PREFIX
LOG = logging.getLogger("test.server")


wait_for = functools.partial(helpers.wait_for, timeout=3.0)


def zero_status() -> list[float]:
    return [0.0] * len(protocol.STATUS_FIELDS)


def bundle(*messages: bytes, timetag: float = IMMEDIATELY) -> bytes:
    builder = OscBundleBuilder(timetag)
    for m in messages:
        builder.add_content(OscMessage(m))
    return builder.build().dgram


class Rig:
    """A dispatcher, its reader on a free loopback port, its controls, and a sender socket."""

    def __init__(self, allow: list[str] | None = None) -> None:
        import ipaddress

        self.controls = Controls(NAMES)
        self.broadcaster = Broadcaster(
            NAMES, list("abc\n"), [], self.controls.counters, zero_status, LOG
        )
        nets = [ipaddress.ip_network(a) for a in (allow or ["127.0.0.0/8", "::1"])]
        self.dispatcher = Dispatcher(self.controls, self.broadcaster, nets, LOG)
        self.server = ControlReader(Endpoint("127.0.0.1", 0), self.dispatcher)
        self.server.start()
        self.addr = self.server.address
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(3)

    @property
    def counters(self) -> Counters:
        return self.controls.counters

    def send(self, data: bytes, sock: socket.socket | None = None) -> None:
        (sock or self.sock).sendto(data, self.addr)

    def settle(self, ok: int = 0, bad: int = 0, denied: int = 0) -> None:
        """Wait until the server has counted exactly what was sent."""
        c = self.counters
        wait_for(lambda: c.rx_ok >= ok and c.rx_bad >= bad and c.rx_denied >= denied)
        assert (c.rx_ok, c.rx_bad, c.rx_denied) == (ok, bad, denied)

    def close(self) -> None:
        self.server.stop()
        self.broadcaster.close()
        self.sock.close()


@pytest.fixture
def rig() -> Iterator[Rig]:
    r = Rig()
    yield r
    r.close()


def weights(rig: Rig) -> list[float]:
    return [round(float(w), 6) for w in rig.controls.snapshot().weights]


def test_every_input_address_of_the_table_is_dispatched(rig: Rig) -> None:
    sent = [
        msg(f"{P}/scene/save", ("s", "a")),  # the defaults, recalled at once: nothing moves
        msg(f"{P}/scene/recall", ("s", "a"), ("f", 0.0)),
        msg(f"{P}/weights", ("f", 1.0), ("f", 0.0), ("f", 0.5)),
        msg(f"{P}/weight/linux", ("f", 0.75)),
        msg(f"{P}/temperature", ("i", 2)),  # Max and Pd send ints from integer number boxes
        msg(f"{P}/model/bible/temperature", ("d", 1.5)),
        msg(f"{P}/mode", ("s", "geometric")),
        msg(f"{P}/beta", ("f", 0.2)),
        msg(f"{P}/rate", ("f", 30.0)),
        msg(f"{P}/slew", ("f", 0.5)),
        msg(f"{P}/topk", ("i", 5)),
        msg(f"{P}/topp", ("f", 0.5)),
        msg(f"{P}/pause"),
        msg(f"{P}/resume"),
        msg(f"{P}/tick"),
        msg(f"{P}/prime", ("s", "To be")),
        msg(f"{P}/reset"),
        msg(f"{P}/seed", ("h", 2**40)),
        msg(f"{P}/subscribe", ("i", 9999)),
        msg(f"{P}/unsubscribe", ("i", 9999)),
        msg(f"{P}/query", ("i", 9)),
        msg(f"{P}/record", ("s", "takes/one.jsonl")),
        msg(f"{P}/record/stop"),
        msg(f"{P}/blocklist/add", ("s", "whore")),
        msg(f"{P}/blocklist/add", ("s", "*ass")),
        msg(f"{P}/blocklist/remove", ("s", "whore")),
        msg(f"{P}/charset", ("s", "a-z ")),
        msg(f"{P}/fold", ("s", "upper")),
        msg(f"{P}/scene/delete", ("s", "a")),
    ]
    no_score = [msg(f"{P}/score/play"), msg(f"{P}/score/stop"), msg(f"{P}/score/cue", ("i", 1))]
    assert len(sent) + len(no_score) == len(protocol.INPUT) + 1  # blocklist/add twice
    for data in sent + no_score:
        rig.send(data)
    rig.settle(ok=len(sent), bad=len(no_score))  # a daemon without --score refuses them
    s = rig.controls.snapshot()
    assert weights(rig) == [1.0, 0.75, 0.5]
    assert (s.temperature, s.mode, s.slew, s.topk, s.topp) == (2.0, "geometric", 0.5, 5, 0.5)
    assert s.beta == pytest.approx(0.2)
    assert list(s.model_temperature) == [0, 0, 1.5]
    assert rig.controls.rate == 30.0 and not rig.controls.paused
    assert rig.controls.take_tick()
    kinds = [(c.kind, c.text, c.seed) for c in rig.controls.take_commands()]
    assert kinds == [("prime", "To be", 0), ("reset", "", 0), ("seed", "", 2**40),
                     ("record", "takes/one.jsonl", 0), ("record_stop", "", 0)]
    assert s.constraints is not None
    assert s.constraints.spec() == {"blocklist": ["*ass"], "charset": "a-z ", "fold": "upper"}


def test_the_dispatcher_is_the_table(rig: Rig) -> None:
    """Every input address has a handler and every handler an address (no reflection on names)."""
    assert set(rig.dispatcher.handlers()) == {a.short for a in protocol.INPUT}


def test_bundles_apply_at_once_in_order_even_with_a_future_timetag(rig: Rig) -> None:
    later = time.time() + 3600
    rig.send(bundle(msg(f"{P}/weights", ("f", 0.0), ("f", 1.0)),
                    msg(f"{P}/weights", ("f", 0.5)), timetag=later))
    rig.settle(ok=2)
    assert weights(rig) == [0.5, 1.0, round(1 / 3, 6)]


def test_nested_bundles(rig: Rig) -> None:
    inner = bundle(msg(f"{P}/topk", ("i", 3)))
    outer_builder = OscBundleBuilder(IMMEDIATELY)
    outer_builder.add_content(OscBundle(inner))
    outer_builder.add_content(OscMessage(msg(f"{P}/topk", ("i", 4))))
    rig.send(outer_builder.build().dgram)
    rig.settle(ok=2)
    assert rig.controls.snapshot().topk == 4


def test_datagrams_over_8_kib_arrive_whole(rig: Rig) -> None:
    """python-osc's own servers would truncate these at 8,192 bytes."""
    text = "é" * 1000  # 2,000 bytes of UTF-8
    big = bundle(
        msg(f"{P}/prime", ("s", text)),
        *[msg(f"{P}/weights", ("f", i / 400), ("f", 1.0), ("f", 1.0)) for i in range(400)],
        msg(f"{P}/topk", ("i", 7)),
    )
    assert len(big) > 16_000
    rig.send(big)
    rig.settle(ok=402)
    assert rig.controls.snapshot().topk == 7
    assert rig.controls.take_commands()[0].text == text


def test_junk_is_counted_and_changes_nothing(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rig.send(msg(f"{P}/weights", ("f", 0.5), ("f", 0.25), ("f", 0.25)))
    rig.settle(ok=1)
    before = rig.controls.snapshot()
    good = msg(f"{P}/weights", ("f", 1.0), ("f", 0.0), ("f", 0.0))
    junk = [
        b"",
        b"\x00\x01\x02 random bytes",
        b"#bundle\x00",  # truncated bundle header
        good[:11],  # cut inside the address
        good[:22],  # cut inside the type tags
        good[:20] + b",fffs\x00\x00\x00" + struct.pack(">fff", 1, 0, 0),  # a string is missing
        b"/charmix/prime\x00\x00,s\x00\x00\xff\xfe\x00\x00",  # invalid UTF-8
        msg(f"{P}/weights", ("s", "1")),  # wrong type
        msg(f"{P}/weights", ("f", 1.0), ("f", 0.0), ("f", 0.0), ("f", 0.0)),  # too many
        msg(f"{P}/weights"),  # no arguments
        msg(f"{P}/weights", ("f", math.nan), ("f", 0.0)),
        msg(f"{P}/weights", ("f", math.inf)),
        msg(f"{P}/weights", ("f", -1.0)),
        msg(f"{P}/weight/austen", ("f", 1.0)),  # unknown model
        msg(f"{P}/model/austen/temperature", ("f", 1.0)),
        msg(f"{P}/nonsense", ("f", 1.0)),  # unknown address
        msg("/other/app", ("i", 1)),
        msg(f"{P}/temperature", ("f", 0.0)),  # out of range
        msg(f"{P}/temperature", ("T", True)),  # a boolean is not a number
        msg(f"{P}/mode", ("s", "loud")),
        msg(f"{P}/mode", ("f", 1.0)),
        msg(f"{P}/rate", ("f", -5.0)),
        msg(f"{P}/topk", ("f", 2.5)),
        msg(f"{P}/seed", ("f", math.nan)),
        msg(f"{P}/seed", ("i", -1)),  # seeds are non-negative
        msg(f"{P}/subscribe", ("i", 70000)),
        msg(f"{P}/subscribe", ("i", 9000), ("s", "not-an-ip.example")),
        msg(f"{P}/query", ("f", math.inf)),
        msg(f"{P}/weights", *[("f", 1.0)] * 12000),  # 60 KB: oversized and wrong arity
        bytes(60_000),  # oversized zeros
    ]
    with caplog.at_level(logging.WARNING, logger="test.server"):
        for data in junk:
            rig.send(data)
        rig.settle(ok=1, bad=len(junk))
    after = rig.controls.snapshot()
    assert repr(before) == repr(after)
    assert rig.controls.take_commands() == []
    assert rig.broadcaster.subscriber_count == 0
    # Each kind of problem is reported, and the reason is in the line.
    text = "\n".join(r.getMessage() for r in caplog.records)
    for needle in ("malformed", "unknown model 'austen'", "unknown address '/charmix/nonsense'",
                   "expected 'f+', got 's'", "got 4 values for 3 models",
                   "temperature must be in", "mode must be one of", "rate must be in"):
        assert needle in text


def test_a_flood_is_rate_limited_in_the_log(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    rng = np.random.default_rng(0)
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="test.server"):
        for chunk in range(10):  # in chunks, so a small kernel buffer cannot drop any
            for i in range(200):
                rig.send(rng.bytes(int(rng.integers(1, 200))) if i % 2 else msg(f"{P}/x{i}"))
            wait_for(lambda n=chunk: rig.counters.rx_bad >= 200 * (n + 1))
        rig.send(msg(f"{P}/topk", ("i", 9)))
        wait_for(lambda: rig.controls.snapshot().topk == 9)
    assert rig.counters.rx_bad == 2000
    seconds = time.monotonic() - start
    # Two kinds of problem (malformed, unknown address): at most one line per kind per second.
    assert len(caplog.records) <= 2 * (math.ceil(seconds) + 1) < 2000


def test_senders_outside_the_allowlist_are_ignored_and_counted() -> None:
    rig = Rig(allow=["127.0.0.1/32"])
    outsider = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    outsider.bind(("127.0.0.2", 0))
    try:
        for _ in range(5):
            rig.send(msg(f"{P}/weights", ("f", 1.0), ("f", 0.0), ("f", 0.0)), outsider)
        rig.send(b"junk from outside", outsider)
        rig.send(msg(f"{P}/topk", ("i", 3)))  # from 127.0.0.1: allowed
        rig.settle(ok=1, denied=6)
        assert weights(rig) == [round(1 / 3, 6)] * 3
        assert rig.controls.snapshot().topk == 3
    finally:
        outsider.close()
        rig.close()


def replies(sock: socket.socket, count: int) -> dict[str, list]:
    """Messages received on sock until `count` distinct addresses were seen."""
    got: dict[str, list] = {}
    while len(got) < count:
        data, _ = sock.recvfrom(65535)
        for m in OscBundle(data):
            got[m.address] = m.params
    return got


def test_query_replies_to_the_sender_or_to_the_given_port(rig: Rig) -> None:
    rig.send(msg(f"{P}/query"))
    got = replies(rig.sock, 3)
    assert got[f"{P}/models"] == NAMES
    assert got[f"{P}/vocab"] == ["abc\n"]
    assert len(got[f"{P}/status"]) == len(protocol.STATUS_FIELDS)
    other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    other.bind(("127.0.0.1", 0))
    other.settimeout(3)
    try:
        rig.send(msg(f"{P}/query", ("i", other.getsockname()[1])))
        assert replies(other, 3)[f"{P}/models"] == NAMES
    finally:
        other.close()


def test_subscribe_defaults_to_the_sender_and_announces_at_once(rig: Rig) -> None:
    rig.send(msg(f"{P}/subscribe"))
    assert replies(rig.sock, 3)[f"{P}/models"] == NAMES  # the layout comes first
    host, port = rig.sock.getsockname()
    assert [d.sockaddr for d in rig.broadcaster.targets] == [(host, port)]
    rig.send(msg(f"{P}/subscribe", ("i", 9000), ("s", "localhost")))
    rig.send(msg(f"{P}/subscribe", ("i", 9000), ("s", "127.0.0.1")))  # a renewal, not a copy
    rig.send(msg(f"{P}/unsubscribe"))
    rig.settle(ok=4)
    assert [d.sockaddr for d in rig.broadcaster.targets] == [("127.0.0.1", 9000)]


def test_stop_is_prompt_and_releases_the_port() -> None:
    rig = Rig()
    port = rig.addr[1]
    start = time.perf_counter()
    rig.close()
    assert time.perf_counter() - start < 3.0  # not a read timeout's wait
    again = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    again.bind(("127.0.0.1", port))  # the port is free again
    again.close()


def test_port_in_use_is_one_clear_line() -> None:
    rig = Rig()
    try:
        with pytest.raises(ListenError) as info:
            ControlReader(Endpoint("127.0.0.1", rig.addr[1]),
                          Dispatcher(rig.controls, rig.broadcaster, [], LOG))
        text = str(info.value)
        assert "\n" not in text
        assert f"cannot listen on 127.0.0.1:{rig.addr[1]}: Address already in use" in text
    finally:
        rig.close()


def test_ipv6_listen_takes_ipv4_too() -> None:
    import ipaddress

    controls = Controls(NAMES)
    broadcaster = Broadcaster(NAMES, ["a"], [], controls.counters, zero_status, LOG)
    try:
        server = ControlReader(Endpoint("::", 0), Dispatcher(
            controls, broadcaster, [ipaddress.ip_network("127.0.0.0/8")], LOG))
    except ListenError:
        pytest.skip("no IPv6 on this machine")
    server.start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(msg(f"{P}/topk", ("i", 2)), ("127.0.0.1", server.address[1]))
        wait_for(lambda: controls.snapshot().topk == 2)  # ::ffff:127.0.0.1 is allowed
    finally:
        server.stop()
        broadcaster.close()


def test_python_osc_warnings_do_not_flood_the_log(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """python-osc logs a root warning per unknown type tag; those packets are ours to count."""
    unknown_tag = f"{P}/weights".encode() + b"\x00\x00\x00\x00,c\x00\x00" + b"abcd"
    with caplog.at_level(logging.WARNING):
        for _ in range(50):
            rig.send(unknown_tag)
        rig.settle(bad=50)
    assert not [r for r in caplog.records if "pythonosc" in r.pathname]
    assert len(caplog.records) == 1 and "expected 'f+', got 'c'" in caplog.text
