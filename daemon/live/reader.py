"""The control port: a UDP socket read on its own thread, each datagram handed to the Dispatcher.

Why not python-osc's servers: its socketserver-based servers read at most 8,192 bytes of a
datagram (a long /charmix/prime or a big bundle would arrive truncated). Here a plain socket reads
whole datagrams (protocol/datagram.DatagramReader, 65,535 bytes, one buffer for the thread's life)
and passes each, with its sender, to live/dispatch.Dispatcher, which decodes, checks, applies and
counts it. The reader knows nothing of OSC: it owns the socket, its thread, and a clean stop.

The thread never blocks on anything but its socket (and the wake-up pair that stop() uses), so
nothing a sender does can stop or slow the clock; it handles at most BATCH datagrams per wake-up
before it looks whether it should stop.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import threading

from charmix.daemon.live.dispatch import Dispatcher
from charmix.daemon.protocol import oscread
from charmix.daemon.protocol.datagram import DatagramReader
from charmix.daemon.protocol.endpoint import Endpoint

RECV_SIZE = 65535  # whole datagrams: no 8 KiB truncation
RECV_BUFFER = 1 << 20  # ask the kernel for 1 MiB so a burst from a controller is not dropped
BATCH = 256  # datagrams handled per wake-up before checking for stop
JOIN_TIMEOUT = 0.5  # seconds; stop() is part of the 1 s shutdown budget
THREAD_NAME = "charmix-osc-in"


class ListenError(OSError):
    """The control socket could not be opened; str() is one line for the user."""


class ControlReader:
    """Reads control datagrams on one UDP socket and hands them to `dispatcher`."""

    def __init__(self, listen: Endpoint, dispatcher: Dispatcher) -> None:
        """Binds at once (ListenError, one line, if it cannot); start() starts the thread."""
        self.listen = listen
        self.dispatcher = dispatcher
        self.throttle = dispatcher.throttle  # one set of control-input warnings
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.sock = self._bind()  # first: a bind that fails leaves nothing open behind it
        self._reader = DatagramReader(RECV_SIZE)  # one buffer for the thread's life
        self._wake_r, self._wake_w = socket.socketpair()

    def _bind(self) -> socket.socket:
        try:
            family, sockaddr = self.listen.resolve()
        except ValueError as exc:  # config.ConfigError: the host does not resolve
            raise ListenError(f"cannot listen on {exc}") from None
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)  # also take IPv4
            sock.bind(sockaddr)
        except OSError as exc:
            sock.close()
            reason = exc.strerror or str(exc)
            in_use = exc.errno == errno.EADDRINUSE
            hint = " (is another charmix daemon running?)" if in_use else ""
            raise ListenError(f"cannot listen on {self.listen}: {reason}{hint}") from None
        # A bigger buffer holds more of a burst; if refused, the default one still works.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECV_BUFFER)
        sock.setblocking(False)
        return sock

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port) — useful when listening on port 0."""
        return self.sock.getsockname()[:2]

    def start(self) -> None:
        oscread.silence_python_osc()  # junk is counted and warned about by the dispatcher
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = JOIN_TIMEOUT) -> None:
        """Stop the thread (woken at once through a socket pair) and close the sockets."""
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout)
        for sock in (self.sock, self._wake_r, self._wake_w):
            sock.close()

    def _run(self) -> None:
        dispatch = self.dispatcher.dispatch
        with selectors.DefaultSelector() as selector:
            selector.register(self.sock, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)
            while not self._stopping.is_set():
                selector.select()
                for _ in range(BATCH):
                    if self._stopping.is_set():
                        return
                    try:
                        data, sender = self._reader.recvfrom(self.sock)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as exc:  # e.g. ICMP errors reported on a UDP socket
                        self.throttle.warn("recv", f"control socket: {exc.strerror or exc}")
                        break
                    dispatch(data, sender)
