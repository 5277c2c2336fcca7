"""The rules of `charmix web`'s control side, directly: message parsing (fuzzed), the rate limit,
the PIN guard, --control last | blend | first, the idle glide and --rest. The Sender sends real
OSC to a real UDP receiver, so what is asserted is what a daemon would get."""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Iterator

import pytest
from fakes.osc_receiver import OscReceiver, path

from charmix.controllers.mapping import PadMapping
from charmix.controllers.sender import Sender
from charmix.controllers.web import control as wc

NAMES = ["austen", "bible", "linux"]


@pytest.fixture
def wire() -> Iterator[tuple[OscReceiver, Sender]]:
    rx = OscReceiver()
    sender = Sender([("127.0.0.1", rx.port)], max_rate=1000)
    try:
        yield rx, sender
    finally:
        sender.close()
        rx.close()


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def arbiter(sender: Sender, mode: str = "last", **kw) -> tuple[wc.Arbiter, Clock]:
    clock = Clock()
    return wc.Arbiter(PadMapping.for_models(NAMES), sender, mode, clock=clock, **kw), clock


def client(i: int, control: bool = True) -> wc.Client:
    return wc.Client(i, f"10.0.0.{i}", control, wc.RateLimit(60))


def sent_weights(rx: OscReceiver, sender: Sender, want: list[float]) -> list[float]:
    """Wait until the newest /charmix/weights the receiver got is `want` (datagrams sent by
    flush() may still be on their way); its values."""
    assert sender.flush()

    def newest(ms: list) -> list[float]:
        got = [m.params for m in ms if m.address == path("weights")]
        return list(got[-1]) if got else []

    def arrived(ms: list) -> bool:
        got = newest(ms)
        if len(got) != len(want):
            return False
        return all(abs(a - b) < 1e-6 for a, b in zip(got, want, strict=True))

    with contextlib.suppress(AssertionError):  # the caller's comparison shows what arrived
        rx.wait_until(arrived, timeout=5, what=f"weights {want}")
    return newest(rx.messages)


def test_parse_accepts_what_the_page_sends_and_clamps() -> None:
    assert wc.parse('{"t":"pad","touches":[[0.5,-2]]}', 3) == wc.Pad(((0.5, -1.0),))
    assert wc.parse('{"t":"pad","touches":[]}', 3) == wc.Pad(())
    assert wc.parse('{"t":"weight","i":2,"v":7}', 3) == wc.Weight(2, 1.0)
    assert wc.parse('{"t":"temperature","v":99}', 3) == wc.Setting("temperature", wc.T_MAX)
    assert wc.parse('{"t":"mode","v":"geometric"}', 3) == wc.Setting("mode", "geometric")
    assert wc.parse('{"t":"pause","v":true}', 3) == wc.Setting("pause", True)
    assert wc.parse('{"t":"pin","code":"1234"}', 3) == wc.Pin("1234")
    for bad in ('{"t":"weight","i":3,"v":1}', '{"t":"weight","i":true,"v":1}',
                '{"t":"pad","touches":[[NaN,0]]}', '{"t":"pad","touches":[[1e999,0]]}',
                '{"t":"mode","v":"loud"}', '{"t":"pause","v":1}', "[1]", "nope", "x" * 5000,
                '{"t":"pad","touches":' + json.dumps([[0, 0]] * 11) + "}", "[" * 5000):
        assert isinstance(wc.parse(bad, 3), str), bad


def test_parse_fuzz_never_raises() -> None:
    """3,000 seeded messages: random bytes, random JSON, and real messages with parts swapped."""
    rng = random.Random(5)
    real = ['{"t":"pad","touches":[[0.1,0.2],[0.3,-0.4]]}', '{"t":"weight","i":1,"v":0.5}',
            '{"t":"temperature","v":0.8}', '{"t":"mode","v":"linear"}', '{"t":"pin","code":"1"}']
    junk = [None, True, -1, 2**70, 1e308, "", "pad", [], {}, [[0, 0]], [["a", 1]], [1, 2, 3]]
    for k in range(3000):
        if k % 3 == 0:
            text: str | bytes = rng.randbytes(rng.randint(0, 40))
        elif k % 3 == 1:
            msg = json.loads(rng.choice(real))
            msg[rng.choice(["t", "touches", "i", "v", "code", "x"])] = rng.choice(junk)
            text = json.dumps(msg)
        else:
            text = rng.choice(real)[: rng.randint(0, 40)]
        result = wc.parse(text, 3)
        assert isinstance(result, str | wc.Pad | wc.Weight | wc.Setting | wc.Pin)


def test_rate_limit_allows_bursts_and_the_average() -> None:
    limit = wc.RateLimit(10, burst=5)
    assert [limit.allow(0.0) for _ in range(7)] == [True] * 5 + [False] * 2
    assert limit.allow(0.1) and not limit.allow(0.1)  # 10/s: one more after 0.1 s
    assert sum(limit.allow(1.0 + k / 100) for k in range(100)) <= 15  # ~10 in a second


def test_pin_guard_locks_out_after_wrong_codes() -> None:
    guard = wc.PinGuard("2468")
    assert guard.check("a", "2468", 0) == "ok"
    assert [guard.check("b", "0000", 0) for _ in range(wc.PIN_TRIES)][-1] == "locked"
    assert guard.check("b", "2468", 1) == "locked"  # even the right code, while locked
    assert guard.check("a", "2468", 1) == "ok"  # other addresses are not affected
    assert guard.check("b", "2468", wc.PIN_LOCKOUT + 1) == "ok"
    assert wc.PinGuard(None).check("x", "", 0) == "ok" and not wc.PinGuard(None).required


def test_last_touch_wins_and_fingers_blend(wire) -> None:
    rx, sender = wire
    arb, clock = arbiter(sender)
    a, b = client(1), client(2)
    arb.join(a)
    arb.join(b)
    anchors = [(x.x, x.y) for x in arb.mapping.anchors]
    arb.apply(a, wc.Pad((anchors[0],)), clock())
    assert sent_weights(rx, sender, [1, 0, 0]) == pytest.approx([1, 0, 0], abs=1e-6)
    arb.apply(b, wc.Pad((anchors[1], anchors[2])), clock())  # two fingers of b: half and half
    assert sent_weights(rx, sender, [0, 0.5, 0.5]) == pytest.approx([0, 0.5, 0.5], abs=1e-6)
    assert arb.weights_for([anchors[0]]) == arb.mapping.weights(*anchors[0])  # the mouse's math


def test_blend_averages_every_active_touch(wire) -> None:
    rx, sender = wire
    arb, clock = arbiter(sender, "blend")
    a, b, viewer = client(1), client(2), client(3, control=False)
    for c in (a, b, viewer):
        arb.join(c)
    anchors = [(x.x, x.y) for x in arb.mapping.anchors]
    arb.apply(a, wc.Pad((anchors[0],)), clock())
    arb.apply(b, wc.Pad((anchors[2],)), clock())
    assert arb.apply(viewer, wc.Pad((anchors[1],)), clock()) == "view only"
    assert sent_weights(rx, sender, [0.5, 0, 0.5]) == pytest.approx([0.5, 0, 0.5], abs=1e-6)
    arb.leave(b.id)  # a page closed mid-touch: its finger is gone
    assert sent_weights(rx, sender, [1, 0, 0]) == pytest.approx([1, 0, 0], abs=1e-6)


def test_first_holds_until_it_lets_go(wire) -> None:
    rx, sender = wire
    arb, clock = arbiter(sender, "first")
    a, b = client(1), client(2)
    arb.join(a)
    arb.join(b)
    assert arb.apply(a, wc.Pad(((0, 0.75),)), clock()) is None
    assert arb.apply(b, wc.Pad(((0, -0.75),)), clock()) == "another performer holds the controls"
    assert arb.apply(b, wc.Setting("temperature", 2.0), clock()) is not None
    arb.apply(a, wc.Pad(()), clock())
    clock.t += wc.HOLD_GRACE / 2
    assert arb.apply(b, wc.Pad(((0, -0.75),)), clock.t) is not None  # still a's, for a moment
    clock.t += wc.HOLD_GRACE
    assert arb.apply(b, wc.Pad(((0, -0.75),)), clock.t) is None
    assert arb.holder == b.id


def test_idle_glides_to_the_rest_mix(wire) -> None:
    rx, sender = wire
    arb, clock = arbiter(sender, idle=5.0, rest=[0.2, 0.3, 0.5], glide=1.0)
    a = client(1)
    arb.join(a)
    arb.apply(a, wc.Pad(((0, 0.75),)), clock())
    arb.apply(a, wc.Pad(()), clock())
    arb.daemon_weights = [1.0, 0.0, 0.0]
    clock.t += 4.9
    assert arb.tick(clock.t) is None  # not idle yet
    clock.t += 0.2
    first = arb.tick(clock.t)
    assert first == pytest.approx([1, 0, 0])  # starts where the daemon is: no jump
    clock.t += 0.5
    middle = arb.tick(clock.t)
    assert 0.2 < middle[0] < 1.0 and sum(middle) == pytest.approx(1)
    clock.t += 0.6
    assert arb.tick(clock.t) == pytest.approx([0.2, 0.3, 0.5])
    assert sent_weights(rx, sender, [0.2, 0.3, 0.5]) == pytest.approx([0.2, 0.3, 0.5], abs=1e-6)
    assert arb.tick(clock.t + 1) is None  # at rest: nothing more is sent


def test_idle_with_a_score_hands_back_to_it_once(wire) -> None:
    rx, sender = wire
    arb, clock = arbiter(sender, idle=5.0, rest=[], to_score=True)
    a = client(1)
    arb.join(a)
    arb.apply(a, wc.Pad(((0, 0.75),)), clock())
    arb.apply(a, wc.Pad(()), clock())
    clock.t += 5.1
    assert arb.tick(clock.t) is None and arb.tick(clock.t + 1) is None
    assert sender.flush()
    rx.wait_for("score/play")
    assert len(rx.of("score/play")) == 1  # once per idle spell: the daemon morphs back itself


def test_parse_rest() -> None:
    assert wc.parse_rest("even", NAMES) == pytest.approx([1 / 3] * 3)
    assert wc.parse_rest("1,1,2", NAMES) == pytest.approx([0.25, 0.25, 0.5])
    assert wc.parse_rest("bible=1", NAMES) == pytest.approx([0, 1, 0])
    for bad, why in (("1,2", "2 weights"), ("poe=1", "no model named 'poe'"), ("a,b,c", "numbers"),
                     ("0,0,0", "not all 0"), ("-1,1,1", ">= 0")):
        with pytest.raises(ValueError, match=why):
            wc.parse_rest(bad, NAMES)


def test_a_scene_button_recalls_the_scene_with_a_morph(wire) -> None:
    rx, sender = wire
    assert wc.parse('{"t": "scene", "v": "evening"}', 3) == wc.Setting("scene", "evening")
    for bad in ('{"t": "scene", "v": ""}', '{"t": "scene", "v": 3}',
                '{"t": "scene", "v": "' + "x" * 65 + '"}'):
        assert isinstance(wc.parse(bad, 3), str)
    arb, clock = arbiter(sender)
    a = client(1)
    arb.join(a)
    assert arb.apply(a, wc.Setting("scene", "evening"), clock()) is None
    assert sender.flush()
    assert rx.wait_for("scene/recall").params == ("evening", wc.SCENE_MORPH)
