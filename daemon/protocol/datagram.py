"""Reading UDP datagrams without churning the heap: one buffer per reader, reused.

`sock.recvfrom(65535)` allocates a 64 KiB bytes object for every datagram and then shrinks it to
the datagram's size. Done a hundred times a second for weeks, that pattern fragments glibc's heap:
the soak (benchmarks/soak.py, 600 control messages/s) saw the heap grow by ~2 MB every 100 s with
the memory in use flat, and RSS creep with it; reading into one reused buffer and copying out
exactly the datagram's bytes kept the heap flat. Every long-lived reader in charmix (the daemon's
control port, the monitor, the bridges' query) reads through this.
"""

from __future__ import annotations

import socket


class DatagramReader:
    """recvfrom for one socket's reader thread, into a buffer of `size` bytes kept for its life.

    A datagram longer than `size` is cut to `size` bytes (as recvfrom(size) would); the OSC
    readers then refuse it as malformed. Not thread-safe: one reader per thread."""

    def __init__(self, size: int) -> None:
        self._buffer = memoryview(bytearray(size))

    def recvfrom(self, sock: socket.socket) -> tuple[bytes, tuple]:
        """(datagram, sender address); raises what sock.recvfrom_into raises."""
        n, sender = sock.recvfrom_into(self._buffer)
        return bytes(self._buffer[:n]), sender

    def recv(self, sock: socket.socket) -> bytes:
        return self.recvfrom(sock)[0]
