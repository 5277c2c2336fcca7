"""live/udpsend: libc's sendto holding the GIL, and the broadcaster's fan-out with it.

The GIL check counts, rather than times: beside a thread spinning in Python (a counter that moves
only while that thread holds the GIL) with a one-second switch interval, 64 sends that keep the
GIL leave the counter where it was, however loaded the machine is.
"""

from __future__ import annotations

import errno
import logging
import socket
import sys
import threading
import time

import pytest

from charmix.daemon.live import udpsend
from charmix.daemon.live.broadcast import Broadcaster
from charmix.daemon.live.counters import Counters

pytestmark = pytest.mark.skipif(not udpsend.AVAILABLE, reason="udpsend's libc path is Linux's")


def receiver(family: int = socket.AF_INET) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1" if family == socket.AF_INET else "::1", 0))
    sock.settimeout(5)
    return sock


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6])
def test_a_datagram_arrives_whole_from_the_sending_socket(family: int) -> None:
    rx, tx = receiver(family), socket.socket(family, socket.SOCK_DGRAM)
    try:
        tx.setblocking(False)
        addr = rx.getsockname()
        packed = udpsend.pack_sockaddr(family, addr)
        assert packed is not None and len(packed) == (16 if family == socket.AF_INET else 28)
        char = b"/charmix/char\x00\x00\x00,s\x00\x00a\x00\x00\x00"
        for data in (char, b"", bytes(range(256)) * 40):
            udpsend.sendto(tx, data, addr, packed)
            got, source = rx.recvfrom(65536)
            assert got == data
            assert source[1] == tx.getsockname()[1]
    finally:
        rx.close()
        tx.close()


def test_errors_are_oserrors_as_from_socket_sendto() -> None:
    rx, tx = receiver(), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    addr = rx.getsockname()
    packed = udpsend.pack_sockaddr(socket.AF_INET, addr)
    try:
        with pytest.raises(OSError) as too_big:
            udpsend.sendto(tx, b"x" * 70_000, addr, packed)
        assert too_big.value.errno == errno.EMSGSIZE and too_big.value.strerror
    finally:
        rx.close()
        tx.close()
    with pytest.raises(OSError) as closed:
        udpsend.sendto(tx, b"x", addr, packed)
    assert closed.value.errno == errno.EBADF


def test_addresses_it_cannot_pack_fall_back_to_socket_sendto() -> None:
    assert udpsend.pack_sockaddr(socket.AF_INET6, ("fe80::1%nosuchif", 9, 0, 0)) is None
    assert udpsend.pack_sockaddr(socket.AF_UNIX, ("/tmp/x",)) is None
    assert udpsend.pack_sockaddr(socket.AF_INET, ("not an address", 9)) is None
    rx, tx = receiver(), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        udpsend.sendto(tx, b"plain", rx.getsockname(), None)
        assert rx.recv(64) == b"plain"
    finally:
        rx.close()
        tx.close()


class Spinner:
    """A thread that keeps the CPU busy in Python, like the control thread under a flood; `n`
    moves only while it holds the GIL."""

    def __init__(self) -> None:
        self.stop = False
        self.n = 0
        self.thread = threading.Thread(target=self._spin, daemon=True)

    def _spin(self) -> None:
        while not self.stop:
            self.n += 1

    def __enter__(self) -> Spinner:
        self.thread.start()
        time.sleep(0.01)  # it holds the GIL now; this thread gets it back within the interval
        return self

    def __exit__(self, *_: object) -> None:
        self.stop = True
        self.thread.join(10)


def test_a_fan_out_to_64_subscribers_keeps_the_gil_beside_a_busy_thread() -> None:
    """With a one-second switch interval the spinner can run during the 64 sends only if a send
    gives the GIL away. With socket.sendto it did on nearly every send on an idle machine
    (benchmarks/convoy.py: 65 sends 0.6 ms alone, 340 ms beside the spinner). Whether the
    spinner wins each hand-over race is up to the kernel's scheduler, so that side is the
    benchmark's, not a test's; udpsend gives the GIL no chance to move at all."""
    counters = Counters()
    b = Broadcaster(["a"], ["a"], [], counters, lambda: [], logging.getLogger("test"))
    sinks = [receiver() for _ in range(64)]
    old = sys.getswitchinterval()
    dgram = b"/charmix/char\x00\x00\x00,s\x00\x00z\x00\x00\x00"
    try:
        for s in sinks:
            assert b.subscribe("127.0.0.1", s.getsockname()[1], ttl=60)
        sys.setswitchinterval(1.0)
        with Spinner() as spinner:
            before = spinner.n
            sent = b._send([dgram], b.targets)
            spun_during_fan_out = spinner.n - before
        assert sent == 64
        assert spun_during_fan_out == 0, "a send in the fan-out gave the GIL away"
        for s in sinks:  # after the announcement each new subscriber got
            while (got := s.recv(65536)) != dgram:
                assert got.startswith(b"#bundle") or got.startswith(b"/charmix/"), got[:40]
    finally:
        sys.setswitchinterval(old)
        b.close()
        for s in sinks:
            s.close()
