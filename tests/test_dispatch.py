"""The control router alone: datagrams handed to a Dispatcher directly, no socket of its own.

live/dispatch.Dispatcher is what both transports call (the UDP reader, the OSCQuery WebSocket),
so it must do all of the routing by itself — decode, --allow, validation, voices, answers,
counters — and open nothing: every test here runs with socket creation made to fail. The only
socket in play is the Broadcaster's, opened before the ban (it is how /charmix/query answers).
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterator

import pytest
from helpers import osc
from pythonosc.osc_bundle import OscBundle

from charmix.daemon import protocol
from charmix.daemon.live.broadcast import Broadcaster, destination
from charmix.daemon.live.controls import Controls
from charmix.daemon.live.dispatch import Dispatcher

NAMES = ["shakespeare", "linux", "bible"]
P = protocol.PREFIX
LOG = logging.getLogger("test.dispatch")
ALLOW = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1")]
FRIEND = ("127.0.0.1", 5000)


def zero_status() -> list[float]:
    return [0.0] * len(protocol.STATUS_FIELDS)


class NoSockets(AssertionError):
    """Raised by any attempt to make a socket while the ban is on."""


@pytest.fixture
def rx() -> Iterator[socket.socket]:
    """A loopback socket to receive answers on (made before the ban)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(5)  # a bound on a blocking read, not a sleep
        yield sock


@pytest.fixture
def voices() -> list[Controls]:
    first = Controls(NAMES)
    return [first, Controls(NAMES, counters=first.counters, wake=first.wake)]


@pytest.fixture
def broadcaster(voices: list[Controls], rx: socket.socket) -> Iterator[Broadcaster]:
    """A real Broadcaster whose one static destination (rx) makes it open its IPv4 socket now."""
    b = Broadcaster(NAMES, list("abc\n"), [destination(*rx.getsockname())],
                    voices[0].counters, zero_status, LOG)
    yield b
    b.close()


@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch, broadcaster: Broadcaster) -> None:
    """From here on, making a socket of any kind raises (the broadcaster's exists already)."""
    def refuse(*args: object, **kwargs: object) -> None:
        raise NoSockets(f"a socket was opened: {args} {kwargs}")

    for name in ("socket", "socketpair", "create_connection", "create_server", "fromfd"):
        monkeypatch.setattr(socket, name, refuse)


@pytest.fixture
def dispatcher(no_sockets: None, voices: list[Controls], broadcaster: Broadcaster) -> Dispatcher:
    """Built with the ban on: building one opens nothing either."""
    return Dispatcher(voices[0], broadcaster, ALLOW, LOG, voices=voices)


def counts(c: Controls) -> tuple[int, int, int]:
    k = c.counters
    return k.rx_ok, k.rx_bad, k.rx_denied


def test_a_weights_message_changes_the_controls(dispatcher: Dispatcher,
                                                voices: list[Controls]) -> None:
    dispatcher.dispatch(osc(f"{P}/weights", ("f", 1.0), ("f", 0.0), ("f", 0.5)), FRIEND)
    assert [float(w) for w in voices[0].snapshot().weights] == [1.0, 0.0, 0.5]
    dispatcher.dispatch(osc(f"{P}/temperature", ("i", 2)), ("::1", 5000, 0, 0))  # IPv6 sender
    assert voices[0].snapshot().temperature == 2.0
    assert counts(voices[0]) == (2, 0, 0)


def test_a_malformed_datagram_is_counted_as_rx_bad(dispatcher: Dispatcher,
                                                   voices: list[Controls],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    before = repr(voices[0].snapshot())
    with caplog.at_level(logging.WARNING, logger="test.dispatch"):
        dispatcher.dispatch(b"\x00\x01\x02 random bytes", FRIEND)
        dispatcher.dispatch(osc(f"{P}/weights", ("s", "1")), FRIEND)  # wrong type
        dispatcher.dispatch(osc(f"{P}/nonsense"), FRIEND)  # unknown address
        dispatcher.dispatch(osc(f"{P}/temperature", ("f", 99.0)), FRIEND)  # out of range
    assert counts(voices[0]) == (0, 4, 0)
    assert repr(voices[0].snapshot()) == before
    text = caplog.text
    for needle in ("malformed packet of", "expected 'f+', got 's'",
                   "unknown address '/charmix/nonsense'", "temperature must be in"):
        assert needle in text


def test_a_sender_outside_allow_is_denied_before_decoding(dispatcher: Dispatcher,
                                                          voices: list[Controls]) -> None:
    dispatcher.dispatch(osc(f"{P}/topk", ("i", 3)), ("10.1.2.3", 5000))
    dispatcher.dispatch(b"junk from outside", ("10.1.2.3", 5000))
    assert counts(voices[0]) == (0, 0, 2)
    assert voices[0].snapshot().topk != 3
    assert dispatcher.allowed("127.0.0.1") and not dispatcher.allowed("10.1.2.3")


def test_voice_prefixes_reach_their_voice(dispatcher: Dispatcher, voices: list[Controls]) -> None:
    dispatcher.dispatch(osc(protocol.voice_path(f"{P}/topk", 1), ("i", 4)), FRIEND)
    dispatcher.dispatch(osc(protocol.voice_path(f"{P}/topk", 5), ("i", 4)), FRIEND)  # no voice 5
    assert voices[1].snapshot().topk == 4 and voices[0].snapshot().topk != 4
    assert counts(voices[0]) == (1, 1, 0)


def test_a_query_is_answered_through_the_broadcaster(dispatcher: Dispatcher,
                                                     voices: list[Controls],
                                                     rx: socket.socket) -> None:
    port = rx.getsockname()[1]
    dispatcher.dispatch(osc(f"{P}/query", ("i", port)), FRIEND)
    got: dict[str, list] = {}
    while len(got) < 3:  # models, vocab, status: blocks until they arrive (or 5 s)
        for m in OscBundle(rx.recvfrom(65535)[0]):
            got[m.address] = m.params
    assert got[f"{P}/models"] == NAMES and got[f"{P}/vocab"] == ["abc\n"]
    assert len(got[f"{P}/status"]) == len(protocol.STATUS_FIELDS)
    assert counts(voices[0]) == (1, 0, 0) and voices[0].counters.tx_datagrams >= 1


def test_a_subscription_for_a_host_outside_allow_is_refused(dispatcher: Dispatcher,
                                                             voices: list[Controls],
                                                             broadcaster: Broadcaster) -> None:
    targets = broadcaster.targets
    dispatcher.dispatch(osc(f"{P}/subscribe", ("i", 9000), ("s", "10.1.2.3")), FRIEND)
    assert counts(voices[0]) == (0, 0, 1) and voices[0].counters.tx_datagrams == 0
    assert broadcaster.targets == targets


def test_the_ban_bites(no_sockets: None) -> None:
    """The fixture really refuses sockets, so the tests above prove something."""
    with pytest.raises(NoSockets):
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with pytest.raises(NoSockets):
        socket.socketpair()
