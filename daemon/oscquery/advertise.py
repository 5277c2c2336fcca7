"""Zeroconf (mDNS/DNS-SD): the daemon says on the LAN that it is there, under a name.

Two services under one instance name, the way OSC tools browse: `_oscjson._tcp` (the OSCQuery
port: ossia score, Chataigne, vvvv, VRChat-style clients) and `_osc._udp` (the control port:
TouchOSC's Zeroconf browse, liblo tools). The TXT records carry what `charmix discover` shows
without asking anything else: the models, the other port, the start time.

Only on the interfaces the daemon listens on: a loopback-only daemon (the default) advertises
nothing, one bound to one address advertises on that address's interface only, and one bound to
0.0.0.0 on every non-loopback IPv4 interface. The environment variable CHARMIX_MDNS=0 (or the rig
key `mdns = false`, `--no-mdns`) turns it off altogether; the tests set it so that nothing is
ever advertised on the machine's real network.

A second daemon with the same name on the LAN is renamed by zeroconf's probing ("NAME-2") and
the daemon logs one line saying so. Registration probes for ~1.5 s, so it runs on its own thread
and never delays the first character. `zeroconf` is imported there, never by the bridges.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence

from charmix.daemon.protocol.names import APP, OSC_SERVICE, OSCQUERY_SERVICE, mdns_enabled

NAME_BYTES = 63  # DNS-SD instance names are at most 63 bytes
TXT_VALUE_BYTES = 200  # the models list is cut to stay well inside one 255-byte TXT string


def default_name() -> str:
    return f"charmix on {socket.gethostname().split('.')[0]}"


def instance_name(name: str) -> str:
    """A valid DNS-SD instance name: no dots (they would split the label), ≤ 63 bytes."""
    cleaned = " ".join(name.replace(".", " ").split()) or default_name()
    raw = cleaned.encode("utf-8")[:NAME_BYTES]
    return raw.decode("utf-8", "ignore").strip()


def advertised_addresses(listen_host: str) -> list[str]:
    """The IPv4 addresses to advertise for a daemon listening on `listen_host`; [] = none.

    Loopback: none (nobody on the LAN could reach it). One address: that one. 0.0.0.0: every
    non-loopback IPv4 address of this machine (or of the network namespace it runs in).
    """
    try:
        ip = ipaddress.ip_address(socket.gethostbyname(listen_host))
    except (OSError, ValueError, UnicodeError):
        return []
    if ip.is_loopback:
        return []
    if not ip.is_unspecified:
        return [str(ip)]
    from zeroconf._utils.net import get_all_addresses  # ifaddr, through zeroconf

    return [a for a in get_all_addresses() if not ipaddress.ip_address(a).is_loopback]


def host_label(addresses: Sequence[str]) -> str:
    """The mDNS host name for our address records: the machine's name plus a tag made from its
    addresses. Machines cloned from one image often share a host name; plain "HOSTNAME.local."
    would then mix their addresses up in every cache on the LAN. Stable across restarts."""
    base = "".join(ch if ch.isalnum() else "-" for ch in socket.gethostname().split(".")[0])
    tag = hashlib.sha1(",".join(sorted(addresses)).encode()).hexdigest()[:6]
    return f"{base.strip('-')[:40] or 'charmix'}-{tag}.local."


def _txt(models: Sequence[str], **extra: object) -> dict[str, str]:
    joined = ""
    for name in models:
        candidate = f"{joined},{name}" if joined else name
        if len(candidate.encode()) > TXT_VALUE_BYTES:
            break
        joined = candidate
    return {"app": APP, "txtvers": "1", "models": joined,
            **{k: str(v) for k, v in extra.items()}}


class Advertiser:
    """Registers the daemon's services in the background; `close()` says goodbye on the LAN."""

    def __init__(
        self,
        name: str,
        listen_host: str,
        osc_port: int,
        oscquery_port: int | None,
        models: Sequence[str],
        log: logging.Logger,
        on_name: Callable[[str], None] | None = None,
    ) -> None:
        self.on_name = on_name
        self.requested = instance_name(name)
        self.name = self.requested  # the name in use, once registered (may gain "-2")
        self.addresses = advertised_addresses(listen_host) if mdns_enabled() else []
        self.osc_port, self.oscquery_port = osc_port, oscquery_port
        self.models = list(models)
        self.log = log
        self.registered = threading.Event()
        self._zc: object | None = None
        self._infos: list[object] = []
        self._lock = threading.Lock()
        self._closed = False
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return bool(self.addresses)

    def start(self) -> None:
        if not self.addresses:
            return
        self._thread = threading.Thread(target=self._register, name="charmix-mdns", daemon=True)
        self._thread.start()

    def _register(self) -> None:
        try:
            from zeroconf import IPVersion, ServiceInfo, Zeroconf

            zc = Zeroconf(interfaces=self.addresses, ip_version=IPVersion.V4Only)
            with self._lock:
                if self._closed:
                    zc.close()
                    return
                self._zc = zc
            server = host_label(self.addresses)
            txt = _txt(self.models, started=f"{time.time():.0f}", osc_port=self.osc_port,
                       oscquery_port=self.oscquery_port or "")
            services = [(OSC_SERVICE, self.osc_port)]
            if self.oscquery_port:
                services.insert(0, (OSCQUERY_SERVICE, self.oscquery_port))
            name = self.requested
            for kind, port in services:
                info = ServiceInfo(kind, f"{name}.{kind}", port=port, properties=txt,
                                   server=server, parsed_addresses=self.addresses)
                zc.register_service(info, allow_name_change=True)
                self._infos.append(info)
                name = info.name[: -len(kind) - 1]  # the second service takes the first's name
            self.name = name
            if self.on_name is not None:
                self.on_name(name)
            where = ", ".join(self.addresses)
            if name != self.requested:
                self.log.warning("another daemon on the LAN is called %r: this one is "
                                 "advertised as %r (give --name to choose)", self.requested, name)
            else:
                self.log.info("advertised on the LAN as %r (mDNS on %s)", name, where)
            self.registered.set()
        except Exception as exc:  # no multicast route, a firewall: the music goes on
            self.log.warning("cannot advertise on the LAN (mDNS): %s: %s", type(exc).__name__, exc)

    def close(self, timeout: float = 0.5) -> None:
        """Unregister (a goodbye packet: browsers forget us at once) and close the sockets."""
        with self._lock:
            self._closed = True
            zc = self._zc
        if self._thread is not None:
            self._thread.join(timeout)
        if zc is None:
            return
        with contextlib.suppress(Exception):
            zc.unregister_all_services()  # type: ignore[attr-defined]
        with contextlib.suppress(Exception):
            zc.close()  # type: ignore[attr-defined]
