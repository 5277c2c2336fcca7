"""`charmix models` and `charmix sample` as real subprocesses, on the tiny real models.

The commands are started together (a few at a time) by one module fixture, so the whole file
pays for a handful of interpreter start-ups rather than one per test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from charmix.daemon.engine.mixer import Engine, Settings
from charmix.daemon.engine.model import load_model

ROOT = Path(__file__).resolve().parent.parent
PRIME = "€Ω\u00a0Zürich"  # nothing knows € or Ω; the no-break space and ü must be mapped


def charmix_cmd() -> list[str]:
    script = Path(sys.executable).parent / "charmix"
    return [str(script)] if script.exists() else [sys.executable, "-m", "charmix.daemon.cli"]


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*charmix_cmd(), *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        cwd=cwd,
        # the user models folder is the test's own, never the real one
        env={**os.environ, "PYTHONIOENCODING": "utf-8", "XDG_DATA_HOME": str(cwd / "xdg-data")},
    )


@pytest.fixture(scope="module")
def cli(
    tmp_path_factory, tiny_models: dict[str, Path], own_vocab_model: Path
) -> dict[str, subprocess.CompletedProcess]:
    d = tmp_path_factory.mktemp("cli")
    (d / "empty").mkdir()
    shake, linux = str(tiny_models["shakespeare"]), str(tiny_models["linux"])
    folder = str(tiny_models["shakespeare"].parent)
    two = ["sample", "-m", shake, "-m", linux, "--weights", "0.7,0.3", "-n", "300"]
    commands: dict[str, list[str]] = {
        "table": ["models", folder],
        "json": ["models", folder, "--json"],
        "empty": ["models", str(d / "empty")],
        "no_folder": ["models", str(d / "absent")],
        "one": ["sample", "-m", shake, "-n", "400", "--seed", "5"],
        "by_name": ["sample", "-m", "linux", "--models-dir", folder, "-n", "50", "--seed", "5"],
        "two": [*two, "--seed", "42"],
        "two_again": [*two, "--seed", "42"],
        "two_other": [*two, "--seed", "43"],
        "cold": ["sample", "-m", shake, "-n", "300", "--temperature", "0.05", "--seed", "1"],
        "hot": ["sample", "-m", shake, "-n", "300", "--temperature", "5", "--seed", "1"],
        "prime": ["sample", "-m", shake, "-n", "100", "--prime", PRIME, "--seed", "3"],
        "prime_union": [
            "sample",
            "-m",
            shake,
            "-m",
            str(own_vocab_model),
            "-n",
            "100",
            "--prime",
            PRIME,
            "--seed",
            "3",
            "--mode",
            "geometric",
        ],
        "weights_count": ["sample", "-m", shake, "-m", linux, "--weights", "1,2,3"],
        "weights_negative": ["sample", "-m", shake, "-m", linux, "--weights", "0.5,-0.5"],
        "weights_text": ["sample", "-m", shake, "-m", linux, "--weights", "0.5,lots"],
        "weights_nan": ["sample", "-m", shake, "-m", linux, "--weights", "nan,1"],
        "unknown_name": ["sample", "-m", "latin", "--models-dir", folder],
        "bad_mode": ["sample", "-m", shake, "--mode", "harmonic"],
        "same_model_twice": ["sample", "-m", shake, "-m", shake],
        "own_vocab": ["models", str(own_vocab_model.parent)],
        "where": ["models", "--where"],
        "user_sample": ["sample", "-m", "mine", "-n", "40", "--seed", "2"],
        "user_listed": ["models"],
    }
    mine = d / "xdg-data" / "charmix" / "models" / "mine.onnx"
    mine.parent.mkdir(parents=True)
    shutil.copy(tiny_models["bible"], mine)
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(run, args, d) for name, args in commands.items()}
        return {name: f.result() for name, f in futures.items()}


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return proc.stdout


def one_line_error(proc: subprocess.CompletedProcess, code: int = 1) -> str:
    """The one stderr line of a failure; exit 1 for a runtime failure, 2 for a usage error."""
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("charmix: ")
    return lines[0]


def engine_text(paths: list[Path], weights: list[float], seed: int, n: int, prime: str = "") -> str:
    """What the daemon's engine produces for the same arguments, in-process."""
    engine = Engine([load_model(p) for p in paths], seed=seed, weights=weights)
    engine.prime(prime)
    settings = Settings(weights=np.array(weights, float), temperature=0.8, slew=0.0)
    return prime + engine.generate(settings, n)


# -- charmix models ---------------------------------------------------------------------------


def test_models_table_lists_names_and_val_loss(cli, tiny_models: dict[str, Path]) -> None:
    out = ok(cli["table"])
    assert f"charmix models in {tiny_models['shakespeare'].parent}" in " ".join(out.split())
    rows = [line for line in out.splitlines() if "2×32" in line]
    assert len(rows) == 3, out  # one line per model: nothing wrapped, nothing cut
    for name, path in tiny_models.items():
        info = load_model(path).info
        row = next(r for r in rows if f" {name} " in r)
        assert f"{info.val_loss:.4f}" in row
        assert f"{info.val_loss / np.log(2):.4f}" in row
        assert f" {len(info.vocab)} " in row
        assert f"{int(info.meta['charmix.parameters']):,}" in row


def test_models_json(cli, tiny_models: dict[str, Path]) -> None:
    listed = json.loads(ok(cli["json"]))
    assert [entry["name"] for entry in listed] == ["bible", "linux", "shakespeare"]
    for entry in listed:
        path = Path(entry["file"])
        assert path == tiny_models[entry["name"]]
        assert entry["size_bytes"] == path.stat().st_size
        assert {k: v for k, v in entry.items() if k.startswith("charmix.")} == {
            k: v for k, v in load_model(path).info.meta.items() if k.startswith("charmix.")
        }
        assert float(entry["charmix.val_loss"]) > 0


def test_models_marks_a_vocabulary_of_its_own(cli, own_vocab_model: Path) -> None:
    out = ok(cli["own_vocab"])
    row = next(line for line in out.splitlines() if " ownvocab " in line)
    assert f" {len(load_model(own_vocab_model).vocab)} own " in row
    shared = ok(cli["table"])
    assert " own " not in shared  # the tiny models share the shipped vocabulary


def test_user_models_folder_is_found_by_name_and_listed(cli) -> None:
    where = ok(cli["where"])
    assert f"shipped models: {ROOT / 'models'}" in where
    assert "xdg-data/charmix/models" in where, where  # the folder follows XDG_DATA_HOME
    assert len(ok(cli["user_sample"]).rstrip("\n")) == 40
    listed = ok(cli["user_listed"])
    # the copy keeps the name in its metadata (bible); it is the one 2×32 row after the shipped
    assert "xdg-data/charmix/models" in " ".join(listed.split())
    assert [line for line in listed.splitlines() if "2×32" in line][0].split()[1] == "bible"


def test_names_resolve_in_the_shipped_models_first(tmp_path: Path, monkeypatch) -> None:
    from charmix.daemon.engine.modelformat import ModelError, resolve_model, shipped_models_dir

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    user = tmp_path / "charmix" / "models"
    user.mkdir(parents=True)
    (user / "mine.onnx").write_bytes(b"x")
    (user / "vocab.onnx").write_bytes(b"x")
    assert resolve_model("mine") == user / "mine.onnx"
    for shipped in sorted(shipped_models_dir().glob("*.onnx"))[:1]:
        (user / shipped.name).write_bytes(b"x")
        assert resolve_model(shipped.stem) == shipped
    with pytest.raises(ModelError, match=r"no model of that name in .* or .*have: .*mine"):
        resolve_model("nothing")


def test_models_in_an_empty_folder(cli) -> None:
    proc = cli["empty"]
    out = ok(proc)
    assert "charmix models in" in out and "None" not in out
    assert proc.stderr.strip() == "no models found"


def test_models_in_a_missing_folder_is_one_line(cli) -> None:
    assert one_line_error(cli["no_folder"]).endswith("absent: no such models folder")


def test_models_without_a_folder_shows_the_shipped_models(tmp_path: Path) -> None:
    shipped = sorted((ROOT / "models").glob("*.onnx"))
    proc = run(["models", "--json"], tmp_path)
    listed = json.loads(ok(proc))
    assert sorted(Path(e["file"]).resolve() for e in listed) == [p.resolve() for p in shipped]
    if not shipped:
        assert proc.stdout.strip() == "[]"
        table = run(["models"], tmp_path)
        assert f"charmix models in {ROOT / 'models'}" in ok(table)
        assert table.stderr.strip() == "no models found"


# -- charmix sample ---------------------------------------------------------------------------


def test_sample_one_model(cli, tiny_models: dict[str, Path]) -> None:
    out = ok(cli["one"])
    assert out.endswith("\n")
    text = out[:-1]
    assert len(text) == 400
    assert set(text) <= set(load_model(tiny_models["shakespeare"]).vocab)
    # it is the daemon's engine that produced it
    assert text == engine_text([tiny_models["shakespeare"]], [1.0], seed=5, n=400)


def test_sample_by_name_from_a_models_dir(cli, tiny_models: dict[str, Path]) -> None:
    assert ok(cli["by_name"])[:-1] == engine_text([tiny_models["linux"]], [1.0], seed=5, n=50)


def test_sample_two_models_with_weights(cli, tiny_models: dict[str, Path]) -> None:
    text = ok(cli["two"])[:-1]
    assert len(text) == 300
    paths = [tiny_models["shakespeare"], tiny_models["linux"]]
    assert text == engine_text(paths, [0.7, 0.3], seed=42, n=300)
    assert text != engine_text(paths, [0.3, 0.7], seed=42, n=300)  # the weights matter


def test_sample_seed_is_reproducible_and_seed_dependent(cli) -> None:
    assert ok(cli["two"]) == ok(cli["two_again"])
    assert ok(cli["two"]) != ok(cli["two_other"])


def test_sample_temperature(cli) -> None:
    cold, hot = ok(cli["cold"])[:-1], ok(cli["hot"])[:-1]
    assert len(cold) == len(hot) == 300
    # near-greedy text repeats a few characters; at 5 the distribution is close to uniform
    assert len(set(cold)) < 25 < 60 < len(set(hot))


@pytest.mark.parametrize("case", ["prime", "prime_union"])
def test_sample_prime_with_unknown_characters(cli, case: str) -> None:
    out = ok(cli[case])
    assert out.startswith(PRIME)
    assert len(out) == len(PRIME) + 100 + 1


def test_prime_is_fed_to_the_models(cli, tiny_models: dict[str, Path]) -> None:
    text = ok(cli["prime"])[:-1]
    assert text == engine_text([tiny_models["shakespeare"]], [1.0], seed=3, n=100, prime=PRIME)
    assert text[len(PRIME) :] != engine_text([tiny_models["shakespeare"]], [1.0], seed=3, n=100)


@pytest.mark.parametrize(
    ("case", "code", "message"),
    [
        ("weights_count", 2, "charmix: --weights has 3 values for 2 models (shakespeare, linux)"),
        ("weights_negative", 2, "charmix: --weights must be non-negative in linear mode (a "
         "negative weight, an anti-expert, needs --mode geometric)"),
        ("weights_text", 2,
         "charmix: --weights must be numbers separated by commas, not '0.5,lots'"),
        ("weights_nan", 2, "charmix: --weights must be finite and non-negative"),
        ("bad_mode", 2, "charmix: --mode must be linear or geometric, not 'harmonic'"),
        ("same_model_twice", 1,
         "charmix: model names must be distinct: shakespeare, shakespeare"),
    ],
)
def test_sample_bad_arguments_are_one_line(cli, case: str, code: int, message: str) -> None:
    assert one_line_error(cli[case], code) == message


def test_sample_unknown_model_name_lists_what_there_is(cli, tiny_models: dict[str, Path]) -> None:
    folder = tiny_models["shakespeare"].parent
    assert one_line_error(cli["unknown_name"]) == (
        f"charmix: latin: no model of that name in {folder} (have: bible, linux, shakespeare)"
    )


def test_the_dropout_column_tells_the_recipes_apart() -> None:
    from charmix.daemon.tools.offline import dropout_cell

    assert dropout_cell({"dropout": 0.1}) == "0.1"  # files written before the key existed
    assert dropout_cell({"dropout": 0.1, "weight_dropout": 0.0, "embed_dropout": 0.0}) == "0.1"
    assert dropout_cell({"dropout": 0.2, "weight_dropout": 0.15}) == "0.2, W_hh 0.15"
    assert dropout_cell({"dropout": 0.2, "weight_dropout": 0.15, "embed_dropout": 0.05}) == (
        "0.2, W_hh 0.15, embedding 0.05")
    assert dropout_cell({}) == "-"
