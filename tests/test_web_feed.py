"""The bridge's frame input: the daemon's real datagrams (encoded by the daemon's Broadcaster)
become one JSON message per flush; junk and mutated datagrams never raise and never produce
JSON a browser cannot parse (NaN, Infinity) or a text whose writers do not line up."""

from __future__ import annotations

import json
import logging
import random
import time

import numpy as np

from charmix.controllers.web.feed import FrameFeed, per_mille
from charmix.daemon import protocol
from charmix.daemon.engine.mixer import Frame
from charmix.daemon.live.broadcast import Broadcaster
from charmix.daemon.live.counters import Counters
from charmix.daemon.protocol.palette import colours

NAMES = ["austen", "bible", "mystery"]
VOCAB = list("abc d\n")


def broadcaster() -> Broadcaster:
    status = [0.0] * len(protocol.STATUS_FIELDS)
    status[protocol.STATUS_FIELDS.index("temperature")] = 0.7
    status[protocol.STATUS_FIELDS.index("mode")] = 1.0
    return Broadcaster(NAMES, VOCAB, [], Counters(), lambda: status, logging.getLogger("t"))


def frame(step: int, rng: np.random.Generator) -> Frame:
    p = rng.dirichlet(np.ones(len(VOCAB)), size=len(NAMES))
    w = rng.dirichlet(np.ones(len(NAMES)))
    mix = w @ p
    index = int(rng.integers(len(VOCAB)))
    attribution = w * p[:, index] / mix[index]
    return Frame(step, VOCAB[index], index, mix, p, w, attribution, np.ones(len(NAMES)), "x")


def parse_strict(text: str) -> dict:
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in the JSON: a browser's JSON.parse refuses it")

    return json.loads(text, parse_constant=refuse)


def test_real_frames_become_one_message_each() -> None:
    b, rng, feed = broadcaster(), np.random.default_rng(1), FrameFeed()
    for dgram in b.announce_datagrams():
        feed.feed(dgram, time.monotonic())
    assert feed.layout() == {"models": NAMES, "colours": colours(NAMES), "vocab": "".join(VOCAB)}
    assert feed.settings()["mode"] == "geometric" and feed.settings()["temperature"] == 0.7
    frames = [frame(s, rng) for s in range(5)]
    for f in frames:
        for dgram in b.frame_datagrams(f):
            feed.feed(dgram, time.monotonic())
    msg = parse_strict(feed.flush())
    assert msg["chars"] == [f.char for f in frames]
    assert msg["who"] == [int(np.argmax(f.attribution)) for f in frames]
    assert msg["s0"] == 0 and msg["step"] == 4 and len(msg["rx"]) == 5
    assert msg["mix"] == per_mille(frames[-1].p_mix)
    assert msg["p"] == [per_mille(row) for row in frames[-1].p_models]
    assert msg["w"] == [round(v, 4) for v in frames[-1].weights]
    assert feed.flush() is None  # nothing new


def test_a_character_waits_briefly_for_its_attribution() -> None:
    feed = FrameFeed()
    char = broadcaster().frame_messages(frame(0, np.random.default_rng(2)))[0]  # /charmix/char
    feed.feed(char, time.monotonic())
    assert feed.flush() is None  # its attribution is probably in the next datagram
    later = parse_strict(feed.flush(now=time.time() + 1.0))
    assert later["who"] == [-1]  # it never came: the character goes out as unknown


def mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        kind = rng.random()
        if kind < 0.5 and out:
            out[rng.randrange(len(out))] = rng.randrange(256)
        elif kind < 0.7:
            out = out[: rng.randrange(len(out) + 1)]
        elif kind < 0.85:
            out[rng.randrange(len(out) + 1):rng.randrange(len(out) + 1)] = rng.randbytes(
                rng.randint(1, 16))
        else:  # a NaN or an infinity where a float was
            at = rng.randrange(max(len(out) - 4, 1))
            out[at:at + 4] = rng.choice([b"\x7f\xc0\x00\x00", b"\x7f\x80\x00\x00", b"\xff\x80\0\0"])
    return bytes(out)


def test_fuzz_junk_and_mutated_frames() -> None:
    """2,000 bounded, seeded datagrams: junk, truncations, flipped bytes, NaN and inf."""
    rng, nrng = random.Random(11), np.random.default_rng(11)
    b, feed = broadcaster(), FrameFeed()
    frames = [d for s in range(20) for d in b.frame_datagrams(frame(s, nrng))]
    real = b.announce_datagrams() + frames
    deadline = time.monotonic() + 20
    for k in range(2000):
        if time.monotonic() > deadline:
            break
        base = rng.choice(real)
        data = rng.randbytes(rng.randint(0, 64)) if k % 5 == 0 else mutate(base, rng)
        feed.feed(data, time.monotonic())
        if k % 7 == 0:
            feed.feed(rng.choice(real), time.monotonic())
        text = feed.flush(now=time.time() + 1.0)
        if text is not None:
            msg = parse_strict(text)
            if "chars" in msg:
                assert len(msg["chars"]) == len(msg["who"]) == len(msg["rx"])
                assert all(isinstance(c, str) and len(c) == 1 for c in msg["chars"])
            feed.settings()
    c = feed.counters
    assert c.malformed + c.bad_args + c.unknown > 100  # the junk was seen, and counted
    for dgram in b.frame_datagrams(frame(99, nrng)):  # and real frames still get through
        feed.feed(dgram, time.monotonic())
    assert parse_strict(feed.flush(now=time.time() + 1.0))["step"] == 99


def test_the_scenes_and_the_running_cue_reach_the_pages() -> None:
    from helpers import osc

    P = protocol.PREFIX
    feed = FrameFeed()
    feed.feed(osc(f"{P}/scenes", "evening", "morning"), time.monotonic())
    feed.feed(osc(f"{P}/scene/current", "morning"), time.monotonic())
    feed.feed(osc(f"{P}/scene/progress", ("f", 0.25)), time.monotonic())
    msg = json.loads(feed.flush() or "{}")
    assert msg["scene"] == {"names": ["evening", "morning"], "current": "morning",
                            "progress": 0.25}
    assert feed.flush() is None  # nothing new
