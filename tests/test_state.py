"""--state FILE: the room's settings survive a restart, a kill -9 loses at most the last second,
and a file that is not a charmix state (corrupt, truncated, foreign) is one warning and the
defaults. Real daemons: in-process for the details, a subprocess for the SIGKILL."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import helpers
import numpy as np
import pytest
from conftest import free_udp_port
from helpers import osc

from charmix.daemon import protocol
from charmix.daemon.runtime import state
from charmix.daemon.runtime.daemon import Daemon

P = protocol.PREFIX
CLI = [sys.executable, "-m", "charmix.daemon.cli"]
LOG = logging.getLogger("test.state")
wait_for = functools.partial(helpers.wait_for, poll=0.01)


@pytest.fixture
def make(tiny_model_dir: Path) -> Iterator[Callable[..., Daemon]]:
    """make(state_file, **cli): a daemon keeping its state in state_file."""
    with helpers.daemons(LOG, models_dir=tiny_model_dir, listen="127.0.0.1:0",
                         send=[f"127.0.0.1:{free_udp_port()}"]) as make_daemon:
        yield lambda path, **cli: make_daemon(state=path, **cli)


def send(d: Daemon, *datagrams: bytes) -> None:
    assert d.server is not None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for data in datagrams:
            s.sendto(data, d.server.address)


def gestures(names: list[str]) -> list[bytes]:
    return [
        osc(f"{P}/weights", 0.7, 0.2, 0.1), osc(f"{P}/temperature", 1.3),
        osc(f"{P}/model/{names[1]}/temperature", 0.6), osc(f"{P}/mode", "geometric"),
        osc(f"{P}/rate", 33.0), osc(f"{P}/slew", 0.4), osc(f"{P}/topk", 7),
        osc(f"{P}/topp", 0.9), osc(f"{P}/pause"), osc(f"{P}/subscribe", 9123),
    ]


def saved_after_gestures(make, path: Path) -> tuple[Daemon, list[str]]:
    """A daemon with state file `path` that took the gestures and stopped (so it saved)."""
    d = make(path)
    names = d.engine.names
    send(d, *gestures(names))
    wait_for(lambda: d.controls.counters.rx_ok == 10)
    d.stop()
    return d, names


def check_restored(d: Daemon) -> None:
    c, s = d.controls, d.controls.snapshot()
    assert np.allclose(c.target_weights(), [0.7, 0.2, 0.1])
    assert (s.mode, c.rate, s.topk, c.paused) == ("geometric", 33.0, 7, True)
    assert (s.temperature, s.slew, s.topp) == pytest.approx((1.3, 0.4, 0.9))  # float32 OSC
    assert s.model_temperature[1] == pytest.approx(0.6) and s.model_temperature[0] == 0
    assert [t.sockaddr for t in d.broadcaster.targets if t.expires is not None] == \
        [("127.0.0.1", 9123)]
    assert np.allclose(d.engine.weights, [0.7, 0.2, 0.1])  # no glide from the defaults


def test_settings_survive_a_restart(make, tmp_path: Path, caplog) -> None:
    path = tmp_path / "state.json"
    d, names = saved_after_gestures(make, path)
    saved = json.loads(path.read_text())
    assert saved["kind"] == state.KIND and saved["weights"][names[0]] == pytest.approx(0.7)
    assert not list(tmp_path.glob(".*tmp"))  # the temporary file was renamed, not left
    with caplog.at_level(logging.INFO, "test.state"):
        check_restored(make(path))
    assert any("state: restored" in r.getMessage() for r in caplog.records)


def test_saves_at_most_once_a_second_while_things_change(make, tmp_path: Path) -> None:
    d = make(tmp_path / "state.json")
    keeper = d.keeper
    assert keeper is not None
    for k in range(60):  # 3 s of a fader moving at 20 messages/s
        send(d, osc(f"{P}/temperature", 0.5 + k / 100))
        time.sleep(0.05)
    assert 1 <= keeper.saves <= 5
    path = tmp_path / "state.json"  # the last change gets its save...
    wait_for(lambda: path.exists() and
             json.loads(path.read_text())["temperature"] == pytest.approx(1.09), 10)
    saves = keeper.saves
    time.sleep(1.5)  # ...and then nothing changes, so nothing is written
    assert keeper.saves == saves


def test_kill_9_loses_at_most_the_last_second(tiny_model_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    control = free_udp_port()
    cmd = [*CLI, "daemon", "--models-dir", str(tiny_model_dir), "--listen",
           f"127.0.0.1:{control}", "--send", f"127.0.0.1:{free_udp_port()}", "--no-echo",
           "--status-every", "0", "--state", str(path)]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # until the daemon listens
                s.sendto(osc(f"{P}/topk", 3), ("127.0.0.1", control))
                time.sleep(0.2)
                if path.exists() and json.loads(path.read_text()).get("topk") == 3:
                    break
            for data in gestures(["a", json.loads(path.read_text())["models"][1]]):
                s.sendto(data, ("127.0.0.1", control))
        def on_disk() -> bool:  # (the keeper writes once SAVE_EVERY has passed: about 1 s)
            with contextlib.suppress(OSError, ValueError):
                saved = json.loads(path.read_text())
                return (saved["mode"], saved["rate"], saved["paused"]) == ("geometric", 33.0, True)
            return False

        wait_for(on_disk, 30)  # all of it on disk, without a clean exit, while it runs
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    saved = json.loads(path.read_text())
    assert (saved["mode"], saved["rate"], saved["paused"]) == ("geometric", 33.0, True)
    assert saved["temperature"] == pytest.approx(1.3)


@pytest.mark.parametrize("content", [
    b"", b'{"kind": "charmix-state", "version": 1, "weights": {"a"',  # truncated
    b"\x00\xff garbage", b'{"name": "some other program"}', b"[1, 2, 3]",
    b'{"kind": "charmix-state", "version": 99}', b'{"kind": "charmix-state"' + b" " * 2_000_000,
])
def test_a_file_that_is_not_a_state_is_one_warning_and_the_defaults(
    make, tmp_path: Path, caplog, content: bytes
) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with caplog.at_level(logging.INFO, "test.state"):
        d = make(path, temperature=0.9)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "state: ignoring" in warnings[0].getMessage()
    assert d.controls.snapshot().temperature == 0.9 and not d.controls.paused
    d.stop()
    assert json.loads(path.read_text())["kind"] == state.KIND  # replaced by a good one


def test_weights_are_restored_by_model_name(make, tmp_path: Path, caplog) -> None:
    path = tmp_path / "state.json"
    d = make(path)
    names = d.engine.names
    d.stop()
    saved = json.loads(path.read_text())
    saved["weights"] = {names[0]: 0.0, names[2]: 5.0, "gone": 3.0}
    saved["temperature"] = 99.0  # out of range: skipped, the rest restored
    saved["subscribers"] = [
        {"host": "127.0.0.1", "port": 9001, "expires": time.time() + 20},
        {"host": "127.0.0.1", "port": 9002, "expires": time.time() - 5},  # ran out while down
        {"host": "10.9.9.9", "port": 9003, "expires": time.time() + 20},  # outside --allow
        {"host": "127.0.0.1", "port": 70000, "expires": time.time() + 20},  # no such port
    ]
    path.write_text(json.dumps(saved))
    with caplog.at_level(logging.INFO, "test.state"):
        d = make(path)
    w = d.controls.target_weights()
    # the rest keep theirs; an older file's weights above 1 are scaled into -1 … 1 together
    assert w[0] == 0.0 and w[2] == 1.0 and w[1] == pytest.approx(1 / 15)
    assert d.controls.snapshot().temperature == 0.8
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("gone" in m and "no such model now" in m for m in lines), lines
    assert any("temperature" in m and "ignored" in m for m in lines), lines
    assert len(lines) == 2
    assert [t.sockaddr for t in d.broadcaster.targets if t.expires is not None] == \
        [("127.0.0.1", 9001)]


def test_the_service_default_is_under_the_state_directory(tmp_path: Path) -> None:
    assert state.default_path({}) is None
    assert state.default_path({"STATE_DIRECTORY": f"{tmp_path}:/other"}) == \
        tmp_path / "state.json"


def test_a_failing_write_leaves_no_temporary_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(b"old")

    def no_space(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", no_space)
    with pytest.raises(OSError):
        state.write_atomic(path, b"new")
    assert path.read_bytes() == b"old" and sorted(tmp_path.iterdir()) == [path]


def voice_gestures(voice: int, names: list[str]) -> list[bytes]:
    """Every per-voice setting of one voice, under its /charmix/voice/k/… addresses."""
    v = f"{protocol.VOICE_PREFIX}{voice}"
    return [
        osc(f"{v}/weights", 0.1, 0.2, 0.7), osc(f"{v}/temperature", 1.9),
        osc(f"{v}/model/{names[2]}/temperature", 0.4), osc(f"{v}/mode", "geometric"),
        osc(f"{v}/slew", 0.3), osc(f"{v}/topk", 4), osc(f"{v}/topp", 0.8),
    ]


def check_voice(d: Daemon, voice: int) -> None:
    c = d.voice_controls[voice]
    s = c.snapshot()
    assert np.allclose(c.target_weights(), [0.1, 0.2, 0.7])
    assert (s.mode, s.topk) == ("geometric", 4)
    assert (s.temperature, s.slew, s.topp) == pytest.approx((1.9, 0.3, 0.8))
    assert list(s.model_temperature) == pytest.approx([0, 0, 0.4])
    assert np.allclose(d.engine.voices[voice].weights, [0.1, 0.2, 0.7])  # no glide


def untouched(d: Daemon, voice: int) -> bool:
    s = d.voice_controls[voice].snapshot()
    return (np.allclose(s.weights, 1 / 3) and s.mode == "linear" and s.topk == 0
            and not s.model_temperature.any())


def test_every_voice_survives_a_restart(make, tmp_path: Path, caplog) -> None:
    """Voice 2's settings sent over UDP come back after a restart; a daemon with fewer voices
    keeps those it has and says which it dropped in one line; one with more starts the extra
    voices from the settings given."""
    path = tmp_path / "state.json"
    d = make(path, voices=3)
    names = d.engine.names
    send(d, *voice_gestures(2, names), osc(f"{P}/voice/1/topk", 9), osc(f"{P}/temperature", 0.5))
    wait_for(lambda: d.controls.counters.rx_ok == 9)
    d.stop()
    saved = json.loads(path.read_text())
    assert saved["n_voices"] == 3 and saved["voices"]["2"]["weights"][names[2]] == \
        pytest.approx(0.7)
    assert saved["temperature"] == pytest.approx(0.5)  # voice 0 stays top-level
    with caplog.at_level(logging.INFO, "test.state"):
        d = make(path, voices=3)
    check_voice(d, 2)
    assert d.voice_controls[1].snapshot().topk == 9 and untouched(d, 0)
    assert d.controls.snapshot().temperature == pytest.approx(0.5)
    assert any("state: restored" in r.getMessage() and "voice 2" in r.getMessage()
               for r in caplog.records)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    d.stop()

    caplog.clear()
    with caplog.at_level(logging.INFO, "test.state"):
        d = make(path, voices=2)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "voice 2 not restored" in warnings[0], warnings
    assert "--voices 2" in warnings[0]
    assert d.voice_controls[1].snapshot().topk == 9
    send(d, osc(f"{P}/voice/1/topk", 5))  # a change: the smaller daemon writes the file
    wait_for(lambda: d.keeper is not None and d.keeper.saves >= 1, 5)
    d.stop()
    saved = json.loads(path.read_text())
    assert saved["n_voices"] == 2 and saved["voices"]["1"]["topk"] == 5
    assert saved["voices"]["2"]["topp"] == pytest.approx(0.8)  # kept for a bigger daemon

    caplog.clear()
    with caplog.at_level(logging.INFO, "test.state"):
        d = make(path, voices=4)
    assert any("nothing saved for voice 3:" in r.getMessage() for r in caplog.records)
    assert d.voice_controls[1].snapshot().topk == 5
    check_voice(d, 2)
    assert untouched(d, 3) and d.voice_controls[3].snapshot().temperature == 0.8  # as given


def test_an_old_one_voice_file_and_unusable_voices(make, tmp_path: Path, caplog) -> None:
    """A state file from before voices (no "voices" key) restores voice 0 of a daemon with
    three; unusable saved voices are one warning and the rest is restored."""
    path = tmp_path / "state.json"
    d, names = saved_after_gestures(make, path)
    old = json.loads(path.read_text())
    del old["voices"], old["n_voices"]  # exactly what a one-voice charmix wrote
    path.write_text(json.dumps(old))
    with caplog.at_level(logging.INFO, "test.state"):
        d = make(path, voices=3)
    check_restored(d)
    assert untouched(d, 1) and untouched(d, 2)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    d.stop()

    saved = json.loads(path.read_text())
    saved["voices"] = {"1": {"mode": "geometric", "temperature": 99.0, "weights": [1, 2]},
                       "2": "junk", "x": {}, "0": {"mode": "geometric"}}
    path.write_text(json.dumps(saved))
    caplog.clear()
    with caplog.at_level(logging.INFO, "test.state"):
        d = make(path, voices=3)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    for what in ("voice 1 temperature", "voice 1 weights", "voice '2'", "voice 'x'",
                 "voice '0'"):
        assert what in warnings[0], (what, warnings[0])
    assert d.voice_controls[1].snapshot().mode == "geometric" and untouched(d, 2)
    assert d.controls.snapshot().mode == "geometric"  # voice 0's own, from the top level
