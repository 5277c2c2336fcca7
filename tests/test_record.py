"""Record → replay → render with real models and real files, including a file cut short by a crash.

The recorder is driven the way the daemon drives it (settings snapshots and frames from the
clock thread, commands between steps), and the file is read back by `charmix replay` and
`charmix render` as separate commands.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from charmix.daemon.cli import app
from charmix.daemon.engine.mixer import Engine, Settings
from charmix.daemon.engine.model import load_model
from charmix.daemon.recording.reader import PerformanceError, read
from charmix.daemon.recording.writer import Recorder, RecordError

LOG = logging.getLogger("test.record")


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def charmix(*args: str, check: bool = True) -> Run:
    """The real `charmix` command, in this process (a subprocess would spend seconds importing
    onnxruntime for every call)."""
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    run = Run(result.exit_code, result.stdout, result.stderr)
    if check and run.returncode != 0:
        raise AssertionError(f"charmix {' '.join(args)} failed: {run.stderr}")
    return run


def perform(paths, out: Path, voices: int = 1, steps: int = 200, prime_at: int = 60,
            start_at: int = 0) -> list[str]:
    """A scripted performance: weights, temperature, mode and top-k move at chosen steps, a
    prime, a reset and a seed arrive between steps; returns the text each voice wrote while
    recording. With start_at > 0 the recording begins mid-performance."""
    engine = Engine([load_model(p) for p in paths], seed=5, voices=voices)
    n = len(paths)
    settings = [Settings(weights=np.ones(n), slew=0.2) for _ in range(voices)]
    recorder: Recorder | None = None
    texts = [""] * voices
    for k in range(steps + start_at):
        if k == start_at:
            recorder = Recorder(out, LOG)
            recorder.begin(engine, settings, 20.0)
        if k == start_at + 30:
            settings = list(settings)
            settings[0] = Settings(weights=np.eye(n)[0], temperature=0.6, slew=0.5)
        if k == start_at + 90:
            settings = list(settings)
            settings[-1] = Settings(weights=np.eye(n)[-1], mode="geometric", topk=5, slew=0.0)
        if k == start_at + prime_at:
            engine.prime("To be, or not", voice=voices - 1)
            if recorder:
                recorder.command(engine.step_count, voices - 1, "prime", text="To be, or not")
                recorder.command(engine.step_count, voices - 1, "primed")  # fed at once
        if k == start_at + 120:
            engine.reset(0)
            engine.reseed(77, 0)
            if recorder:
                recorder.command(engine.step_count, 0, "reset")
                recorder.command(engine.step_count, 0, "seed", seed=77)
        dt = 0.05 if k % 7 else 0.013  # ticks: measured intervals, not the nominal period
        frames = engine.step_voices(settings, dt)
        if recorder:
            recorder.step(engine.step_count - 1, dt, settings, frames)
            for f in frames:
                texts[f.voice] += f.char
        engine.advance()
    assert recorder is not None
    recorder.close()
    return texts


@pytest.fixture
def paths(tiny_models):
    return [str(p) for p in tiny_models.values()]


def test_replay_gives_the_recorded_text_character_for_character(paths, tmp_path) -> None:
    take = tmp_path / "take.jsonl"
    texts = perform(paths, take)
    perf = read(take)
    assert perf.ended and perf.notes == []
    assert perf.text(0) == texts[0]
    header = perf.header
    assert [m["name"] for m in header["models"]] == ["shakespeare", "linux", "bible"]
    assert all(re.fullmatch(r"[0-9a-f]{64}", m["sha256"]) for m in header["models"])
    assert header["seeds"] == [5]
    kinds = [e["k"] for e in perf.events]
    assert kinds.count("step") == 200 and kinds.count("cmd") == 4
    assert [e["s"] for e in perf.events if e["k"] == "set"] == [30, 90]  # where they took effect
    proc = charmix("replay", str(take))
    assert proc.stdout == texts[0] + "\n"
    assert "identical to the recording" in proc.stderr


def test_a_recording_begun_mid_performance_replays_exactly(paths, tmp_path) -> None:
    take = tmp_path / "late.jsonl"
    texts = perform(paths, take, start_at=75)
    assert charmix("replay", str(take)).stdout == texts[0] + "\n"


def test_voices_are_recorded_and_replayed_each(paths, tmp_path) -> None:
    take = tmp_path / "voices.jsonl"
    texts = perform(paths, take, voices=3, steps=150)
    assert texts[0] != texts[2]
    for v in range(3):
        assert charmix("replay", str(take), "--voice", str(v)).stdout == texts[v] + "\n"


def test_a_file_cut_short_by_a_crash_replays_up_to_the_cut(paths, tmp_path) -> None:
    take = tmp_path / "take.jsonl"
    texts = perform(paths, take)
    data = take.read_bytes()
    lines = data.split(b"\n")
    cut = tmp_path / "crashed.jsonl"
    keep = b"\n".join(lines[:150])  # no end line, and the 151st line half written
    cut.write_bytes(keep + b"\n" + lines[150][: len(lines[150]) // 2])
    perf = read(cut)
    assert not perf.ended and any("cut short" in n for n in perf.notes)
    recorded = perf.text(0)
    assert recorded and texts[0].startswith(recorded)
    proc = charmix("replay", str(cut))
    assert proc.stdout == recorded + "\n"
    assert "cut short" in proc.stderr and "identical" in proc.stderr


def test_other_models_play_the_same_gestures(paths, tmp_path, own_vocab_model) -> None:
    take = tmp_path / "take.jsonl"
    texts = perform(paths, take)
    other = [paths[2], paths[0], str(own_vocab_model)]
    proc = charmix("replay", str(take), *sum((["--model", p] for p in other), []))
    assert len(proc.stdout) == len(texts[0]) + 1 and proc.stdout != texts[0] + "\n"
    assert "through other models" in proc.stderr
    bad = charmix("replay", str(take), "--model", paths[0], check=False)
    assert bad.returncode == 1 and "give as many --model" in bad.stderr


def test_a_changed_model_file_is_named_and_the_divergence_reported(paths, tmp_path) -> None:
    take = tmp_path / "take.jsonl"
    perform(paths, take)
    perf = json.loads(take.read_text().splitlines()[0])
    perf["models"][0]["sha256"] = "0" * 64
    lines = take.read_text().splitlines()
    lines[0] = json.dumps(perf)
    take.write_text("\n".join(lines) + "\n")
    proc = charmix("replay", str(take), check=False)
    assert "sha256 differs" in proc.stderr


def test_render_html_srt_json(paths, tmp_path) -> None:
    take = tmp_path / "take.jsonl"
    texts = perform(paths, take)
    page = charmix("render", str(take), "--html").stdout
    assert "<svg" in page and page.count("<polyline") == 3
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # offline
    shown = re.sub(r"<[^>]+>", "", page.split('<pre id="text">')[1].split("</pre>")[0])
    import html as html_lib

    assert html_lib.unescape(shown) == texts[0]
    srt = charmix("render", str(take), "--srt").stdout
    blocks = [b for b in srt.strip().split("\n\n") if b]
    assert blocks and blocks[0].startswith("1\n00:00:0")
    stamp = re.compile(r"^\d+\n(\d\d):(\d\d):(\d\d),(\d{3}) --> (\d\d):(\d\d):(\d\d),(\d{3})\n")
    starts = []
    for b in blocks:
        m = stamp.match(b)
        assert m, b
        h, mi, s, ms = map(int, m.groups()[:4])
        starts.append(h * 3600 + mi * 60 + s + ms / 1000)
    assert starts == sorted(starts)
    digest = json.loads(charmix("render", str(take), "--json").stdout)
    assert digest["voices"][0]["text"] == texts[0]
    assert digest["voices"][0]["weights"][0]["s"] == 0
    assert charmix("render", str(take), check=False).returncode == 1  # no format chosen


def test_unwritable_and_existing_paths_and_bad_files(tmp_path) -> None:
    existing = tmp_path / "x.jsonl"
    existing.write_text("")
    with pytest.raises(RecordError, match="never overwrites"):
        Recorder(existing, LOG)
    with pytest.raises(RecordError, match="cannot record"):
        Recorder(tmp_path / "missing" / "x.jsonl", LOG)
    junk = tmp_path / "junk.jsonl"
    junk.write_text("hello\n")
    with pytest.raises(PerformanceError, match="not a charmix performance"):
        read(junk)
    proc = charmix("replay", str(junk), check=False)
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1


def test_a_full_disk_is_one_warning_and_stops_only_the_recording(paths, tmp_path, caplog) -> None:
    full = Path("/dev/full")
    if not full.exists():
        pytest.skip("no /dev/full")
    engine = Engine([load_model(p) for p in paths], seed=1)
    s = [Settings(weights=np.ones(3))]
    recorder = Recorder(full, LOG, exclusive=False)
    with caplog.at_level(logging.WARNING, logger="test.record"):
        recorder.begin(engine, s, 20.0)
        for _ in range(50):
            recorder.step(engine.step_count, 0.05, s, engine.step_voices(s, 0.05))
        recorder.close()
    warnings = [r for r in caplog.records if "recording to" in r.getMessage()]
    assert len(warnings) == 1 and "No space left" in warnings[0].getMessage()
    assert recorder.failed is not None
    assert engine.step_count == 50


def test_realtime_replay_sends_the_frames_at_their_recorded_times(paths, tmp_path) -> None:
    """--realtime sends each regenerated frame over OSC (as the daemon does) when its recorded
    time comes: visualisers see the performance again, in order and at its pace."""
    from fakes.osc_receiver import OscReceiver

    take = tmp_path / "take.jsonl"
    texts = perform(paths, take, steps=60)
    lines = take.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines):  # re-time the steps: one every 20 ms
        item = json.loads(line)
        if item["k"] == "step":
            item["t"] = 0.02 * (item["s"] - 0)
            lines[n] = json.dumps(item)
    take.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with OscReceiver() as rx:
        proc = charmix("replay", str(take), "--realtime", "--send", rx.target)
        assert proc.stdout == texts[0] + "\n"
        chars = rx.wait_count("char", 60)
        assert "".join(m.params[0] for m in chars) == texts[0]
        steps = [m.params[0] for m in rx.of("step")]
        assert steps == sorted(steps)
        assert rx.of("models") and rx.of("vocab")  # announced, so a late visualiser learns
    span = chars[-1].t - chars[0].t
    assert span >= 0.8 * 0.02 * 59, span  # paced, not sent in one burst
