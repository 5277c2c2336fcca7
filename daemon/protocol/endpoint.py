"""Endpoints: how charmix writes, parses and resolves every HOST:PORT (part of the protocol kernel).

The daemon's --listen/--send, the rig file, every bridge's --to and the monitor share this one
parser, so `[::1]:7770`, `7770` and `host:7770` mean the same everywhere. Kept apart from
daemon/runtime/config.py so that a bridge gets it without importing the daemon's settings (and
nothing heavy: only the standard library and the address table's constants).
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass

from charmix.daemon import protocol

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK = ("127.0.0.0/8", "::1")


class ConfigError(ValueError):
    """A bad setting; str() is one line naming where it came from and the key.

    Defined here because resolving an endpoint is where the first such error can arise; the
    rig-file checks (daemon/runtime/config.py) raise it too."""


def format_endpoint(host: str, port: int) -> str:
    """'host:port', or '[v6addr]:port' for an IPv6 address: how charmix shows every endpoint."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def format_address(address: tuple) -> str:
    """A socket address — (host, port), or IPv6's (host, port, flow, scope) — as format_endpoint."""
    return format_endpoint(address[0], address[1])


@dataclass(frozen=True)
class Endpoint:
    """A UDP host and port as the user wrote them (resolved at startup, not per packet)."""

    host: str
    port: int

    def __str__(self) -> str:
        return format_endpoint(self.host, self.port)

    def resolve(self) -> tuple[int, tuple]:
        """(address family, sockaddr); ConfigError if the host does not resolve."""
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
        except (OSError, UnicodeError) as exc:
            raise ConfigError(f"{self}: cannot resolve host {self.host!r} ({exc})") from None
        infos.sort(key=lambda info: info[0] != socket.AF_INET)  # prefer IPv4 for names
        family, _, _, _, sockaddr = infos[0]
        return family, sockaddr

    @property
    def unspecified(self) -> bool:
        """Whether this is a bind-to-every-interface address (0.0.0.0 or ::)."""
        try:
            return ipaddress.ip_address(self.host).is_unspecified
        except ValueError:
            return False


def parse_endpoint(
    text: str, default_port: int, default_host: str = protocol.DEFAULT_HOST, lowest: int = 1
) -> Endpoint:
    """'HOST:PORT', '[IPv6]:PORT', 'PORT' or 'HOST' → Endpoint; ValueError says what is wrong.

    `lowest=0` admits port 0 (the system picks a free port: for --listen in tests and scripts).
    """
    text = text.strip()
    if not text:
        raise ValueError("empty address")
    host, port_text = default_host, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"{text!r}: missing ']'")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{text!r}: expected ':PORT' after ']'")
            port_text = rest[1:]
    elif text.isdigit():
        port_text = text
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        host = host or default_host
        if not port_text:
            raise ValueError(f"{text!r}: missing port after ':'")
    elif ":" in text:  # a bare IPv6 address
        host = text
    else:
        host = text
    port = default_port
    if port_text:
        if not port_text.isdigit() or not lowest <= int(port_text) <= 65535:
            raise ValueError(f"{text!r}: port must be {lowest} – 65535")
        port = int(port_text)
    return Endpoint(host, port)
