"""The walls' side of the bridge without a browser: each voice's feed reads only its own frames
from the daemon's real datagrams (encoded by the daemon's Broadcaster), the voices seen are
collected, a score's scene/cue title is taken when one comes, and a voice nobody watches any
more stops being decoded. Runs where Chromium is missing (the browser tests skip there)."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import numpy as np
from aiohttp import web
from pythonosc.osc_message_builder import OscMessageBuilder
from test_web_feed import NAMES, broadcaster, frame

from charmix.controllers.web.feed import FrameFeed
from charmix.controllers.web.wall import WallFeed, Walls
from charmix.daemon import protocol
from charmix.daemon.client.frames import SCENES_MAX


def fake_bridge() -> SimpleNamespace:
    """What Walls uses of a WebBridge: its feed, its app, its options, its counters."""
    return SimpleNamespace(feed=FrameFeed(), app=web.Application(),
                           options=SimpleNamespace(voice=0), dropped=0)


def test_each_voice_reads_its_own_frames_and_the_voices_are_seen() -> None:
    b, rng = broadcaster(), np.random.default_rng(22)
    bridge = fake_bridge()
    walls = Walls(bridge, None, object, lambda request: True)
    one, two = walls._feed(1), walls._feed(2)
    assert walls.tee.states == [bridge.feed, one, two]
    sent: dict[int, list[str]] = {0: [], 1: []}
    for dgram in b.announce_datagrams():
        walls.tee.feed(dgram, time.monotonic())
    for step in range(6):
        for voice in (0, 1):
            f = frame(step, rng)
            f.voice = voice
            sent[voice].append(f.char)
            for dgram in b.frame_datagrams(f):
                walls.tee.feed(dgram, time.monotonic())
    assert one.models == NAMES and walls.seen == {0, 1}
    assert json.loads(bridge.feed.flush())["chars"] == sent[0]
    assert json.loads(one.flush())["chars"] == sent[1]
    nothing = two.flush()  # voice 2 does not exist: at most the daemon's settings
    assert nothing is None or "chars" not in json.loads(nothing)
    assert one.counters.unknown + one.counters.bad_args == 0


def test_the_scene_gives_the_title_and_nothing_else() -> None:
    feed = WallFeed(voice=1)

    def scene(address: str, *args: object) -> bytes:
        m = OscMessageBuilder(address)
        for a in args:
            m.add_arg(a)
        return m.build().dgram

    now = time.monotonic()
    feed.feed(scene(f"{protocol.PREFIX}/voice/1/scene/progress", 0.25), now)  # no name: no title
    assert feed.title is None and not feed.title_changed
    feed.feed(scene(f"{protocol.PREFIX}/scene/current", "voice 0's"), now)  # another voice's
    assert feed.title is None
    feed.feed(scene(f"{protocol.PREFIX}/voice/1/scene/current", "Act\x07 II"), now)
    assert feed.title == "Act II" and feed.title_changed
    feed.feed(scene(f"{protocol.PREFIX}/voice/1/scene/current", "x" * 5000), now)
    assert feed.title == "x" * SCENES_MAX
    feed.feed(scene(f"{protocol.PREFIX}/voice/1/scene/current", ""), now)  # the score stopped
    assert feed.title is None
    assert feed.counters.unknown + feed.counters.bad_args + feed.counters.malformed == 0
    assert feed.flush() is None or "chars" not in json.loads(feed.flush() or "{}")


def test_a_voice_nobody_watches_stops_being_decoded_and_the_daemon_state_is_told() -> None:
    bridge = fake_bridge()
    walls = Walls(bridge, None, object, lambda request: True)
    told: list[str] = []
    box = SimpleNamespace(put=lambda text, client: told.append(text))
    walls._feed(3)
    walls.boxes[1] = (box, None, 3)
    walls._forget(3)  # a wall of voice 3 is still there
    assert 3 in walls.feeds
    del walls.boxes[1]
    walls._forget(3)
    assert 3 not in walls.feeds and walls.tee.states == [bridge.feed]
    walls.boxes[2] = (box, None, 0)
    now = time.monotonic()
    walls.tick(now)  # never heard from the daemon
    assert json.loads(told[-1]) == {"t": "daemon", "up": False, "voices": []}
    bridge.feed.last_rx = now
    walls.tick(now + 0.1)
    assert json.loads(told[-1])["up"] is True
    count = len(told)
    walls.tick(now + 0.2)  # nothing changed: nothing sent …
    assert len(told) == count
    bridge.feed.last_rx = now + 5.1
    walls.tick(now + 5.2)  # … until the keep-alive, which a wall takes as a sign of life
    assert len(told) == count + 1 and json.loads(told[-1])["up"] is True
