"""Constraints live (issue 21): OSC add/remove/charset/fold per voice, refusals counted, --state,
recordings, the status counters, the fold on output, and a daemon that never writes a word
added while it plays (real UDP on loopback, the shipped models)."""

from __future__ import annotations

import functools
import io
import json
import logging
import re
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import helpers
import numpy as np
import pytest
from conftest import free_udp_port
from helpers import osc

from charmix.daemon import protocol
from charmix.daemon.engine.constraints import Constraints, parse_term
from charmix.daemon.engine.mixer import Frame, Settings
from charmix.daemon.live.controls import ControlError, Controls
from charmix.daemon.live.performer import folded
from charmix.daemon.recording.writer import settings_dict, settings_from
from charmix.daemon.runtime import state
from charmix.daemon.runtime.daemon import Daemon

ROOT = Path(__file__).resolve().parent.parent
P = protocol.PREFIX
LOG = logging.getLogger("test.constraints")
NAMES = ["bible", "shakespeare"]
VOCAB = sorted("\n !,.ABSabs1")
wait_for = functools.partial(helpers.wait_for, poll=0.01, timeout=30.0)


def controls(**kw) -> Controls:
    return Controls(NAMES, vocab=VOCAB, **kw)


def test_setters_build_check_and_refuse_with_one_line():
    c = controls()
    assert c.snapshot().constraints is None
    c.blocklist_add("Ass")
    c.blocklist_add("*abba")
    c.set_charset("a-z \\n")
    c.set_fold("upper")
    got = c.snapshot().constraints
    assert got is not None and got.terms == (parse_term("*abba"), parse_term("ass"))
    assert got.charset_spec == "a-z \\n" and got.fold == "upper"
    assert c.snapshot().constraints is got  # unchanged: the same object (no rebuild per step)
    for bad, call in (("z-a", c.set_charset), ("QZ", c.set_charset), ("...", c.blocklist_add),
                      ("never added", c.blocklist_remove), ("sideways", c.set_fold)):
        with pytest.raises(ControlError) as info:
            call(bad)
        assert "\n" not in str(info.value)
    assert c.snapshot().constraints is got  # a refusal changes nothing
    c.blocklist_remove("ASS")
    c.blocklist_remove("*abba")
    c.set_charset("")
    c.set_fold("none")
    assert c.snapshot().constraints is None  # nothing left: the sampler is untouched again


def test_a_term_that_would_block_every_word_is_refused_live():
    c = controls()
    for t in ("*a", "*b", "*s", "*1"):
        c.blocklist_add(t)
    with pytest.raises(ControlError, match="blocks every"):
        c.blocklist_add("ab")


def test_recordings_keep_the_constraints_as_json():
    cons = Constraints.build([parse_term("ass")], "a-z ", "lower")
    s = Settings(weights=np.array([0.5, 0.5]), constraints=cons)
    values = json.loads(json.dumps(settings_dict(s)))
    assert values["constraints"] == cons.spec()
    back = settings_from(values)
    assert back.constraints == cons
    assert settings_from(values).constraints is back.constraints  # built once per replay
    plain = json.loads(json.dumps(settings_dict(Settings(weights=np.array([1.0, 0.0])))))
    assert settings_from(plain).constraints is None


def test_fold_changes_what_is_sent_never_what_was_written():
    frame = Frame(0, "a", 3, np.zeros(3), np.zeros((2, 3)), np.zeros(2), np.zeros(2),
                  np.zeros(2), "Ha a", 0)
    up = Settings(weights=np.ones(2), constraints=Constraints.build(fold="upper"))
    plain = Settings(weights=np.ones(2))
    frames = [frame, frame]
    shown = folded(frames, [up, plain])
    assert (shown[0].char, shown[0].line, shown[0].index) == ("A", "HA A", 3)
    assert shown[1] is frame and frames == [frame, frame]
    assert folded(frames, [plain, plain]) is frames


# ---------------------------------------------------------------------- a running daemon
@pytest.fixture
def make() -> Iterator[Callable[..., Daemon]]:
    with helpers.daemons(LOG, models_dir=ROOT / "models", models=NAMES, listen="127.0.0.1:0",
                         send=[f"127.0.0.1:{free_udp_port()}"],
                         oscquery=False, mdns=False, status_every=0.0, seed=5, rate=0.0,
                         voices=2) as make_daemon:
        yield make_daemon


def send(d: Daemon, *datagrams: bytes) -> None:
    assert d.server is not None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for data in datagrams:
            s.sendto(data, d.server.address)


def words(text: str) -> str:
    return re.sub(" +", " ", " " + "".join(c.lower() if c.isalnum() else " " for c in text))


def test_a_word_added_over_osc_is_never_written_by_that_voice(make, tmp_path: Path):
    path = tmp_path / "state.json"
    d = make(state=path, run_clock=False)
    texts: list[list[str]] = [[], []]
    d.performer.on_frame = lambda frames: [texts[f.voice].append(f.char) for f in frames]
    ok = d.controls.counters.rx_ok
    send(d, osc(f"{P}/blocklist/add", "the"), osc(f"{P}/blocklist/add", "and"),
         osc(f"{P}/voice/1/charset", "a-z \\n"), osc(f"{P}/voice/1/fold", "upper"),
         osc(f"{P}/charset", "z-a"), osc(f"{P}/blocklist/remove", "never"))
    wait_for(lambda: d.controls.counters.rx_ok + d.controls.counters.rx_bad >= ok + 6,
             what="six control messages")
    assert d.controls.counters.rx_ok == ok + 4 and d.controls.counters.rx_bad == 2
    for _ in range(3000):
        d.performer.step(0.01)
    zero = "".join(texts[0])
    one = "".join(texts[1])
    assert " the " not in words(zero) and " and " not in words(zero)
    assert " the " in words(one)  # voice 1 has no blocklist: the word is common
    assert set(one) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ \n")  # its charset, folded on output
    values = dict(zip(protocol.STATUS_FIELDS, d.status_values(), strict=True))
    assert values["masked_mass"] > 0 and values["words_blocked"] > 0
    assert values["mask_fallbacks"] >= 0
    d.stop()
    saved = json.loads(path.read_text())
    assert saved["constraints"]["blocklist"] == ["and", "the"]
    assert saved["voices"]["1"]["constraints"] == {"blocklist": [], "charset": "a-z \\n",
                                                   "fold": "upper"}
    again = make(state=path, run_clock=False)
    assert again.controls.snapshot().constraints.spec() == saved["constraints"]
    assert again.voice_controls[1].snapshot().constraints.fold == "upper"


def test_a_state_file_with_unusable_constraints_is_skipped(make, tmp_path: Path):
    path = tmp_path / "state.json"
    d = make(state=path, run_clock=False)
    d.stop()
    saved = json.loads(path.read_text())
    saved["constraints"] = {"blocklist": ["x" * 5000], "charset": "", "fold": ""}
    saved["voices"]["1"]["constraints"] = "junk"
    path.write_text(json.dumps(saved))
    again = make(state=path, run_clock=False)
    assert again.controls.snapshot().constraints is None
    assert isinstance(state.capture(again.voice_controls, None)["voices"]["1"], dict)


def test_a_constrained_performance_replays_character_for_character(tmp_path: Path):
    from charmix.daemon.engine.mixer import Engine
    from charmix.daemon.engine.model import load_model
    from charmix.daemon.recording.reader import read
    from charmix.daemon.recording.writer import Recorder
    from charmix.daemon.tools.replay import steps

    models = [load_model(ROOT / "models" / f"{n}.onnx") for n in NAMES]
    engine = Engine(models, seed=9, voices=2)
    blocked = Constraints.build([parse_term("the"), parse_term("and")])
    settings = [Settings(weights=np.ones(2), temperature=1.0, constraints=blocked),
                Settings(weights=np.ones(2), temperature=1.0)]
    take = tmp_path / "take.jsonl"
    recorder = Recorder(take, LOG)
    recorder.begin(engine, settings, 20.0)
    texts = ["", ""]
    for k in range(400):
        if k == 100:  # a charset arrives on voice 1
            settings = [settings[0], Settings(weights=np.ones(2), temperature=1.0,
                                              constraints=Constraints.build(charset="a-z \\n"))]
        if k == 200:  # voice 0's weights move: the same constraints, not written again
            settings = [Settings(weights=np.array([1.0, 0.2]), temperature=1.0,
                                 constraints=blocked), settings[1]]
        frames = engine.step_voices(settings, 0.05)
        recorder.step(engine.step_count - 1, 0.05, settings, frames)
        for f in frames:
            texts[f.voice] += f.char
        engine.advance()
    recorder.close()
    lines = [json.loads(line) for line in take.read_text().splitlines()]
    sets = [e for e in lines if e.get("k") == "set"]
    assert [("constraints" in e["settings"]) for e in sets] == [True, False]
    perf = read(take)
    again = ["", ""]
    for _, frames in steps(perf, [load_model(ROOT / "models" / f"{n}.onnx") for n in NAMES],
                           True):
        for f in frames:
            again[f.voice] += f.char
    assert again == texts
    assert " the " not in words(texts[0])
    assert set(texts[1][100:]) <= set("abcdefghijklmnopqrstuvwxyz \n")


def test_the_monitor_shows_the_constraint_counters():
    from rich.console import Console

    from charmix.daemon.client.frames import MonitorState
    from charmix.daemon.monitor.view import render

    state = MonitorState()
    state.status = dict.fromkeys(protocol.STATUS_FIELDS, 0.0)
    state.status.update(masked_mass=12.34, words_blocked=7.0, mask_fallbacks=2.0)
    console = Console(file=io.StringIO(), record=True, width=120, height=30)
    console.print(render(state, "test", 120, 30))
    shown = console.export_text()
    assert "masked_mass 12.3" in shown and "words_blocked 7" in shown
    assert "mask_fallbacks 2" in shown


def test_charmix_sample_takes_the_same_constraints():
    from typer.testing import CliRunner

    from charmix.daemon.cli import app

    run = CliRunner().invoke(app, ["sample", "-m", str(ROOT / "models" / "bible.onnx"),
                                   "-n", "400", "--seed", "4", "--blocklist", "default",
                                   "--charset", "a-z .,\\n", "--fold", "upper"])
    assert run.exit_code == 0, run.stderr
    text = run.stdout
    assert set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ .,\n") and len(text) > 300
    bad = CliRunner().invoke(app, ["sample", "-m", str(ROOT / "models" / "bible.onnx"),
                                   "--charset", "z-a"])
    assert bad.exit_code == 1 and "runs backwards" in bad.stderr
