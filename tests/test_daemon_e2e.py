"""End to end: `charmix daemon` as a real process, driven and read by liblo's oscsend / oscdump.

An OSC implementation not written here (liblo, C) sends the controls and reads the frames over
real UDP on loopback, so these tests check the wire format as any visualiser or controller sees
it, not just our own encoder against our own parser.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import helpers
import numpy as np
import pytest
from conftest import free_udp_port
from pythonosc.osc_message_builder import OscMessageBuilder

from charmix.daemon import protocol

pytestmark = pytest.mark.skipif(
    shutil.which("oscsend") is None or shutil.which("oscdump") is None,
    reason="liblo-tools (oscsend, oscdump) not installed: apt-get install liblo-tools",
)

P = protocol.PREFIX
HEADER = re.compile(r"^[0-9a-f]{8}\.[0-9a-f]{8} (/\S*) (\S*) ?(.*)$")
STATUS = {name: i for i, name in enumerate(protocol.STATUS_FIELDS)}
wait_for = functools.partial(helpers.wait_for, poll=0.005)


class Msg:
    """One message as oscdump printed it, with the time it arrived here."""

    def __init__(self, path: str, types: str, raw: str, at: float) -> None:
        self.path, self.types, self.raw, self.at = path, types, raw, at

    @property
    def args(self) -> list:
        if self.types == "s":
            return [self.raw[1:-1]]  # one string: everything between the outer quotes
        out: list = []
        for tag, token in zip(self.types, self.raw.split(" "), strict=False):
            out.append(token.strip('"') if tag == "s" else int(token) if tag == "i"
                       else float(token))
        return out


class OscDump:
    """liblo's oscdump on a free port; its output parsed into messages as they arrive."""

    def __init__(self) -> None:
        self.port = free_udp_port()
        self.proc = subprocess.Popen(
            ["oscdump", "-L", str(self.port)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self.messages: list[Msg] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        # Ready when it has printed something we sent it.
        deadline = time.monotonic() + 5
        while not self.find(f"{P}/ready"):
            if time.monotonic() > deadline:
                raise AssertionError("oscdump did not start")
            oscsend(self.port, f"{P}/ready")
            time.sleep(0.05)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            match = HEADER.match(line)
            with self._lock:
                if match:
                    path, types, args = match.groups()
                    self.messages.append(Msg(path, types, args, time.monotonic()))
                elif self.messages:  # a string argument that contained a newline
                    self.messages[-1].raw += "\n" + line

    def snapshot(self) -> list[Msg]:
        with self._lock:
            return list(self.messages)

    def find(self, path: str, since: float = 0.0) -> list[Msg]:
        return [m for m in self.snapshot() if m.path == path and m.at >= since]

    def frames(self, since: float = 0.0) -> list[dict[str, list]]:
        """Complete frames (a /charmix/char up to the next one), oldest first."""
        frames: list[dict[str, list]] = []
        current: dict[str, list] | None = None
        for m in self.snapshot():
            if m.at < since:
                continue
            name = m.path.removeprefix(P + "/")
            if name == "char":
                if current is not None:
                    frames.append(current)
                current = {}
            if current is not None and (name in protocol.FRAME_ADDRESSES or "/dist" in name):
                current[name] = m.args
        return frames

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def oscsend(port: int, path: str, types: str = "", *values: object) -> None:
    """liblo's oscsend to 127.0.0.1:port."""
    args = ["oscsend", "127.0.0.1", str(port), path]
    if types:
        args += [types, *[str(v) for v in values]]
    subprocess.run(args, check=True, timeout=5, capture_output=True)


def die_with_parent() -> None:
    """preexec_fn: the daemon gets SIGTERM if this process dies first (Linux), so a run that is
    killed (a timeout, Ctrl-C) leaves no daemon behind holding its ports."""
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Daemon:
    """`python -m charmix.daemon.cli daemon ...` as a subprocess."""

    def __init__(self, args: list[str], dump: OscDump | None = None) -> None:
        self.port = free_udp_port()
        self.started = time.monotonic()
        send = ["--send", f"127.0.0.1:{dump.port}"] if dump else []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "charmix.daemon.cli", "daemon", "--listen",
             f"127.0.0.1:{self.port}", "--no-echo", "--status-every", "0", *send, *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "COLUMNS": "200"},
            preexec_fn=die_with_parent,
        )

    def send(self, path: str, types: str = "", *values: object) -> None:
        oscsend(self.port, path, types, *values)

    def stop(self, sig: int = signal.SIGINT, timeout: float = 5.0) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return self.proc.returncode, err.decode("utf-8", "replace")


@pytest.fixture
def dump() -> Iterator[OscDump]:
    d = OscDump()
    yield d
    d.close()


@pytest.fixture
def start(tiny_model_dir: Path) -> Iterator[Callable[..., Daemon]]:
    daemons: list[Daemon] = []

    def run(*args: str, dump: OscDump | None = None, wait: bool = True) -> Daemon:
        d = Daemon(["--models-dir", str(tiny_model_dir), *args], dump)
        daemons.append(d)
        if wait and dump is not None:
            wait_for(lambda: dump.find(f"{P}/models", d.started), 20, "the daemon to start")
        return d

    yield run
    for d in daemons:
        d.stop(signal.SIGKILL)


def status(dump: OscDump, daemon: Daemon) -> dict[str, float]:
    """Ask for /charmix/status (the reply goes to oscdump's port) and return it by field.

    UDP may drop a reply on a loaded machine, so the query is repeated a few times."""
    for _ in range(5):
        asked = time.monotonic()
        daemon.send(f"{P}/query", "i", dump.port)
        try:
            wait_for(lambda t=asked: dump.find(f"{P}/status", t), 2, "a status reply")
        except AssertionError:
            continue
        values = dump.find(f"{P}/status", asked)[-1].args
        return {name: values[i] for name, i in STATUS.items()}
    raise AssertionError("no status reply to five queries")


def mean_attribution(dump: OscDump, since: float, n: int) -> np.ndarray:
    wait_for(lambda: len(dump.frames(since)) >= n, 10, f"{n} frames")
    return np.mean([f["attribution"] for f in dump.frames(since)[:n]], axis=0)


def test_moving_the_weights_moves_the_attribution(start, dump: OscDump) -> None:
    d = start("--rate", "200", "--slew", "0", "--seed", "3", dump=dump)
    names = dump.find(f"{P}/models")[-1].args
    assert names == ["bible", "linux", "shakespeare"]
    shares = {}
    for target in ([1, 0, 0], [0, 1, 0], [0.5, 0, 0.5], [0, 0, 1]):
        d.send(f"{P}/weights", "fff", *target)
        # Frames made with the new weights carry them in /charmix/weights.
        wait_for(lambda t=target: any(np.allclose(f["weights"], t, atol=1e-6)
                                      for f in dump.frames()), 10, f"weights {target}")
        since = next(m.at for m in dump.find(f"{P}/weights")
                     if np.allclose(m.args, target, atol=1e-6))
        shares[tuple(target)] = mean_attribution(dump, since, 40)
    np.testing.assert_allclose(shares[(1, 0, 0)], [1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(shares[(0, 1, 0)], [0, 1, 0], atol=1e-6)
    np.testing.assert_allclose(shares[(0, 0, 1)], [0, 0, 1], atol=1e-6)
    half = shares[(0.5, 0, 0.5)]
    assert half[1] == 0 and 0.15 < half[0] < 0.85 and half[0] + half[2] == pytest.approx(1)
    # By name, as a fader mapped to one model would send it.
    d.send(f"{P}/weight/shakespeare", "f", 0)
    d.send(f"{P}/weight/linux", "f", 1)
    wait_for(lambda: any(np.allclose(f["weights"], [0, 1, 0], atol=1e-6)
                         for f in dump.frames()[-5:]), 10, "named weights")


def test_the_frame_as_liblo_reads_it(start, dump: OscDump) -> None:
    start("--rate", "100", dump=dump)
    every = set(protocol.FRAME_ADDRESSES) | {
        f"model/{n}/dist" for n in ("bible", "linux", "shakespeare")
    }
    # A frame is several datagrams; on a loaded machine oscdump may miss one, so look for frames
    # that arrived whole.
    wait_for(lambda: sum(set(f) >= every for f in dump.frames()) >= 3, 10, "whole frames")
    vocab = dump.find(f"{P}/vocab")[-1].args[0]
    frame = [f for f in dump.frames() if set(f) >= every][-1]
    assert len(vocab) == 102 and len(frame["dist"]) == 102
    assert vocab[frame["index"][0]] == frame["char"][0]
    assert sum(frame["dist"]) == pytest.approx(1, abs=1e-3)
    assert sum(frame["attribution"]) == pytest.approx(1, abs=1e-3)


def test_external_clock_ticks(start, dump: OscDump) -> None:
    d = start("--rate", "0", dump=dump)
    for _ in range(5):
        d.send(f"{P}/tick")
    # a frame's /charmix/step may print after its /charmix/char (oscdump's order): wait for both
    wait_for(lambda: len(dump.find(f"{P}/char")) >= 5 and len(dump.find(f"{P}/step")) >= 5, 10,
             "5 characters and their steps")
    steps = [m.args[0] for m in dump.find(f"{P}/step")]
    assert steps == [0, 1, 2, 3, 4]
    s = status(dump, d)
    assert s["step"] == 5 and s["rate"] == 0


def test_a_tick_flood_is_dropped_and_counted_in_the_status(start, dump: OscDump) -> None:
    """Ticks beyond TICKS_MAX waiting are dropped, not queued (no minutes of catching up), and
    the status message says how many (read by liblo's oscdump, field by name from the table)."""
    d = start("--rate", "0", dump=dump)
    tick = OscMessageBuilder(f"{P}/tick").build().dgram
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for _ in range(20_000):
            sock.sendto(tick, ("127.0.0.1", d.port))
    finally:
        sock.close()
    wait_for(lambda: status(dump, d)["ticks_dropped"] > 0, 10, "dropped ticks counted")
    counts: list[float] = []

    def settled() -> bool:  # the ticks that were waiting have all been played
        counts.append(status(dump, d)["step"])
        return len(counts) >= 2 and counts[-1] == counts[-2]

    wait_for(settled, 10, "the pending ticks played")
    s = status(dump, d)
    assert s["step_errors"] == 0 and s["ticks_dropped"] < 20_000
    assert s["step"] + s["ticks_dropped"] <= 20_000  # each tick played or counted, at most once
    d.send(f"{P}/tick")  # the clock still answers a single tick afterwards
    wait_for(lambda: status(dump, d)["step"] == s["step"] + 1, 10, "a character after the flood")


def test_thousands_of_junk_datagrams_while_generation_continues(start, dump: OscDump) -> None:
    rate = 40
    d = start("--rate", str(rate), dump=dump)
    wait_for(lambda: len(dump.find(f"{P}/char")) >= 5, 10, "the first characters")
    rng = np.random.default_rng(7)

    def build(path: str, *args: tuple[str, object]) -> bytes:
        b = OscMessageBuilder(path)
        for tag, value in args:
            b.add_arg(value, tag)
        return b.build().dgram

    good = build(f"{P}/weights", ("f", 1.0), ("f", 1.0), ("f", 1.0))
    kinds = [
        lambda: rng.bytes(int(rng.integers(1, 300))),  # random bytes
        lambda: good[: int(rng.integers(1, 21))],  # truncated inside address or tags
        lambda: build(f"{P}/weights", ("s", "loud")),  # wrong type
        lambda: build(f"{P}/weights", ("f", float("nan")), ("f", 1.0)),  # NaN weight
        lambda: build(f"{P}/weights", ("f", -1.0)),  # negative weight
        lambda: build(f"{P}/nowhere{rng.integers(1000)}", ("i", 1)),  # unknown address
        lambda: build(f"{P}/weight/nobody", ("f", 1.0)),  # unknown model
        lambda: build(f"{P}/temperature", ("f", 1.0), ("f", 2.0)),  # wrong arity
    ]
    oversized = bytes([47]) + rng.bytes(60_000)  # one per chunk: 60 kB each fill kernel buffers
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = 0
    t0 = time.monotonic()
    try:
        for chunk in range(12):
            sock.sendto(oversized, ("127.0.0.1", d.port))
            for i in range(249):
                sock.sendto(kinds[(i + chunk) % len(kinds)](), ("127.0.0.1", d.port))
            sent += 250
            # Pace by feedback (not by sleeping): the daemon has counted every one so far.
            wait_for(lambda n=sent: status(dump, d)["rx_bad"] >= n, 10, f"{sent} rejects")
    finally:
        sock.close()
    # liblo senders with bad values, too.
    d.send(f"{P}/weights", "f", "nan")
    d.send(f"{P}/weights", "s", "heavy")
    d.send(f"{P}/rate", "f", "-3")
    flood_seconds = time.monotonic() - t0
    s = status(dump, d)
    assert s["rx_bad"] == sent + 3
    # Nothing in the junk changed a weight (the only messages accepted were our queries).
    assert all(np.allclose(f["weights"], [1 / 3] * 3, atol=1e-6) for f in dump.frames())
    chars = [m for m in dump.find(f"{P}/char") if m.at >= t0]
    # Generation kept going all the while: a stall behind the junk is seconds of silence (the
    # bounds leave room for a loaded machine; the daemon's own overrun count is the finer check).
    assert len(chars) >= 0.5 * rate * flood_seconds
    gaps = np.diff([m.at for m in chars])
    assert gaps.max() < 1.0, "no stall while the junk was handled"
    # And a good message is still obeyed afterwards.
    d.send(f"{P}/weights", "fff", 0, 1, 0)
    wait_for(lambda: any(np.allclose(f["weights"], [0, 1, 0], atol=1e-3)
                         for f in dump.frames()[-5:]), 10, "weights after the flood")


def test_senders_outside_the_allowlist_are_ignored(start, dump: OscDump) -> None:
    d = start("--rate", "50", "--allow", "127.0.0.1/32", "--weights", "1,1,1", "--slew", "0",
              dump=dump)
    outsider = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    outsider.bind(("127.0.0.2", 0))
    try:
        b = OscMessageBuilder(f"{P}/weights")
        for v in (0.0, 0.0, 1.0):
            b.add_arg(v, "f")
        for _ in range(10):
            outsider.sendto(b.build().dgram, ("127.0.0.1", d.port))
        wait_for(lambda: status(dump, d)["rx_denied"] >= 10, 10, "denied count")
    finally:
        outsider.close()
    s = status(dump, d)
    assert s["rx_denied"] == 10
    assert all(np.allclose(f["weights"], [1 / 3] * 3, atol=1e-6) for f in dump.frames())
    d.send(f"{P}/weights", "fff", 0, 0, 1)  # from 127.0.0.1: allowed
    wait_for(lambda: any(np.allclose(f["weights"], [0, 0, 1], atol=1e-6)
                         for f in dump.frames()[-5:]), 10, "allowed weights")


def test_subscribe_with_oscsend_reaches_a_second_receiver(start, dump: OscDump) -> None:
    d = start("--rate", "50", dump=dump)
    other = OscDump()
    try:
        d.send(f"{P}/subscribe", "i", other.port)
        wait_for(lambda: other.find(f"{P}/models"), 10, "the subscriber's announcement")
        wait_for(lambda: len(other.frames()) >= 3, 10, "frames at the subscriber")
        assert status(dump, d)["subscribers"] == 1
        d.send(f"{P}/unsubscribe", "i", other.port)
        wait_for(lambda: status(dump, d)["subscribers"] == 0, 10, "unsubscribed")
    finally:
        other.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_clean_exit_on_signals(start, dump: OscDump, sig: int) -> None:
    d = start("--rate", "30", dump=dump)
    wait_for(lambda: dump.find(f"{P}/char"), 10, "a character")
    t = time.monotonic()
    d.proc.send_signal(sig)
    code = d.proc.wait(timeout=5)
    elapsed = time.monotonic() - t
    _, err = d.stop()
    assert code == 0, err
    assert elapsed < 4.0  # promptly, not after the 5 s kill of a hung exit
    assert "Traceback" not in err and "stopped after" in err


def test_a_rig_file(start, dump: OscDump, tiny_models: dict[str, Path], tmp_path: Path) -> None:
    rig = tmp_path / "rig.toml"
    rig.write_text(
        f'models = ["{tiny_models["shakespeare"]}", "{tiny_models["linux"]}"]\n'
        "weights = { linux = 1.0 }\nrate = 60\nslew = 0\ntemperature = 0.5\nmode = \"geometric\"\n"
        "topk = 4\n",
        encoding="utf-8",
    )
    d = start("--config", str(rig), "--rate", "70", dump=dump)  # the flag beats the file
    assert dump.find(f"{P}/models")[-1].args == ["shakespeare", "linux"]
    wait_for(lambda: len(dump.frames()) >= 3, 10, "frames")
    assert all(np.allclose(f["weights"], [0, 1]) for f in dump.frames())
    assert all(np.count_nonzero(f["dist"]) <= 4 for f in dump.frames())
    s = status(dump, d)
    assert (s["rate"], s["temperature"], s["mode"], s["topk"]) == (70, 0.5, 1, 4)


def one_line_failure(args: list[str], code: int) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "charmix.daemon.cli", "daemon", "--no-echo", *args],
        capture_output=True, timeout=30, text=True,
    )
    err = proc.stderr.strip()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def test_port_in_use_is_one_line(tiny_model_dir: Path) -> None:
    busy = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    busy.bind(("127.0.0.1", 0))
    port = busy.getsockname()[1]
    try:
        err = one_line_failure(["--models-dir", str(tiny_model_dir), "--send",
                                f"127.0.0.1:{free_udp_port()}", "--listen", f"127.0.0.1:{port}"], 1)
        assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in err
    finally:
        busy.close()


@pytest.mark.parametrize(
    "args, code, expected",
    [
        (["--model", "{junk}"], 1, "{junk}: cannot load (not an ONNX file, or truncated)"),
        (["--model", "nosuchmodel"], 1, "nosuchmodel: no model of that name"),
        (["--weights", "austen=1"], 1, "weights: unknown model 'austen'"),
        (["--send", "no-such-host.invalid:9000"], 1, "cannot resolve host"),
        (["--models-dir", "{empty}"], 1, "no .onnx models in {empty}"),
        (["--rate", "-4"], 2, "--rate must be in 0 – 2000"),
    ],
    ids=["bad-model-file", "unknown-model-name", "unknown-weight-name", "bad-send-host",
         "no-models", "bad-setting"],
)
def test_startup_errors_are_one_line(
    tiny_model_dir: Path, tmp_path: Path, args: list[str], code: int, expected: str
) -> None:
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not an onnx file")
    empty = tmp_path / "empty"
    empty.mkdir()
    fill = {"junk": junk, "empty": empty}
    base = ["--models-dir", str(tiny_model_dir), "--send", f"127.0.0.1:{free_udp_port()}"]
    err = one_line_failure([*base, *[a.format(**fill) for a in args]], code)
    assert expected.format(**fill) in err


def test_burst_writes_its_text_to_a_redirected_stdout(tiny_model_dir: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "charmix.daemon.cli", "daemon", "--burst", "120", "--seed", "3",
         "--models-dir", str(tiny_model_dir), "--listen", "127.0.0.1:0",
         "--send", f"127.0.0.1:{free_udp_port()}"],
        capture_output=True, timeout=60, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.rstrip("\n")) >= 100  # the text, not a banner: that goes to stderr
