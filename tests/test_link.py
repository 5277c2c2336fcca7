"""`charmix link`: an Ableton Link session's beat → /charmix/tick on the grid, measured by a peer.

Two parts:
- `BeatGrid` (controllers/ticks.py), the Link source of the tick scheduler MIDI clock shares, fed
  synthetic session timelines (tempo changes, Start/Stop, jumps, stalls, an offset): its tick
  times are exact to check. No Link here.
- The real thing, in network namespaces only (tests/netns.py): Link finds peers by multicast on
  every interface, so `charmix link` and the second peer (aalink itself, tests/fakes/linkpeer.py)
  each run in a namespace of their own on a private bridge, never on the machine's interfaces.
  The peer sets the tempo and starts and stops; the bridge's ticks come to it over real UDP, and
  it stamps each with the beat of its own timeline at arrival: the phase error is measured
  against the timeline of the peer that set the tempo. Skipped, with the reason, without
  `ip netns` (not root) or without aalink (the `link` extra).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from fakes.osc_receiver import OscReceiver, path
from netns import Host, Lan, venv_bin

from charmix.controllers.ticks import LATE, BeatGrid

FAKES = Path(__file__).resolve().parent / "fakes"
CHARMIX = venv_bin("charmix")
TICK, RATE = path("tick"), path("rate")
PORT = 9000
HAVE_AALINK = importlib.util.find_spec("aalink") is not None
needs_aalink = pytest.mark.skipif(
    not HAVE_AALINK, reason="aalink is not installed (the `link` extra: pip install -e '.[link]')")


# -- BeatGrid: synthetic timelines -----------------------------------------------------------
def run_grid(grid: BeatGrid, timeline: Callable[[float], tuple[float, float, bool]],
             until: float, poll: float = 0.005) -> list[float]:
    """Poll `timeline(t) -> (beat, tempo, playing)` every `poll` s like the bridge; between
    polls take every tick that falls due (what the ticker sends then), at the time the grid
    put it (a tick placed in the past, after a late Start, is sent at once by the ticker)."""
    ticks: list[float] = []
    for k in range(math.ceil(until / poll)):
        t = k * poll
        beat, tempo, playing = timeline(t)
        grid.update(t, beat, tempo, playing)
        while (due := grid.due()) is not None and due < t + poll:
            ticks.append(due)
            grid.consume()
    return ticks


def steady(bpm: float, start: float = 0.0, stop: float = math.inf, beat0: float = 0.0):
    """A session at `bpm`, playing from `start` to `stop` (s); beat0 at t = 0."""
    return lambda t: (beat0 + t * bpm / 60.0, bpm, start <= t < stop)


@pytest.mark.parametrize("per_beat", [1, 2, 3, 4, 0.5])
def test_ticks_land_on_the_beat_grid(per_beat: float) -> None:
    grid = BeatGrid(per_beat)
    ticks = np.array(run_grid(grid, steady(120, beat0=-0.3), until=4.0))
    beats = -0.3 + ticks * 2.0
    grid_points = np.round(beats * per_beat)
    assert np.abs(beats * per_beat - grid_points).max() < 1e-6  # exactly on the grid
    assert (np.diff(grid_points) == 1).all()  # every grid point once, none skipped
    assert ticks.size == pytest.approx(per_beat * 8, abs=1)


def test_a_tempo_change_is_followed_at_once_and_keeps_the_phase() -> None:
    change = 2.0  # s; 120 → 150 BPM at beat 4 (a tempo change keeps the beat where it is)

    def timeline(t: float) -> tuple[float, float, bool]:
        if t < change:
            return t * 2.0, 120.0, True
        return 4.0 + (t - change) * 2.5, 150.0, True

    ticks = np.array(run_grid(BeatGrid(4), timeline, until=4.0))
    beats = np.where(ticks < change, ticks * 2.0, 4.0 + (ticks - change) * 2.5)
    assert np.abs(beats * 4 - np.round(beats * 4)).max() < 1e-6
    after = np.diff(ticks[ticks > change])
    assert after == pytest.approx(60.0 / 150 / 4)


def test_stop_pauses_and_start_resumes_on_the_grid() -> None:
    # plays 0–0.9 s, stops, plays again from 2.0 s; start/stop sync on
    def timeline(t: float) -> tuple[float, float, bool]:
        return t * 2.0, 120.0, t < 0.9 or t >= 2.0

    ticks = np.array(run_grid(BeatGrid(2), timeline, until=2.9))
    assert np.allclose(ticks, np.round(ticks * 4) / 4)  # 4 ticks a second, on the grid
    # 0, .25, .5, .75; nothing while stopped; the downbeat at Start (though seen a poll late)
    assert np.round(ticks, 6).tolist() == [0.0, 0.25, 0.5, 0.75, 2.0, 2.25, 2.5, 2.75]


def test_without_start_stop_sync_the_ticks_ignore_the_transport() -> None:
    ticks = run_grid(BeatGrid(2, start_stop=False), steady(120, start=10.0), until=1.0)
    assert len(ticks) == 4


def test_a_start_seen_late_sends_at_most_the_last_grid_point_never_older_ones() -> None:
    grid = BeatGrid(8)  # a tick every 62.5 ms at 120 BPM
    grid.update(0.0, 0.0, 120.0, False)
    grid.update(0.2, 0.4, 120.0, True)  # Start seen 200 ms late (a loaded machine)
    due = grid.due()
    # the grid point 12.5 ms ago goes out (late); not the ones of the 200 ms it missed
    assert due == pytest.approx(0.1875) and grid.next_tick == 3
    assert 0.2 - due < LATE


def test_offset_shifts_every_tick() -> None:
    early = np.array(run_grid(BeatGrid(2, offset=-0.03), steady(120), until=2.0))
    on_grid = (early + 0.03) * 4  # 4 ticks a second
    assert early.size >= 7 and np.allclose(on_grid, np.round(on_grid))
    assert np.allclose(np.diff(early), 0.25)


def test_jumps_and_stalls_never_burst() -> None:
    grid = BeatGrid(4)
    grid.update(0.0, 0.0, 120.0, True)
    assert grid.due() == 0.0
    grid.consume()
    grid.update(1.0, 2.0, 120.0, True)  # a 1 s stall: 7 grid points passed
    due = grid.due()
    assert due == pytest.approx(1.0) and grid.skipped == 7  # skipped, the next one on time
    grid.consume()
    grid.update(1.01, 100.02, 120.0, True)  # a forward jump (joined a session)
    assert grid.due() == pytest.approx(1.01 + (100.25 - 100.02) * 0.5)  # the next grid point
    grid.consume()
    grid.update(1.02, 3.0, 120.0, True)  # a backward jump (a peer forced the beat)
    due = grid.due()
    assert due is not None and 1.02 - LATE <= due <= 1.02 + 0.125 + 1e-9


def test_nonsense_is_refused_or_ignored() -> None:
    for bad in (0, -1, math.nan, math.inf):
        with pytest.raises(ValueError):
            BeatGrid(bad)
    grid = BeatGrid(2)
    grid.update(0.0, 0.0, 120.0, True)
    for reading in ((0.1, math.nan, 120.0), (0.1, 0.2, 0.0), (0.1, 0.2, math.inf)):
        assert grid.update(reading[0], reading[1], reading[2], True) is False
    assert grid.tempo == 120.0 and grid.due() == 0.0


# -- the command line, before any Link ------------------------------------------------------
def test_without_the_extra_link_says_how_to_install_it(tmp_path: Path) -> None:
    """aalink shadowed by a module that fails to import, as on a default install."""
    (tmp_path / "aalink.py").write_text("raise ImportError('No module named aalink')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([CHARMIX, "link", "--to", "127.0.0.1:9"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and "pip install 'charmix[link]'" in done.stderr


@pytest.fixture
def lan() -> Iterator[Lan]:
    reason = Lan.available()
    if reason is not None:
        pytest.skip(reason)
    with Lan() as made:
        yield made


@pytest.mark.parametrize("args", [
    ["--per-beat", "0"], ["--per-beat", "1000"], ["--tempo", "0"], ["--tempo", "1000"],
    ["--quantum", "0"], ["--offset", "10000"], ["--offset", "nan"],
    ["--per-beat", "2", "--per-bar", "8"], ["--per-bar", "384", "--quantum", "1"],
    ["--to", "nowhere:99999"],
])
def test_absurd_options_are_refused_in_one_line(lan: Lan, args: list[str]) -> None:
    """Refused before Link starts; run in a namespace all the same, so that a check that let
    one through could not join a session on the machine's interfaces."""
    done = lan.host("a").run([CHARMIX, "link", *args], timeout=60)
    assert done.returncode == 2, (args, done.stderr)
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("charmix: "), done.stderr


# -- the real session, in namespaces --------------------------------------------------------
class Lines:
    """A process's output, one line at a time, on a thread; wait() polls with a deadline."""

    def __init__(self, stream, parse: Callable[[str], object] = str) -> None:
        self.items: list = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, args=(stream, parse), daemon=True)
        self.thread.start()

    def _read(self, stream, parse) -> None:
        for line in stream:
            with contextlib.suppress(ValueError):
                item = parse(line.rstrip("\n"))
                with self.cond:
                    self.items.append(item)
                    self.cond.notify_all()

    def wait(self, check: Callable[[list], object], timeout: float, what: str) -> object:
        deadline = time.monotonic() + timeout
        with self.cond:
            while not (result := check(self.items)):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}; last: {self.items[-5:]}")
                self.cond.wait(min(left, 0.5))
            return result


class Peer:
    """tests/fakes/linkpeer.py in a namespace: a Link peer that also receives the ticks."""

    def __init__(self, host: Host) -> None:
        self.proc = host.popen([sys.executable, str(FAKES / "linkpeer.py"), str(PORT)],
                               env={"PYTHONUNBUFFERED": "1"}, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.out = Lines(self.proc.stdout, json.loads)
        self.out.wait(lambda items: any("ready" in e for e in items), 60, "the peer to start")

    def send(self, **cmd: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()

    def report(self) -> dict:
        """The peer's session now (beat, tempo, playing, peers)."""
        n = len(self.out.items)
        self.send(report=True)
        return self.out.wait(lambda items: next(
            (e["report"] for e in items[n:] if "report" in e), None), 30, "a report")

    def peers(self, n: int) -> None:
        self.out.wait(lambda items: [e for e in items if "peers" in e][-1:] == [{"peers": n}],
                      60, f"{n} Link peer(s)")

    def ticks(self, after: float = -math.inf) -> list[dict]:
        with self.out.cond:
            return [e for e in self.out.items if e.get("address") == TICK and e["beat"] > after]

    def wait_ticks(self, n: int, after: float = -math.inf) -> list[dict]:
        self.out.wait(lambda items: len(self.ticks(after)) >= n, 60, f"{n} ticks")
        return self.ticks(after)

    def wait_beat(self, beat: float) -> None:
        deadline = time.monotonic() + 60
        while self.report()["beat"] < beat:
            assert time.monotonic() < deadline, f"the session never reached beat {beat}"
            time.sleep(0.1)


def start_bridge(host: Host, to: Host, *args: str) -> tuple[subprocess.Popen, Lines]:
    proc = host.popen([CHARMIX, "link", "--to", f"{to.ip}:{PORT}", *args],
                      env={"PYTHONUNBUFFERED": "1"}, stdout=subprocess.DEVNULL,
                      stderr=subprocess.PIPE, text=True)
    return proc, Lines(proc.stderr)


def phase_errors_ms(ticks: list[dict], per_beat: float) -> np.ndarray:
    """Each tick's arrival against its grid point, in ms of the peer's tempo at arrival."""
    beats = np.array([e["beat"] for e in ticks]) * per_beat
    tempo = np.array([e["tempo"] for e in ticks])
    return (beats - np.round(beats)) / per_beat * 60e3 / tempo


def stop_cleanly(proc: subprocess.Popen, lines: Lines, sig: int = signal.SIGINT) -> None:
    proc.send_signal(sig)
    assert proc.wait(30) == 0
    lines.thread.join(5)
    assert not any("Traceback" in line for line in lines.items), lines.items


def cpu() -> str:
    flags = Path("/proc/cpuinfo").read_text()
    model = next((line.split(":", 1)[1].strip() for line in flags.splitlines()
                  if line.startswith("model name")), "?")
    simd = [f for f in ("avx2", "avx512f") if f" {f}" in flags]
    return f"{model} ({', '.join(simd) or 'no avx2'}, {os.cpu_count()} cores)"


@needs_aalink
def test_ticks_follow_the_peers_tempo_phase_and_transport(lan: Lan) -> None:
    """The whole story against a second peer: on the grid, a tempo change, Stop, Start, the
    peer vanishing (the session goes on: this bridge is the session now), Ctrl-C."""
    a, b = lan.host("a"), lan.host("b")
    peer = Peer(b)
    per_beat = 2
    bridge, said = start_bridge(a, b, "--per-beat", str(per_beat))
    peer.peers(1)
    peer.out.wait(lambda items: any(e.get("address") == RATE and e["args"] == [0.0]
                                    for e in items), 60, "rate 0 (the daemon's external clock)")
    peer.send(tempo=120.0)
    peer.send(playing=True)
    ticks = peer.wait_ticks(16)[2:]
    err = phase_errors_ms(ticks, per_beat)
    grid = np.round(np.array([e["beat"] for e in ticks]) * per_beat)
    assert np.median(np.diff(grid)) == 1  # one tick per grid point
    assert np.median(np.abs(err)) < 20.0, err  # generous: a loaded machine delays some ticks

    # a tempo change: followed within one beat
    peer.send(tempo=150.0)
    changed = peer.report()
    assert changed["tempo"] == 150.0
    after = peer.wait_ticks(6, after=changed["beat"] + 1.0)
    err_after = phase_errors_ms(after, per_beat)
    assert np.median(np.abs(err_after)) < 20.0, err_after
    arrivals = np.array([e["beat"] for e in after])
    assert np.median(np.diff(arrivals)) == pytest.approx(1 / per_beat, abs=0.05)

    # Stop pauses: no tick more than a tick and a beat after it (a loaded machine's slack)
    peer.send(playing=False)
    stopped = peer.report()
    said.wait(lambda lines: "stopped" in lines[-1], 30, "the bridge to show 'stopped'")
    peer.wait_beat(stopped["beat"] + 4)
    late = [e["beat"] for e in peer.ticks(after=stopped["beat"] + 1.0 + 1 / per_beat)]
    assert late == [], late

    # Start resumes, on the grid
    peer.send(playing=True)
    started = peer.report()
    resumed = peer.wait_ticks(6, after=started["beat"])
    assert np.median(np.abs(phase_errors_ms(resumed, per_beat))) < 20.0
    # the figures: the steady ticks, and apart from them the first after Start (a grid point
    # passed between the bridge's last two readings of the session goes out late, at once)
    steady = phase_errors_ms(ticks + after + resumed[1:], per_beat)
    p50, p99 = np.percentile(np.abs(steady), [50, 99])
    print(f"\nLink → ticks over UDP (namespaces): {steady.size} ticks, phase error vs the "
          f"peer's beat: median {np.median(steady):+.2f} ms, |p50| {p50:.2f} ms, |p99| "
          f"{p99:.2f} ms, max {np.abs(steady).max():.2f} ms; first tick after Start "
          f"{phase_errors_ms(resumed[:1], per_beat)[0]:+.2f} ms; CPU {cpu()}")

    # the peer vanishes (killed: no goodbye); the bridge says so and keeps the session going
    peer.proc.kill()
    peer.proc.wait(10)
    said.wait(lambda lines: "0 peers" in lines[-1], 60, "the bridge to see 0 peers")
    assert bridge.poll() is None
    listen = ("import socket, sys\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
              f"s.bind(('0.0.0.0', {PORT})); s.settimeout(20)\n"
              "for _ in range(3): print(s.recv(512)[:13])\n")
    heard = b.run([sys.executable, "-c", listen], timeout=60)
    assert heard.returncode == 0 and heard.stdout.count("/charmix/tick") == 3, heard.stderr
    stop_cleanly(bridge, said)


@needs_aalink
def test_follow_tempo_sets_the_daemons_rate_and_offset_moves_the_ticks(lan: Lan) -> None:
    a, b, c = lan.host("a"), lan.host("b"), lan.host("c")
    peer = Peer(b)
    follower, follower_said = start_bridge(a, b, "--follow-tempo", "--per-beat", "2")
    peer.peers(1)
    peer.send(tempo=90.0)
    peer.send(playing=True)

    def rate(value: float) -> Callable[[list], bool]:
        return lambda items: any(e.get("address") == RATE and len(e["args"]) == 1
                                 and abs(e["args"][0] - value) < 1e-3 for e in items)  # f32

    peer.out.wait(rate(3.0), 60, "rate 3 (90 BPM × 2 / 60)")
    peer.send(tempo=150.0)
    peer.out.wait(rate(5.0), 60, "rate 5 (150 BPM × 2 / 60)")
    # absurd tempos from a peer: Link keeps every tempo within 20–999 BPM, and so does the rate
    peer.send(tempo=0.0)
    peer.out.wait(rate(0.667), 60, "rate 0.667 (0 BPM, clamped by Link to 20)")
    peer.send(tempo=5000.0)
    peer.out.wait(rate(33.3), 60, "rate 33.3 (5000 BPM, clamped by Link to 999)")
    assert follower.poll() is None
    peer.send(playing=False)
    n = len(peer.out.items)
    peer.out.wait(lambda items: rate(0.0)(items[n:]), 60, "rate 0 after Stop")
    assert peer.ticks() == []  # --follow-tempo sends no ticks
    stop_cleanly(follower, follower_said, signal.SIGTERM)

    # --offset -100: the ticks go out 100 ms ahead of the beat (a second bridge, from c).
    # Link shares Start/Stop as it happens, so a peer joining a playing session counts it as
    # stopped until its next Start: --no-start-stop ticks at once.
    peer.send(tempo=120.0)  # a beat of 500 ms: -100 ms is a fifth of it, not a wrap-around
    early, early_said = start_bridge(c, b, "--per-beat", "1", "--offset", "-100",
                                     "--no-start-stop")
    peer.peers(1)
    begun = peer.report()["beat"]
    ticks = peer.wait_ticks(6, after=begun + 1.0)[1:]
    err = phase_errors_ms(ticks, 1)
    assert np.median(err) == pytest.approx(-100.0, abs=25.0), err
    stop_cleanly(early, early_said)


@needs_aalink
def test_the_daemons_characters_land_on_the_beat(lan: Lan, tiny_model_dir: Path) -> None:
    """End to end: the peer's session → `charmix link` (namespace a) → ticks over the LAN → a
    real `charmix daemon` (namespace b) → its character frames → the peer, which stamps each
    character with its own beat at arrival. The characters' phase error is the bridge's plus
    the daemon's tick-to-character latency."""
    a, b = lan.host("a"), lan.host("b")
    peer = Peer(b)
    daemon = b.popen([CHARMIX, "daemon", "--models-dir", str(tiny_model_dir), "--listen",
                      "0.0.0.0:7770", "--allow", "10.77.0.0/24", "--send", f"127.0.0.1:{PORT}",
                      "--rate", "20", "--no-echo", "--status-every", "0"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    daemon_said = Lines(daemon.stderr)
    bridge = a.popen([CHARMIX, "link", "--to", f"{b.ip}:7770", "--per-beat", "2"],
                     env={"PYTHONUNBUFFERED": "1"}, stdout=subprocess.DEVNULL,
                     stderr=subprocess.PIPE, text=True)
    said = Lines(bridge.stderr)
    peer.peers(1)
    chars = path("char")
    daemon_said.wait(lambda lines: any("control in" in line for line in lines), 60,
                     "the daemon to listen")
    up = peer.report()["beat"]

    def silent() -> bool:
        """The daemon went over to the bridge's clock (the bridge's rate 0, re-sent every 2 s
        in case the daemon came up after it): no character for a beat."""
        last = max((e["beat"] for e in list(peer.out.items) if e.get("address") == chars),
                   default=up)
        return peer.report()["beat"] > max(last, up) + 1.0

    deadline = time.monotonic() + 60
    while not silent():
        assert time.monotonic() < deadline, "the daemon never went over to the bridge's clock"
    peer.send(tempo=100.0)
    peer.send(playing=True)
    started = peer.report()["beat"]
    peer.out.wait(lambda items: sum(1 for e in items if e.get("address") == chars
                                    and e["beat"] > started) >= 16, 60, "16 characters")
    got = [e for e in peer.out.items if e.get("address") == chars and e["beat"] > started]
    err = phase_errors_ms(got[1:], 2)
    p50, p99 = np.percentile(np.abs(err), [50, 99])
    print(f"\nLink → charmix link → daemon → characters (namespaces): {err.size} characters, "
          f"phase error vs the peer's beat: median {np.median(err):+.2f} ms, |p50| {p50:.2f} "
          f"ms, |p99| {p99:.2f} ms; CPU {cpu()}")
    grid = np.round(np.array([e["beat"] for e in got[1:]]) * 2)
    assert np.median(np.diff(grid)) == 1  # a character per grid point
    assert np.median(np.abs(err)) < 30.0, err
    stop_cleanly(bridge, said)
    daemon.send_signal(signal.SIGINT)
    assert daemon.wait(30) == 0, daemon_said.items[-5:]


# -- the bridge's own logic, on a stand-in session (no Link, no network but loopback) -------
class FakeSession:
    """What LinkBridge.step reads of an aalink.Link."""

    def __init__(self) -> None:
        self.beat, self.tempo, self.playing, self.num_peers = 0.0, 120.0, False, 0


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        self.t += 0.0001
        return self.t


@needs_aalink
def test_status_line_and_the_rate_re_sent_for_a_late_daemon() -> None:
    """--follow-tempo's rate from the tempo (0 while stopped), sent on change and re-sent every
    --resend s; the status line (a line per change off a terminal)."""
    from charmix.controllers.abletonlink import LinkBridge, LinkOptions
    from charmix.controllers.sender import Sender

    session, clock, out = FakeSession(), Clock(), io.StringIO()
    with OscReceiver() as rx, Sender([("127.0.0.1", rx.port)]) as sender:
        bridge = LinkBridge(sender, LinkOptions(per_beat=2, follow_tempo=True, resend=1.0),
                            out=out, now=clock)
        bridge.step(session)
        rx.wait_for("rate")
        session.tempo, session.playing, session.num_peers, session.beat = 90.0, True, 2, 5.5
        bridge.step(session)
        assert bridge.rate == 3.0
        for _ in range(3):  # the same rate, once a second of the bridge's clock
            clock.t += 1.0
            bridge.step(session)
        deadline = time.monotonic() + 30
        while len([m for m in rx.of("rate") if m.params == (3.0,)]) < 4:
            assert time.monotonic() < deadline, rx.of("rate")
            time.sleep(0.01)
    lines = out.getvalue().splitlines()
    assert lines == [
        "charmix link: 0 peers · 120.0 BPM · beat 0.00 of 4 ●○○○ · stopped · rate 0 char/s",
        "charmix link: 2 peers · 90.0 BPM · beat 1.50 of 4 ○●○○ · playing · rate 3 char/s",
    ]
