"""Several machines in step without a conductor: two daemons on two "machines" (network
namespaces on a bridge, tests/netns.py) play the same wall-clock aligned score and change cue
together; one killed and restarted rejoins the other's cue.

A third namespace receives both daemons' /charmix/scene/current over UDP and notes when each
title arrived (the kernel's receive time, SO_TIMESTAMPNS). Skipped, with the reason, where `ip
netns add` is refused.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from netns import Lan, venv_bin

CHARMIX = venv_bin("charmix")
RATE = 20.0
PERIOD = 1 / RATE
SLACK = 0.2  # s: a loaded machine's scheduling, on top of one clock period
HOLD = 1.5
SCORE = f"""
loop = true
epoch = 1000
[scenes.a]
temperature = 0.5
[scenes.b]
temperature = 1.0
[scenes.c]
temperature = 2.0
[[cue]]
scene = "a"
hold = {HOLD}
[[cue]]
scene = "b"
hold = {HOLD}
[[cue]]
scene = "c"
hold = {HOLD}
"""

# Runs in the listening namespace: prints one JSON line per /charmix/scene/current received:
# the kernel's receive time, the sender's address and the title; for `seconds` at most.
LISTEN = """
import json, socket, struct, sys, time
from pythonosc.osc_packet import OscPacket
TS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux's number; Python 3.11 lacks the name
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, TS, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.settimeout(0.5)
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    try:
        data, anc, _, src = s.recvmsg(65536, 1024)
    except socket.timeout:
        continue
    at = time.time()
    for level, kind, raw in anc:
        if level == socket.SOL_SOCKET and kind == TS:
            sec, ns = struct.unpack("qq", raw[:16])
            at = sec + ns / 1e9
    try:
        messages = OscPacket(data).messages
    except Exception:
        continue
    for m in messages:
        if m.message.address == "/charmix/scene/current":
            print(json.dumps({"at": at, "src": src[0], "title": m.message.params[0]}), flush=True)
"""


@pytest.fixture
def lan() -> Iterator[Lan]:
    reason = Lan.available()
    if reason is not None:
        pytest.skip(reason)
    with Lan() as made:
        yield made


def daemon(host, models: Path, score: Path, to: str) -> subprocess.Popen:
    return host.popen(
        [CHARMIX, "daemon", "--models-dir", str(models), "--listen", "0.0.0.0:7770",
         "--allow", "10.77.0.0/24", "--rate", f"{RATE:g}", "--no-echo", "--status-every", "0",
         "--no-oscquery", "--no-mdns", "--score", str(score), "--send", to],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def changes(lines: list[dict], src: str) -> list[tuple[float, str]]:
    """(time, title) of each cue change one daemon announced (its first title included)."""
    out: list[tuple[float, str]] = []
    for line in lines:
        if line["src"] == src and (not out or out[-1][1] != line["title"]):
            out.append((line["at"], line["title"]))
    return out


def test_two_daemons_change_cue_together_and_a_restarted_one_rejoins(
        lan: Lan, tiny_model_dir: Path, tmp_path: Path) -> None:
    score = tmp_path / "score.toml"
    score.write_text(SCORE)
    a, b, ear = lan.host("a"), lan.host("b"), lan.host("ear")
    seconds = 30.0
    listen = ear.popen([sys.executable, "-c", LISTEN, "9000", str(seconds)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    to = f"{ear.ip}:9000"
    da, db = daemon(a, tiny_model_dir, score, to), daemon(b, tiny_model_dir, score, to)
    started = time.monotonic()
    restarted = 0.0
    try:
        while time.monotonic() - started < 12 and listen.poll() is None:
            time.sleep(0.2)
        db.kill()  # kill -9, then back: it must rejoin a's cue, not start the score over
        db.wait(10)
        restarted = time.time()
        db = daemon(b, tiny_model_dir, score, to)
        out, err = listen.communicate(timeout=seconds + 20)
    finally:
        for proc in (da, db):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    lines = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    ca, cb = changes(lines, a.ip), changes(lines, b.ip)
    assert len(ca) >= 8, (err[-2000:], ca)
    pairs, worst = 0, 0.0
    for at_b, title in cb[1:]:  # every change b made (its first title is its start)
        if at_b > restarted and at_b == min(x for x, _ in cb if x > restarted):
            continue  # its first title after the restart: where it rejoined, not a change
        near = [at_a for at_a, t in ca[1:] if t == title and abs(at_a - at_b) < HOLD / 2]
        assert near, (title, at_b, ca)
        assert abs(near[0] - at_b) <= PERIOD + SLACK, (title, near[0] - at_b)
        pairs, worst = pairs + 1, max(worst, abs(near[0] - at_b))
    assert pairs >= 4
    print(f"{pairs} cue changes, the two daemons at most {worst * 1e3:.1f} ms apart "
          f"(clock period {PERIOD * 1e3:.0f} ms)")
    after = [line for line in lines if line["src"] == b.ip and line["at"] > restarted]
    assert after, "the restarted daemon said nothing"
    at_b, title = after[0]["at"], after[0]["title"]  # where it rejoined
    around = {t for at_a, t in ca if abs(at_a - at_b) <= PERIOD + SLACK}  # a cue change then
    current = [t for at_a, t in ca if at_a <= at_b]
    assert current and title in {current[-1], *around}, (title, current[-3:])
