"""Finding charmix daemons by name: mDNS on the LAN, and the OSCQuery port on this machine.

One resolver for everybody who takes `--to`: the bridges (mouse, MIDI, Leap, web), `charmix send`,
`charmix monitor` and `charmix discover`. `--to HOST:PORT` (or a numeric IP) is an address as
before; `--to auto` is the one daemon found (several: an error listing them on one line); any other
`--to TEXT` is a daemon's name (`charmix daemon --name`, default "charmix on HOSTNAME"), matched
without regard to case, and if no daemon has that name but TEXT is a host name, that host's
port 7770 as before.

Where daemons are found:
- on the LAN, through the daemon's zeroconf advertisement (`_oscjson._tcp`, see advertise.py);
  browsing sends mDNS queries, so it is skipped where CHARMIX_MDNS=0 (the tests' default);
- on this machine, without mDNS: a loopback-only daemon advertises nothing, so its OSCQuery port is
  asked directly (`GET /?HOST_INFO` on 127.0.0.1, ports 7772–7775), which keeps the single-laptop
  case working by name.
Every daemon found is confirmed over HTTP (which also gives its models and uptime), so a daemon
that stopped without saying goodbye is not listed from a stale mDNS cache.

Light imports only (the bridges start fast): zeroconf is imported when a browse starts, HTTP goes
through urllib.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from charmix.daemon import protocol
from charmix.daemon.protocol.endpoint import format_endpoint
from charmix.daemon.protocol.names import (
    APP,
    OSCQUERY_LOCAL_PORTS,
    OSCQUERY_SERVICE,
    mdns_enabled,
)

BROWSE_TIMEOUT = 1.5  # s: mDNS answers come within ~0.2 s; the rest is for slow Wi-Fi
HTTP_TIMEOUT = 0.5  # s per HTTP request to a daemon
FOLLOW_EVERY = 1.0  # s between checks that a followed daemon still answers
STATUS_UPTIME = protocol.STATUS_FIELDS.index("uptime")
AUTO = "auto"


class DiscoveryError(LookupError):
    """No daemon (or several) for a --to; str() is the one line to show."""


@dataclass(frozen=True)
class Found:
    """One daemon: where to send control, where its OSCQuery is, what it runs."""

    name: str
    host: str
    osc_port: int
    oscquery_port: int | None = None
    models: tuple[str, ...] = ()
    uptime: float | None = None
    via: str = "mdns"  # "mdns" or "local"

    @property
    def endpoint(self) -> tuple[str, int]:
        return self.host, self.osc_port

    def describe(self) -> str:
        q = f"  oscquery {self.oscquery_port}" if self.oscquery_port else ""
        up = f"  up {_duration(self.uptime)}" if self.uptime is not None else ""
        models = f"  models {','.join(self.models)}" if self.models else ""
        return f"{self.name}  {format_endpoint(self.host, self.osc_port)}{q}{models}{up}"


def is_address(text: str) -> bool:
    """Whether a --to value is an address (HOST:PORT, [v6]:PORT, PORT or a numeric IP)."""
    text = text.strip()
    if text.isdigit() or text.startswith("["):
        return True
    if ":" in text and " " not in text:  # HOST:PORT, :PORT, a bare IPv6 address, or a typo in one
        return True
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(text)
        return True
    return False


# ------------------------------------------------------------------------------- HTTP
def _get(host: str, port: int, query: str, timeout: float = HTTP_TIMEOUT) -> object | None:
    """GET http://host:port/query as JSON; None for anything but a 200 with JSON."""
    import urllib.error  # here: `charmix --help` and the bridges' start need no urllib
    import urllib.request

    netloc = format_endpoint(host, port)
    try:
        with urllib.request.urlopen(f"http://{netloc}{query}", timeout=timeout) as reply:
            if reply.status != 200:
                return None
            return json.loads(reply.read(1 << 20))
    except (OSError, ValueError):  # URLError is an OSError
        return None


def confirm(host: str, port: int, timeout: float = HTTP_TIMEOUT) -> Found | None:
    """Ask an OSCQuery port who it is; None unless it is a charmix daemon that answers."""
    info = _get(host, port, "/?HOST_INFO", timeout)
    if not isinstance(info, dict) or not isinstance(info.get("NAME"), str):
        return None
    models = _get(host, port, f"{protocol.PREFIX}/models?VALUE", timeout)
    if not isinstance(models, dict) or not isinstance(models.get("VALUE"), list):
        return None  # an OSCQuery server, but not a charmix daemon
    status = _get(host, port, f"{protocol.PREFIX}/status?VALUE", timeout)
    uptime = None
    if isinstance(status, dict) and isinstance(status.get("VALUE"), list):
        with contextlib.suppress(IndexError, TypeError, ValueError):
            uptime = float(status["VALUE"][STATUS_UPTIME])
    osc_ip = str(info.get("OSC_IP") or host)
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(osc_ip).is_unspecified:
            osc_ip = host
    try:
        osc_port = int(info.get("OSC_PORT") or protocol.CONTROL_PORT)
    except (TypeError, ValueError):
        return None
    return Found(info["NAME"], osc_ip, osc_port, port,
                 tuple(str(m) for m in models["VALUE"]), uptime)


def local(ports: Iterable[int] | None = None) -> list[Found]:
    """Daemons on this machine, found through their OSCQuery port on 127.0.0.1 (no mDNS);
    `ports` defaults to OSCQUERY_LOCAL_PORTS as it is when called (so a test can narrow it)."""
    found = []
    for port in OSCQUERY_LOCAL_PORTS if ports is None else ports:
        daemon = confirm(protocol.DEFAULT_HOST, port, timeout=0.3)
        if daemon is not None:
            found.append(Found(daemon.name, daemon.host, daemon.osc_port, port, daemon.models,
                               daemon.uptime, "local"))
    return found


# ------------------------------------------------------------------------------- mDNS
@dataclass
class Browser:
    """A live mDNS browse for charmix daemons; `snapshot()` is what is known now."""

    on_change: Callable[[], None] | None = None
    _zc: object | None = None
    _browser: object | None = None
    _services: dict[str, tuple[str, int, dict[str, str]]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Browser:
        if not mdns_enabled():
            return self
        from zeroconf import IPVersion, ServiceBrowser, ServiceStateChange, Zeroconf

        self._zc = zc = Zeroconf(ip_version=IPVersion.V4Only)

        def handler(zeroconf: object, service_type: str, name: str,
                    state_change: object) -> None:
            if state_change is ServiceStateChange.Removed:
                with self._lock:
                    self._services.pop(name, None)
            else:
                info = zc.get_service_info(service_type, name, timeout=1000)
                if info is None:
                    return
                props = info.decoded_properties
                addresses = info.parsed_addresses(IPVersion.V4Only)
                if props.get("app") != APP or not addresses or info.port is None:
                    return
                with self._lock:
                    self._services[name] = (addresses[0], info.port,
                                            {k: v or "" for k, v in props.items()})
            self.changed.set()
            if self.on_change is not None:
                self.on_change()

        self._browser = ServiceBrowser(zc, OSCQUERY_SERVICE, handlers=[handler])
        return self

    def snapshot(self) -> list[Found]:
        with self._lock:
            items = list(self._services.items())
        found = []
        for name, (host, port, props) in items:
            instance = name[: -len(OSCQUERY_SERVICE) - 1]
            try:
                osc_port = int(props.get("osc_port") or protocol.CONTROL_PORT)
            except ValueError:
                continue
            models = tuple(m for m in props.get("models", "").split(",") if m)
            found.append(Found(instance, host, osc_port, port, models))
        return found

    def close(self) -> None:
        zc, self._zc = self._zc, None
        if zc is not None:
            with contextlib.suppress(Exception):
                zc.close()  # type: ignore[attr-defined]


def browse(timeout: float = BROWSE_TIMEOUT, *, want: str | None = None,
           confirm_each: bool = True) -> list[Found]:
    """Every charmix daemon that answers: this machine's (no mDNS) and the LAN's (mDNS).

    `want`: stop as soon as a daemon of that name is seen. The same daemon seen both ways is
    listed once (the local way, loopback, first).
    """
    found = local()
    if want is not None and any(d.name.lower() == want.lower() for d in found):
        return found
    browser = Browser()
    try:
        browser.start()
    except Exception:  # no multicast-capable interface, a sandbox: this machine's daemons only
        browser.close()
        return found
    try:
        deadline = time.monotonic() + timeout
        while browser._zc is not None and time.monotonic() < deadline:
            browser.changed.wait(min(0.05, max(0.0, deadline - time.monotonic())))
            browser.changed.clear()
            if want is not None and any(d.name.lower() == want.lower()
                                        for d in browser.snapshot()):
                break
        for daemon in browser.snapshot():
            if any(_same(daemon, d) for d in found):
                continue  # this machine's own daemon, already found through loopback
            if confirm_each and daemon.oscquery_port:
                live = confirm(daemon.host, daemon.oscquery_port)
                if live is None:
                    continue  # a stale cache entry: it stopped without a goodbye
                daemon = Found(daemon.name, daemon.host, live.osc_port, daemon.oscquery_port,
                               live.models or daemon.models, live.uptime)
            found.append(daemon)
    finally:
        browser.close()
    return sorted(found, key=lambda d: d.name.lower())


def _same(a: Found, b: Found) -> bool:
    """The same daemon seen through mDNS and through loopback: same name, same ports."""
    return (a.name.lower() == b.name.lower() and a.osc_port == b.osc_port
            and a.oscquery_port == b.oscquery_port)


def resolve(spec: str, timeout: float = BROWSE_TIMEOUT) -> Found:
    """The daemon a `--to NAME` or `--to auto` means; DiscoveryError (one line) if none fits."""
    name = spec.strip()
    want = None if name.lower() == AUTO else name
    daemons = browse(timeout, want=want)
    where = "on this machine or the LAN" if mdns_enabled() else "on this machine (mDNS is off)"
    if want is None:
        if len(daemons) == 1:
            return daemons[0]
        if not daemons:
            raise DiscoveryError(f"--to auto: no charmix daemon found {where}")
        names = "; ".join(f"{d.name!r} at {format_endpoint(*d.endpoint)}" for d in daemons)
        raise DiscoveryError(f"--to auto: {len(daemons)} daemons found, pick one with --to "
                             f"NAME: {names}")
    matches = [d for d in daemons if d.name.lower() == want.lower()]
    if len(matches) == 1:
        return matches[0]
    if matches:
        where_each = ", ".join(format_endpoint(*d.endpoint) for d in matches)
        raise DiscoveryError(f"--to {name!r}: {len(matches)} daemons have that name "
                             f"({where_each}); give each its own with charmix daemon --name")
    others = ", ".join(repr(d.name) for d in daemons) or "none"
    raise DiscoveryError(f"--to {name!r}: no daemon of that name {where} (found: {others})")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
