"""Following a daemon by name: when it stops answering or comes back elsewhere, so do we.

A bridge started with `--to NAME` keeps steering that daemon across its restarts, even on another
port or another machine, without being restarted itself. Every FOLLOW_EVERY seconds (and at once
when mDNS says something changed) the Follower asks the daemon's OSCQuery port who it is; if it no
longer answers, or answers with another name, it looks for the name again (mDNS on the LAN, the
OSCQuery ports on this machine) and, when the daemon turns up at a new address, calls `on_move`
with it and logs one line. While the daemon is away it says so once, and keeps looking.

A daemon without OSCQuery (`--no-oscquery`) cannot be asked; it is then followed through its mDNS
records alone.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from charmix.daemon import protocol
from charmix.daemon.client import discovery
from charmix.daemon.client.discovery import Found
from charmix.daemon.protocol.endpoint import format_endpoint


class Follower:
    """One named target, kept current on a background thread; see the module docstring."""

    def __init__(
        self,
        found: Found,
        on_move: Callable[[Found], None],
        log: Callable[[str], None],
        every: float = discovery.FOLLOW_EVERY,
    ) -> None:
        self.found = found
        self.name = found.name
        self.on_move = on_move
        self.log = log
        self.every = every
        self.moves = 0
        self.lost = False
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._browser: discovery.Browser | None = None
        self._thread = threading.Thread(target=self._run, name="charmix-follow", daemon=True)

    def start(self) -> Follower:
        self._thread.start()
        return self

    def close(self, timeout: float = 1.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self._browser = discovery.Browser(on_change=self._wake.set).start()
        except Exception as exc:  # no multicast here: local and HTTP checks still work
            self.log(f"mDNS browse unavailable ({type(exc).__name__}: {exc}); "
                     "following by OSCQuery only")
        try:
            while not self._stop.is_set():
                self._wake.wait(self.every)
                self._wake.clear()
                if self._stop.is_set():
                    break
                with contextlib.suppress(Exception):  # a bug here must never stop a bridge
                    self.check()
        finally:
            if self._browser is not None:
                self._browser.close()

    def check(self) -> None:
        """One round: is the daemon still where we think? If not, where is it now?"""
        current = self.found
        if self._answers(current):
            if self.lost:
                self.lost = False
                self.log(f"{self.name!r} answers again at {_where(current)}")
            return
        candidate = self._search()
        if candidate is None:
            if not self.lost:
                self.lost = True
                self.log(f"{self.name!r} stopped answering at {_where(current)}; looking for it")
            return
        self.lost = False
        moved = candidate.endpoint != current.endpoint
        if moved or candidate.oscquery_port != current.oscquery_port:
            self.found = candidate
            self.moves += 1
            self.log(f"{self.name!r} is now at {_where(candidate)}; following it")
            self.on_move(candidate)

    def _answers(self, daemon: Found) -> bool:
        if daemon.oscquery_port is None:
            browser = self._browser
            return browser is None or any(
                d.name.lower() == self.name.lower() and d.endpoint == daemon.endpoint
                for d in browser.snapshot()
            )
        live = discovery.confirm(daemon.host, daemon.oscquery_port)
        return (live is not None and live.name.lower() == self.name.lower()
                and live.osc_port == daemon.osc_port)

    def _search(self) -> Found | None:
        want = self.name.lower()
        for daemon in discovery.local():
            if daemon.name.lower() == want:
                return daemon
        if self._browser is None:
            return None
        for daemon in self._browser.snapshot():
            if daemon.name.lower() != want:
                continue
            if daemon.oscquery_port is None:
                return daemon
            live = discovery.confirm(daemon.host, daemon.oscquery_port)
            if live is not None and live.name.lower() == want:
                return Found(daemon.name, daemon.host, live.osc_port, daemon.oscquery_port,
                             live.models, live.uptime)
        return None


def _where(daemon: Found) -> str:
    return format_endpoint(*daemon.endpoint)


# ----------------------------------------------------------------- the shared --to resolver
@dataclass(frozen=True)
class Resolved:
    """One `--to` value resolved: where to send now, and the daemon to follow (names only)."""

    spec: str
    target: tuple[str, int]
    found: Found | None = None


def resolve_targets(specs: Sequence[str], log: Callable[[str], None],
                    timeout: float = discovery.BROWSE_TIMEOUT) -> list[Resolved]:
    """Every `--to`: HOST:PORT as given, `auto` or NAME through discovery. The one resolver of
    every client (bridges, send, monitor, web); DiscoveryError (one line) when a name is
    not found and is no host name either."""
    from charmix.daemon.protocol.endpoint import parse_endpoint

    out = []
    for spec in specs:
        if discovery.is_address(spec):
            try:
                endpoint = parse_endpoint(spec, protocol.CONTROL_PORT)
            except ValueError as exc:
                raise ValueError(f"target {exc} (e.g. 127.0.0.1:7770)") from None
            out.append(Resolved(spec, (endpoint.host, endpoint.port)))
            continue
        try:
            found = discovery.resolve(spec, timeout)
        except discovery.DiscoveryError:
            if spec.strip().lower() == discovery.AUTO or not _is_host(spec):
                raise
            log(f"no daemon is named {spec!r}; sending to the host {spec} port "
                f"{protocol.CONTROL_PORT}")
            out.append(Resolved(spec, (spec.strip(), protocol.CONTROL_PORT)))
            continue
        log(f"--to {spec}: {found.name!r} at {_where(found)}")
        out.append(Resolved(spec, found.endpoint, found))
    return out


def _is_host(text: str) -> bool:
    try:
        socket.getaddrinfo(text.strip(), None)
    except (OSError, UnicodeError):
        return False
    return True


class Retargetable(Protocol):
    def retarget(self, old: tuple[str, int], new: tuple[str, int]) -> None: ...


def follow(sender: Retargetable, resolved: Sequence[Resolved],
           log: Callable[[str], None]) -> list[Follower]:
    """A started Follower for each named target, re-pointing `sender` when its daemon moves."""
    followers = []
    for item in resolved:
        if item.found is None:
            continue
        current = [item.target]

        def moved(new: Found, current: list[tuple[str, int]] = current) -> None:
            sender.retarget(current[0], new.endpoint)
            current[0] = new.endpoint

        followers.append(Follower(item.found, moved, log).start())
    return followers
