"""patches/pd/charmix.pd in real Pure Data (Debian's puredata-core, `pd -nogui`) and a real daemon.

Pd opens the shipped patch unchanged next to a small harness patch that [receive]s the patch's
taps and [print]s them on stderr. The patch is pointed at a free port and told to subscribe
(`-send` messages, the same a user can type), so every character it prints reached it through its
own /charmix/subscribe; a python-osc receiver on the daemon's --send port records the truth.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, free_udp_port
from fakes.osc_receiver import OscReceiver
from pythonosc.osc_message_builder import OscMessageBuilder
from test_monitor import frames, running_daemon, wait_for

from charmix.daemon import protocol

pytestmark = pytest.mark.skipif(
    shutil.which("pd") is None, reason="Pure Data not installed: apt-get install puredata-core"
)

PATCH = ROOT / "patches" / "pd" / "charmix.pd"
TAIL = 72  # bytes of the current line the patch shows (its [- 72])

# The harness: each tap printed under a tag; at every step the arrays are dumped (they still hold
# the previous step's values: /charmix/dist comes after /charmix/step in a frame). Once the model
# names are known it moves the second weight slider, as a performer would.
HARNESS = [
    ("obj", "r charmix-char"), ("obj", "list fromsymbol"), ("obj", "print CHAR"),      # 0-2
    ("obj", "r charmix-step"), ("obj", "print STEP"),                                  # 3-4
    ("obj", "r charmix-models"), ("obj", "print MODELS"),                              # 5-6
    ("obj", "r charmix-writer-name"), ("obj", "print WRITER"),                         # 7-8
    ("obj", "r charmix-line"), ("obj", "list fromsymbol"), ("obj", "print LINE"),      # 9-11
    ("obj", "t b b b b"),                                                              # 12
    ("obj", "array get charmix-mix"), ("obj", "print MIX"),                            # 13-14
    ("obj", "array get charmix-p1"), ("obj", "print P1"),                              # 15-16
    ("obj", "array get charmix-weights"), ("obj", "print WEIGHTS"),                    # 17-18
    ("msg", "\\; charmix-w1 0.25"),                                                    # 19
    ("obj", "r charmix-dropped"), ("obj", "print DROPPED"),                            # 20-21
]
HARNESS_LINKS = [(0, 1), (1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (10, 11), (3, 12), (13, 14),
                 (15, 16), (17, 18), (5, 19), (20, 21)]
HARNESS_OUTLETS = [(12, 0, 13), (12, 1, 15), (12, 2, 17)]


def write_harness(folder: Path) -> Path:
    lines = ["#N canvas 0 0 400 300 10;"]
    lines += [f"#X {kind} 10 {10 + 25 * i} {text};" for i, (kind, text) in enumerate(HARNESS)]
    lines += [f"#X connect {a} 0 {b} 0;" for a, b in HARNESS_LINKS]
    lines += [f"#X connect {a} {o} {b} 0;" for a, o, b in HARNESS_OUTLETS]
    path = folder / "harness.pd"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


class Pd:
    """`pd -nogui` with the given patches and -send messages; its stderr kept line by line."""

    def __init__(self, opens: list[Path], sends: list[str]) -> None:
        args = ["pd", "-nogui", "-noaudio", "-nomidi", "-stderr", "-nosleep"]
        for patch in opens:
            args += ["-open", str(patch)]
        for message in sends:
            args += ["-send", message]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            with self._lock:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))

    def tagged(self) -> list[tuple[str, str]]:
        with self._lock:
            lines = list(self.lines)
        return [(tag, rest.strip()) for tag, sep, rest in (ln.partition(":") for ln in lines)
                if sep]

    def count(self, tag: str) -> int:
        return sum(1 for t, _ in self.tagged() if t == tag)

    def stop(self) -> str:
        self.proc.kill()
        self.proc.wait(5)
        self._reader.join(5)
        with self._lock:
            return "\n".join(self.lines)


@pytest.fixture
def pd_runner() -> Iterator[Callable[..., Pd]]:
    started: list[Pd] = []

    def start(opens: list[Path], sends: list[str]) -> Pd:
        started.append(Pd(opens, sends))
        return started[-1]

    yield start
    for pd in started:
        pd.stop()


def problems(output: str) -> list[str]:
    """Lines where Pd complains about the patch (an object it could not create, a bad wire)."""
    words = ("error", "couldn't create", "connection failed", "bad arguments", "no method")
    # The patch first listens on the default port (7771); here another program may hold it
    # (a patch, a monitor --listen): the test moves it to a free port at once.
    busy = "listen failed: address already in use"
    return [ln for ln in output.splitlines() if any(w in ln.lower() for w in words)
            and busy not in ln.lower()]


def floats(rest: str) -> np.ndarray:
    return np.array([float(x) for x in rest.split()], np.float64)


def utf8(rest: str) -> str:
    codes = [int(float(x)) for x in rest.split() if x not in ("bang", "list")]
    return bytes(codes).decode("utf-8")


def line_tail(text: str) -> str:
    """What the patch shows: the last TAIL bytes of the line, from a character boundary."""
    raw = text.encode("utf-8")[-TAIL:]
    while raw and 0x80 <= raw[0] < 0xC0:
        raw = raw[1:]
    return raw.decode("utf-8")


def test_patch_loads_cleanly(pd_runner: Callable[..., Pd]) -> None:
    """Every object is created and every wire connects (Pd says so on stderr otherwise)."""
    pd = pd_runner([PATCH], [f"charmix-listen {free_udp_port()}", "pd quit"])
    pd.proc.wait(20)
    output = pd.stop()
    assert pd.proc.returncode == 0
    assert problems(output) == [], output


def test_patch_draws_what_the_daemon_sends(tiny_model_dir: Path, tmp_path: Path,
                                          pd_runner: Callable[..., Pd]) -> None:
    with OscReceiver() as truth, running_daemon(tiny_model_dir, truth, "--rate", "40",
                                                "--slew", "0", "--seed", "3") as daemon:
        models = list(truth.wait_for("models").params)
        pd_port = free_udp_port()
        pd = pd_runner([PATCH, write_harness(tmp_path)], [
            f"charmix-listen {pd_port}",
            f"charmix-daemon 127.0.0.1 {daemon.control}",
            "charmix-subscribe-set 1",
            "charmix-temperature-ui 0.5",
            "charmix-mode-ui symbol geometric",
        ])
        wait_for(lambda: pd.count("STEP") >= 30, 20, "30 steps printed by Pd")
        # The control section reached the daemon: weights (1, 0.25, 1) from the sliders, ...
        expected = np.array([1, 0.25, 1]) / 2.25
        truth.wait_for("weights", lambda p: np.allclose(p, expected, atol=1e-6))
        # ... temperature and mode (read back from /charmix/status, asked for by the truth).
        query = OscMessageBuilder(f"{protocol.PREFIX}/query").build().dgram
        fields = protocol.STATUS_FIELDS

        def applied(p: tuple) -> bool:
            return (p[fields.index("temperature")] == pytest.approx(0.5)
                    and p[fields.index("mode")] == protocol.MODES.index("geometric"))

        truth.sock.sendto(query, ("127.0.0.1", daemon.control))
        truth.wait_for("status", applied, timeout=5)
        wait_for(lambda: pd.count("WEIGHTS") >= 31, 10, "more steps")
    output = pd.stop()
    assert problems(output) == [], output
    assert f"subscriber 127.0.0.1:{pd_port} added" in daemon.stderr
    by_step = frames(truth)
    tagged = pd.tagged()
    assert ("MODELS", "list " + " ".join(models)) in tagged

    checked = {"char": 0, "line": 0, "writer": 0, "arrays": 0}
    char = None
    step = previous = None
    for tag, rest in tagged:
        if tag == "CHAR":
            char = utf8(rest)
        elif tag == "STEP":
            step, previous = int(float(rest)), step
            assert char == by_step[step]["char"][0], f"step {step}"
            checked["char"] += 1
        elif step is None:
            continue
        elif tag == "LINE":
            assert utf8(rest) == line_tail(by_step[step]["text"][0])
            checked["line"] += 1
        elif tag == "WRITER":
            writer = rest.removeprefix("symbol ")
            assert writer == models[int(np.argmax(by_step[step]["attribution"]))]
            checked["writer"] += 1
        elif tag in ("MIX", "P1", "WEIGHTS") and previous == step - 1:
            before = by_step[previous]  # the arrays still hold the previous frame
            key = {"MIX": "dist", "P1": f"model/{models[1]}/dist", "WEIGHTS": "weights"}[tag]
            np.testing.assert_allclose(floats(rest), before[key], rtol=1e-4, atol=1e-6)
            checked["arrays"] += 1
    assert checked["char"] >= 30 and checked["line"] >= 30 and checked["writer"] >= 30
    assert checked["arrays"] >= 3 * 29
    assert pd.count("DROPPED") == 0  # no gaps in the steps it received


def test_the_patch_shows_the_chosen_voice(tiny_model_dir: Path, tmp_path: Path,
                                          pd_runner: Callable[..., Pd]) -> None:
    """With `charmix daemon --voices 2` and the patch's voice box at 1, the taps carry voice 1's
    characters (sent under /charmix/voice/1/…), not voice 0's; models and status still arrive."""
    with OscReceiver() as truth, running_daemon(tiny_model_dir, truth, "--rate", "40",
                                                "--voices", "2", "--seed", "5") as daemon:
        truth.wait_for("models")
        pd = pd_runner([PATCH, write_harness(tmp_path)], [
            f"charmix-listen {free_udp_port()}",
            f"charmix-daemon 127.0.0.1 {daemon.control}",
            "charmix-voice 1",
            "charmix-subscribe-set 1",
        ])
        wait_for(lambda: pd.count("STEP") >= 20, 20, "20 steps printed by Pd")
    output = pd.stop()
    assert problems(output) == [], output
    voice1: dict[int, str] = {}
    voice0: dict[int, str] = {}
    with truth._cond:
        messages = list(truth.messages)
    char = {0: None, 1: None}
    for m in messages:
        for v, path in ((0, protocol.PREFIX), (1, protocol.VOICE_PREFIX + "1")):
            if m.address == f"{path}/char":
                char[v] = m.params[0]
            elif m.address == f"{path}/step":
                (voice1 if v else voice0)[m.params[0]] = char[v]
    char_seen = None
    matched = differs = 0
    for tag, rest in pd.tagged():
        if tag == "CHAR":
            char_seen = utf8(rest)
        elif tag == "STEP":
            step = int(float(rest))
            assert char_seen == voice1[step], f"step {step}"
            matched += 1
            differs += voice0.get(step) != voice1[step]
    assert matched >= 20 and differs > 0  # voice 1's text, which is not voice 0's
    assert any(tag == "MODELS" for tag, _ in pd.tagged())
