"""OSCQuery (the Vidvox OSCQueryProposal) over HTTP and WebSocket, on one TCP port, off the clock.

What a browsing tool sees: `GET /` is the whole address space as JSON (built by
`oscquery_tree.Namespace` from the address table and the loaded models), `GET /path` one node,
`GET /path?ATTR` one attribute, `GET /?HOST_INFO` the server's description. A WebSocket on the
same port takes `{"COMMAND": "LISTEN", "DATA": "/charmix/char"}` and streams that address's
messages to the client as binary OSC frames (`IGNORE` stops them; a setting such as
/charmix/temperature sends its value at once and again whenever it changes); binary OSC frames
*from* a client are controls: each is handed, with the client's address, to the daemon's one
live/dispatch.Dispatcher — the object the UDP reader feeds — so they meet the same allowlist,
validation and counters as UDP, and this server knows nothing of the address table's handlers.

Why aiohttp: one mature library serves HTTP and the WebSocket upgrade on the same port (OSCQuery
clients such as ossia and Chataigne expect the WebSocket where the JSON is), it is asyncio only
(no thread per client), it has a client of its own for quick checks, and `charmix web` uses it
too, so the team carries one web stack. It is imported only when the server starts, so
`charmix --help` and the bridges never load it.

Threads: aiohttp runs its own event loop on its own thread. The clock thread only calls `frame()`,
which stores a reference to the newest Frame and, when someone LISTENs, schedules the fan-out on
the loop (`call_soon_threadsafe`: a few microseconds); encoding and sending happen on the loop.
Reads of current values take the controls' lock for one snapshot and nothing else. Each LISTEN
client has a bounded queue: a client that stops reading fills it and is dropped (logged and
counted in `dropped`, which /charmix/status carries as `ws_dropped`), so no client can slow the
clock or grow the daemon's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import math
import threading
from collections.abc import Callable, Sequence
from typing import Any

from charmix.daemon import protocol
from charmix.daemon.live.counters import Throttle
from charmix.daemon.live.dispatch import Dispatcher
from charmix.daemon.oscquery.namespace import ATTRIBUTES, Namespace

QUEUE_MAX = protocol.WS_QUEUE_MAX  # frames waiting for one LISTEN client; more: it is dropped
CLIENTS_MAX = 64  # WebSocket clients at once; more are refused (503)
WATCH_EVERY = 0.05  # s between looks at the LISTENed settings (20 a second, like the clock)
MAX_MESSAGE = 65507  # bytes; a binary control frame may be as large as a UDP datagram
START_TIMEOUT = 5.0  # s to bind the port and start the loop
STOP_TIMEOUT = 1.0  # s; part of the daemon's shutdown budget


class OSCQueryError(OSError):
    """The OSCQuery port could not be opened; str() is one line for the user."""

    in_use = False  # the port is taken (another daemon): a default port may try the next one


class _Client:
    """One WebSocket: what it listens to and the frames waiting for it."""

    def __init__(self, ws: Any, peer: tuple[str, int]) -> None:
        self.ws = ws
        self.peer = peer
        self.paths: set[str] = set()
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_MAX)
        self.dropped = False

    @property
    def label(self) -> str:
        return f"{self.peer[0]}:{self.peer[1]}"


class OSCQueryServer:
    """Serves `namespace` on host:port; binary OSC from a client goes to `dispatcher`."""

    def __init__(
        self,
        host: str,
        port: int,
        namespace: Namespace,
        dispatcher: Dispatcher,
        log: logging.Logger,
    ) -> None:
        self.host, self.port = host, port
        self.namespace = namespace
        self.dispatcher = dispatcher
        self.log = log
        self.throttle = Throttle(log)
        self.dropped = 0  # LISTEN clients dropped because they stopped reading
        self.clients: set[_Client] = set()
        self._listening = 0  # clients with at least one LISTEN: read by the clock thread
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop_event: asyncio.Event | None = None
        # Set while someone LISTENs: the settings watcher sleeps on it instead of waking 20
        # times a second for nobody (an idle daemon's wake-ups cost a performer's CPU).
        self._someone_listens: asyncio.Event | None = None
        self._settings_sent: dict[str, bytes] = {}  # the last value streamed of each setting

    # ------------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Bind and serve on a new thread; OSCQueryError (one line) if the port cannot open."""
        self._thread = threading.Thread(target=self._run, name="charmix-oscquery", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise OSCQueryError(f"--oscquery {self.host}:{self.port}: the server did not start")
        if self._error is not None:
            exc = self._error
            in_use = isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE
            hint = " (is another charmix daemon running? --oscquery HOST:PORT or --no-oscquery)"
            reason = getattr(exc, "strerror", None) or str(exc)
            where = f"{self.host}:{self.port}"
            error = OSCQueryError(
                f"cannot serve OSCQuery on {where}: {reason}{hint if in_use else ''}"
            )
            error.in_use = in_use
            raise error

    def stop(self) -> None:
        loop, stop = self._loop, self._stop_event
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # a bind error, reported by start()
            self._error = exc
            self._ready.set()
        finally:
            with contextlib.suppress(Exception):
                loop.close()

    async def _serve(self) -> None:
        from aiohttp import web  # lazy: bridges and --help never import aiohttp

        @web.middleware
        async def cors(request: Any, handler: Callable[[Any], Any]) -> Any:
            """Browser-based clients (oscqueryhtml, a page served elsewhere) may read us."""
            try:
                response = await handler(request)
            except web.HTTPException as exc:  # 405 for POST and such: a Response too
                response = exc
            if not isinstance(response, web.WebSocketResponse):
                response.headers["Access-Control-Allow-Origin"] = "*"
            return response

        app = web.Application(middlewares=[cors], client_max_size=1 << 16)
        app.router.add_route("GET", "/{tail:.*}", self._get)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.2)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        self._stop_event = asyncio.Event()
        self._someone_listens = asyncio.Event()
        announcer = asyncio.get_running_loop().create_task(self._announce_loop())
        watcher = asyncio.get_running_loop().create_task(self._watch_settings())
        self._ready.set()
        try:
            await self._stop_event.wait()
        finally:
            announcer.cancel()
            watcher.cancel()
            for client in list(self.clients):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.ws.close(), 0.2)
            await runner.cleanup()

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port): the real port when started with port 0."""
        return self.host, self.port

    # ---------------------------------------------------------------------------- HTTP
    @staticmethod
    def _json(body: object, status: int = 200) -> Any:
        from aiohttp import web

        try:
            text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        except ValueError:  # a NaN somewhere (never expected): JSON has none, send null
            text = json.dumps(_finite(body), ensure_ascii=False, separators=(",", ":"))
        return web.Response(text=text, status=status, content_type="application/json")

    async def _get(self, request: Any) -> Any:
        from aiohttp import web

        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        path = _normal_path(request.path)
        attribute = request.query_string.split("&", 1)[0].split("=", 1)[0]
        if attribute == "HOST_INFO":
            return self._json(self.namespace.host_info())
        node = self.namespace.node(path)
        if node is None:
            return self._json({"ERROR": f"no such node: {path}"}, 404)
        if not attribute:
            return self._json(node)
        if attribute not in ATTRIBUTES:
            return self._json({"ERROR": f"unknown attribute: {attribute}"}, 400)
        if attribute not in node:
            return web.Response(status=204)
        return self._json({attribute: node[attribute]})

    # ----------------------------------------------------------------------- WebSocket
    async def _websocket(self, request: Any) -> Any:
        from aiohttp import WSMsgType, web

        if len(self.clients) >= CLIENTS_MAX:
            return self._json({"ERROR": f"{CLIENTS_MAX} WebSocket clients already"}, 503)
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE, heartbeat=None, compress=False)
        await ws.prepare(request)
        peername = request.transport.get_extra_info("peername") if request.transport else None
        peer = (str(peername[0]), int(peername[1])) if peername else ("0.0.0.0", 0)
        client = _Client(ws, peer)
        self.clients.add(client)
        writer = asyncio.get_running_loop().create_task(self._write(client))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._command(client, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    self.dispatcher.dispatch(bytes(msg.data), peer)
        finally:
            writer.cancel()
            self._forget(client)
        return ws

    def _command(self, client: _Client, text: str) -> None:
        try:
            request = json.loads(text)
            command, path = request["COMMAND"], _normal_path(str(request["DATA"]))
        except (ValueError, KeyError, TypeError):
            self.throttle.warn("ws json", f"ignored WebSocket text from {client.label}: "
                               f"not an OSCQuery command ({text[:60]!r})")
            return
        if command == "LISTEN":
            if path not in self.namespace.listenable:
                self.throttle.warn("ws listen", f"ignored LISTEN {path} from {client.label}: "
                                   "no such address")
                return
            if not client.paths:
                self._listening += 1
                if self._someone_listens is not None:
                    self._someone_listens.set()
            client.paths.add(path)
            for key, data in self.namespace.settings_messages({path}).items():
                self._settings_sent[key] = data
                self._offer(client, data)  # a setting's current value at once, then changes
        elif command == "IGNORE":
            had = bool(client.paths)
            client.paths.discard(path)
            if had and not client.paths:
                self._listening -= 1
        else:  # PATH_CHANGED and friends are server-to-client; anything else is not ours
            self.throttle.warn("ws command", f"ignored WebSocket command {command!r} from "
                               f"{client.label}")

    def _forget(self, client: _Client) -> None:
        if client in self.clients:
            self.clients.discard(client)
            if client.paths:
                self._listening -= 1
            client.paths = set()

    async def _write(self, client: _Client) -> None:
        with contextlib.suppress(Exception):
            while True:
                data = await client.queue.get()
                await client.ws.send_bytes(data)

    def _offer(self, client: _Client, data: bytes) -> None:
        if client.dropped:
            return
        try:
            client.queue.put_nowait(data)
        except asyncio.QueueFull:
            client.dropped = True
            self.dropped += 1
            self.log.warning("dropped WebSocket client %s: it stopped reading (%d frames waiting; "
                             "%d dropped so far)", client.label, QUEUE_MAX, self.dropped)
            self._forget(client)
            asyncio.get_running_loop().create_task(self._abort(client))

    @staticmethod
    async def _abort(client: _Client) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.ws.close(code=1008, message=b"too slow"), 1.0)

    # ------------------------------------------------------------------- streaming out
    def frame(self, frames: Sequence[object]) -> None:
        """Clock thread, after each step (a Frame per voice): cheap, never blocks (see the
        module docstring)."""
        self.namespace.latest = frames
        loop = self._loop
        if self._listening and loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(self._fan_out, frames)

    def _fan_out(self, frames: Sequence[object]) -> None:
        wanted = set().union(*(c.paths for c in self.clients))
        if not wanted:
            return
        messages = self.namespace.frame_messages(frames, wanted)
        self._send_each(messages)

    def _send_each(self, messages: dict[str, bytes]) -> None:
        for client in list(self.clients):
            for path in client.paths & messages.keys():
                self._offer(client, messages[path])

    async def _watch_settings(self) -> None:
        """LISTENed settings (temperature, rate, …) stream when they change, whoever changed
        them: a fader on a MIDI bridge moves the slider in ossia score. One snapshot of the
        controls every WATCH_EVERY seconds, and only while someone listens to a setting."""
        sent = self._settings_sent
        while True:
            if not self._listening and self._someone_listens is not None:
                self._someone_listens.clear()  # asleep until a LISTEN arrives
                await self._someone_listens.wait()
            await asyncio.sleep(WATCH_EVERY)
            if not self._listening:
                sent.clear()
                continue
            wanted = set().union(*(c.paths for c in self.clients))
            try:
                now = self.namespace.settings_messages(wanted)
            except Exception as exc:  # a bug must not end the loop
                self.throttle.warn("settings", f"OSCQuery settings stream failed: {exc}")
                continue
            changed = {p: m for p, m in now.items() if sent.get(p) != m}
            sent.update(changed)
            if changed:
                self._send_each(changed)

    async def _announce_loop(self) -> None:
        """Models, vocab and status go to their listeners as often as to UDP destinations."""
        while True:
            await asyncio.sleep(self.namespace.announce_every)
            if self._listening:
                wanted = set().union(*(c.paths for c in self.clients))
                try:
                    self._send_each(self.namespace.announce_messages(wanted))
                except Exception as exc:  # a bug must not end the loop
                    self.throttle.warn("announce", f"OSCQuery announce failed: {exc}")


def _normal_path(path: str) -> str:
    """'/charmix/' → '/charmix'; '' → '/'."""
    path = "/" + path.strip("/")
    return path


def _finite(value: object) -> object:
    """JSON has no NaN or Infinity: such numbers (never expected) become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
