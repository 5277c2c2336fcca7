"""Fuzz the bridges' query-reply path (charmix mouse/midi/leap and `charmix send` ask the daemon
for its models with /charmix/query and read whatever comes back).

A fake daemon on loopback answers each query with thousands of hostile datagrams and then the
real answer; query() must neither raise nor miss the real answer. The bulk (100,000 datagrams)
goes through the reply reader in-process, a real-UDP portion through query() itself.

What this found first (python-osc raising UnicodeDecodeError, IndexError … out of query()) was
fixed on the table branch (controllers/sender_query.read_reply); the reader is now the daemon's
own (daemon/oscread), so a bundle bomb costs the bridge what it costs the daemon.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time

import pytest
from helpers import osc, wait_drained
from oscfuzz import Fuzzer

from charmix.controllers import sender_query as sender
from charmix.controllers.sender_query import read_reply
from charmix.daemon import protocol
from charmix.daemon.protocol import oscread

SEED = 20261204
N_INPROCESS = 100_000
ROUNDS, JUNK_PER_ROUND = 5, 2_000
CHUNK = 50  # datagrams between waits for the reader: far inside a default receive buffer
OUTPUTS = [(a.path, a.types) for a in protocol.OUTPUT]
P = protocol.PREFIX
ANSWER = [f"{P}/{name}".encode() for name in ("models", "vocab", "status")]


def test_fuzz_the_reply_reader() -> None:
    started = time.monotonic()
    readable = 0
    for i, data in enumerate(Fuzzer(SEED, OUTPUTS, ["a", "b"]).stream(N_INPROCESS)):
        readable += bool(read_reply(data))
        assert time.monotonic() - started < 200, f"too slow: {i} datagrams"
    assert readable > N_INPROCESS // 3


def bundle(*elements: bytes) -> bytes:
    return b"#bundle\x00" + bytes(8) + b"".join(struct.pack(">i", len(e)) + e for e in elements)


def test_the_reply_reader_is_the_daemons(caplog: pytest.LogCaptureFixture,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Nested answers read in order; nesting past oscread.MAX_DEPTH and unknown type tags are
    ignored, fast and (inside query()) without python-osc's warning lines."""
    monkeypatch.setattr(logging.getLogger(), "filters", [])  # an in-process daemon silenced it
    answer = bundle(osc(f"{P}/models", "a", "b"), bundle(osc(f"{P}/vocab", "ab")))
    assert read_reply(answer) == [(f"{P}/models", ["a", "b"]), (f"{P}/vocab", ["ab"])]
    nested = osc(f"{P}/models", "a")
    for _ in range(oscread.MAX_DEPTH):
        nested = bundle(nested)
    assert read_reply(nested) == [(f"{P}/models", ["a"])]  # as deep as the daemon reads
    assert read_reply(bundle(nested)) == []  # one deeper: refused, as the daemon refuses it
    bomb = nested
    for _ in range(3000):  # python-osc's recursive parser: ~70 ms and a deep recursion
        bomb = bundle(bomb)
    started = time.perf_counter()
    assert read_reply(bomb) == []
    assert time.perf_counter() - started < 2.0  # generous: milliseconds even on a busy VM
    odd = f"{P}/models\x00,sQ\x00".encode() + b"a\x00\x00\x00"  # Q: no such OSC type
    with caplog.at_level(logging.WARNING):
        assert read_reply(odd) == [(f"{P}/models", ["a"])]  # python-osc skips it, and says so
        assert [r for r in caplog.records if "pythonosc" in r.pathname]
        caplog.clear()
        with oscread.quiet_python_osc():  # as inside query(): no line per stray datagram
            read_reply(odd)
        assert not [r for r in caplog.records if "pythonosc" in r.pathname]


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
                if k % CHUNK == CHUNK - 1:
                    wait_drained(peer[1])  # sized to the bridge: it has read the chunk
                if k == JUNK_PER_ROUND - 1:
                    break
            wait_drained(peer[1])  # the answer never meets a full buffer
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
