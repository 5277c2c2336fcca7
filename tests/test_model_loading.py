"""The loader the daemon uses: every way a file can fail to be a charmix model is one line naming
the file and the problem — from load_model (ModelError) and from the CLI (`charmix sample -m BAD`
and `charmix models DIR`, which skips the bad file and lists the good one).

The bad files are made from a real tiny model with the onnx package (onnx.load, edit, onnx.save)
or built with onnx.helper.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import charmix.daemon.tools.offline as offline
from charmix.daemon.engine import model as model_module
from charmix.daemon.engine.model import load_model
from charmix.daemon.engine.modelformat import ModelError, model_files, resolve_model


@dataclass(frozen=True)
class Bad:
    """How to make one bad file from a good model, and what the error must say."""

    make: Callable[[Path, Path], None]  # (good model, target path)
    problem: str


def write_text(_good: Path, target: Path) -> None:
    target.write_text("hello, I am not a model\n" * 20, encoding="utf-8")


def truncated(good: Path, target: Path) -> None:
    data = good.read_bytes()
    target.write_bytes(data[: len(data) // 2])


def empty(_good: Path, target: Path) -> None:
    target.write_bytes(b"")


def directory(_good: Path, target: Path) -> None:
    target.mkdir()


def missing(_good: Path, target: Path) -> None:
    pass


def float_tokens(good: Path, target: Path) -> None:
    """The real graph with its tokens input declared float: onnxruntime rejects the graph."""
    proto = onnx.load(str(good))
    proto.graph.input[0].type.tensor_type.elem_type = TensorProto.FLOAT
    onnx.save(proto, str(target))


def with_meta(**changes: str | None) -> Callable[[Path, Path], None]:
    """Copy the good model with metadata_props changed (None removes a key)."""

    def make(good: Path, target: Path) -> None:
        proto = onnx.load(str(good))
        props = {p.key: p.value for p in proto.metadata_props}
        for key, value in changes.items():
            key = "charmix." + key
            if value is None:
                del props[key]
            else:
                props[key] = value
        del proto.metadata_props[:]
        helper.set_model_props(proto, props)
        onnx.save(proto, str(target))

    return make


def tiny_graph(
    inputs: list[tuple[str, int, list]], outputs: list[tuple[str, int, list]]
) -> onnx.ModelProto:
    """A graph of Identity nodes (input k → output k) with the given signature."""
    nodes = [
        helper.make_node("Identity", [i[0]], [o[0]]) for i, o in zip(inputs, outputs, strict=True)
    ]
    graph = helper.make_graph(
        nodes,
        "not_charmix",
        [helper.make_tensor_value_info(*i) for i in inputs],
        [helper.make_tensor_value_info(*o) for o in outputs],
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    return proto


def other_graph(
    inputs: list[tuple[str, int, list]], outputs: list[tuple[str, int, list]], meta: bool = True
) -> Callable[[Path, Path], None]:
    """A valid ONNX graph with another signature, carrying the good model's metadata."""

    def make(good: Path, target: Path) -> None:
        proto = tiny_graph(inputs, outputs)
        if meta:
            props = {p.key: p.value for p in onnx.load(str(good)).metadata_props}
            helper.set_model_props(proto, props)
        onnx.save(proto, str(target))

    return make


F, I64 = TensorProto.FLOAT, TensorProto.INT64
SHARED_VOCAB = json.loads(
    (Path(__file__).resolve().parent.parent / "models" / "vocab.json").read_text(encoding="utf-8")
)
STATE = [2, "batch", 32]
BAD: dict[str, Bad] = {
    "text": Bad(write_text, "cannot load (not an ONNX file, or truncated)"),
    "truncated": Bad(truncated, "cannot load (not an ONNX file, or truncated)"),
    "empty": Bad(empty, "empty file"),
    "directory": Bad(directory, "is a directory, not a model file"),
    "missing": Bad(missing, "no such model file"),
    "wrong_inputs": Bad(
        other_graph([("x", F, [1, 4])], [("y", F, [1, 4])]),
        "graph has no input 'tokens' (inputs: x)",
    ),
    "invalid_graph": Bad(
        float_tokens, "cannot load (This is an invalid model. Type Error: Type 'tensor(float)'"
    ),
    "wrong_input_type": Bad(
        other_graph(
            [("tokens", F, ["batch"]), ("h", F, STATE), ("c", F, STATE)],
            [("logits", F, ["batch"]), ("h_out", F, STATE), ("c_out", F, STATE)],
        ),
        "input 'tokens' is tensor(float), expected tensor(int64)",
    ),
    "wrong_outputs": Bad(
        other_graph(
            [("tokens", I64, ["batch"]), ("h", F, STATE), ("c", F, STATE)],
            [("probs", I64, ["batch"]), ("h_out", F, STATE), ("c_out", F, STATE)],
        ),
        "graph has no output 'logits'",
    ),
    "plain_onnx": Bad(
        other_graph([("x", F, [1, 4])], [("y", F, [1, 4])], meta=False),
        "not a charmix model (no charmix.vocab in its metadata)",
    ),
    "no_vocab": Bad(with_meta(vocab=None), "not a charmix model (no charmix.vocab"),
    "no_format": Bad(with_meta(format=None), "missing metadata charmix.format"),
    "no_layers_hidden": Bad(
        with_meta(layers=None, hidden=None), "missing metadata charmix.layers, charmix.hidden"
    ),
    "future_format": Bad(
        with_meta(format="2"), "model format 2 is newer than this charmix reads (1)"
    ),
    "format_zero": Bad(with_meta(format="0"), "unknown model format 0"),
    "format_text": Bad(with_meta(format="1.0"), "charmix.format '1.0' is not a number"),
    "vocab_json": Bad(with_meta(vocab='["a", "b",'), "charmix.vocab is not valid JSON"),
    "vocab_object": Bad(
        with_meta(vocab='{"a": 0}'), "charmix.vocab must be a list of distinct single characters"
    ),
    "vocab_repeats": Bad(
        with_meta(vocab=json.dumps(list("abca"))), "must be a list of distinct single characters"
    ),
    "vocab_strings": Bad(
        with_meta(vocab=json.dumps(["ab", "c"])), "must be a list of distinct single characters"
    ),
    "vocab_size": Bad(
        with_meta(vocab=json.dumps(list("abc"))),
        f"logits have shape [1, {len(SHARED_VOCAB)}], expected [1, 3] (the vocabulary size)",
    ),
    "layers_mismatch": Bad(
        with_meta(layers="3"),
        "input 'h' has shape [2, 'batch', 32], expected [3, batch, 32] from its metadata",
    ),
    "hidden_mismatch": Bad(
        with_meta(hidden="64"),
        "input 'h' has shape [2, 'batch', 32], expected [2, batch, 64] from its metadata",
    ),
    "layers_text": Bad(with_meta(layers="two"), "charmix.layers / charmix.hidden are not integers"),
}


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory, tiny_models: dict[str, Path]) -> Path:
    """A folder with every bad file next to one good model (named good.onnx)."""
    folder = tmp_path_factory.mktemp("bad_models")
    good = tiny_models["shakespeare"]
    (folder / "good.onnx").write_bytes(good.read_bytes())
    for name, bad in BAD.items():
        bad.make(good, folder / f"{name}.onnx")
    return folder


def check_line(message: str, path: Path, problem: str) -> None:
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith(f"{path}: "), message
    assert message.count(str(path)) == 1, message  # named once, not echoed by onnxruntime
    assert "ONNXRuntimeError" not in message, message
    assert problem in message, message


@pytest.mark.parametrize("case", sorted(BAD))
def test_load_model_fails_with_one_line(bad_dir: Path, case: str) -> None:
    path = bad_dir / f"{case}.onnx"
    with pytest.raises(ModelError) as err:
        load_model(path)
    check_line(str(err.value), path, BAD[case].problem)


def test_bad_files_vocab_size_check_uses_the_shared_vocab(tiny_models: dict[str, Path]) -> None:
    # the "vocab_size" case above assumes the tiny models use the shared vocabulary
    assert load_model(tiny_models["shakespeare"]).vocab == SHARED_VOCAB


def test_a_string_path_and_a_good_model_load(bad_dir: Path) -> None:
    model = load_model(str(bad_dir / "good.onnx"))
    assert model.name == "shakespeare"
    assert model.info.path == bad_dir / "good.onnx"
    assert model.h.shape == model.c.shape == (2, 1, 32)
    assert not model.h.any() and not model.c.any()  # the test step at load leaves no state


# -- the good path ----------------------------------------------------------------------------


def test_step_model_carries_state(tiny_models: dict[str, Path]) -> None:
    model = load_model(tiny_models["shakespeare"])
    e = np.array([model.vocab.index("e")], np.int64)
    first = model.step(e)
    assert first.shape == (1, len(model.vocab)) and first.dtype == np.float32
    second = model.step(e)
    assert not np.allclose(first, second)  # the state moved on
    model.reset(1)
    assert np.array_equal(model.step(e), first)  # and reset really resets it
    model.reset(3)
    assert model.step(np.repeat(e, 3)).shape == (3, len(model.vocab))


def test_the_cli_and_the_daemon_use_this_loader() -> None:
    # offline imports the loader lazily (charmix --help loads no onnxruntime): check its source
    source = Path(offline.__file__).read_text(encoding="utf-8")
    assert "from charmix.daemon.engine.model import" in source and "load_model" in source
    assert model_module.load_model.__module__ == "charmix.daemon.engine.model"
    engine_source = Path(sys.modules["charmix.daemon.engine.model"].__file__).parent / "mixer.py"
    assert "StepModel" in engine_source.read_text(encoding="utf-8")


def test_resolve_model_by_name_and_path(tiny_model_dir: Path) -> None:
    assert resolve_model("linux", tiny_model_dir) == tiny_model_dir / "linux.onnx"
    assert resolve_model(str(tiny_model_dir / "bible.onnx")) == tiny_model_dir / "bible.onnx"
    with pytest.raises(ModelError) as err:
        resolve_model("latin", tiny_model_dir)
    assert str(err.value) == (
        f"latin: no model of that name in {tiny_model_dir} (have: bible, linux, shakespeare)"
    )


def test_model_files(tiny_model_dir: Path, tmp_path: Path) -> None:
    names = [p.name for p in model_files(tiny_model_dir)]
    assert names == ["bible.onnx", "linux.onnx", "shakespeare.onnx"]
    assert model_files(tmp_path) == []
    with pytest.raises(ModelError, match="no such models folder"):
        model_files(tmp_path / "nope")


# -- through the CLI --------------------------------------------------------------------------


def charmix_cmd() -> list[str]:
    script = Path(sys.executable).parent / "charmix"
    return [str(script)] if script.exists() else [sys.executable, "-m", "charmix.daemon.cli"]


@pytest.fixture(scope="module")
def sample_runs(bad_dir: Path) -> dict[str, subprocess.CompletedProcess]:
    """`charmix sample -m BAD` for the issue's list of bad files, a few processes at a time.

    (`charmix models` below goes through all of them in one process.)
    """
    results: dict[str, subprocess.CompletedProcess] = {}
    names = SAMPLE_CASES
    for start in range(0, len(names), 6):
        batch = names[start : start + 6]
        procs = {
            name: subprocess.Popen(
                [*charmix_cmd(), "sample", "-m", str(bad_dir / f"{name}.onnx"), "-n", "5"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=bad_dir,
            )
            for name in batch
        }
        for name, proc in procs.items():
            out, err = proc.communicate(timeout=60)
            results[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return results


SAMPLE_CASES = [
    "text",
    "truncated",
    "empty",
    "directory",
    "missing",
    "wrong_inputs",
    "no_vocab",
    "future_format",
    "vocab_json",
    "layers_mismatch",
]


@pytest.mark.parametrize("case", SAMPLE_CASES)
def test_cli_sample_with_a_bad_model_is_one_line(sample_runs, bad_dir: Path, case: str) -> None:
    proc = sample_runs[case]
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("charmix: ")
    check_line(lines[0].removeprefix("charmix: "), bad_dir / f"{case}.onnx", BAD[case].problem)


def test_cli_models_skips_the_bad_files_and_lists_the_good_one(bad_dir: Path) -> None:
    proc = subprocess.run(
        [*charmix_cmd(), "models", str(bad_dir), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)
    assert [entry["file"] for entry in listed] == [str(bad_dir / "good.onnx")]
    assert "Traceback" not in proc.stderr
    skipped = proc.stderr.splitlines()
    # every bad *.onnx is skipped with its one line ("missing" made no file, so nothing to skip)
    expected = sorted(name for name in BAD if name != "missing")
    assert len(skipped) == len(expected), proc.stderr
    for name, line in zip(expected, skipped, strict=True):
        assert line.startswith("charmix: skipped ")
        check_line(
            line.removeprefix("charmix: skipped "), bad_dir / f"{name}.onnx", BAD[name].problem
        )
