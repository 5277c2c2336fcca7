"""A score played by a running daemon, read over real UDP by liblo's oscdump (a receiver not
written here): the morphs trace the straight line, a performer punches in on the next step and
the score takes the voice back after the silence, a kill -9 under --state resumes the cue, and a
recording made with a score running replays to the same text.

The straight line is checked against the frames' own step numbers, never wall time: a loaded
machine may skip deadlines (overruns), but the weights of step n are a function of n.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import helpers
import numpy as np
import pytest
from helpers import osc, wait_for
from test_daemon_e2e import Daemon, OscDump
from test_record import charmix

from charmix.daemon import protocol

P = protocol.PREFIX
LOG = logging.getLogger("test_score_daemon")
RATE = 40.0  # chars/s: morphs of 1 s are 40 steps
MORPH_STEPS = 40

SCORE = """
loop = true
[scenes.a]
weights = { shakespeare = 1.0, linux = 1.0 }
slew = 0
[scenes.b]
weights = { bible = 1.0 }
temperature = 1.2
[scenes.c]
weights = { linux = 0.75, bible = 0.25 }
mode = "geometric"

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
TARGETS = {"a": [0.5, 0.5, 0.0], "b": [0.0, 0.0, 1.0], "c": [0.0, 0.75, 0.25]}  # model order


def order(names: list[str], by_name: list[float]) -> np.ndarray:
    """TARGETS are in shakespeare, linux, bible order; the daemon's may differ."""
    ref = ["shakespeare", "linux", "bible"]
    return np.array([by_name[ref.index(n)] for n in names])


def write_score(tmp_path: Path, text: str = SCORE) -> Path:
    path = tmp_path / "score.toml"
    path.write_text(text)
    return path


@pytest.fixture
def dump() -> Iterator[OscDump]:
    d = OscDump()
    yield d
    d.close()


@pytest.fixture
def start(tiny_model_dir: Path) -> Iterator[Callable[..., Daemon]]:
    """`charmix daemon` processes on the tiny models (test_daemon_e2e's), killed at the end."""
    made: list[Daemon] = []

    def run(*args: str, dump: OscDump | None = None) -> Daemon:
        d = Daemon(["--models-dir", str(tiny_model_dir), *args], dump)
        made.append(d)
        if dump is not None:
            wait_for(lambda: dump.find(f"{P}/models", d.started), 30, "the daemon to start")
        return d

    yield run
    for d in made:
        d.stop(signal.SIGKILL)


def send(address: tuple[str, int], data: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(data, address)


def test_the_weights_frames_trace_the_straight_line_by_step(start, dump: OscDump,
                                                            tmp_path) -> None:
    d = start("--score", str(write_score(tmp_path)), "--rate", f"{RATE:g}", "--slew", "0",
              "--seed", "3", dump=dump)
    names = dump.find(f"{P}/models")[0].args
    want = {k: order(names, v) for k, v in TARGETS.items()}
    wait_for(lambda: len(dump.frames()) > 3 * (MORPH_STEPS + 20) + 40, 60, "a whole cycle")
    d.stop()
    frames = [(f["step"][0], np.array(f["weights"])) for f in dump.frames()
              if "step" in f and "weights" in f]
    steps = [s for s, _ in frames]
    assert steps == sorted(steps)
    checked = 0
    for a, b in (("a", "b"), ("b", "c"), ("c", "a")):
        wa, wb = want[a], want[b]
        direction = wb - wa
        on_line = []
        for step, w in frames:  # frames strictly between the two scenes, on their line
            p = float((w - wa) @ direction / (direction @ direction))
            if 1e-6 < p < 1 - 1e-6 and np.abs(wa + p * direction - w).max() < 1e-3:
                on_line.append((step, p))
        if (a, b) == ("c", "a"):  # c → a has no morph (a cue of hold only): a jump
            assert not on_line
            continue
        runs: list[list[tuple[int, float]]] = []  # one run per cycle: consecutive steps
        for step, p in on_line:
            if runs and step - runs[-1][-1][0] <= 2:
                runs[-1].append((step, p))
            else:
                runs.append([(step, p)])
        assert runs and len(runs[0]) >= MORPH_STEPS // 2, (a, b, runs)
        for run in runs:
            first_step, first_p = run[0]
            start_step = first_step - first_p * MORPH_STEPS  # from the frame's own step number
            assert abs(start_step - round(start_step)) < 1e-3
            for step, p in run:  # every step of the morph on the line, at its scheduled place
                assert abs(p - (step - start_step) / MORPH_STEPS) < 1e-3, (a, b, step)
                checked += 1
            arrive = round(start_step) + MORPH_STEPS  # reaches the scene when scheduled
            at = [w for s, w in frames if s == arrive]
            if at:
                assert np.abs(at[0] - wb).max() < 1e-3
    assert checked >= MORPH_STEPS
    progress = dump.find(f"{P}/scene/progress")
    titles = {m.args[0] for m in dump.find(f"{P}/scene/current")}
    assert titles >= {"a", "b", "c"} and all(0 <= m.args[0] <= 1 for m in progress)


def test_punch_in_next_step_and_hand_back_after_the_silence(tiny_model_dir, tmp_path) -> None:
    frames: list[tuple[int, np.ndarray]] = []
    with helpers.daemons(LOG, models_dir=tiny_model_dir, listen="127.0.0.1:0",
                         send=["127.0.0.1:9"], oscquery="off", rate=100.0, slew=0.0) as make:
        d = make(score=str(write_score(tmp_path)), hand_back=0.5)
        d.performer.on_frame = lambda fs: frames.append((fs[0].step, fs[0].weights.copy()))
        assert d.server is not None
        wait_for(lambda: d.conductor.players[0].cue == 1, 20, "cue b")
        ok = d.controls.counters.rx_ok
        send(d.server.address, osc(f"{P}/weights", ("f", 0.0), ("f", 0.0), ("f", 0.0)))
        wait_for(lambda: d.controls.counters.rx_ok > ok, 10, "the control")
        at = d.engine.step_count  # the control is in: the next step plays it
        wait_for(lambda: frames and frames[-1][0] > at + 2, 10, "two more steps")
        uniform = np.full(3, 1 / 3)
        assert all(np.allclose(w, uniform) for s, w in frames if s > at)
        assert d.controls.counters.overrides == 1 and d.conductor.players[0].punched
        wait_for(lambda: not d.conductor.players[0].punched, 20, "the hand-back")
        n = len(frames)
        wait_for(lambda: len(frames) > n + 20, 10, "steps after the hand-back")
        assert not np.allclose(frames[-1][1], uniform)  # moving back into the score


def test_kill_9_under_state_resumes_the_cue(start, dump: OscDump, tmp_path) -> None:
    score = write_score(tmp_path, SCORE.replace("hold = 0.5\n[[cue]]\nscene = \"c\"",
                                                "hold = 30\n[[cue]]\nscene = \"c\""))
    state = tmp_path / "state.json"
    args = ("--score", str(score), "--state", str(state), "--rate", "50")
    d = start(*args, dump=dump)

    def saved_cue() -> int | None:
        try:
            return json.loads(state.read_text())["score"]["0"]["cue"]
        except (OSError, ValueError, KeyError):
            return None

    wait_for(lambda: saved_cue() == 1, 30, "the state to say cue 1")
    d.stop(signal.SIGKILL)
    again = start(*args, dump=dump).started
    wait_for(lambda: dump.find(f"{P}/scene/current", again), 20, "the restarted daemon's cue")
    assert dump.find(f"{P}/scene/current", again)[0].args == ["b"]  # cue 1, not a from cue 0


def test_a_recording_with_a_score_replays_identically(tiny_model_dir, tmp_path) -> None:
    take = tmp_path / "take.jsonl"
    score = SCORE.replace("[[cue]]\nscene = \"c\"",
                          "[[cue]]\ndrift = [\"shakespeare\", \"bible\"]\nspeed = 0.5\n"
                          "duration = 1\n\n[[cue]]\nscene = \"c\"")
    out: list[str] = []
    with helpers.daemons(LOG, models_dir=tiny_model_dir, listen="127.0.0.1:0",
                         send=["127.0.0.1:9"], oscquery="off", rate=300.0) as make:
        d = make(score=str(write_score(tmp_path, score)), record=str(take), seed=5,
                 echo=out.append)
        wait_for(lambda: len(out) >= 1500, 60, "a cycle and more")
        d.stop()
    text = "".join(out)
    assert charmix("replay", str(take)).stdout == text + "\n"


@pytest.mark.parametrize("bad", ["not toml [", "[[cue]]\nscene = 'x'\nmorph = nan\n"])
def test_a_bad_score_stops_the_start_with_one_line(start, tmp_path, bad: str) -> None:
    d = start("--score", str(write_score(tmp_path, bad)))
    d.proc.wait(timeout=60)  # it ends by itself
    code, err = d.stop()
    assert code == 1 and err.strip().count("\n") == 0 and "--score" in err


def test_a_bad_scenes_file_starts_with_no_scenes(start, dump: OscDump, tmp_path) -> None:
    scenes = tmp_path / "scenes.toml"
    scenes.write_text("[morning\n")
    d = start("--scenes", str(scenes), dump=dump)
    d.send(f"{P}/scene/save", "s", "noon")
    wait_for(lambda: any(m.args == ["noon"] for m in dump.find(f"{P}/scenes")), 20,
             "/charmix/scenes with noon")
    wait_for(lambda: "[noon]" in scenes.read_text(), 10, "the save")
    _, err = d.stop()
    assert "line 1" in err and "starting with no scenes" in err
