"""UDP sends that keep the GIL, so a frame's fan-out does not queue behind a busy thread.

Python's `socket.sendto` lets go of the GIL around the system call and takes it back after.
Alone that costs nothing. Beside a thread that keeps the CPU busy in Python (the control
thread under a flood of datagrams), every take-back waits for that thread's switch interval,
5 ms: the convoy effect. Measured on the 2-core VM (benchmarks/convoy.py): 65 sends cost 0.6 ms
alone and 340 ms beside a busy thread. A daemon with 64 subscribers then started its next
character 300 ms late under the control-port fuzz, on an idle machine.

This module calls libc's sendto through `ctypes.PyDLL`, which keeps the GIL for the call, with
MSG_DONTWAIT, so the call never waits whatever the socket's mode: a full buffer is EAGAIN,
counted like any other error. Holding the GIL therefore costs only the few microseconds the
call takes, and the clock thread keeps the GIL for a whole frame. The only hand-overs left
are the interpreter's forced ones, one per switch interval.

The sockaddr layouts are Linux's. Elsewhere, or where libc cannot be loaded or an address does
not pack (an IPv6 address with a scope), `sendto` is `socket.sendto`, with the old behaviour.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct
import sys

_libc_sendto = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.PyDLL(None, use_errno=True)  # PyDLL: the call keeps the GIL
        _libc_sendto = _libc.sendto
        _libc_sendto.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int,
                                 ctypes.c_char_p, ctypes.c_uint32]
        _libc_sendto.restype = ctypes.c_ssize_t
    except (OSError, AttributeError):  # no libc to load: the stdlib path
        _libc_sendto = None

AVAILABLE = _libc_sendto is not None


def pack_sockaddr(family: int, sockaddr: tuple) -> bytes | None:
    """The kernel's struct sockaddr_in / sockaddr_in6 for an address tuple, or None when this
    module cannot send to it (not Linux, a scoped IPv6 address): then `sendto` falls back."""
    if not AVAILABLE:
        return None
    try:
        if family == socket.AF_INET:
            host, port = sockaddr[:2]
            return (struct.pack("=H", socket.AF_INET) + struct.pack("!H", port)
                    + socket.inet_pton(socket.AF_INET, host) + bytes(8))
        if family == socket.AF_INET6:
            host, port, flow, scope = (tuple(sockaddr) + (0, 0))[:4]
            return (struct.pack("=H", socket.AF_INET6) + struct.pack("!HI", port, flow)
                    + socket.inet_pton(socket.AF_INET6, host) + struct.pack("=I", scope))
    except (OSError, ValueError, TypeError, struct.error):
        return None
    return None


def sendto(sock: socket.socket, data: bytes, sockaddr: tuple, packed: bytes | None) -> None:
    """Send one datagram, keeping the GIL when `packed` (from pack_sockaddr) is given; raises
    OSError as socket.sendto does. The caller must keep `sock` open for the call (the
    Broadcaster holds its sockets' lock), since a closed descriptor's number can be reused."""
    if packed is None or _libc_sendto is None:
        sock.sendto(data, sockaddr)
        return
    fd = sock.fileno()
    if fd < 0:
        raise OSError(9, os.strerror(9))  # EBADF, as socket.sendto on a closed socket
    if _libc_sendto(fd, data, len(data), socket.MSG_DONTWAIT, packed, len(packed)) < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
