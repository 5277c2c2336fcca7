"""Fuzz the bridges' query-reply path (charmix mouse/midi/leap and `charmix send` ask the daemon
for its models with /charmix/query and read whatever comes back).

A fake daemon on loopback answers each query with thousands of hostile datagrams and then the
real answer; query() must neither raise nor miss the real answer. The bulk (100,000 datagrams)
goes through the reply reader in-process, a real-UDP portion through query() itself.

The fix for what this found first (python-osc raising UnicodeDecodeError, IndexError … out of
query()) is the table branch's (issue 10, controllers/sender_query.read_reply); until it is merged
these tests are expected to fail, strictly, so that the marker goes when the fix lands.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from oscfuzz import Fuzzer
from pythonosc.osc_message_builder import OscMessageBuilder

from charmix.controllers import sender
from charmix.daemon import protocol

try:  # the table branch's reply reader (issue 10)
    from charmix.controllers.sender_query import read_reply  # type: ignore[import-not-found]
except ImportError:
    read_reply = None

pending = pytest.mark.xfail(read_reply is None, strict=True,
                            reason="needs the table branch's query junk-reply fix")
SEED = 20261204
N_INPROCESS = 100_000
ROUNDS, JUNK_PER_ROUND = 5, 2_000
OUTPUTS = [(a.path, a.types) for a in protocol.OUTPUT]
P = protocol.PREFIX


def osc(path: str, *args: object) -> bytes:
    b = OscMessageBuilder(path)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


@pending
def test_fuzz_the_reply_reader() -> None:
    assert read_reply is not None
    started = time.monotonic()
    readable = 0
    for i, data in enumerate(Fuzzer(SEED, OUTPUTS, ["a", "b"]).stream(N_INPROCESS)):
        readable += bool(read_reply(data))
        assert time.monotonic() - started < 200, f"too slow: {i} datagrams"
    assert readable > N_INPROCESS // 3


@pending
def test_fuzz_query_over_udp() -> None:
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(0.2)
    stop = threading.Event()
    status = [float(i) for i in range(len(protocol.STATUS_FIELDS) + 2)]  # a newer daemon

    def serve() -> None:
        stream = Fuzzer(SEED + 1, OUTPUTS, ["a", "b"]).stream(ROUNDS * JUNK_PER_ROUND)
        while not stop.is_set():
            try:
                data, peer = daemon.recvfrom(65536)
            except TimeoutError:
                continue
            if not data.startswith(f"{P}/query".encode()):
                continue
            answers = {f"{P}/models", f"{P}/vocab", f"{P}/status"}
            for k, junk in enumerate(stream):
                if any(path in answers for path, _ in read_reply(junk)):
                    continue  # a well-formed answer is not junk: query() rightly takes it
                daemon.sendto(junk, peer)
                if k % 200 == 199:
                    time.sleep(0.002)  # inside the bridge's receive buffer
                if k == JUNK_PER_ROUND - 1:
                    break
            for reply in (osc(f"{P}/models", "a", "b"), osc(f"{P}/vocab", "ab"),
                          osc(f"{P}/status", *status)):
                daemon.sendto(reply, peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        for _ in range(ROUNDS):
            infos = sender.query([("127.0.0.1", daemon.getsockname()[1])], timeout=10.0)
            assert infos and infos[0].models == ["a", "b"] and infos[0].vocab == "ab"
    finally:
        stop.set()
        thread.join(2)
        daemon.close()
