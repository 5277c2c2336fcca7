"""The daemon's services beside its OSC ports: OSCQuery (HTTP + WebSocket) and mDNS advertising.

`Services.start` builds the OSCQuery namespace from the loaded models, starts the OSCQuery server
on its own thread (unless `--no-oscquery`) and registers the zeroconf services in the background
(only when the daemon listens beyond loopback, see advertise.py). The clock thread calls
`frame()` after each step; `close()` says goodbye on the LAN and stops the server within the
daemon's shutdown budget. Kept apart from runtime/daemon.py so that the daemon's core knows
nothing of HTTP, and aiohttp and zeroconf are imported only when a daemon really starts them.

The composition root (runtime/daemon.py) hands in the values and objects the services read:
the voices' Controls, the status callable, and the Dispatcher that the UDP reader feeds, which
the WebSocket's binary OSC frames go to as well; nothing here reaches into the Daemon object.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from charmix.daemon import protocol
from charmix.daemon.live.controls import Controls
from charmix.daemon.live.dispatch import Dispatcher
from charmix.daemon.oscquery.advertise import Advertiser
from charmix.daemon.oscquery.namespace import Namespace
from charmix.daemon.protocol.endpoint import Endpoint, format_endpoint
from charmix.daemon.protocol.names import OSCQUERY_LOCAL_PORTS

if TYPE_CHECKING:
    from charmix.daemon.engine.model import ModelInfo
    from charmix.daemon.oscquery.server import OSCQueryServer

ValueMap = dict[str, list[Any]]


def input_values(voices: Controls | Sequence[Controls]) -> ValueMap:
    """The readable inputs' current values by concrete path, from one snapshot of each voice's
    controls (one lock each): voice 0's under the unprefixed paths, voice k's own settings
    under /charmix/voice/k/… (protocol.voice_path)."""
    voices = [voices] if isinstance(voices, Controls) else list(voices)
    values: ValueMap = {}
    for voice, controls in enumerate(voices):
        table = protocol.INPUT if voice == 0 else protocol.voice_addresses("in")
        _voice_values(controls, table, voice, values)
    return values


def _voice_values(controls: Controls, table: Sequence[protocol.Address], voice: int,
                  values: ValueMap) -> None:
    settings = controls.snapshot()
    for addr in table:
        short = addr.path.removeprefix(protocol.PREFIX + "/")
        if addr.per_model:
            vector = {"weight/{name}": settings.weights,
                      "model/{name}/temperature": settings.model_temperature}.get(short)
            if vector is not None:
                for i, name in enumerate(controls.names):
                    values[protocol.voice_path(addr.for_model(name), voice)] = [float(vector[i])]
            continue
        path = protocol.voice_path(addr.path, voice)
        if short == "rate":
            values[path] = [float(controls.rate)]
            continue
        if short in ("charset", "fold"):  # kept in the voice's constraints (engine/constraints)
            c = settings.constraints
            values[path] = [c.charset_spec if short == "charset" else c.fold or "none"] if c \
                else [addr.args[0].default]
            continue
        value = getattr(settings, short, None)
        if value is None:
            continue
        if hasattr(value, "tolist"):
            values[path] = [float(x) for x in value.tolist()]
        else:
            values[path] = [value]


class Services:
    """OSCQuery and mDNS for one daemon; every part optional, none can stop the music."""

    def __init__(
        self,
        *,
        name: str,
        names: Sequence[str],
        vocab: Sequence[str],
        controls: Controls | Sequence[Controls],
        status: Callable[[], Sequence[float]],
        dispatcher: Dispatcher,
        listen: tuple[str, int],
        oscquery: tuple[str, int | None] | None,
        mdns: bool,
        descriptions: dict[str, str],
        log: logging.Logger,
    ) -> None:
        self.log = log
        listen_host, osc_port = listen
        unspecified = listen_host in ("0.0.0.0", "::", "")
        voices = [controls] if isinstance(controls, Controls) else list(controls)
        self.namespace = Namespace(
            name, names, vocab, status=status,
            values=lambda: {**input_values(voices), **dispatcher.conductor.values()},
            descriptions=descriptions, osc_host=None if unspecified else listen_host,
            osc_port=osc_port, voices=len(voices),
        )
        self.server: OSCQueryServer | None = None
        self._oscquery = oscquery
        self._dispatcher = dispatcher
        self.advertiser: Advertiser | None = None
        self._mdns = (mdns, listen_host, osc_port, list(names), name)

    def start(self) -> None:
        """Start OSCQuery (raises OSCQueryError, one line, if its port cannot open), then mDNS."""
        if self._oscquery is not None:
            self.server = self._serve(*self._oscquery)
            self.namespace.ws_port = self.server.port
        enabled, listen_host, osc_port, names, name = self._mdns
        if enabled:
            self.advertiser = Advertiser(
                name, listen_host, osc_port, self.server.port if self.server else None, names,
                self.log, on_name=self._renamed,
            )
            self.advertiser.start()

    def _serve(self, host: str, port: int | None) -> OSCQueryServer:
        """The OSCQuery server on `port`, or (port None: the default) on the first free one of
        7772–7775, else one the system picks: a second daemon on one machine just works, and
        `--to NAME` on this machine still finds it (discovery probes those ports)."""
        from charmix.daemon.oscquery.server import OSCQueryError, OSCQueryServer

        candidates = [port] if port is not None else [*OSCQUERY_LOCAL_PORTS, 0]
        for i, candidate in enumerate(candidates):
            server = OSCQueryServer(host, candidate, self.namespace, self._dispatcher, self.log)
            try:
                server.start()
            except OSCQueryError as exc:
                if not exc.in_use or i == len(candidates) - 1:
                    raise
                continue
            if port is None and i > 0:
                self.log.info("OSCQuery port %d is taken (another daemon?): serving on %d",
                              candidates[0], server.port)
            return server
        raise AssertionError("unreachable")

    def _renamed(self, name: str) -> None:
        self.namespace.name = name  # HOST_INFO says the name browsers see

    @property
    def oscquery_port(self) -> int | None:
        return self.server.port if self.server is not None else None

    @property
    def dropped(self) -> int:
        return self.server.dropped if self.server is not None else 0

    def frame(self, frames: Sequence[object]) -> None:
        """Clock thread: hand the newest frames (one per voice) over (a reference; never
        blocks)."""
        server = self.server
        if server is not None:
            server.frame(frames)
        else:
            self.namespace.latest = frames

    def banner(self) -> list[str]:
        """Lines for the daemon's start banner: where OSCQuery is, under which name."""
        lines = []
        if self.server is not None:
            host, port = self.server.address
            lines.append(f"  oscquery    http://{format_endpoint(host, port)}/  "
                         "(HTTP + WebSocket, TCP)")
        if self.advertiser is not None and self.advertiser.active:
            lines.append(f"  name        {self.namespace.name!r}, advertised with mDNS on "
                         f"{', '.join(self.advertiser.addresses)}")
        else:
            lines.append(f"  name        {self.namespace.name!r} (not advertised: "
                         f"{self._why_not_advertised()})")
        return lines

    def _why_not_advertised(self) -> str:
        from charmix.daemon.protocol.names import mdns_enabled

        enabled, listen_host, *_ = self._mdns
        if not enabled:
            return "--no-mdns"
        if not mdns_enabled():
            return "CHARMIX_MDNS=0"
        return "listening on loopback only"

    def close(self) -> None:
        if self.advertiser is not None:
            self.advertiser.close()
            self.advertiser = None
        if self.server is not None:
            self.server.stop()
            self.server = None


def oscquery_address(setting: Endpoint | bool, listen_host: str) -> tuple[str, int | None] | None:
    """Where OSCQuery serves, from the `oscquery` setting: None when off (false); else (host,
    port), the host defaulting to the control port's listen host and the port None (the
    default: 7772 or the next free one, see Services._serve) unless one is given."""
    if setting is False:
        return None
    endpoint = setting if setting is not True else None
    host = endpoint.host if endpoint is not None and endpoint.host else listen_host
    return host, endpoint.port if endpoint is not None else None


def descriptions(infos: Iterable[ModelInfo]) -> dict[str, str]:
    """Each model's DESCRIPTION in the namespace: its corpus's description from the model file's
    metadata ('' when it has none)."""
    return {info.name: str(info.corpus.get("description", "")) for info in infos}
