"""`charmix leap`: the fake `leap` module (shaped like Ultraleap's bindings), record and replay."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from fakes.osc_receiver import OscReceiver

from charmix.controllers import leap as bridge
from charmix.controllers.leap import GRAB_ON, HandFrame, LeapMapper, replay
from charmix.controllers.mapping import PadMapping
from charmix.controllers.sender import Sender

FAKES = Path(__file__).resolve().parent / "fakes"
MODELS = ["shakespeare", "linux", "bible"]
PAD = PadMapping.for_models(MODELS)
BOX = 150.0


def palm_over(name: str) -> tuple[float, float]:
    """Palm x, z (mm) that put the hand on a model's anchor: pad y is -z."""
    a = PAD.anchors[MODELS.index(name)]
    return a.x * BOX, -a.y * BOX


def palm_x_y_z(name: str) -> tuple[float, float, float]:
    x, z = palm_over(name)
    return x, 180.0, z


def dominant(model: str):
    i = MODELS.index(model)
    return lambda p: len(p) == len(MODELS) and p[i] > 0.99


@pytest.fixture
def rx_pair():
    with OscReceiver() as a, OscReceiver() as b:
        yield a, b


@pytest.fixture
def rx():
    with OscReceiver() as r:
        yield r


def leap_cli(rx: OscReceiver, *args: str, pythonpath: str | None = None, **env: str):
    full_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath:
        full_env["PYTHONPATH"] = pythonpath
    full_env.update(env)
    return subprocess.Popen(
        [sys.executable, "-m", "charmix.daemon.cli", "leap", "--to", rx.target,
         "--models", ",".join(MODELS), "--query-timeout", "0.05", *args],
        env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def wait_until(condition, timeout: float = 10.0) -> None:
    """Poll a condition that has no event to wait on (a file another process writes)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def script_line(dt: float, *hands: dict) -> str:
    return json.dumps({"dt": dt, "hands": list(hands)}) + "\n"


def hand_at(name: str | None, side: str = "right", pinch: float = 0.0, grab: float = 0.0) -> dict:
    x, z = palm_over(name) if name else (0.0, 0.0)
    return {"type": side, "x": x, "y": 200.0, "z": z, "pinch": pinch, "grab": grab}


def test_live_hand_then_replay_of_its_recording(rx_pair, tmp_path: Path) -> None:
    """Fake device → bridge → UDP; then the --record file replayed gives the same mix."""
    rx, rx2 = rx_pair
    script = tmp_path / "script.jsonl"
    frames = [script_line(0.0)]  # no hand: nothing sent
    frames += [script_line(0.01, hand_at("linux")) for _ in range(8)]
    frames += [script_line(0.01, hand_at("bible", pinch=0.5)) for _ in range(8)]
    # a fist over shakespeare with a full pinch: frozen, so neither may arrive
    frames += [script_line(0.01, hand_at("shakespeare", pinch=1.0, grab=0.95)) for _ in range(8)]
    # only a left hand, open, over shakespeare: --hand right ignores it (no hand: hold)
    frames += [script_line(0.01, hand_at("shakespeare", side="left")) for _ in range(8)]
    # the right hand opens over the centre: thawed, even mix
    frames += [script_line(0.01, hand_at(None, grab=0.3)) for _ in range(8)]
    script.write_text("".join(frames), encoding="utf-8")
    record = tmp_path / "take.jsonl"

    proc = leap_cli(rx, "--hand", "right", "--record", str(record), pythonpath=str(FAKES),
                    FAKE_LEAP_SCRIPT=str(script))
    try:
        rx.wait_for("weights", dominant("linux"))
        rx.wait_for("weights", dominant("bible"))
        rx.wait_for("temperature", lambda p: p[0] == pytest.approx(0.5))  # 1.0 · 0.25^0.5
        rx.wait_for("weights", lambda p: p == pytest.approx((1 / 3,) * 3, abs=2e-3))
        wait_until(lambda: len(record.read_text(encoding="utf-8").splitlines()) >= 8 * 4)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert not [m for m in rx.of("weights") if dominant("shakespeare")(m.params)]
    assert not [m for m in rx.of("temperature") if m.params[0] < 0.3]  # the fist's pinch
    assert rx.of("weights")[-1].params == pytest.approx((1 / 3,) * 3, abs=2e-3)
    lines = record.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 8 * 4  # every right-hand frame, the frozen ones included
    first = HandFrame.from_json(lines[0])
    assert (first.x, first.z) == pytest.approx(palm_over("linux"), abs=1e-3)

    # the recording, replayed four times faster without any `leap` module
    proc = leap_cli(rx2, "--replay", str(record), "--speed", "4")
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    dominants = [next((n for n in MODELS if dominant(n)(m.params)), "mix")
                 for m in rx2.wait_count("weights", 3)]
    assert dominants[0] == "linux" and "bible" in dominants and "shakespeare" not in dominants
    assert rx2.of("weights")[-1].params == pytest.approx((1 / 3,) * 3, abs=2e-3)


def test_missing_bindings_is_one_clear_line(rx) -> None:
    proc = leap_cli(rx)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1  # a runtime failure (missing bindings), not a usage error
    lines = err.strip().splitlines()
    assert len(lines) == 1
    for words in ("leapc-python-bindings", "Gemini", "leapc-cffi", "unrelated", "--replay"):
        assert words in lines[0]


def test_the_unrelated_pypi_leap_package_is_recognised(rx, tmp_path: Path) -> None:
    (tmp_path / "leap").mkdir()
    (tmp_path / "leap" / "__init__.py").write_text("def run():\n    pass\n", encoding="utf-8")
    proc = leap_cli(rx, pythonpath=str(tmp_path))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "leapc-python-bindings" in err and len(err.strip().splitlines()) == 1


def test_service_not_running_yet_is_retried(rx, monkeypatch, request) -> None:
    """The first open() times out (no tracking service); the bridge retries and then plays."""
    request.addfinalizer(lambda: sys.modules.pop("leap", None))
    monkeypatch.syspath_prepend(str(FAKES))
    monkeypatch.delitem(sys.modules, "leap", raising=False)
    monkeypatch.setenv("FAKE_LEAP_FAIL_OPENS", "1")
    script = Path(request.getfixturevalue("tmp_path")) / "s.jsonl"
    script.write_text(script_line(0.0, hand_at("bible")), encoding="utf-8")
    monkeypatch.setenv("FAKE_LEAP_SCRIPT", str(script))
    monkeypatch.setattr(bridge, "RETRY", 0.05)
    said: list[str] = []
    monkeypatch.setattr(bridge, "_say", said.append)
    stop = threading.Event()
    with Sender([("127.0.0.1", rx.port)]) as sender:
        worker = threading.Thread(target=bridge.run_live,
                                  args=(LeapMapper(PAD), sender), kwargs={"stop": stop})
        worker.start()
        try:
            rx.wait_for("weights", dominant("bible"))
        finally:
            stop.set()
            worker.join(5)
    assert any("cannot reach the Ultraleap tracking service" in line for line in said)
    assert any("connected" in line for line in said)


def test_replay_honours_timing_and_speed(rx, tmp_path: Path) -> None:
    path = tmp_path / "take.jsonl"
    names = ["linux", "bible", "shakespeare"]
    path.write_text("".join(
        HandFrame(10.0 + 0.3 * i, *palm_x_y_z(n), 0.0, 0.0).to_json() + "\n"
        for i, n in enumerate(names)), encoding="utf-8")
    with Sender([("127.0.0.1", rx.port)]) as sender:
        start = time.monotonic()
        assert replay(path, LeapMapper(PAD, pinch=False), sender, speed=2.0,
                      stop=threading.Event()) == 0
        elapsed = time.monotonic() - start
    got = rx.wait_count("weights", 3)
    assert [next(n for n in MODELS if dominant(n)(m.params)) for m in got] == names
    assert 0.28 <= elapsed < 1.0  # 0.6 s of recording at double speed; the 10 s offset skipped
    # sent on an absolute schedule (0, 0.15, 0.3 s): load delays a send, never hastens one
    assert 0.25 <= got[2].t - got[0].t < 0.6  # at speed 1 it would be 0.6 s
    assert rx.of("temperature") == []  # --no-pinch


def test_replay_skips_bad_lines_and_says_so(rx, tmp_path: Path, monkeypatch) -> None:
    said: list[str] = []
    monkeypatch.setattr(bridge, "_say", said.append)
    path = tmp_path / "take.jsonl"
    good = HandFrame(0.0, *palm_x_y_z("bible"), 0.0, 0.0).to_json()
    path.write_text("\n".join([
        "not json", '{"t": 0}', '{"t": NaN, "x": 0, "y": 0, "z": 0, "pinch": 0, "grab": 0}',
        '[1, 2]', '{"t": 0, "x": "1", "y": 0, "z": 0, "pinch": 0, "grab": 0}', "", good,
    ]), encoding="utf-8")
    with Sender([("127.0.0.1", rx.port)]) as sender:
        assert replay(path, LeapMapper(PAD), sender, stop=threading.Event()) == 0
    rx.wait_for("weights", dominant("bible"))
    assert sum(":1: skipping a bad line: not JSON" in s for s in said) == 1
    assert any("skipped 5 bad line(s)" in s for s in said)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("garbage\n", encoding="utf-8")
    with Sender([("127.0.0.1", rx.port)]) as sender:
        assert replay(empty, LeapMapper(PAD), sender, stop=threading.Event()) == 1
        assert replay(tmp_path / "missing.jsonl", LeapMapper(PAD), sender,
                      stop=threading.Event()) == 2


def test_mapper_fist_freezes_and_no_hand_holds() -> None:
    m = LeapMapper(PAD)
    x, z = palm_over("linux")
    assert m.handle(None) == []
    open_hand = m.handle(HandFrame(0, x, 200, z, 0.0, 0.0))
    assert open_hand[0].args[1] == 1.0 and open_hand[1].args == (1.0,)  # T = t_open
    assert m.handle(HandFrame(0, 0, 200, 0, 1.0, GRAB_ON + 0.01)) == []  # fist: frozen
    assert m.handle(HandFrame(0, 0, 200, 0, 1.0, 0.7)) == []  # loosening a little: still
    thawed = m.handle(HandFrame(0, 0, 200, 0, 1.0, 0.5))
    assert thawed[0].args == pytest.approx((1 / 3,) * 3, abs=1e-3)
    assert thawed[1].args == (0.25,)  # full pinch = t_pinch
    assert m.handle(HandFrame(0, math.nan, 200, 0, 0, 0)) == [] and m.bad == 1


def test_outside_the_box_clamps_to_the_pad_edge() -> None:
    m = LeapMapper(PAD, box=100.0)
    assert m.position(HandFrame(0, 500.0, 0, -500.0, 0, 0)) == (1.0, 1.0)
    assert m.position(HandFrame(0, -50.0, 0, 25.0, 0, 0)) == (-0.5, -0.25)


def test_record_refuses_to_overwrite_a_take(rx, tmp_path: Path) -> None:
    take = tmp_path / "take.jsonl"
    take.write_text("precious\n", encoding="utf-8")
    proc = leap_cli(rx, "--record", str(take), pythonpath=str(FAKES))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "never overwrites" in err
    assert take.read_text(encoding="utf-8") == "precious\n"


@pytest.mark.parametrize("where", ["missing-folder/take.jsonl", "a-file/take.jsonl"])
def test_record_where_it_cannot_be_written_is_one_line(rx, tmp_path: Path, where: str) -> None:
    (tmp_path / "a-file").write_text("not a folder\n", encoding="utf-8")
    proc = leap_cli(rx, "--record", str(tmp_path / where), pythonpath=str(FAKES))
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2, err
    assert len(err.strip().splitlines()) == 1 and "cannot write --record" in err
    assert "Traceback" not in err


def test_run_live_says_one_line_when_the_record_cannot_be_opened(
    rx, tmp_path: Path, monkeypatch, capsys
) -> None:
    """The guard in the bridge itself (the folder may vanish after the command's check)."""
    monkeypatch.syspath_prepend(str(FAKES))
    monkeypatch.delitem(sys.modules, "leap", raising=False)
    with Sender([("127.0.0.1", rx.port)]) as sender:
        code = bridge.run_live(
            LeapMapper(PAD), sender, record=tmp_path / "gone" / "take.jsonl", stop=threading.Event()
        )
    assert code == 2
    assert "cannot write --record" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_an_unusable_replay_file_is_refused_before_asking_the_daemon(
    tmp_path: Path, kind: str
) -> None:
    take = tmp_path / "take.jsonl"
    if kind == "folder":
        take.mkdir()
    with OscReceiver(answer_models=MODELS) as daemon:
        proc = leap_cli(daemon, "--replay", str(take))
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 2, err
        assert len(err.strip().splitlines()) == 1 and str(take) in err
        assert daemon.messages == []  # no /charmix/query went out


def test_a_record_file_failing_while_read_is_one_line(
    rx, tmp_path: Path, monkeypatch, capsys
) -> None:
    take = tmp_path / "take.jsonl"
    take.write_text(HandFrame(0, 0, 0, 0, 0, 0).to_json() + "\n", encoding="utf-8")

    def failing(path: Path, say) -> None:
        raise PermissionError(13, "Permission denied")
        yield  # a generator, like read_frames

    monkeypatch.setattr(bridge, "read_frames", failing)
    with Sender([("127.0.0.1", rx.port)]) as sender:
        assert replay(take, LeapMapper(PAD), sender, stop=threading.Event()) == 2
    assert "cannot read" in capsys.readouterr().err
