"""The reused-buffer datagram reader: exact bytes out, each datagram its own object."""

from __future__ import annotations

import socket

import pytest

from charmix.daemon.protocol.datagram import DatagramReader


@pytest.fixture
def pair():
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(2.0)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    yield tx, rx
    tx.close()
    rx.close()


def test_datagrams_come_out_whole_and_independent(pair):
    tx, rx = pair
    reader = DatagramReader(65507)
    sent = [b"/charmix/tick\x00\x00\x00,\x00\x00\x00", b"x" * 60000, b"", b"abc"]
    for data in sent:
        tx.sendto(data, rx.getsockname())
    got = [reader.recvfrom(rx) for _ in sent]
    assert [g[0] for g in got] == sent  # a later, shorter datagram does not change an earlier one
    assert all(g[1] == ("127.0.0.1", tx.getsockname()[1]) for g in got)
    assert all(type(g[0]) is bytes for g in got)


def test_a_datagram_longer_than_the_buffer_is_cut(pair):
    tx, rx = pair
    reader = DatagramReader(16)
    tx.sendto(b"0123456789abcdefXYZ", rx.getsockname())
    assert reader.recv(rx) == b"0123456789abcdef"
    tx.sendto(b"next", rx.getsockname())
    assert reader.recv(rx) == b"next"  # the rest of the long one is gone, as with recvfrom(16)
