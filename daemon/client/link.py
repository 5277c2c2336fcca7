"""The monitor's one UDP socket to a daemon: subscribe and renew, query, read whole datagrams.

Control messages go out from the socket the frames arrive on, so the daemon's "sender's address
and port" defaults point straight back at it.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import math
import socket
import time

import typer

from charmix.daemon import protocol
from charmix.daemon.client.frames import MonitorState
from charmix.daemon.protocol.datagram import DatagramReader
from charmix.daemon.protocol.encode import message
from charmix.daemon.protocol.endpoint import format_address, parse_endpoint

RENEW_EVERY = protocol.SUBSCRIBER_TTL / 3  # three chances to renew before a subscription lapses
DRAIN_BUDGET = 0.05  # seconds of parsing before the view gets a turn


def parse_hostport(
    spec: str, default_host: str, default_port: int = protocol.CONTROL_PORT
) -> tuple[str, int]:
    """'host:port', ':port', 'port' or 'host' (then `default_port`) -> (host, port)."""
    try:
        endpoint = parse_endpoint(spec, default_port, default_host, lowest=0)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    return endpoint.host, endpoint.port


def _resolve(host: str, port: int, passive: bool = False) -> tuple[int, tuple] | None:
    """(family, socket address) for a UDP endpoint, IPv4 first when a name has both; None when
    the name can't be resolved (yet)."""
    try:
        infos = socket.getaddrinfo(
            host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE if passive else 0
        )
    except (OSError, UnicodeError):
        return None
    family, _, _, _, addr = min(infos, key=lambda info: info[0] != socket.AF_INET)
    return family, addr


def _loopback(addr: tuple) -> bool:
    try:
        return ipaddress.ip_address(addr[0].split("%")[0]).is_loopback
    except ValueError:
        return False


class Link:
    """The monitor's one UDP socket: whole datagrams in, subscribe/renew/query out.

    Control messages go out from the same socket, so the daemon's "sender's address and port"
    defaults point straight back at it. The socket has the daemon's address family (IPv4 or
    IPv6, from getaddrinfo); a --listen wildcard 0.0.0.0 becomes :: for an IPv6 daemon. OSError
    (its strerror says why) when it can't be opened.
    """

    def __init__(self, daemon: tuple[str, int], listen: tuple[str, int] | None):
        self.daemon = daemon
        self.subscribing = listen is None
        resolved = _resolve(*daemon)
        # unresolvable (yet): try IPv4, sendto looks the name up again at every renewal
        family, self._to = resolved or (socket.AF_INET, daemon)
        v6 = family == socket.AF_INET6
        if listen is None:
            local = resolved is not None and _loopback(self._to) or daemon[0] == "localhost"
            here = ("::1" if v6 else "127.0.0.1") if local else ("::" if v6 else "0.0.0.0")
            bind: tuple = (here, 0)
        else:
            host = "::" if v6 and listen[0] == "0.0.0.0" else listen[0]  # "any", in v6
            found = _resolve(host, listen[1], passive=True)
            if found is None:
                raise OSError(errno.EADDRNOTAVAIL, f"cannot resolve {host!r}")
            if found[0] != family:
                raise OSError(
                    errno.EAFNOSUPPORT,
                    f"--listen {format_address(listen)} and the daemon {format_address(daemon)} "
                    "are not both IPv4 or both IPv6",
                )
            bind = found[1]
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self._reader = DatagramReader(protocol.MAX_INPUT_DATAGRAM)
        try:
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            self.sock.bind(bind)
        except OSError:
            self.sock.close()
            raise
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.send_errors = 0
        self._renewed = -math.inf

    def retarget(self, old: tuple[str, int], new: tuple[str, int]) -> None:
        """The daemon (followed by name) moved: subscribe there at the next maintain()."""
        resolved = _resolve(*new)
        if resolved is None or resolved[0] != self.sock.family:
            return  # another address family: the monitor cannot follow with this socket
        self.daemon, self._to = new, resolved[1]
        self._renewed = -math.inf

    def describe(self) -> str:
        how = "subscribed" if self.subscribing else "listening"
        return f"{format_address(self.daemon)} → :{self.port} ({how})"

    def _send(self, data: bytes) -> None:
        try:
            self.sock.sendto(data, self._to)
        except OSError:  # daemon not up yet, unresolvable host: count, retry at the next renewal
            self.send_errors += 1

    def maintain(self, now: float, want_announce: bool) -> None:
        """Subscribe (and renew) every RENEW_EVERY seconds; ask for models/vocab while missing."""
        if now - self._renewed < (1.0 if want_announce else RENEW_EVERY):
            return
        self._renewed = now
        if self.subscribing:
            self._send(message("subscribe", self.port))
        if want_announce:
            self._send(message("query"))

    def receive(self, state: MonitorState, budget: float = DRAIN_BUDGET) -> None:
        """Feed every waiting datagram to the state, for at most `budget` seconds."""
        deadline = time.monotonic() + budget
        while True:
            try:
                data = self._reader.recv(self.sock)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # e.g. an ICMP "port unreachable" reported on a later recv (Linux)
                if time.monotonic() > deadline:
                    return
                continue
            now = time.monotonic()
            state.feed(data, now)
            if now > deadline:
                return

    def close(self) -> None:
        if self.subscribing:
            self._send(message("unsubscribe", self.port))
        self.sock.close()


