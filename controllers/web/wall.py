"""`/wall`: the display page of `charmix web`, one per voice, for projectors and kiosk screens.

The wall only watches, so it has its own WebSocket (`/wall/ws?voice=K`) beside the phones' `/ws`:
a wall never joins the arbiter (it is not a page that may steer, nor one the phones count), and
everything it sends is ignored. Each voice a wall asks for gets its own `WallFeed` (a FrameFeed
for that voice), created when the first wall of that voice connects; every datagram from the
daemon goes to the bridge's own feed and to each of these through one `Tee`, so a row of screens
shows `--voices K` as K walls from one bridge, one subscription and one socket.

Besides frames the walls get what a kiosk needs to say something useful on its own:
- `{"t": "daemon", "up": …, "voices": […]}` when the daemon falls silent or comes back, and which
  voices sent frames in the last window (a wall asking for a voice the daemon does not run goes
  back to its default and says so);
- `{"t": "title", "v": …}`: the scene or score cue the voice is at or morphing to, from the
  daemon's `/charmix/scene/current` (null when the morph or score stops: '' on the wire).

While the daemon is silent the bridge asks for a subscription every second instead of every
RENEW_EVERY (see `WebBridge._housekeeping`), so a daemon restarted by kill -9 and systemd is
written on the walls again within a second or two of its return.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from charmix.controllers.web import control as wc
from charmix.controllers.web.feed import FrameFeed, finite
from charmix.daemon import protocol

QUIET = 2.0  # s without a datagram before the walls are told the daemon is gone
KEEPALIVE = 5.0  # s: the daemon's state is repeated this often (a wall hearing nothing for 15 s
#                  takes its socket for dead and connects again: wall.js STALE)
WINDOW = 2.0  # s over which the voices that sent frames are collected
MAX_WALLS = 64  # wall pages at once (beside the phones' MAX_CLIENTS)
MAX_FEEDS = protocol.VOICES_MAX  # one feed per voice at most
MAX_IN = 1024  # bytes: a wall sends nothing; anything bigger closes its socket
_FRAME = {f"{protocol.PREFIX}/{name}" for name in protocol.FRAME_ADDRESSES}


class WallFeed(FrameFeed):
    """One voice's frames for the walls, plus the voices seen and the scene/cue title."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.title: str | None = None
        self.title_changed = False
        self.seen: set[int] = set()  # voices that sent frame messages (shared by the Tee)

    def _as_voice(self, address: str) -> str | None:
        if address.startswith(protocol.VOICE_PREFIX):
            number = address[len(protocol.VOICE_PREFIX):].partition("/")[0]
            if number.isdigit():
                self.seen.add(int(number))
        elif address in _FRAME:
            self.seen.add(0)
        return super()._as_voice(address)

    def _apply(self, address: str, args: list[Any], now: float) -> None:
        super()._apply(address, args, now)  # keeps FrameFeed.scene from /charmix/scene/current
        title = "".join(c for c in self.scene if c.isprintable()) or None
        if title != self.title:
            self.title, self.title_changed = title, True


class Tee:
    """What Link.receive feeds: the bridge's own feed, then every wall feed."""

    def __init__(self, first: FrameFeed) -> None:
        self.states: list[FrameFeed] = [first]

    def feed(self, data: bytes, now: float) -> None:
        for state in self.states:
            state.feed(data, now)


class Walls:
    """The `/wall` page, its WebSocket and the per-voice feeds, hung on a WebBridge's app."""

    def __init__(self, bridge: Any, static: Path, outbox: type, same_origin: Any) -> None:
        """`outbox` and `same_origin` are the bridge's (passed in: the bridge imports this)."""
        self.bridge = bridge
        self.static = static
        self.outbox, self.same_origin = outbox, same_origin
        self.tee = Tee(bridge.feed)
        self.feeds: dict[int, WallFeed] = {}
        self.boxes: dict[int, tuple[Any, wc.Client, int]] = {}  # id -> (Outbox, Client, voice)
        self._ids = itertools.count(1)
        self.seen: set[int] = set()
        self.voices: list[int] = []  # the voices seen in the last full window
        self._window = time.monotonic()
        self.up: bool | None = None
        self._told = -KEEPALIVE
        self.ignored = 0  # messages from walls (they send none)
        bridge.app.router.add_get("/wall", self._page)
        bridge.app.router.add_get("/wall/", self._page)
        bridge.app.router.add_get("/wall/ws", self._ws)

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(self.static / "wall.html")

    def _feed(self, voice: int) -> WallFeed:
        feed = self.feeds.get(voice)
        if feed is None:
            main = self.bridge.feed
            feed = WallFeed(voice=voice)
            feed.models, feed.vocab = list(main.models), main.vocab
            feed.seen = self.seen
            self.feeds[voice] = feed
            self.tee.states.append(feed)
        return feed

    def _forget(self, voice: int) -> None:
        """The last wall of a voice left: stop decoding its frames (a client asking for every
        voice in turn must not leave 64 feeds decoding every datagram)."""
        if any(v == voice for _, _, v in self.boxes.values()):
            return
        feed = self.feeds.pop(voice, None)
        if feed is not None:
            self.tee.states.remove(feed)

    def _hello(self, voice: int, asked: str | None) -> str:
        feed = self._feed(voice)
        return json.dumps({
            "t": "hello", "voice": voice, "asked": asked, "voices_max": protocol.VOICES_MAX,
            **feed.layout(), "weights": finite(feed.weights), "title": feed.title,
            "up": bool(self.up), "seen": self.voices,
        }, separators=(",", ":"))

    async def _ws(self, request: web.Request) -> web.StreamResponse:
        if len(self.boxes) >= MAX_WALLS:
            return web.Response(status=503, text="too many walls connected")
        if not self.same_origin(request):
            return web.Response(status=403, text="the page must come from this bridge")
        asked = request.query.get("voice")
        voice = self.bridge.options.voice
        if asked is not None and asked.isdigit() and int(asked) < MAX_FEEDS:
            voice = int(asked)
        ws = web.WebSocketResponse(heartbeat=10.0, max_msg_size=MAX_IN)
        await ws.prepare(request)
        client = wc.Client(next(self._ids), request.remote or "?", control=False,
                           limiter=wc.RateLimit(1.0))
        box = self.outbox(ws)
        self.boxes[client.id] = (box, client, voice)
        writer = asyncio.ensure_future(box.run())
        box.put(self._hello(voice, None if asked is None else asked[:40]), client)
        try:
            async for msg in ws:  # a wall sends nothing: whatever comes is counted, ignored
                if msg.type == WSMsgType.ERROR:
                    break
                self.ignored += 1
        finally:
            self.boxes.pop(client.id, None)
            self._forget(voice)
            self.bridge.dropped += client.dropped
            box.ready.set()
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
        return ws

    def _send(self, voice: int | None, text: str) -> None:
        for box, client, v in list(self.boxes.values()):
            if voice is None or v == voice:
                box.put(text, client)

    def flush(self) -> None:
        """Every voice's new frame (and a new hello after a relayout) to its walls."""
        for voice, feed in self.feeds.items():
            if feed.layout_changed:
                feed.layout_changed = False
                self._send(voice, self._hello(voice, None))
            if feed.title_changed:
                feed.title_changed = False
                self._send(voice, json.dumps({"t": "title", "v": feed.title}))
            text = feed.flush()
            if text is not None:
                self._send(voice, text)

    def tick(self, now: float) -> None:
        """Late characters, and whether the daemon is there and which voices it runs."""
        if any(f.fresh for f in self.feeds.values()):
            self.flush()
        last = self.bridge.feed.last_rx
        up = last is not None and now - last < QUIET
        if now - self._window >= WINDOW or not up:
            self._window = now
            voices = sorted(self.seen) if up else []
            self.seen.clear()
        else:
            voices = self.voices
        if up != self.up or voices != self.voices or now - self._told >= KEEPALIVE:
            self.up, self.voices, self._told = up, voices, now
            self._send(None, json.dumps({"t": "daemon", "up": up, "voices": voices}))

    def closing(self) -> list[Any]:
        """The close handshakes of every wall, for the bridge's shutdown."""
        return [box.ws.close(message=b"charmix web stopped") for box, _, _ in self.boxes.values()]
