"""Scenes, morphs and the score without a socket: the arithmetic, the conductor stepped by hand,
the scenes file (tomlkit, comments kept), the score file, and bad input of every kind.

The conductor runs on the clock's time (dt per step), so these tests step it directly and check
the settings after each step; tests/test_score_daemon.py checks the same over real UDP.
"""

from __future__ import annotations

import logging
import math
import random

import numpy as np
import pytest
from helpers import osc

from charmix.daemon import protocol
from charmix.daemon.live.conductor import Conductor
from charmix.daemon.live.controls import Controls
from charmix.daemon.live.dispatch import Dispatcher
from charmix.daemon.live.scenes import (
    Scene,
    SceneBook,
    SceneError,
    between,
    capture,
    point_of,
    scene_from,
    target,
)
from charmix.daemon.live.score import ScoreError, Walk, load, parse
from charmix.daemon.protocol.table import SCENES_MAX
from charmix.daemon.runtime.scenefile import SceneFile, SceneFileError, read, render
from charmix.daemon.runtime.scenefile import parse as parse_scenes

P = protocol.PREFIX
NAMES = ["shakespeare", "linux", "bible"]
LOG = logging.getLogger("test_scenes")


def controls(**kw: object) -> Controls:
    return Controls(NAMES, **kw)  # type: ignore[arg-type]


def weights(c: Controls) -> np.ndarray:
    w = c.target_weights()
    return w / w.sum()


class Clock:
    """A hand-driven monotonic clock for hand-back."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


# ------------------------------------------------------------------------- the arithmetic
def test_between_is_the_straight_line_the_log_scale_and_the_midpoint() -> None:
    c = controls(weights=[1, 0, 0], temperature=0.4, mode="linear", topk=0)
    a = point_of(c)
    b, keys = target(Scene(weights={"bible": 1.0}, temperature=1.6, mode="geometric", topk=5),
                     a, NAMES)
    assert keys == {"weights", "temperature", "mode", "topk"}
    for p in np.linspace(0, 1, 21):
        v = between(a, b, float(p), keys)
        assert np.allclose(v["weights"], [1 - p, 0, p]) and math.isclose(sum(v["weights"]), 1)
        assert math.isclose(v["temperature"], 0.4 * 4 ** p)  # log scale: 0.8 half way
        assert v["mode"] == ("geometric" if p >= 0.5 else "linear")
        assert v["topk"] == (5 if p >= 0.5 else 0)


def test_a_scene_keeps_what_it_can_of_a_changed_model_set() -> None:
    c = controls(weights=[1, 1, 1])
    a = point_of(c)
    b, keys = target(Scene(weights={"bible": 1.0, "gone": 5.0}), a, NAMES)
    assert np.allclose(b.weights, [0, 0, 1]) and keys == {"weights"}
    b, keys = target(Scene(weights={"gone": 1.0}, temperature=0.5), a, NAMES)
    assert np.allclose(b.weights, a.weights) and keys == {"temperature"}


def test_capture_and_scene_from_round_trip() -> None:
    c = controls(weights=[0.2, 0.3, 0.5], temperature=0.6, mode="geometric", topk=3, topp=0.9,
                 slew=0.2, model_temperature={"bible": 1.2})
    scene = capture(c)
    assert scene_from(scene.as_dict()) == scene
    assert scene.model_temperature == {"bible": 1.2}


@pytest.mark.parametrize("values, why", [
    ({"temperature": 9.0}, "temperature"), ({"temperature": float("nan")}, "finite"),
    ({"mode": "loud"}, "mode"), ({"weights": {"a": -2.0}}, "weights.a"),
    ({"weights": [1, 2]}, "table"), ({"colour": 1}, "unknown setting"), ({}, "no settings"),
    ({"topp": 0.0}, "topp"), ("a string", "table"),
])
def test_a_bad_scene_is_one_line(values: object, why: str) -> None:
    with pytest.raises(SceneError, match=why) as info:
        scene_from(values)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------------ the conductor
def test_recall_morphs_on_the_clock_and_a_control_wins_and_is_counted() -> None:
    c = controls(weights=[1, 0, 0], temperature=0.5)
    k = Conductor([c], None)
    k.book.put("b", Scene(weights={"bible": 1.0}, temperature=2.0))
    k.recall(0, "b", 1.0)
    for step in range(1, 5):  # dt 0.1: progress step/10
        k.step(0.1)
        assert np.allclose(weights(c), [1 - step / 10, 0, step / 10])
        assert math.isclose(c.snapshot().temperature, 0.5 * 4 ** (step / 10))
    c.set_temperature(0.7)  # the performer's hand, as the dispatcher gives it
    c.touch("temperature")
    k.step(0.1)
    assert c.snapshot().temperature == 0.7 and np.allclose(weights(c), [0.5, 0, 0.5])
    assert c.counters.overrides == 1
    for _ in range(10):
        k.step(0.1)
    assert np.allclose(weights(c), [0, 0, 1]) and c.snapshot().temperature == 0.7


def test_recall_at_once_and_unknown_scenes() -> None:
    c = controls(weights=[1, 0, 0])
    k = Conductor([c], None)
    k.book.put("b", Scene(weights={"linux": 1.0}))
    k.recall(0, "b")
    assert np.allclose(weights(c), [0, 1, 0])
    with pytest.raises(SceneError, match="no scene 'nope'"):
        k.recall(0, "nope", 1.0)
    with pytest.raises(SceneError, match="no --score"):
        k.play(0)


SCORE = """
loop = true
[scenes.a]
weights = { shakespeare = 1 }
slew = 0
[scenes.b]
weights = { linux = 1 }
[scenes.c]
weights = { bible = 1 }
[[cue]]
scene = "a"
hold = 0.5
[[cue]]
scene = "b"
morph = 1
hold = 0.5
[[cue]]
scene = "c"
morph = 1
hold = 0.5
"""


def score(text: str = SCORE, **kw: object):
    import tomllib
    return parse(tomllib.loads(text), **kw)  # type: ignore[arg-type]


def test_the_score_walks_its_cues_on_the_clocks_time() -> None:
    c = controls()
    k = Conductor([c], None, score=score())
    k.start()
    dt = 0.05
    trace = []
    for _ in range(int(round(3.5 / dt))):  # one whole cycle and back to a
        k.step(dt)
        trace.append(weights(c))
    trace = np.array(trace)
    assert np.allclose(trace[:9], [1, 0, 0])  # hold a: steps 1..9 (t 0.05 … 0.45)
    # cue b starts at t = 0.5 (step 10): progress (step - 9) / 20
    for i in range(10, 30):
        p = (i + 1 - 10) / 20
        assert np.allclose(trace[i], [1 - p, p, 0], atol=1e-9), i
    assert np.allclose(trace[29:40], [0, 1, 0])
    assert np.allclose(trace[-1], [1, 0, 0])  # looped: back at a (morph 0)
    assert k.players[0].cycle == 1


def test_punch_in_takes_the_voice_at_once_and_hand_back_returns_it() -> None:
    now = Clock()
    c = controls()
    k = Conductor([c], None, score=score(), hand_back=2.0, now=now)
    k.start()
    for _ in range(15):
        k.step(0.05)
    c.set_weights([0, 0, 1])
    c.touch("weights")
    now.t = c.touched_at
    k.step(0.05)
    assert np.allclose(weights(c), [0, 0, 1])  # applied in the next step, the score let go
    assert k.players[0].punched and c.counters.overrides == 1
    cue = k.players[0].cue
    for _ in range(100):
        k.step(0.05)
        assert np.allclose(weights(c), [0, 0, 1])  # silence, but shorter than the hand-back
    now.t += 2.01
    k.step(0.05)
    assert not k.players[0].punched and k.players[0].cue == cue
    w = weights(c)
    assert 0 < w[2] < 1  # morphing back from where the performer left it


def test_resume_rejoins_the_cue_and_morphs_from_the_scene_before() -> None:
    c = controls()
    k = Conductor([c], None, score=score())
    k.start()
    for _ in range(20):
        k.step(0.05)
    saved = k.position()
    assert saved["0"]["cue"] == 1
    c2 = controls()
    k2 = Conductor([c2], None, score=score())
    assert k2.resume(saved) == ["voice 0 at cue 1"]
    k.step(0.05)
    k2.step(0.05)
    assert np.allclose(weights(c), weights(c2))


def test_wall_clock_alignment_puts_two_conductors_on_the_same_cue() -> None:
    text = SCORE.replace("loop = true", "loop = true\nepoch = 1000")
    wall = [1000 + 3 * 7 + 1.7]  # 7 cycles of 3 s, then 1.7 s: cue b, 1.2 s in
    a, b = controls(), controls(weights=[0, 0, 1])
    ka = Conductor([a], None, score=score(text), wall=lambda: wall[0])
    ka.start()
    assert (ka.players[0].cue, round(ka.players[0].t, 6)) == (1, 1.2)
    for _ in range(10):  # the wall clock keeps pace with the steps
        wall[0] += 0.05
        ka.step(0.05)
    kb = Conductor([b], None, score=score(text), wall=lambda: wall[0])
    kb.start()  # a restart: it rejoins where the other one is
    wall[0] += 0.05
    ka.step(0.05)
    kb.step(0.05)
    assert ka.players[0].cue == kb.players[0].cue == 2
    assert np.allclose(weights(a), weights(b))


def test_a_drift_is_seeded_stays_off_the_corners_and_moves() -> None:
    text = """
[[cue]]
drift = ["shakespeare", "bible"]
speed = 0.5
margin = 0.1
duration = 5
"""
    runs = []
    for _ in range(2):
        c = controls()
        k = Conductor([c], None, score=score(text, seed=7), seed=7)
        k.start()
        trace = []
        for _ in range(100):
            k.step(0.05)
            trace.append(weights(c))
        runs.append(np.array(trace))
    assert np.array_equal(runs[0], runs[1])
    late = runs[0][40:]
    assert (late[:, [0, 2]] >= 0.1 - 1e-9).all() and np.allclose(late[:, 1], 0)
    assert np.ptp(late[:, 0]) > 0.1


def test_walk_reaches_waypoints_within_the_simplex() -> None:
    from charmix.daemon.live.score import Drift
    walk = Walk(Drift(("a", "b", "c"), 1.0, 0.2), [0, 1, 2], 4, 3)
    w = np.array([0, 0, 0, 1.0])
    for _ in range(200):
        w = walk.step(w, 0.1)
        assert math.isclose(w.sum(), 1.0) and (w >= -1e-12).all()


# ------------------------------------------------------------------------ the files
def test_the_scenes_file_keeps_its_comments_through_a_save(tmp_path) -> None:
    path = tmp_path / "scenes.toml"
    path.write_text("# the gallery\n[morning]  # bright\nweights = { bible = 1.0 }\n"
                    "temperature = 0.6  # calm\n\n[night]\ntemperature = 1.2\n")
    f = SceneFile(path, LOG)
    scenes = f.load()
    assert scenes["morning"].temperature == 0.6
    scenes["morning"] = Scene(weights={"bible": 1.0}, temperature=0.7)
    del scenes["night"]
    scenes["noon"] = Scene(mode="geometric")
    f.changed(scenes)
    assert f.flush()
    text = path.read_text()
    assert "# the gallery" in text and "# bright" in text and "# calm" in text
    assert "night" not in text and "[noon]" in text
    assert read(path)[1] == scenes
    assert not list(tmp_path.glob(".*tmp"))  # atomic: no tmp file left


@pytest.mark.parametrize("content, why", [
    ("[a\nweights = 1", "line 1: not valid TOML"),
    ("[a]\ntemperature = 9\n", "line 1: scene 'a': 'temperature' must be"),
    ("\n\n[b]\nmode = 'loud'\n", "line 3: scene 'b'"),
    ("a = 1\n", r"must be a \[a\] table"),
    ("[" + "x" * 10_000 + "]\nmode = 'linear'\n", "at most 64 characters"),
])
def test_a_bad_scenes_file_is_one_line_with_its_line(content: str, why: str) -> None:
    with pytest.raises(SceneFileError, match=why) as info:
        parse_scenes(content, "s.toml")
    assert "\n" not in str(info.value)


def test_a_bad_scenes_file_means_no_scenes_and_is_not_overwritten(tmp_path, caplog) -> None:
    big = tmp_path / "big.toml"
    big.write_bytes(b"# " + b"x" * (10 << 20) + b"\n")
    assert SceneFile(big, LOG).load() == {}
    assert "too large" in caplog.text
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff\xfe not text")
    assert SceneFile(bad, LOG).load() == {}
    assert bad.read_bytes() == b"\xff\xfe not text"


def test_render_from_nothing_writes_a_header() -> None:
    text = render(None, {"a": Scene(weights={"bible": 1.0}, topk=2)})
    assert text.startswith("# charmix scenes") and parse_scenes(text)[1]["a"].topk == 2


@pytest.mark.parametrize("text, why", [
    ("[[cue]]\nscene = 'a'\nmorph = -1\n", "line 1: cue 0: 'morph' must be in"),
    ("[[cue]]\nscene = 'a'\nhold = 1\n\n[[cue]]\nscene = 'a'\nhold = inf\n",
     "line 5: cue 1: 'hold'"),
    ("[[cue]]\nscene = 'a'\n", "lasts 0 seconds"),
    ("loop = false\nepoch = 5\n[[cue]]\nscene='a'\nhold=1\n", "aligns a looping score"),
    ("[[cue]]\ndrift = ['a', 'b']\nmargin = 0.9\n", "'margin' must be in 0 – 0.5"),
    ("x = 1\n", "unknown key 'x'"),
    ("[[cue]\n", "not valid TOML"),
    ("[scenes.a]\ntemperature = 99\n[[cue]]\nscene='a'\nhold=1\n", "scene 'a'"),
])
def test_a_bad_score_is_one_line(tmp_path, text: str, why: str) -> None:
    path = tmp_path / "score.toml"
    path.write_text(text)
    with pytest.raises(ScoreError, match=why) as info:
        load(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_the_demo_score_is_a_tour_of_the_six_that_moves_within_30_s() -> None:
    demo = load("demo")
    cues = demo.parts[0].cues
    assert {c.scene for c in cues if c.drift is None} >= {
        "shakespeare", "bible", "nietzsche", "austen", "linux", "latex"}
    assert any(c.drift is not None for c in cues) and demo.loop
    assert cues[0].length < 30  # the first change starts within 30 s
    assert set(demo.scenes) >= {c.scene for c in cues if c.drift is None}


# --------------------------------------------------------------------------- bad input
class NullBroadcaster:
    limit = 1400
    targets = ()

    def send(self, *a: object) -> None:
        pass


def test_bad_scene_messages_are_refused_counted_and_change_nothing() -> None:
    c = controls(weights=[1, 0, 0])
    d = Dispatcher(c, NullBroadcaster(), [], LOG)  # type: ignore[arg-type]
    d.allow = [__import__("ipaddress").ip_network("127.0.0.0/8")]
    k = d.conductor
    d.dispatch(osc(f"{P}/scene/save", "keep"), ("127.0.0.1", 1))
    before = (c.snapshot(), k.book.names(), c.counters.rx_ok)
    bad = [
        osc(f"{P}/scene/recall", "nope"),
        osc(f"{P}/scene/recall", "keep", ("f", -1.0)),
        osc(f"{P}/scene/recall", "keep", ("f", float("nan"))),
        osc(f"{P}/scene/recall", "keep", ("f", float("inf"))),
        osc(f"{P}/scene/recall", "keep", ("f", 1e12)),
        osc(f"{P}/scene/save", "x" * 10_000),
        osc(f"{P}/scene/save", ""),
        osc(f"{P}/scene/save", ("i", 3)),
        osc(f"{P}/scene/delete", "nope"),
        osc(f"{P}/score/cue", ("i", -1)),
        osc(f"{P}/score/play"),
    ]
    for data in bad:
        d.dispatch(data, ("127.0.0.1", 1))
    assert c.counters.rx_bad == len(bad)
    after = (c.snapshot(), k.book.names(), c.counters.rx_ok)
    assert np.array_equal(before[0].weights, after[0].weights) and before[1:] == after[1:]
    rng = random.Random(20)
    for _ in range(300):  # fuzzed: random bytes after a scene address never raise
        path = rng.choice([f"{P}/scene/save", f"{P}/scene/recall", f"{P}/score/cue"])
        junk = bytes(rng.randrange(256) for _ in range(rng.randrange(40)))
        d.dispatch(osc(path) + junk, ("127.0.0.1", 1))
        k.step(0.05)
    assert k.book.names() == ["keep"]


def test_the_book_has_a_limit() -> None:
    book = SceneBook()
    for i in range(SCENES_MAX):
        book.put(f"s{i}", Scene(topk=1))
    with pytest.raises(SceneError, match="already saved"):
        book.put("one more", Scene(topk=1))
    book.put("s0", Scene(topk=2))  # replacing one is fine


def test_an_aligned_part_that_fell_behind_seeks_to_the_wall_clock() -> None:
    text = SCORE.replace("loop = true", "loop = true\nepoch = 1000")
    wall = [1000.0]
    c = controls()
    k = Conductor([c], None, score=score(text), wall=lambda: wall[0])
    k.start()
    for _ in range(30):  # the wall clock keeps pace: no seeking
        wall[0] += 0.05
        k.step(0.05)
    assert k.players[0].cue == 1
    wall[0] += 3.5 * 100 + 0.6  # paused for 100 cycles and 0.6 s: cue c, 0.1 s in
    for _ in range(20):  # it seeks on the first step and plays on from there
        wall[0] += 0.05
        k.step(0.05)
    assert k.players[0].cue == 2 and abs(k.players[0].t - 1.1) < 0.15


def test_the_monitor_shows_the_scene_and_its_progress() -> None:
    from rich.console import Console

    from charmix.daemon.client.frames import MonitorState
    from charmix.daemon.monitor.view import render

    state = MonitorState()
    state.feed(osc(f"{P}/scenes"), 0.0)  # none saved yet: no names, nothing wrong
    state.feed(osc(f"{P}/scenes", "evening", "morning"), 0.0)
    state.feed(osc(f"{P}/scene/current", "evening"), 0.0)
    state.feed(osc(f"{P}/scene/progress", ("f", 0.4)), 0.0)
    state.feed(osc(f"{P}/voice/1/scene/current", "other"), 0.0)  # another voice's
    assert state.counters.bad_args == 0 and state.counters.unknown == 0
    assert (state.scene, state.scenes) == ("evening", ["evening", "morning"])
    console = Console(width=100, record=True)
    console.print(render(state, "test", 100, 30, now=0.0))
    assert "scene evening ████······ 40%" in console.export_text()


def test_a_recall_during_the_score_is_a_punch_in_that_waits_for_the_hand_back() -> None:
    now = Clock()
    c = controls()
    k = Conductor([c], None, score=score(), hand_back=2.0, now=now)
    k.book.put("mine", Scene(weights={"bible": 1.0}))
    k.start()
    k.step(0.05)
    k.recall(0, "mine", 1.0)  # touches nothing, yet the hand-back counts from it
    for _ in range(30):
        k.step(0.05)
    assert k.players[0].punched and np.allclose(weights(c), [0, 0, 1])
    assert c.counters.overrides == 1
    now.t += 2.5
    k.step(0.05)
    assert not k.players[0].punched
    k.play(0)  # playing already: nothing changes
    assert not k.players[0].punched


def test_a_score_with_a_part_per_voice() -> None:
    text = SCORE + """
[[part]]
voice = 1
[[part.cue]]
scene = "c"
hold = 1
"""
    v0, v1 = controls(), controls()
    k = Conductor([v0, v1], None, score=score(text))
    k.start()
    k.step(0.05)
    assert np.allclose(weights(v0), [1, 0, 0]) and np.allclose(weights(v1), [0, 0, 1])
    v1.set_weights([0, 1, 0])
    v1.touch("weights")
    k.step(0.05)
    assert k.players[1].punched and not k.players[0].punched  # one voice's punch-in


def test_the_scores_own_scenes_are_listed_and_recallable() -> None:
    c = controls()
    k = Conductor([c], None, score=score())
    k.book.put("mine", Scene(topk=2))
    assert k.scene_names() == ["a", "b", "c", "mine"]
    assert k.scenes_datagrams() and Conductor([controls()], None).scenes_datagrams() == []
    k.recall(0, "c")
    assert np.allclose(weights(c), [0, 0, 1])


def test_a_stopped_score_stays_stopped_across_a_restart() -> None:
    c = controls()
    k = Conductor([c], None, score=score())
    k.start()
    k.step(0.05)
    k.stop(0)
    saved = k.position()
    k2 = Conductor([controls()], None, score=score())
    k2.resume(saved)
    k2.start()
    assert not k2.players[0].playing
    k2.play(0)
    assert k2.players[0].playing


def test_the_flags_and_rig_keys(tmp_path) -> None:
    from charmix.daemon.protocol.endpoint import ConfigError
    from charmix.daemon.runtime.config import build

    cfg = build({"score": "demo", "hand_back": "5", "scenes": "s.toml"})
    assert (cfg.score, cfg.hand_back, str(cfg.scenes)) == ("demo", 5.0, "s.toml")
    rig = tmp_path / "rig.toml"
    rig.write_text('score = "piece.toml"\nscenes = "scenes.toml"\nhand_back = 60\n')
    cfg = build({}, rig)
    assert cfg.score == str(tmp_path / "piece.toml") and cfg.scenes == tmp_path / "scenes.toml"
    with pytest.raises(ConfigError, match="hand-back"):
        build({"hand_back": "-1"})


def test_an_aligned_scores_clock_grid_falls_on_the_wall_clocks_multiples() -> None:
    import time

    from charmix.daemon.live.clock import Clock as CharClock

    clock = CharClock(controls(), lambda dt: None, lambda: None, LOG)
    t0 = time.perf_counter()
    assert clock._phase(t0, 20.0) == 0.0  # no aligned score: the grid starts now
    clock.align_epoch = 1000.0
    shift = clock._phase(t0, 20.0)
    wall = time.time() + (t0 + shift - time.perf_counter())  # the first deadline, wall time
    off = (wall - 1000.0) % 0.05
    assert 0 <= shift < 0.05 and min(off, 0.05 - off) < 0.005
