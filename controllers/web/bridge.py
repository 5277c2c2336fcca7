"""`charmix web`: a page for phones and browsers that steers the mix and shows Figure 1 live.

A controller bridge like mouse or midi, in its own process: aiohttp serves the page (files in
static/, shipped in the package, no build step) and a WebSocket at /ws. Towards the daemon
it is the monitor: the monitor's Link subscribes from a free UDP port and renews, the monitor's
MonitorState decodes the frames (web_feed.FrameFeed); controls go out through the Sender as
every bridge's do, after web_control decides who may steer and what the touches mean.

One asyncio loop, one thread (plus the Sender's): the UDP socket is a loop reader, so a frame is
decoded as it lands, coalesced for COALESCE seconds (the datagrams of one step arrive together)
and encoded to JSON once for all pages. Each page has its own bounded outbox and writer task:
a phone on bad Wi-Fi loses its oldest frames (counted), never slows the others or the bridge.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import WSMsgType, web

from charmix.controllers.mapping import PadMapping
from charmix.controllers.sender import Sender
from charmix.controllers.web import control as wc
from charmix.controllers.web.feed import FrameFeed, finite
from charmix.controllers.web.wall import Walls
from charmix.daemon.client.link import Link

STATIC = Path(__file__).with_name("static")
COALESCE = 0.002  # s to wait for the rest of a step's datagrams before sending to the pages
TICK = wc.GLIDE_STEP  # s between housekeeping rounds (glide, renewals, peers)
BACKLOG = 256  # frames a page may fall behind before its oldest are dropped
MAX_CLIENTS = 200
SHUTDOWN = 1.0  # s the pages get to answer the close at shutdown
REFUSAL_EVERY = 1.0  # s: a page is told at most this often why its messages are refused
SILENT = 1.0  # s without a datagram: the daemon is asked every second (walls wait on its return)
HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self'; connect-src 'self' ws: wss:; "
                               "img-src 'self' data:",
}


@dataclass
class WebOptions:
    control: str = "last"
    pin: str | None = None
    view_only: bool = False
    idle: float = 0.0
    rest: str = "even"
    glide: float = 4.0
    rate_limit: float = 60.0
    anchors: tuple[str, ...] = ()
    width: float = 0.5
    voice: int = 0  # which voice of a --voices daemon the page shows and steers


@dataclass
class Outbox:
    """One page's queue of encoded messages and the task that writes them."""

    ws: web.WebSocketResponse
    queue: deque[str] = field(default_factory=lambda: deque(maxlen=BACKLOG))
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    told: float = 0.0  # when it was last told why a message was refused

    def put(self, text: str, client: wc.Client) -> None:
        if len(self.queue) == self.queue.maxlen:
            client.dropped += 1
        self.queue.append(text)
        self.ready.set()

    async def run(self) -> None:
        while not self.ws.closed:
            await self.ready.wait()
            self.ready.clear()
            while self.queue and not self.ws.closed:
                try:
                    await self.ws.send_str(self.queue.popleft())
                except (ConnectionError, RuntimeError):
                    return


class WebBridge:
    """The page server, the frame feed and the arbiter around one Link and one Sender."""

    def __init__(self, link: Link, sender: Sender, names: list[str], options: WebOptions,
                 log=None) -> None:
        self.link, self.sender, self.options = link, sender, options
        self.log = log or (lambda m: print(f"charmix web: {m}", file=sys.stderr, flush=True))
        self.feed = FrameFeed(voice=options.voice)
        self.feed.models = list(names)
        self.guard = wc.PinGuard(options.pin)
        mapping = self._mapping(names)
        to_score = options.rest.strip() == wc.REST_SCORE
        self.arbiter = wc.Arbiter(mapping, sender, options.control, options.idle,
                                  wc.parse_rest(options.rest, names), options.glide,
                                  to_score=to_score)
        self.outboxes: dict[int, tuple[Outbox, wc.Client]] = {}
        self._ids = itertools.count(1)
        self._flush_at: asyncio.TimerHandle | None = None
        self._peers = ""
        self.errors = 0  # exceptions caught in housekeeping and message handling (logged)
        self.served = self.refused = self.dropped = 0  # pages so far, and their counters
        self.app = web.Application()
        self.app.router.add_get("/", self._index)
        self.app.router.add_get("/ws", self._ws)
        self.app.router.add_static("/static", STATIC, append_version=False)
        self.app.on_response_prepare.append(self._headers)
        self.walls = Walls(self, STATIC, Outbox, same_origin)  # /wall: the display page (wall.py)

    def _mapping(self, names: list[str]) -> PadMapping:
        """The pad for these models; anchors named for models the daemon no longer runs drop."""
        keep = [a for a in self.options.anchors if a.partition("=")[0].strip() in names]
        return PadMapping.for_models(names, keep, self.options.width)

    # -- http --------------------------------------------------------------------------------
    async def _index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html")

    async def _headers(self, request: web.Request, response: web.StreamResponse) -> None:
        for key, value in HEADERS.items():
            response.headers.setdefault(key, value)

    # -- websocket ---------------------------------------------------------------------------
    async def _ws(self, request: web.Request) -> web.StreamResponse:
        if len(self.outboxes) >= MAX_CLIENTS:
            return web.Response(status=503, text="too many pages connected")
        if not same_origin(request):
            return web.Response(status=403, text="the page must come from this bridge")
        ws = web.WebSocketResponse(heartbeat=10.0, max_msg_size=wc.MAX_MESSAGE)
        await ws.prepare(request)
        opts = self.options
        client = wc.Client(next(self._ids), request.remote or "?",
                           control=not opts.view_only and not self.guard.required,
                           limiter=wc.RateLimit(opts.rate_limit))
        box = Outbox(ws)
        self.outboxes[client.id] = (box, client)
        self.arbiter.join(client)
        writer = asyncio.ensure_future(box.run())
        box.put(self._hello(client), client)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_text(client, box, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    self._refuse(client, box, "binary messages are not understood")
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            self.outboxes.pop(client.id, None)
            self.arbiter.leave(client.id)
            self.served += 1
            self.refused += client.refused
            self.dropped += client.dropped
            box.ready.set()
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        return ws

    def _role(self, client: wc.Client) -> str:
        return "control" if client.control else "view"

    def _hello(self, client: wc.Client) -> str:
        m = self.arbiter.mapping
        return json.dumps({
            "t": "hello", "id": client.id, "role": self._role(client),
            "pin": self.guard.required and not self.options.view_only,
            "control": self.options.control, **self.feed.layout(),
            "anchors": [[a.x, a.y] for a in m.anchors], "settings": self.feed.settings(),
            "temperature_range": [wc.T_MIN, wc.T_MAX], "idle": self.options.idle,
            "rest": self.arbiter.rest, "weights": finite(self.feed.weights),
            "scene": self.feed.scene_info(),
        }, separators=(",", ":"))

    def _refuse(self, client: wc.Client, box: Outbox, why: str) -> None:
        client.refused += 1
        now = time.monotonic()
        if now - box.told >= REFUSAL_EVERY:
            box.told = now
            box.put(json.dumps({"t": "refused", "why": why}), client)

    def _on_text(self, client: wc.Client, box: Outbox, text: str) -> None:
        """One message from a page: rate limit, parse, PIN or control; never raises."""
        try:
            self._handle(client, box, text)
        except ValueError as exc:  # e.g. a value the Sender refuses: that message only
            self._refuse(client, box, str(exc))

    def _handle(self, client: wc.Client, box: Outbox, text: str) -> None:
        now = time.monotonic()
        if not client.limiter.allow(now):
            self._refuse(client, box, "too many messages; slow down")
            return
        msg = wc.parse(text, len(self.arbiter.mapping.anchors))
        if isinstance(msg, str):
            self._refuse(client, box, msg)
        elif isinstance(msg, wc.Pin):
            if self.options.view_only:
                result = "view-only"
            else:
                result = self.guard.check(client.addr, msg.code, now)
            client.control = client.control or result == "ok"
            box.put(json.dumps({"t": "role", "role": self._role(client), "pin": result}), client)
        elif why := self.arbiter.apply(client, msg, now):
            self._refuse(client, box, why)

    # -- the daemon's frames -----------------------------------------------------------------
    def _on_readable(self) -> None:
        self.link.receive(self.walls.tee)  # the phones' feed and each wall voice's
        if self._flush_at is None:
            loop = asyncio.get_running_loop()
            self._flush_at = loop.call_later(COALESCE, self._flush)

    def _flush(self) -> None:
        self._flush_at = None
        if self.feed.layout_changed:
            self.feed.layout_changed = False
            self._relayout()
        text = self.feed.flush()
        if self.feed.weights and all(math.isfinite(w) for w in self.feed.weights):
            self.arbiter.daemon_weights = list(self.feed.weights)
        if text is not None:
            self.broadcast(text)
        self.walls.flush()

    def _relayout(self) -> None:
        """New model names or vocabulary (a daemon restarted with others): a new hello for all,
        and a new pad when the models changed."""
        names = self.feed.models
        if names and names != self.arbiter.mapping.names:
            self.log(f"the daemon now runs {', '.join(names)}")
            self.arbiter.mapping = self._mapping(names)
            try:
                self.arbiter.rest = wc.parse_rest(self.options.rest, names)
            except ValueError:
                self.arbiter.rest = wc.parse_rest("even", names)
            for _, client in self.outboxes.values():
                client.touches = ()
        for box, client in list(self.outboxes.values()):
            box.put(self._hello(client), client)

    def broadcast(self, text: str) -> None:
        for box, client in list(self.outboxes.values()):
            box.put(text, client)

    def _peers_message(self) -> str:
        """Everyone's fingers and who holds the pad, for every page's pad (changes only)."""
        touches = [[round(x, 3), round(y, 3), c.id] for c in self.arbiter.clients.values()
                   for x, y in c.touches]
        viewers = sum(not c.control for c in self.arbiter.clients.values())
        return json.dumps({"t": "peers", "touches": touches, "holder": self.arbiter.holder,
                           "clients": len(self.arbiter.clients), "viewers": viewers},
                          separators=(",", ":"))

    async def housekeeping(self) -> None:
        """Every TICK: renew the subscription, the idle glide, late characters, the peers."""
        while True:
            try:
                self._housekeeping(time.monotonic())
            except Exception as exc:  # noqa: BLE001 - a bug here must not end the show
                self.errors += 1
                if self.errors == 1 or self.errors % 1000 == 0:
                    self.log(f"housekeeping failed ({self.errors}×): {exc!r}")
            await asyncio.sleep(TICK)

    def _housekeeping(self, now: float) -> None:
        quiet = self.feed.last_rx is None or now - self.feed.last_rx > SILENT
        # a silent daemon (restarted, say) is asked every second, not every RENEW_EVERY
        self.link.maintain(now, want_announce=quiet or not (self.feed.models and self.feed.vocab))
        self.arbiter.tick(now)
        if self.feed.fresh and self._flush_at is None:
            self._flush()
        self.walls.tick(now)
        peers = self._peers_message()
        if peers != self._peers:
            self._peers = peers
            self.broadcast(peers)

    async def serve(self, host: str, port: int, ready=None,
                    stop: asyncio.Event | None = None) -> None:
        """Serve until `stop` is set; `ready(port)` is called once the page can be loaded."""
        loop = asyncio.get_running_loop()
        stop = stop or asyncio.Event()
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False,
                               shutdown_timeout=SHUTDOWN)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port, reuse_address=True)
            await site.start()
            bound = runner.addresses[0][1] if runner.addresses else port
            loop.add_reader(self.link.sock.fileno(), self._on_readable)
            keeper = asyncio.ensure_future(self.housekeeping())
            try:
                if ready is not None:
                    ready(bound)
                await stop.wait()
            finally:
                keeper.cancel()
                loop.remove_reader(self.link.sock.fileno())
                closing = [box.ws.close(message=b"charmix web stopped")
                           for box, _ in list(self.outboxes.values())] + self.walls.closing()
                if closing:  # a page that never answers the close costs SHUTDOWN s at most
                    await asyncio.wait([asyncio.ensure_future(c) for c in closing],
                                       timeout=SHUTDOWN)
        finally:
            await runner.cleanup()
            self.log(self.summary())

    def summary(self) -> str:
        """One line for the log at exit: what the pages and the daemon's datagrams cost."""
        c = self.feed.counters
        junk = c.malformed + c.unknown + c.bad_args
        return (f"served {self.served} page(s); {self.refused} message(s) refused, "
                f"{self.dropped} frame(s) dropped for slow pages; {c.datagrams} datagram(s) "
                f"from the daemon, {junk} not understood, {c.dropped_steps} step(s) lost")


def same_origin(request: web.Request) -> bool:
    """A browser names the page that opens a WebSocket (Origin); only this bridge's own page may,
    so another web site open on a phone in the room cannot steer the mix through it. Clients
    that are not browsers send no Origin and are let in (the PIN still applies to them)."""
    from urllib.parse import urlsplit

    origin = request.headers.get("Origin")
    if origin is None:
        return True
    try:
        return urlsplit(origin).netloc.lower() == request.host.lower()
    except ValueError:
        return False


def run(bridge: WebBridge, host: str, port: int, ready=None) -> int:
    """Run the bridge until SIGINT or SIGTERM, then close the pages and the port cleanly."""
    from charmix.daemon.common.signals import on_stop_signals

    async def main() -> None:
        loop, stop = asyncio.get_running_loop(), asyncio.Event()
        with on_stop_signals(lambda: loop.call_soon_threadsafe(stop.set)):
            await bridge.serve(host, port, ready, stop)

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"charmix web: cannot serve on {host}:{port}: {exc.strerror or exc}",
              file=sys.stderr)
        return 2
    finally:
        bridge.link.close()
    return 0


def lan_urls(host: str, port: int) -> list[str]:
    """The URLs a page can be opened at: loopback first, then this machine's LAN addresses."""
    from charmix.daemon.protocol.endpoint import format_endpoint

    if host not in ("0.0.0.0", "::", ""):
        return [f"http://{format_endpoint(host, port)}/"]
    return [f"http://{format_endpoint(a, port)}/" for a in ["127.0.0.1", *_local_addresses()]]


def _local_addresses() -> list[str]:
    """This machine's LAN IPv4 address: the source address of its default route. A UDP
    connect only consults the routing table; nothing is sent and no name is looked up."""
    import socket

    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("10.255.255.255", 9))
        here = s.getsockname()[0]
        return [] if here.startswith("127.") or here == "0.0.0.0" else [here]
    return []


def qr_text(url: str) -> str:
    """The URL as a QR code in terminal block characters (segno), for a phone's camera."""
    import io

    import segno

    out = io.StringIO()
    segno.make(url, error="m").terminal(out=out, compact=True, border=2)
    return out.getvalue()

