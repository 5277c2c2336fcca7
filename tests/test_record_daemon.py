"""Recording a live daemon: controls over real UDP while the clock runs, then `charmix replay`.

The gestures arrive at whatever step the clock thread happens to be at; the recording must say
which, so the replay gives the same text. A daemon killed with SIGKILL leaves a file that replays
up to where it stopped.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from helpers import osc
from test_daemon_runtime import wait_for
from test_record import charmix

from charmix.daemon import protocol
from charmix.daemon.recording.reader import read
from charmix.daemon.runtime.config import build
from charmix.daemon.runtime.daemon import Daemon
from charmix.daemon.runtime.startup import StartupError

P = protocol.PREFIX


def send(address: tuple, data: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(data, address)


def test_a_live_performance_replays_character_for_character(tiny_model_dir, tmp_path) -> None:
    take = tmp_path / "live.jsonl"
    out: list[str] = []
    d = Daemon(build({"models_dir": tiny_model_dir, "listen": "127.0.0.1:0", "rate": 200.0,
                      "send": ["127.0.0.1:9"], "record": str(take), "slew": 0.2}),
               echo=out.append)
    d.start()
    try:
        assert d.server is not None
        addr = d.server.address
        gestures = [
            osc(f"{P}/weights", ("f", 1.0), ("f", 0.0), ("f", 0.0)),
            osc(f"{P}/temperature", ("f", 0.5)),
            osc(f"{P}/prime", ("s", "To be, or not to be, that is the question")),
            osc(f"{P}/mode", ("s", "geometric")),
            osc(f"{P}/weight/bible", ("f", 0.5)),
            osc(f"{P}/reset"),
            osc(f"{P}/seed", ("i", 42)),
            osc(f"{P}/topk", ("i", 5)),
            osc(f"{P}/rate", ("f", 0.0)),
        ]
        for g in gestures:
            target = len(out) + 15
            wait_for(lambda target=target: len(out) >= target)
            send(addr, g)
        for _ in range(30):  # ticks: their dt is measured, not nominal
            send(addr, osc(f"{P}/tick"))
            time.sleep(0.003)
        wait_for(lambda: len(out) >= 160)
    finally:
        d.stop()
    text = "".join(out)
    perf = read(take)
    assert perf.ended and perf.text(0) == text
    kinds = [e.get("cmd") for e in perf.events if e["k"] == "cmd"]
    assert kinds == ["prime", "primed", "reset", "seed"]
    assert charmix("replay", str(take)).stdout == text + "\n"


def test_record_refuses_an_existing_file_at_start(tiny_model_dir, tmp_path) -> None:
    take = tmp_path / "old.jsonl"
    take.write_text("a take\n")
    d = Daemon(build({"models_dir": tiny_model_dir, "listen": "127.0.0.1:0",
                      "record": str(take)}))
    with pytest.raises(StartupError, match="never overwrites"):
        d.start(run_clock=False)
    assert take.read_text() == "a take\n"


def test_a_killed_daemon_leaves_a_file_that_replays(tiny_model_dir, tmp_path) -> None:
    take = tmp_path / "crash.jsonl"
    port = 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "charmix.daemon.cli", "daemon", "--models-dir",
         str(tiny_model_dir), "--listen", f"127.0.0.1:{port}", "--send", "127.0.0.1:9",
         "--rate", "300", "--record", str(take), "--no-echo", "--status-every", "0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if take.exists() and take.read_bytes().count(b'"k": "step"') > 300:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the daemon did not record 300 steps")
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    perf = read(take)
    assert not perf.ended and len(perf.steps) >= 300
    proc2 = charmix("replay", str(take))
    assert proc2.stdout == perf.text(0) + "\n"
    assert "identical" in proc2.stderr


def test_voices_in_a_live_daemon_are_recorded(tiny_model_dir, tmp_path) -> None:
    take = tmp_path / "voices.jsonl"
    out: list[str] = []
    d = Daemon(build({"models_dir": tiny_model_dir, "listen": "127.0.0.1:0", "rate": 0.0,
                      "send": ["127.0.0.1:9"], "record": str(take), "voices": 3, "seed": 3}),
               echo=out.append)
    d.start()
    try:
        d.voice_controls[1].set_weights([0.0, 1.0, 0.0])
        d.voice_controls[2].prime("static int ")
        assert d.server is not None
        for _ in range(60):
            send(d.server.address, osc(f"{P}/tick"))
            time.sleep(0.003)
        wait_for(lambda: len(out) >= 60)
    finally:
        d.stop()
    perf = read(take)
    texts = [perf.text(v) for v in range(3)]
    assert texts[0] == "".join(out) and len(set(texts)) == 3
    for v in range(3):
        assert charmix("replay", str(take), "--voice", str(v)).stdout == texts[v] + "\n"
