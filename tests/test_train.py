"""`charmix train` end to end through the real CLI: train → export → load → sample, exact resume
after a real SIGINT, early stopping, --seed, --device, and every bad-corpus error.

Every run is a subprocess of the installed `charmix` script with --threads 1, so runs are
deterministic and comparable bit for bit.
"""

from __future__ import annotations

import json
import math
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from charmix.daemon.engine.mixer import Engine, Settings
from charmix.daemon.engine.model import load_model
from charmix.export.dataset import CorpusError
from charmix.export.train import pick_device

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
CORPUS = DATA / "shakespeare_tiny.txt"
SHARED_VOCAB = ROOT / "models" / "vocab.json"
# The brief's size flags; --device cpu so that bit-for-bit comparisons hold on a CUDA machine too.
# fmt: off
TINY = ["--hidden", "16", "--embedding", "8", "--batch", "8", "--seq-len", "16", "--threads", "1",
        "--device", "cpu"]
# fmt: on
SUMMARY = re.compile(
    r"(?P<name>\S+): best step (?P<best>\d+) of (?P<steps>\d+); val loss (?P<nats>[\d.]+) "
    r"nats/char \((?P<bits>[\d.]+) bits/char\) on the last 10%; wrote (?P<out>\S+)"
)


def charmix_cmd() -> list[str]:
    script = Path(sys.executable).parent / "charmix"
    return [str(script)] if script.exists() else [sys.executable, "-m", "charmix.daemon.cli"]


def run_cli(*args: str | Path, cwd: Path, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*charmix_cmd(), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(cwd),
    )


def popen_cli(*args: str | Path, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*charmix_cmd(), *map(str, args)],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(cwd),
    )


def cli_env(cwd: Path | None = None) -> dict[str, str]:
    """The environment of a CLI run: its user data folder (where `charmix train` writes models
    by default) inside the test's own working directory, never the real one."""
    env = dict(os.environ)
    env.update(PYTHONUNBUFFERED="1", PYTHONIOENCODING="utf-8", COLUMNS="200")
    if cwd is not None:
        env["XDG_DATA_HOME"] = str(cwd / "xdg-data")
    return env


def train_args(ckpt: Path, out: Path, *extra: str, name: str = "t") -> list[str | Path]:
    return ["train", CORPUS, "--name", name, "--out", out, "--checkpoint-dir", ckpt, *TINY, *extra]


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The process failed with exactly one non-empty stderr line and no traceback."""
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("charmix: "), lines[0]
    return lines[0]


def state_dicts_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def load_ckpt(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=False)


def onnx_weights(path: Path) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}


# -- end to end -------------------------------------------------------------------------------


@dataclass
class TrainRun:
    proc: subprocess.CompletedProcess
    out: Path
    ckpt: Path
    summary: re.Match


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, TrainRun]:
    """Three 40-step runs of a 2×16 model, side by side, a few seconds each.

    "e2e" is the brief's example run; "again" is the same run made with the default --out and
    --checkpoint-dir (in its working directory) and an explicit --seed 1337 (the default);
    "other" differs only in --seed.
    """
    d = tmp_path_factory.mktemp("train")
    (d / "again").mkdir()
    steps = ["--max-steps", "40", "--eval-every", "10"]
    where = {
        "e2e": (d / "e2e.onnx", d / "e2e_ckpt"),
        "again": (
            d / "again" / "xdg-data" / "charmix" / "models" / "t.onnx",
            d / "again" / "checkpoints" / "t",
        ),
        "other": (d / "other.onnx", d / "other_ckpt"),
    }
    procs = {
        "e2e": popen_cli(*train_args(d / "e2e_ckpt", d / "e2e.onnx", *steps), cwd=d),
        "again": popen_cli(
            "train", CORPUS, "--name", "t", *TINY, *steps, "--seed", "1337", cwd=d / "again"
        ),
        "other": popen_cli(
            *train_args(d / "other_ckpt", d / "other.onnx", *steps, "--seed", "7"), cwd=d
        ),
    }
    result = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        match = SUMMARY.search(out)
        assert match, out
        done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        result[name] = TrainRun(done, where[name][0], where[name][1], match)
    return result


@pytest.fixture(scope="module")
def e2e(runs: dict[str, TrainRun]) -> TrainRun:
    return runs["e2e"]


def test_train_exports_a_model_that_loads_and_samples(e2e: TrainRun) -> None:
    assert e2e.summary["name"] == "t"
    assert Path(e2e.summary["out"]) == e2e.out
    assert (e2e.summary["best"], e2e.summary["steps"]) == ("40", "40")
    model = load_model(e2e.out)
    corpus_chars = set(CORPUS.read_text(encoding="utf-8"))
    assert model.vocab == sorted(corpus_chars)
    assert (model.info.layers, model.info.hidden) == (2, 16)
    engine = Engine([model], seed=1)
    text = engine.generate(Settings(weights=np.ones(1), temperature=0.8, slew=0.0), 300)
    assert len(text) == 300 and set(text) <= corpus_chars


def test_printed_val_loss_matches_the_metadata(e2e: TrainRun) -> None:
    meta = load_model(e2e.out).info.meta
    nats, bits = float(e2e.summary["nats"]), float(e2e.summary["bits"])
    assert f"{float(meta['charmix.val_loss']):.4f}" == e2e.summary["nats"]
    assert f"{float(meta['charmix.val_bits']):.4f}" == e2e.summary["bits"]
    assert bits == pytest.approx(nats / math.log(2), abs=2e-4)
    assert nats > 0.0


def test_size_flags_and_checkpoints(e2e: TrainRun) -> None:
    meta = load_model(e2e.out).info.meta
    assert (meta["charmix.layers"], meta["charmix.hidden"], meta["charmix.embedding"]) == (
        "2",
        "16",
        "8",
    )
    config = json.loads(meta["charmix.train_config"])
    assert (config["batch"], config["seq_len"], config["seed"]) == (8, 16, 1337)
    assert meta["charmix.train_chars"] == str(40 * 8 * 16)
    last = load_ckpt(e2e.ckpt / "last.pt")
    assert last["state"]["step"] == 40
    assert [h["step"] for h in last["state"]["history"]] == [10, 20, 30, 40]
    assert (e2e.ckpt / "best.pt").is_file()


def test_progress_is_printed_per_evaluation(e2e: TrainRun) -> None:
    steps = re.findall(r"^t step (\d+)/40 train [\d.]+ val [\d.]+", e2e.proc.stderr, re.M)
    assert steps == ["10", "20", "30", "40"], e2e.proc.stderr
    assert "2×16 LSTM" in e2e.proc.stderr and "device cpu" in e2e.proc.stderr


def test_default_out_is_the_user_models_folder_and_checkpoints_the_working_directory(
    runs: dict[str, TrainRun],
) -> None:
    """A model you train is yours: it goes to the user data folder, never into the package."""
    again = runs["again"]
    assert Path(again.summary["out"]) == again.out
    assert again.out.is_file() and (again.ckpt / "last.pt").is_file()
    assert (again.ckpt / "best.pt").is_file()
    assert load_model(again.out).name == "t"


# -- resume after a real interrupt ------------------------------------------------------------


def stream_lines(pipe) -> tuple[queue.Queue, threading.Thread]:
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in pipe:
            lines.put(line)
        lines.put(None)

    thread = threading.Thread(target=pump, daemon=True)
    thread.start()
    return lines, thread


def wait_for_line(lines: queue.Queue, pattern: str, timeout: float) -> Iterator[str]:
    """Yield stderr lines until one matches; fail on EOF or timeout."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"no line matching {pattern!r} within {timeout}s")
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        if line is None:
            pytest.fail(f"the process ended before printing a line matching {pattern!r}")
        yield line
        if re.search(pattern, line):
            return


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_resume_after_sigint_is_exact(tmp_path: Path) -> None:
    steps = 300  # the interrupt lands at ~step 20-40: the rest proves the resume (was 600)
    common = ["--max-steps", str(steps), "--eval-every", "20", "--dropout", "0.25"]
    straight = popen_cli(*train_args(tmp_path / "a", tmp_path / "a.onnx", *common), cwd=tmp_path)
    broken = popen_cli(*train_args(tmp_path / "b", tmp_path / "b.onnx", *common), cwd=tmp_path)
    try:
        lines, pump = stream_lines(broken.stderr)
        seen = list(wait_for_line(lines, rf"^t step \d+/{steps} ", timeout=60))
        broken.send_signal(signal.SIGINT)
        broken.wait(timeout=60)
        pump.join(timeout=10)
        while (line := lines.get_nowait()) is not None:
            seen.append(line)
        err = "".join(seen)
        assert broken.returncode == 130, err
        assert "Traceback" not in err, err
        said = re.search(
            r"interrupted at step (\d+): checkpoint saved to (\S+); continue with "
            r"--resume",
            err,
        )
        assert said, err
        stopped_at = int(said[1])
        assert Path(said[2]) == tmp_path / "b" / "last.pt"
        assert 20 <= stopped_at < steps, "the run finished before the interrupt landed"
        assert load_ckpt(tmp_path / "b" / "last.pt")["state"]["step"] == stopped_at
        assert not (tmp_path / "b.onnx").exists()

        resumed = run_cli(
            *train_args(tmp_path / "b", tmp_path / "b.onnx", *common, "--resume"), cwd=tmp_path
        )
        assert resumed.returncode == 0, resumed.stderr
        # the elapsed column continues from the checkpoint instead of restarting at 0:00:00
        before = re.findall(r"elapsed (\d+):(\d\d):(\d\d)", err)
        after = re.findall(r"elapsed (\d+):(\d\d):(\d\d)", resumed.stderr)
        seconds = [int(h) * 3600 + int(m) * 60 + int(s) for h, m, s in (before[-1], after[0])]
        assert seconds[1] >= seconds[0], (before, after)
        assert load_ckpt(tmp_path / "b" / "last.pt")["state"]["elapsed"] > seconds[0]
        a_out, a_err = straight.communicate(timeout=90)
        assert straight.returncode == 0, a_err
    finally:
        for proc in (straight, broken):
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    a_last, b_last = load_ckpt(tmp_path / "a" / "last.pt"), load_ckpt(tmp_path / "b" / "last.pt")
    assert a_last["state"]["step"] == b_last["state"]["step"] == steps
    assert state_dicts_equal(a_last["model"], b_last["model"])
    a_opt, b_opt = a_last["optimizer"]["state"], b_last["optimizer"]["state"]
    assert a_opt.keys() == b_opt.keys()
    assert all(state_dicts_equal(a_opt[k], b_opt[k]) for k in a_opt)
    assert all(torch.equal(x, y) for x, y in zip(a_last["hidden"], b_last["hidden"], strict=True))
    strip = [{k: h[k] for k in ("step", "train", "val")} for h in a_last["state"]["history"]]
    assert strip == [
        {k: h[k] for k in ("step", "train", "val")} for h in b_last["state"]["history"]
    ]
    a_best, b_best = load_ckpt(tmp_path / "a" / "best.pt"), load_ckpt(tmp_path / "b" / "best.pt")
    assert state_dicts_equal(a_best["model"], b_best["model"])
    # and the exported models are the same, weight for weight and bit for bit
    wa, wb = onnx_weights(tmp_path / "a.onnx"), onnx_weights(tmp_path / "b.onnx")
    assert wa.keys() == wb.keys()
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert SUMMARY.search(a_out)["nats"] == SUMMARY.search(resumed.stdout)["nats"]


# -- early stopping, seed ---------------------------------------------------------------------


def test_early_stopping_stops_before_max_steps(tmp_path: Path) -> None:
    # lr 0: the weights never change, so no evaluation after the first is a new best and
    # patience 2 stops at the third evaluation.
    proc = run_cli(
        *train_args(
            tmp_path / "ck",
            tmp_path / "es.onnx",
            "--lr",
            "0",
            "--patience",
            "2",
            "--eval-every",
            "5",
            "--max-steps",
            "500",
        ),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    match = SUMMARY.search(proc.stdout)
    assert match and (match["best"], match["steps"]) == ("5", "15"), proc.stdout
    assert load_model(tmp_path / "es.onnx").info.meta["charmix.train_steps"] == "5"


def test_seed_reproduces_and_another_seed_differs(runs: dict[str, TrainRun]) -> None:
    e2e, again, other = runs["e2e"], runs["again"], runs["other"]
    first = load_ckpt(e2e.ckpt / "last.pt")["model"]
    assert state_dicts_equal(first, load_ckpt(again.ckpt / "last.pt")["model"])
    assert not state_dicts_equal(first, load_ckpt(other.ckpt / "last.pt")["model"])
    wa, wb = onnx_weights(e2e.out), onnx_weights(again.out)
    assert wa.keys() == wb.keys() and all(np.array_equal(wa[k], wb[k]) for k in wa)
    assert again.summary["nats"] == e2e.summary["nats"] != other.summary["nats"]
    assert json.loads(load_model(other.out).info.meta["charmix.train_config"])["seed"] == 7


# -- one-line errors --------------------------------------------------------------------------


def bad_corpus_cases(d: Path) -> dict[str, tuple[list[str | Path], str]]:
    """name → (train arguments, text the one error line must contain)."""
    (d / "folder").mkdir()
    (d / "invalid.txt").write_bytes(CORPUS.read_bytes()[:5000] + b"\xff" + b"more text\n" * 50)
    small = ["--name", "x", "--out", d / "x.onnx", "--checkpoint-dir", d / "ck", *TINY]
    return {
        "missing": (["train", d / "absent.txt", *small], f"{d / 'absent.txt'}: cannot read"),
        "directory": (["train", d / "folder", *small], f"{d / 'folder'}: cannot read"),
        "invalid_utf8": (
            ["train", d / "invalid.txt", *small],
            f"{d / 'invalid.txt'}: not valid UTF-8 at byte offset 5000 (byte 0xff)",
        ),
        "device_cuda": (
            ["train", CORPUS, *small, "--device", "cuda"],
            "--device cuda was asked for but torch sees no CUDA device",
        ),
        "resume_missing": (
            ["train", CORPUS, *small, "--resume"],
            f"{d / 'ck' / 'last.pt'}: no such checkpoint",
        ),
    }


@pytest.fixture(scope="module")
def bad_corpus_runs(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, str]]:
    """All the bad-corpus runs at once (each pays for importing torch; they overlap)."""
    d = tmp_path_factory.mktemp("bad_corpus")
    cases = bad_corpus_cases(d)
    procs = {name: popen_cli(*args, cwd=d) for name, (args, _) in cases.items()}
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        results[name] = (done, cases[name][1])
    assert not (d / "x.onnx").exists()
    return results


@pytest.mark.parametrize(
    "case", ["missing", "directory", "invalid_utf8", "device_cuda", "resume_missing"]
)
def test_bad_corpus_is_one_line(bad_corpus_runs, case: str) -> None:
    if case == "device_cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc, expected = bad_corpus_runs[case]
    line = one_error_line(proc)
    assert proc.returncode == 1
    assert expected in line, line


@pytest.mark.parametrize("name", ["bogus", "meta", "cuda:x", "mps"])
def test_unusable_devices_are_corpus_errors(name: str) -> None:
    # The CLI prints CorpusError as its one line (as for the cases above); checked in-process
    # here to spare a torch import per case.
    if name == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    with pytest.raises(CorpusError, match="--device"):
        pick_device(name)


def test_usable_devices() -> None:
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_errors_replace_and_shared_vocab_train(tmp_path: Path) -> None:
    text = CORPUS.read_text(encoding="utf-8")[:8000]
    corpus = tmp_path / "messy.txt"
    corpus.write_bytes(
        b"\xef\xbb\xbf"
        + text.replace("e", "é").replace("a", "à").encode()
        + b"\xfe\xff"
        + text.encode()
    )
    proc = run_cli(
        "train",
        corpus,
        "--name",
        "m",
        "--out",
        tmp_path / "m.onnx",
        "--checkpoint-dir",
        tmp_path / "ck",
        "--errors",
        "replace",
        "--vocab",
        SHARED_VOCAB,
        *TINY,
        "--max-steps",
        "3",
        "--eval-every",
        "3",
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    n_a = text.count("a")
    # à is mapped to a (é is in the shared vocabulary); the two replacement characters dropped
    assert f"{n_a} characters mapped into the vocabulary, 2 dropped: " in proc.stderr
    assert f"à→a ×{n_a}, \ufffd dropped ×2" in proc.stderr  # named, most frequent first
    model = load_model(tmp_path / "m.onnx")
    assert model.vocab == json.loads(SHARED_VOCAB.read_text(encoding="utf-8"))


def test_train_without_arguments_is_a_usage_error(tmp_path: Path) -> None:
    proc = run_cli("train", cwd=tmp_path)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "Missing argument 'CORPUS'" in proc.stderr
    assert one_error_line(proc).startswith("charmix: Missing argument")


def test_help_shows_every_default_and_no_stray_markup(tmp_path: Path) -> None:
    """rich reads "[default: ...]" in a help string as markup and drops it: every default is
    shown through typer's show_default instead, and no help ends in a space before its dot."""
    proc = run_cli("train", "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = re.sub(r"[│╭╮╰╯─]", " ", proc.stdout)
    flat = " ".join(text.split())
    for shown in ("[default: (USER_MODELS/NAME.onnx", "[default: (checkpoints/NAME)]",
                  "[default: (torch's choice)]", "[default: (no limit)]", "--style",
                  "--embed-dropout", "--weight-dropout", "--style-into", "a [styles] table"):
        assert shown in flat, (shown, flat)
    assert not re.search(r"\w \.(\s|$)", flat), flat  # "torch CPU threads ." was one
    assert "torch CPU threads." in flat


def test_max_time_is_the_schedule_and_the_whole_run(tmp_path: Path) -> None:
    """--max-time: the learning rate decays over the budget (it ends near the minimum), steps
    are not the limit, and the run (evaluation and export included) stays inside the budget."""
    budget = 0.4  # minutes (importing torch alone can take 10 s of it on a busy machine)
    t0 = time.monotonic()
    proc = run_cli(*train_args(tmp_path / "ck", tmp_path / "b.onnx", "--max-time", str(budget),
                               "--eval-every", "25", "--patience", "100000"), cwd=tmp_path)
    wall = time.monotonic() - t0  # (patience out of the way: the budget alone ends this run)
    assert proc.returncode == 0, proc.stderr
    last = load_ckpt(tmp_path / "ck" / "last.pt")
    st, cfg = last["state"], last["train_config"]
    lrs = [float(x) for x in re.findall(r" lr ([\d.e+-]+) ", proc.stderr)]
    assert lrs and lrs[-1] < 0.35 * cfg["lr"], proc.stderr  # decayed with the budget spent
    assert st["step"] < cfg["max_steps"]
    # the run's own clock: it used most of the budget and kept the export inside it
    # (how much of it went to training before the reserve for evaluation and export depends on
    # how fast evaluation ran, which a loaded machine slows: a third at least)
    assert 0.3 * budget * 60 < st["elapsed"] <= budget * 60
    # the command's own clock, from its start to the model written: inside the budget
    h, m, sec = re.search(r"after (\d+):(\d\d):(\d\d)$", proc.stdout.strip()).groups()
    assert int(h) * 3600 + int(m) * 60 + int(sec) <= budget * 60
    assert wall < budget * 60 + 30  # the interpreter's start is outside the command's clock
    assert "left 0:00:" in proc.stderr
