"""What a bridge sends, before any socket: commands, targets and their spelling.

The bytes of each message come from the kernel's table-checked encoder
(daemon/protocol/encode.py). Split from controllers/sender.py (the sending thread) and
controllers/sender_query.py (asking the daemon).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from charmix.daemon import protocol
from charmix.daemon.protocol.endpoint import format_address, parse_endpoint

Target = tuple[str, int]


def entry(suffix: str) -> protocol.Address:
    """The input address '/charmix/<suffix>' from the table (KeyError if the table lacks it)."""
    return protocol.control(suffix)


def parse_target(text: str) -> Target:
    """'HOST:PORT', 'HOST', ':PORT', 'PORT' or '[v6addr]:PORT' → (host, port); the daemon's
    control port when none is given. One parser for every host:port in charmix (daemon config)."""
    try:
        endpoint = parse_endpoint(text, protocol.CONTROL_PORT)
    except ValueError as exc:
        raise ValueError(f"target {exc} (e.g. 127.0.0.1:7770)") from None
    return endpoint.host, endpoint.port


def default_target() -> Target:
    return protocol.DEFAULT_HOST, protocol.CONTROL_PORT


def limits(address: protocol.Address) -> tuple[float, float]:
    """The widest numeric interval the table allows for an address (for clamping a knob)."""
    return protocol.limits(address)


@dataclass(frozen=True)
class Command:
    """What a controller mapping asks for: state (latest wins) or an event (always sent)."""

    address: protocol.Address
    args: tuple = ()
    name: str | None = None  # for per-model addresses
    event: bool = False

    @property
    def path(self) -> str:
        return self.address.for_model(self.name) if self.name is not None else self.address.path


def udp_socket(family: int) -> socket.socket:
    """A UDP socket; IPv4 ones may send to a broadcast address (one gesture, a whole subnet)."""
    sock = socket.socket(family, socket.SOCK_DGRAM)
    if family == socket.AF_INET:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    return sock


def format_targets(*targets: Target) -> str:
    """'host:port, [v6]:port' — how targets are written on the command line and in messages."""
    return ", ".join(format_address(t) for t in targets)
