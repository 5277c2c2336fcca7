"""Benchmarks for the charmix daemon: one command, one table (the numbers in docs/performance.md).

    .venv/bin/python benchmarks/bench_daemon.py                    # the shipped models
    .venv/bin/python benchmarks/bench_daemon.py --models-dir DIR   # any folder of .onnx models
    .venv/bin/python benchmarks/bench_daemon.py --models-dir models/fp32   # the float32 originals
    .venv/bin/python benchmarks/bench_daemon.py --quick            # shorter runs, rougher numbers
    .venv/bin/python benchmarks/bench_daemon.py --markdown         # the table as Markdown

What is measured, and how:

* burst: the daemon's full step (every model + mix + sample + encoding and sending the frame over
  UDP) as fast as possible, in-process, after a warm-up. Reported by the wall clock and per
  CPU-second of the stepping thread (the same on an idle machine; on a loaded one the second is
  what the daemon would do with a core to itself). Compared with
  - raw onnxruntime: the same sessions stepped in a bare loop, in rounds alternating with the
    full step so that load changes hit both alike (the floor the daemon can reach; the difference
    is the pipeline's overhead), and
  - a naive PyTorch loop: an nn.Embedding + nn.LSTM + nn.Linear of each model's size (from its
    metadata; random weights — only the cost matters), stepped one character at a time with
    softmax, a linear mix and torch.multinomial, one thread (as the daemon runs), no_grad.
* tick → char: `charmix daemon --rate 0` as a subprocess; a /charmix/tick datagram is sent and
  the time until the datagram carrying /charmix/char arrives back is taken, over real UDP.
* weights → char: the daemon at 20 chars/s, slew 0; /charmix/weights alternates between two
  targets at random moments; the time from sending until the first frame whose /charmix/weights
  shows the new target arrives. The goal is one clock period + 2 ms (a message can arrive just
  after a step started, so it must wait for the next one).
* clock lateness: the daemon's clock at 20 chars/s, in-process, against its absolute deadlines.
* CPU, RSS: the daemon subprocess at 20 chars/s and idle (external clock, no ticks), from
  /proc/PID/stat; RSS from /proc/PID/status at the end.
* startup: from spawning `charmix daemon` to the first /charmix/char datagram.

torch is imported here only, for the comparison; the daemon never imports it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message_builder import OscMessageBuilder

from charmix.daemon import protocol
from charmix.daemon.engine.model import StepModel
from charmix.daemon.engine.modelformat import EMBEDDING_KEY
from charmix.daemon.runtime.config import build
from charmix.daemon.runtime.daemon import Daemon
from charmix.daemon.runtime.startup import STEP_PATH_ENV, StartupError, load_models

ROOT = Path(__file__).resolve().parent.parent
PATHS = {a.path.removeprefix(protocol.PREFIX + "/"): a.path for a in protocol.TABLE}
CHAR = (PATHS["char"] + "\x00").encode()
CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass
class Row:
    what: str
    value: str
    goal: str = ""
    ok: bool | None = None


def message(path: str, *args: tuple[str, object]) -> bytes:
    builder = OscMessageBuilder(path)
    for tag, value in args:
        builder.add_arg(value, tag)
    return builder.build().dgram


def pct(values: list[float] | np.ndarray, q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


class Sink:
    """A UDP socket that receives (and on request reads) what the daemon sends."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def drain(self) -> None:
        self.sock.setblocking(False)
        try:
            while True:
                self.sock.recv(65535)
        except BlockingIOError:
            pass
        finally:
            self.sock.setblocking(True)

    def close(self) -> None:
        self.sock.close()


def quiet_log() -> logging.Logger:
    log = logging.getLogger("bench")
    log.addHandler(logging.NullHandler())
    log.propagate = False
    return log


def daemon_models(models_dir: Path) -> list[StepModel]:
    """Exactly the models `charmix daemon --models-dir DIR` plays, through the daemon's own
    resolution (startup.load_models): a style-conditioned file in the folder (models/styles.onnx)
    is left out as the daemon leaves it out, so every measure here steps the same six models the
    daemon steps."""
    try:
        return load_models(build({"models_dir": models_dir}), quiet_log())
    except StartupError as exc:
        raise SystemExit(str(exc)) from None


def in_process(models_dir: Path, sink: Sink, **cli: object) -> Daemon:
    cfg = build({"models_dir": models_dir, "listen": "127.0.0.1:0", "seed": 1,
                 "send": [f"127.0.0.1:{sink.port}"], **cli})
    return Daemon(cfg, quiet_log())


# ------------------------------------------------------------------------------ throughput
@dataclass
class Rates:
    """chars/s by the wall clock, and per CPU-second of the stepping thread (what an otherwise
    idle core would give: on a loaded machine the two differ by the time spent waiting for a
    CPU)."""

    wall: float
    cpu: float


def _timed(fn: Callable[[], object]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this thread) that fn() took."""
    wall, cpu = time.perf_counter(), time.thread_time()
    fn()
    return time.perf_counter() - wall, time.thread_time() - cpu


def bench_throughput(models_dir: Path, n: int, rounds: int = 10) -> tuple[Rates, Rates]:
    """(full pipeline, raw onnxruntime) in alternating rounds on the same sessions, so that a
    change in machine load affects both sides of the comparison alike.

    Full = the daemon's step: models + mix + sample + OSC encode + send (to a draining socket).
    Raw = the same onnxruntime sessions stepped in a bare loop.
    """
    sink = Sink()
    drainer = threading.Thread(target=_drain_forever, args=(sink,), daemon=True)
    drainer.start()
    d = in_process(models_dir, sink)
    d.start(run_clock=False)
    models = d.engine.models
    tokens = [np.zeros(1, np.int64) for _ in models]
    per_round = max(1, n // rounds)

    def raw_loop() -> None:
        for _ in range(per_round):
            for m, t in zip(models, tokens, strict=True):
                m.step(t)

    totals = np.zeros(4)  # full wall, full cpu, raw wall, raw cpu
    try:
        d.clock.burst(200)  # warm-up
        raw_loop()
        for _ in range(rounds):
            totals[:2] += _timed(lambda: d.clock.burst(per_round))
            totals[2:] += _timed(raw_loop)
    finally:
        d.stop()
        sink.close()
    steps = per_round * rounds
    return Rates(steps / totals[0], steps / totals[1]), Rates(steps / totals[2], steps / totals[3])


def bench_breakdown(models_dir: Path, n: int) -> dict[str, float]:
    """CPU µs per character of each part of a step, measured separately on one engine."""
    sink = Sink()
    d = in_process(models_dir, sink)
    d.start(run_clock=False)
    engine, broadcaster = d.engine, d.broadcaster
    models = engine.models
    tokens = [np.zeros(1, np.int64) for _ in models]
    settings = d.controls.snapshot()
    frame = engine.step(settings, 0.05)

    def per_step(fn: Callable[[], object]) -> float:
        for _ in range(min(50, n)):
            fn()

        def loop() -> None:
            for _ in range(n):
                fn()

        return _timed(loop)[1] / n * 1e6

    try:
        models_us = per_step(lambda: [m.step(t) for m, t in zip(models, tokens, strict=True)])
        step_us = per_step(lambda: engine.step(settings, 0.05))
        out = {
            "models (onnxruntime)": models_us,
            "engine: mix, sample, attribution, entropy": step_us - models_us,
            "settings snapshot": per_step(d.controls.snapshot),
            "OSC encode + pack": per_step(lambda: broadcaster.frame_datagrams(frame)),
            "UDP send": per_step(lambda: broadcaster.send_frame(frame))
            - per_step(lambda: broadcaster.frame_datagrams(frame)),
        }
    finally:
        d.stop()
        sink.close()
    return out


def bench_cold(models_dir: Path, n: int, pause: float = 0.05) -> tuple[float, float]:
    """CPU µs per character of the models alone, stepped back to back and after a `pause` (as
    the daemon steps them at 1/pause chars/s): the difference is what the caches lose while the
    daemon sleeps, and it is most of the CPU the daemon uses at a performance rate."""
    models = daemon_models(models_dir)
    token = np.zeros(1, np.int64)

    def one() -> float:
        t = time.thread_time()
        for m in models:
            m.step(token)
        return time.thread_time() - t

    for _ in range(50):
        one()
    hot = [one() for _ in range(n)]
    cold = []
    for _ in range(max(20, n // 20)):
        time.sleep(pause)
        cold.append(one())
    return float(np.median(hot)) * 1e6, float(np.median(cold)) * 1e6


def _drain_forever(sink: Sink) -> None:
    try:
        while True:
            sink.sock.recv(65535)
    except OSError:
        return


def bench_torch(models_dir: Path, n: int) -> Rates:
    """A naive PyTorch loop of the same model sizes, one character at a time."""
    import torch
    from torch import nn

    torch.set_num_threads(1)
    torch.manual_seed(0)
    infos = [m.info for m in daemon_models(models_dir)]
    nets = []
    for info in infos:
        v, emb = len(info.vocab), int(info.meta.get(EMBEDDING_KEY, 64))
        nets.append((nn.Embedding(v, emb), nn.LSTM(emb, info.hidden, info.layers),
                     nn.Linear(info.hidden, v)))
    v = len(infos[0].vocab)
    weights = torch.full((len(nets),), 1.0 / len(nets))
    state = [(torch.zeros(i.layers, 1, i.hidden), torch.zeros(i.layers, 1, i.hidden))
             for i in infos]
    token = torch.zeros(1, 1, dtype=torch.long)

    def step() -> None:
        nonlocal token
        probs = []
        for k, (embed, lstm, head) in enumerate(nets):
            out, state[k] = lstm(embed(token), state[k])
            probs.append(torch.softmax(head(out[0, 0]) / 0.8, dim=-1))
        p_mix = (weights[:, None] * torch.stack(probs)).sum(0)
        token = torch.multinomial(p_mix, 1).view(1, 1) % v

    def loop() -> None:
        for _ in range(n):
            step()

    with torch.no_grad():
        for _ in range(100):
            step()
        wall, cpu = _timed(loop)
    return Rates(n / wall, n / cpu)


# --------------------------------------------------------------------- the daemon process
def die_with_parent() -> None:
    """preexec_fn: the daemon gets SIGTERM if this process dies first (Linux), so a run that is
    killed (a timeout, Ctrl-C) leaves no daemon behind holding its ports."""
    if sys.platform == "linux":
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Proc:
    """`charmix daemon` as a subprocess sending to a Sink."""

    def __init__(self, models_dir: Path, sink: Sink, *args: str) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        self.spawned = time.perf_counter()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "charmix.daemon.cli", "daemon", "--models-dir",
             str(models_dir), "--listen", f"127.0.0.1:{self.port}",
             "--send", f"127.0.0.1:{sink.port}", "--no-echo", "--status-every", "0", *args],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=die_with_parent,
        )
        self.ctl = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send(self, data: bytes) -> None:
        self.ctl.sendto(data, ("127.0.0.1", self.port))

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.ctl.close()
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def wait_first_char(sink: Sink, timeout: float = 30.0) -> float:
    """When the next datagram carrying /charmix/char arrived; TimeoutError after `timeout`."""
    deadline = time.perf_counter() + timeout
    while True:
        sink.sock.settimeout(max(0.001, deadline - time.perf_counter()))
        data = sink.sock.recv(65535)
        if CHAR in data:
            return time.perf_counter()


def wait_ready(sink: Sink, timeout: float = 30.0) -> None:
    """The daemon announces itself (/charmix/models) once its control socket is open."""
    sink.sock.settimeout(timeout)
    sink.sock.recv(65535)


def bench_startup(models_dir: Path, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        sink = Sink()
        p = Proc(models_dir, sink)
        try:
            out.append(wait_first_char(sink) - p.spawned)
        finally:
            p.stop()
            sink.close()
    return out


def bench_tick(models_dir: Path, n: int) -> list[float]:
    sink = Sink()
    p = Proc(models_dir, sink, "--rate", "0")
    tick = message(PATHS["tick"])
    latencies = []
    try:
        wait_ready(sink)
        p.send(tick)
        wait_first_char(sink)  # up and warm
        for _ in range(50 + n):
            time.sleep(0.002)  # let the rest of the previous frame arrive
            sink.drain()
            start = time.perf_counter()
            p.send(tick)
            latencies.append(wait_first_char(sink, 5.0) - start)
    finally:
        p.stop()
        sink.close()
    return latencies[50:]


def bench_weights(models_dir: Path, n: int, rate: float) -> list[float]:
    sink = Sink()
    count = len(daemon_models(models_dir))
    targets = [np.eye(count)[0], np.eye(count)[1 % count]]
    p = Proc(models_dir, sink, "--rate", str(rate), "--slew", "0")
    latencies = []
    weights_path = PATHS["weights"]
    try:
        wait_first_char(sink)
        for k in range(n):
            target = targets[k % 2]
            time.sleep(random.uniform(0.0, 1.5 / rate))  # a random phase against the clock
            sink.drain()
            start = time.perf_counter()
            p.send(message(weights_path, *[("f", float(w)) for w in target]))
            while True:
                data = sink.sock.recv(65535)
                arrived = time.perf_counter()
                if CHAR not in data:
                    continue
                sent = next((m.params for m in OscBundle(data) if m.address == weights_path), None)
                if sent is not None and np.allclose(sent, target, atol=1e-6):
                    latencies.append(arrived - start)
                    break
    finally:
        p.stop()
        sink.close()
    return latencies


def bench_lateness(models_dir: Path, seconds: float, rate: float,
                   **cli: object) -> tuple[np.ndarray, int]:
    """Clock lateness of every step and the overruns over `seconds`, after 1 s to settle."""
    late, overruns, _ = bench_lateness_cpu(models_dir, seconds, rate, **cli)
    return late, overruns


def bench_lateness_cpu(models_dir: Path, seconds: float, rate: float,
                       **cli: object) -> tuple[np.ndarray, int, float]:
    """bench_lateness, and the daemon's CPU over the same seconds in % of one core (every thread
    of this process but the receiving one: the clock, control, OSCQuery, status); also
    bench_voices', with voices=K in `cli`."""
    sink = Sink()
    drainer = threading.Thread(target=_drain_forever, args=(sink,), daemon=True)
    drainer.start()
    d = in_process(models_dir, sink, rate=rate, **cli)
    d.start()
    receiver = time.pthread_getcpuclockid(drainer.ident or 0)
    try:
        time.sleep(1.0)  # settle
        d.clock.reset_lateness()
        overruns = d.controls.counters.overruns
        cpu0, mine0, t0 = time.process_time(), time.clock_gettime(receiver), time.perf_counter()
        time.sleep(seconds)
        cpu = (time.process_time() - cpu0) - (time.clock_gettime(receiver) - mine0)
        cpu_pct = cpu / (time.perf_counter() - t0) * 100
        late = d.clock.lateness()
        overruns = d.controls.counters.overruns - overruns
    finally:
        d.stop()
        sink.close()
    return late, overruns, cpu_pct


def bench_cpu(models_dir: Path, seconds: float, *args: str) -> tuple[float, float]:
    """(% of one core, RSS MiB) of the daemon process over `seconds`."""
    sink = Sink()
    drainer = threading.Thread(target=_drain_forever, args=(sink,), daemon=True)
    p = Proc(models_dir, sink, *args)
    try:
        wait_ready(sink)
        drainer.start()
        time.sleep(2.0)  # past startup
        cpu0, t0 = p.cpu_seconds(), time.perf_counter()
        time.sleep(seconds)
        cpu = (p.cpu_seconds() - cpu0) / (time.perf_counter() - t0) * 100
        return cpu, p.rss_mib()
    finally:
        p.stop()
        sink.close()


# ------------------------------------------------------------------------------- the table
def stage(name: str) -> None:
    """Progress on stderr: the whole run takes a few minutes."""
    print(f"  … {name}", file=sys.stderr, flush=True)


Measure = Callable[[Path, bool], tuple[list[Row], dict]]


def m_throughput(models_dir: Path, quick: bool) -> tuple[list[Row], dict]:
    n = 1000 if quick else 5000
    stage("burst throughput, raw onnxruntime, naive PyTorch")
    full, ort_only = bench_throughput(models_dir, n)
    torch_rate = bench_torch(models_dir, max(200, n // 5))
    overhead = ort_only.cpu / full.cpu - 1
    raw = dict(burst=full.wall, burst_cpu=full.cpu, raw_ort=ort_only.wall,
               raw_ort_cpu=ort_only.cpu, torch=torch_rate.wall, torch_cpu=torch_rate.cpu,
               overhead=overhead)
    rows = [
        Row("burst, full step (models+mix+sample+OSC out)", f"{full.wall:,.0f} chars/s",
            ">= 2,000 chars/s", full.wall >= 2000),
        Row("  the same, per CPU-second of the stepping thread", f"{full.cpu:,.0f} chars/s"),
        Row("raw onnxruntime, models alone", f"{ort_only.wall:,.0f} chars/s"),
        Row("  the same, per CPU-second", f"{ort_only.cpu:,.0f} chars/s"),
        Row("pipeline overhead vs raw onnxruntime (CPU time)", f"{overhead * 100:.0f} %",
            "<= 25 %", overhead <= 0.25),
        Row("naive PyTorch loop (1 thread)", f"{torch_rate.wall:,.0f} chars/s"),
        Row("daemon vs naive PyTorch (CPU time)", f"{full.cpu / torch_rate.cpu:.1f}x", ">= 5x",
            full.cpu / torch_rate.cpu >= 5),
    ]
    return rows, raw


def m_breakdown(models_dir: Path, quick: bool) -> tuple[list[Row], dict]:
    n = 1000 if quick else 5000
    parts = bench_breakdown(models_dir, max(200, n // 5))
    rows = [Row(f"  CPU per char: {name}", f"{us:,.0f} µs") for name, us in parts.items()]
    hot, cold = bench_cold(models_dir, max(200, n // 5))
    rows += [
        Row("  models, stepped back to back (median)", f"{hot:,.0f} µs", "<= 600 µs", hot <= 600),
        Row("  models, stepped after a 50 ms pause (median)", f"{cold:,.0f} µs"),
        Row("  after a pause / back to back", f"{cold / hot:.2f}x", "<= 1.2x", cold / hot <= 1.2),
    ]
    return rows, dict(breakdown_us=parts, models_hot_us=hot, models_cold_us=cold)


def m_tick(models_dir: Path, quick: bool) -> tuple[list[Row], dict]:
    stage("tick -> char latency")
    ticks = bench_tick(models_dir, 200 if quick else 1000)
    p50, p99 = pct(ticks, 50) * 1e3, pct(ticks, 99) * 1e3
    rows = [
        Row("/charmix/tick -> /charmix/char, p50", f"{p50:.2f} ms", "<= 1 ms", p50 <= 1),
        Row("/charmix/tick -> /charmix/char, p99", f"{p99:.2f} ms", "<= 2 ms", p99 <= 2),
    ]
    return rows, dict(tick_p50_ms=p50, tick_p99_ms=p99)


RATE = 20.0


def m_weights(models_dir: Path, quick: bool) -> tuple[list[Row], dict]:
    period_ms = 1e3 / RATE
    stage("weights -> char latency")
    lat = bench_weights(models_dir, 20 if quick else 60, RATE)
    w50, wmax = pct(lat, 50) * 1e3, max(lat) * 1e3
    rows = [
        Row(f"weights -> first char with them (at {RATE:g}/s), p50", f"{w50:.1f} ms"),
        Row(f"weights -> first char with them (at {RATE:g}/s), max", f"{wmax:.1f} ms",
            f"<= {period_ms + 2:g} ms", wmax <= period_ms + 2),
    ]
    return rows, dict(weights_p50_ms=w50, weights_max_ms=wmax)


def m_lateness(models_dir: Path, quick: bool) -> tuple[list[Row], dict]:
    seconds = 8.0 if quick else 30.0
    stage(f"clock lateness ({seconds:g} s)")
    late, overruns = bench_lateness(models_dir, seconds, RATE)
    l50, l99, lmax = (pct(late, q) * 1e3 for q in (50, 99, 100))
    rows = [
        Row(f"clock lateness at {RATE:g}/s over {seconds:g} s, p50", f"{l50:.3f} ms"),
        Row(f"clock lateness at {RATE:g}/s over {seconds:g} s, p99", f"{l99:.3f} ms", "<= 1 ms",
            l99 <= 1),
        Row(f"clock lateness at {RATE:g}/s over {seconds:g} s, max", f"{lmax:.2f} ms"),
        Row("missed deadlines (overruns)", f"{overruns}", "0", overruns == 0),
    ]
    return rows, dict(late_p50_ms=l50, late_p99_ms=l99, late_max_ms=lmax, overruns=overruns)


def m_cpu(models_dir: Path, quick: bool) -> tuple[list[Row], dict]:
    cpu_seconds = 8.0 if quick else 20.0
    stage(f"CPU busy and idle ({2 * cpu_seconds:g} s)")
    busy, rss = bench_cpu(models_dir, cpu_seconds, "--rate", str(RATE))
    idle, _ = bench_cpu(models_dir, cpu_seconds, "--rate", "0")
    rows = [
        Row(f"CPU at {RATE:g} chars/s", f"{busy:.1f} % of a core", "<= 3 %", busy <= 3),
        Row("CPU idle (external clock, no ticks)", f"{idle:.2f} % of a core", "<= 0.3 %",
            idle <= 0.3),
        Row(f"RSS at {RATE:g} chars/s", f"{rss:.0f} MiB"),
    ]
    return rows, dict(cpu_busy=busy, cpu_idle=idle, rss_mib=rss)


def m_startup(models_dir: Path, quick: bool) -> tuple[list[Row], dict]:
    stage("startup")
    starts = bench_startup(models_dir, 2 if quick else 3)
    rows = [Row("startup to first character (worst)", f"{max(starts):.2f} s", "<= 2 s",
                max(starts) <= 2)]
    return rows, dict(startup_s=starts)


MEASURES: list[Measure] = [m_throughput, m_breakdown, m_tick, m_weights, m_lateness, m_cpu,
                           m_startup]


@contextmanager
def step_path(path: str | None) -> Iterator[None]:
    """The daemon's models step through `path` (startup.STEP_PATH_ENV: in-process daemons read
    it at start, subprocesses inherit it); None leaves the daemon's default."""
    before = os.environ.get(STEP_PATH_ENV)
    if path is not None:
        os.environ[STEP_PATH_ENV] = path
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(STEP_PATH_ENV, None)
        else:
            os.environ[STEP_PATH_ENV] = before


def run(models_dir: Path, quick: bool, paths: Sequence[str | None] = (None,)
        ) -> tuple[list[list[Row]], list[dict]]:
    """Every measure, once per step path; with several paths each measure runs for each path
    in turn before the next measure, so that a change in the machine's load over the run hits
    the paths alike. Returns rows and raw numbers per path."""
    daemon_models(models_dir)  # the daemon's one-line error (no models, a bad file) and exit
    rows: list[list[Row]] = [[] for _ in paths]
    raws: list[dict] = [{} for _ in paths]
    for measure in MEASURES:
        for i, path in enumerate(paths):
            if len(paths) > 1:
                stage(f"  (step path: {path})")
            with step_path(path):
                r, raw = measure(models_dir, quick)
            rows[i] += r
            raws[i].update(raw)
    return rows, raws


def render(columns: list[list[Row]], markdown: bool, heads: Sequence[str] = ("result",)) -> str:
    """One table: the measure, one value column per step path, the goal, and whether the last
    column meets it."""
    mark = {True: "yes", False: "NO", None: ""}
    rows = [(c[0].what, *(r.value for r in c), c[-1].goal, mark[c[-1].ok])
            for c in zip(*columns, strict=True)]
    head = ("measure", *heads, "goal", "met")
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|---|" + "--:|" * len(heads) + "---|---|"]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    return "\n".join(
        "  ".join(c.ljust(w) if i in (0, len(head) - 2) else c.rjust(w)
                  for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip()
        for r in [head, *rows]
    )


def cpu_line() -> tuple[str, str]:
    """(the CPU class this machine's figures belong to, a line naming its model and SIMD flags)."""
    model, flags = "unknown CPU", set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name") and model == "unknown CPU":
            model = line.split(":", 1)[1].strip()
        elif line.startswith("flags") and not flags:
            flags = set(line.split(":", 1)[1].split())
    simd = sorted(f for f in flags if f.startswith(("avx", "amx")) or "vnni" in f)
    kind = "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "other"
    return kind, f"{model}, {os.cpu_count()} cores, flags: {' '.join(simd) or 'no AVX'}"


def describe(models_dir: Path) -> str:
    infos = [m.info for m in daemon_models(models_dir)]
    sizes = sorted({f"{i.layers}x{i.hidden}" for i in infos})
    weights = sorted({i.weights for i in infos})
    load = os.getloadavg()[0]
    return (f"{len(infos)} models ({', '.join(i.name for i in infos)}; LSTM {', '.join(sizes)}, "
            f"weights {', '.join(weights)}, vocab {len(infos[0].vocab)}), {cpu_line()[1]}; "
            f"onnxruntime {ort.__version__}, load average {load:.2f} at start, "
            f"Python {sys.version.split()[0]}")


def update_docs(doc: Path, name: str, text: str) -> None:
    """Replace the block between `<!-- bench: NAME -->` and `<!-- end bench: NAME -->` in doc
    (appended at the end when the page has none yet): `make bench` refreshes the page's table
    for this machine's CPU class and leaves the others'."""
    start, end = f"<!-- bench: {name} -->\n", f"<!-- end bench: {name} -->"
    page = doc.read_text(encoding="utf-8")
    block = start + text.rstrip("\n") + "\n" + end
    if start in page and end in page:
        page = re.sub(re.escape(start) + r".*?" + re.escape(end), lambda _: block, page,
                      flags=re.S)
    else:
        page = page.rstrip("\n") + "\n\n" + block + "\n"
    doc.write_text(page, encoding="utf-8")


COMPARE = ("run", "bound")
COMPARE_HEADS = ("before: session.run", "after: bound buffers")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--quick", action="store_true", help="shorter runs (rougher numbers)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    parser.add_argument("--compare", action="store_true",
                        help="every measure with the models stepping through session.run per "
                             "call (before issue #23) and through bound buffers (after), in "
                             "one run")
    parser.add_argument("--docs", type=Path,
                        help="write the table into this page's block for this CPU class "
                             "(docs/performance.md: `make bench`)")
    args = parser.parse_args()
    about = describe(args.models_dir)
    print(about, flush=True)
    paths = COMPARE if args.compare else (None,)
    heads = COMPARE_HEADS if args.compare else ("result",)
    columns, raws = run(args.models_dir, args.quick, paths)
    table = render(columns, args.markdown or args.docs is not None, heads)
    print(table)
    if args.json:
        raw = dict(zip(COMPARE, raws, strict=True)) if args.compare else raws[0]
        args.json.write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
    if args.docs:
        kind, _ = cpu_line()
        when = time.strftime("%Y-%m-%d", time.gmtime())
        update_docs(args.docs, f"daemon {kind}",
                    f"`make bench` on {when}{', --quick' if args.quick else ''}: {about}\n\n"
                    f"{table}\n")


if __name__ == "__main__":
    main()
