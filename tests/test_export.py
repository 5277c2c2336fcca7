"""The ONNX step export: parity with torch, the op set, the graph signature, metadata round trip,
and `charmix export` on good and bad checkpoints.

Parity is checked two ways: with export/onnx_export.py's own `parity` (torch and onnxruntime
stepped side by side on characters sampled from the ONNX distribution), and with an independent
loop here that steps the *written file* through the daemon's loader (StepModel).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from charmix.daemon.engine.model import StepModel, load_model
from charmix.export import onnx_export
from charmix.export.dataset import CorpusError, load_corpus
from charmix.export.model import CharLSTM, ModelConfig
from charmix.export.onnx_export import (
    PARITY_TOLERANCE,
    build_graph,
    export_checkpoint,
    parity,
)
from charmix.export.train import (
    Interrupted,
    TrainConfig,
    Trainer,
    evaluate,
    load_checkpoint,
    model_from_checkpoint,
)

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SHARED_VOCAB = ROOT / "models" / "vocab.json"
DOCUMENTED_OPS = {
    "Gather",
    "MatMul",
    "Add",
    "Concat",
    "Split",
    "Sigmoid",
    "Tanh",
    "Mul",
    "Unsqueeze",
    "Identity",
}
PARITY_CHARS = 1000
CHARMIX_KEYS = {
    "charmix.format",
    "charmix.name",
    "charmix.vocab",
    "charmix.layers",
    "charmix.hidden",
    "charmix.embedding",
    "charmix.parameters",
    "charmix.corpus",
    "charmix.val_loss",
    "charmix.val_bits",
    "charmix.val_split",
    "charmix.train_chars",
    "charmix.train_steps",
    "charmix.train_seconds",
    "charmix.train_config",
    "charmix.machine",
    "charmix.created",
}


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def side_by_side(model: CharLSTM, step_model: StepModel, n: int, seed: int) -> float:
    """Step torch and the loaded ONNX file together on sampled characters; max |Δlogit|."""
    rng = np.random.default_rng(seed)
    model.eval()
    state = model.zero_state(1)
    step_model.reset(1)
    token, worst = 0, 0.0
    with torch.no_grad():
        for _ in range(n):
            expected, state = model(torch.tensor([[token]]), state)
            got = step_model.step(np.array([token], np.int64))
            worst = max(worst, float(np.abs(expected[0, 0].numpy() - got[0]).max()))
            p = np.exp(got[0] - got[0].max())
            token = int(rng.choice(p.size, p=p / p.sum()))
    return worst


def train_small(
    tmp: Path, layers: int, hidden: int, steps: int = 12, batching: str = "stateful"
) -> tuple[Trainer, Path]:
    corpus = DATA / "linux_tiny.txt"
    cfg = TrainConfig(
        name=f"l{layers}",
        corpus_path=str(corpus),
        layers=layers,
        hidden=hidden,
        embedding=8,
        dropout=0.1,
        seq_len=16,
        batch=8,
        lr=1e-2,
        warmup=2,
        max_steps=steps,
        eval_every=6,
        seed=3,
        batching=batching,
    )
    trainer = Trainer(cfg, load_corpus(corpus), tmp / f"ckpt_l{layers}")
    trainer.run()
    return trainer, tmp / f"ckpt_l{layers}"


@pytest.fixture(scope="module")
def tiny_ckpt(tiny_models: dict[str, Path]) -> Path:
    return tiny_models["shakespeare"].parent / "ckpt_shakespeare" / "best.pt"


# -- parity -----------------------------------------------------------------------------------


def test_parity_of_a_trained_tiny_model(tiny_models: dict[str, Path], tiny_ckpt: Path) -> None:
    model = model_from_checkpoint(load_checkpoint(tiny_ckpt))
    assert parity(model, build_graph(model), PARITY_CHARS, seed=1) <= PARITY_TOLERANCE
    # the file the fixture exported, through the daemon's loader
    worst = side_by_side(model, load_model(tiny_models["shakespeare"]), PARITY_CHARS, seed=2)
    assert worst <= PARITY_TOLERANCE


def test_parity_of_a_random_shipped_size_model() -> None:
    torch.manual_seed(0)
    vocab = json.loads(SHARED_VOCAB.read_text(encoding="utf-8"))
    model = CharLSTM(ModelConfig(len(vocab), layers=2, hidden=256, embedding=64)).eval()
    proto = build_graph(model)
    assert parity(model, proto, PARITY_CHARS, seed=0) <= PARITY_TOLERANCE


def test_parity_harness_detects_a_wrong_graph() -> None:
    """The harness can fail: a graph from different weights is far off."""
    torch.manual_seed(0)
    model = CharLSTM(ModelConfig(40, layers=2, hidden=32, embedding=8)).eval()
    other = CharLSTM(ModelConfig(40, layers=2, hidden=32, embedding=8)).eval()
    assert parity(model, build_graph(other), 50) > 1e-2


@pytest.mark.parametrize(("layers", "hidden"), [(1, 24), (3, 16)])
def test_one_and_three_layer_models_export_and_pass_parity(
    tmp_path: Path, layers: int, hidden: int
) -> None:
    trainer, ckpt_dir = train_small(tmp_path, layers, hidden)
    out = tmp_path / f"l{layers}.onnx"
    info = export_checkpoint(ckpt_dir / "best.pt", out, parity_steps=50)
    assert info["parity"] <= PARITY_TOLERANCE
    loaded = load_model(out)
    assert (loaded.info.layers, loaded.info.hidden) == (layers, hidden)
    model = model_from_checkpoint(load_checkpoint(ckpt_dir / "best.pt"))
    assert side_by_side(model, loaded, PARITY_CHARS, seed=layers) <= PARITY_TOLERANCE
    ops = {n.op_type for n in onnx.load(str(out)).graph.node}
    assert ops <= DOCUMENTED_OPS
    if layers == 1:
        assert "Identity" in ops and "Concat" not in ops
    else:
        assert "Concat" in ops and "Identity" not in ops


def test_random_batching_is_recorded_in_the_metadata(tmp_path: Path) -> None:
    _, ckpt_dir = train_small(tmp_path, 1, 16, steps=6, batching="random")
    meta = export_checkpoint(ckpt_dir / "best.pt", tmp_path / "r.onnx", parity_steps=20)
    assert json.loads(meta["charmix.train_config"])["batching"] == "random"


def test_batched_steps_match_torch(tiny_models: dict[str, Path], tiny_ckpt: Path) -> None:
    """The graph's batch dimension is real: 4 streams at once equal torch on the same 4."""
    model = model_from_checkpoint(load_checkpoint(tiny_ckpt))
    step_model = load_model(tiny_models["shakespeare"])
    step_model.reset(4)
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, len(step_model.vocab), size=(4, 60))
    state = model.zero_state(4)
    with torch.no_grad():
        for t in range(tokens.shape[1]):
            expected, state = model(torch.from_numpy(tokens[:, t : t + 1]), state)
            got = step_model.step(tokens[:, t].astype(np.int64))
            assert got.shape == (4, len(step_model.vocab))
            assert np.abs(expected[:, 0].numpy() - got).max() <= PARITY_TOLERANCE
    assert np.allclose(step_model.h, state[0].numpy(), atol=1e-5)
    assert np.allclose(step_model.c, state[1].numpy(), atol=1e-5)


# -- the graph --------------------------------------------------------------------------------


def test_graph_ops_and_signature(tiny_models: dict[str, Path]) -> None:
    proto = onnx.load(str(tiny_models["shakespeare"]))
    onnx.checker.check_model(proto)
    ops = {n.op_type for n in proto.graph.node}
    assert ops == DOCUMENTED_OPS - {"Identity"}  # a 2-layer model uses all but Identity
    assert {o.domain for o in proto.opset_import} == {""}
    assert proto.opset_import[0].version == onnx_export.OPSET
    assert proto.ir_version == onnx_export.IR_VERSION

    def sig(values) -> list[tuple[str, int, list]]:
        return [
            (
                v.name,
                v.type.tensor_type.elem_type,
                [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim],
            )
            for v in values
        ]

    vocab = json.loads(SHARED_VOCAB.read_text(encoding="utf-8"))
    f32, i64 = onnx.TensorProto.FLOAT, onnx.TensorProto.INT64
    assert sig(proto.graph.input) == [
        ("tokens", i64, ["batch"]),
        ("h", f32, [2, "batch", 32]),
        ("c", f32, [2, "batch", 32]),
    ]
    assert sig(proto.graph.output) == [
        ("logits", f32, ["batch", len(vocab)]),
        ("h_out", f32, [2, "batch", 32]),
        ("c_out", f32, [2, "batch", 32]),
    ]
    assert all(
        numpy_helper.to_array(t).dtype in (np.float32, np.int64) for t in proto.graph.initializer
    )


# -- metadata ---------------------------------------------------------------------------------


def test_metadata_round_trip(tiny_models: dict[str, Path], tiny_ckpt: Path) -> None:
    path = tiny_models["shakespeare"]
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props.keys() >= CHARMIX_KEYS
    # what onnxruntime reads back (the loader's view) is exactly what was written
    info = load_model(path).info
    assert {k: v for k, v in info.meta.items() if k.startswith("charmix.")} == {
        k: v for k, v in props.items() if k.startswith("charmix.")
    }
    ckpt = load_checkpoint(tiny_ckpt)
    model = model_from_checkpoint(ckpt)
    vocab = json.loads(SHARED_VOCAB.read_text(encoding="utf-8"))

    assert props["charmix.format"] == "1"
    assert props["charmix.name"] == info.name == "shakespeare"
    assert json.loads(props["charmix.vocab"]) == vocab == ckpt["vocab"] == info.vocab
    assert int(props["charmix.layers"]) == 2 and int(props["charmix.hidden"]) == 32
    assert int(props["charmix.embedding"]) == 16
    assert int(props["charmix.parameters"]) == model.num_parameters()
    assert json.loads(props["charmix.corpus"]) == {
        "name": "shakespeare",
        "description": "tiny test model on shakespeare_tiny.txt",
    }
    corpus = load_corpus(DATA / "shakespeare_tiny.txt", vocab)
    val = evaluate(model, corpus.val, torch.device("cpu"), None)
    assert float(props["charmix.val_loss"]) == pytest.approx(val, abs=2e-6)
    assert info.val_loss == float(props["charmix.val_loss"])
    assert float(props["charmix.val_bits"]) == pytest.approx(val / math.log(2), abs=2e-6)
    assert props["charmix.val_split"] == "last 10%"
    state = ckpt["state"]
    assert int(props["charmix.train_chars"]) == state["train_chars"] > 0
    assert int(props["charmix.train_steps"]) == state["step"]
    assert float(props["charmix.train_seconds"]) == pytest.approx(state["train_seconds"], abs=0.06)
    config = json.loads(props["charmix.train_config"])
    assert config == {
        "dropout": 0.0,
        "seq_len": 32,
        "batch": 16,
        "lr": 0.01,
        "weight_decay": 0.1,
        "seed": 0,
        "weight_dropout": 0.0,
        "embed_dropout": 0.0,
        "batching": "stateful",
    }
    assert f"torch {torch.__version__}" in props["charmix.machine"]
    created = dt.datetime.fromisoformat(props["charmix.created"])
    assert created.tzinfo is not None and created.utcoffset() == dt.timedelta(0)
    assert abs(dt.datetime.now(dt.UTC) - created) < dt.timedelta(hours=6)
    assert props["charmix.created"] == created.isoformat()  # strict ISO 8601 round trip


def test_export_refuses_to_write_a_model_that_fails_parity(
    tmp_path: Path, tiny_ckpt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(onnx_export, "parity", lambda *args, **kwargs: 0.5)
    out = tmp_path / "bad.onnx"
    with pytest.raises(CorpusError, match=r"parity check failed \(max \|Δlogit\| 5.00e-01\)"):
        export_checkpoint(tiny_ckpt, out)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_export_to_an_unwritable_place_is_one_line(tmp_path: Path, tiny_ckpt: Path) -> None:
    (tmp_path / "folder.onnx").mkdir()
    (tmp_path / "a_file").write_text("x")
    for out, problem in [
        (tmp_path / "folder.onnx", "is a directory"),
        (tmp_path / "a_file" / "x.onnx", "cannot write the model"),
    ]:
        with pytest.raises(CorpusError) as err:
            export_checkpoint(tiny_ckpt, out, parity_steps=5)
        assert str(err.value).startswith(f"{out}: {problem}")
        assert "\n" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "folder.onnx"]


def test_export_of_an_interrupted_checkpoint_has_the_val_loss_of_its_own_weights(
    tmp_path: Path,
) -> None:
    """last.pt after Ctrl-C between evaluations: its weights are not best.pt's, and the
    metadata must describe the weights in the file, not the best evaluation so far."""
    corpus_path = DATA / "linux_tiny.txt"
    corpus = load_corpus(corpus_path)
    cfg = TrainConfig(
        name="stopped",
        corpus_path=str(corpus_path),
        layers=1,
        hidden=16,
        embedding=8,
        dropout=0.0,
        seq_len=16,
        batch=8,
        lr=0.05,
        warmup=1,
        max_steps=100,
        eval_every=10,
        seed=0,
    )
    trainer = Trainer(cfg, corpus, tmp_path / "ck")

    def stop_at_15(state, _val) -> None:
        if state.step == 15:
            trainer.request_stop()

    with pytest.raises(Interrupted) as stopped:
        trainer.run(stop_at_15)
    assert stopped.value.checkpoint == tmp_path / "ck" / "last.pt"
    last = load_checkpoint(tmp_path / "ck" / "last.pt")
    assert (last["state"]["step"], last["state"]["best_step"]) == (15, 10)
    own = evaluate(model_from_checkpoint(last), corpus.val, torch.device("cpu"), None)
    assert abs(own - last["state"]["best_val"]) > 1e-3  # the weights did move since step 10

    meta = export_checkpoint(tmp_path / "ck" / "last.pt", tmp_path / "last.onnx")
    assert float(meta["charmix.val_loss"]) == pytest.approx(own, abs=2e-6)
    assert meta["charmix.train_steps"] == "15"
    assert meta["charmix.train_chars"] == str(15 * 8 * 16)
    # best.pt still exports with the best evaluation
    best = export_checkpoint(tmp_path / "ck" / "best.pt", tmp_path / "best.onnx")
    assert float(best["charmix.val_loss"]) == pytest.approx(last["state"]["best_val"], abs=1e-6)
    assert best["charmix.train_steps"] == "10"

    # without the corpus there is nothing to measure: a one-line error that says what to do
    moved = tmp_path / "ck" / "moved.pt"
    last["train_config"]["corpus_path"] = str(tmp_path / "gone.txt")
    torch.save(last, moved)
    with pytest.raises(CorpusError) as err:
        export_checkpoint(moved, tmp_path / "moved.onnx")
    assert str(err.value).startswith(f"{moved}: ") and "--corpus" in str(err.value)
    assert "\n" not in str(err.value)
    # and an explicit validation split is used as given
    meta = export_checkpoint(moved, tmp_path / "moved.onnx", full_val=corpus.val)
    assert float(meta["charmix.val_loss"]) == pytest.approx(own, abs=2e-6)


# -- charmix export ---------------------------------------------------------------------------


def initializers(path: Path) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}


def charmix_cmd() -> list[str]:
    script = Path(sys.executable).parent / "charmix"
    return [str(script)] if script.exists() else [sys.executable, "-m", "charmix.daemon.cli"]


@dataclass
class ExportRuns:
    dir: Path
    procs: dict[str, subprocess.CompletedProcess]


@pytest.fixture(scope="module")
def export_runs(tmp_path_factory, tiny_ckpt: Path) -> ExportRuns:
    """`charmix export` on a good and on a garbage checkpoint, side by side (each pays for
    importing torch; the other cases are checked in-process below)."""
    d = tmp_path_factory.mktemp("export_cli")
    (d / "garbage.pt").write_text("this is not a checkpoint\n")
    cases = {
        "stored": ["export", tiny_ckpt, "--out", d / "stored.onnx"],
        "garbage": ["export", d / "garbage.pt", "--out", d / "g.onnx"],
    }
    procs = {
        name: subprocess.Popen(
            [*charmix_cmd(), *map(str, args)],
            cwd=d,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, args in cases.items()
    }
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        results[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return ExportRuns(d, results)


def test_cli_export_writes_the_same_model(
    export_runs: ExportRuns, tiny_models: dict[str, Path], tiny_ckpt: Path
) -> None:
    d = export_runs.dir
    stored = export_runs.procs["stored"]
    assert stored.returncode == 0, stored.stderr
    ckpt = load_checkpoint(tiny_ckpt)
    assert stored.stdout.strip() == (
        f"wrote {d / 'stored.onnx'} (val loss {ckpt['state']['best_val']:.4f} nats/char)"
    )
    fresh, orig = initializers(d / "stored.onnx"), initializers(tiny_models["shakespeare"])
    assert fresh.keys() == orig.keys() and all(np.array_equal(fresh[k], orig[k]) for k in orig)
    meta = load_model(d / "stored.onnx").info.meta
    assert float(meta["charmix.val_loss"]) == pytest.approx(ckpt["state"]["best_val"], abs=1e-6)


def test_export_with_the_full_split_matches_the_training_export(
    tmp_path: Path, tiny_models: dict[str, Path], tiny_ckpt: Path
) -> None:
    val = load_corpus(DATA / "shakespeare_tiny.txt", load_checkpoint(tiny_ckpt)["vocab"]).val
    meta = export_checkpoint(tiny_ckpt, tmp_path / "again.onnx", full_val=val, parity_steps=20)
    trained = load_model(tiny_models["shakespeare"]).info.meta
    assert meta["charmix.val_loss"] == trained["charmix.val_loss"]
    assert meta["charmix.train_steps"] == trained["charmix.train_steps"]


@pytest.mark.parametrize(
    ("case", "problem"),
    [("garbage", "not a charmix checkpoint (UnpicklingError)")],
)
def test_cli_export_of_a_bad_checkpoint_is_one_line(
    export_runs: ExportRuns, case: str, problem: str
) -> None:
    d = export_runs.dir
    proc = export_runs.procs[case]
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == [lines[0]] and lines[0].startswith(f"charmix: {d / (case + '.pt')}: ")
    assert problem in lines[0]
    assert not list(d.glob(f"{case[0]}.onnx*"))


def test_bad_checkpoints_in_process(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="absent.pt: no such checkpoint"):
        load_checkpoint(tmp_path / "absent.pt")
    torch.save({"weights": torch.zeros(3)}, tmp_path / "foreign.pt")
    with pytest.raises(CorpusError, match="foreign.pt: not a charmix training checkpoint"):
        load_checkpoint(tmp_path / "foreign.pt")
    (tmp_path / "half.pt").write_bytes((tmp_path / "foreign.pt").read_bytes()[:200])
    with pytest.raises(CorpusError, match=r"half.pt: not a charmix checkpoint \("):
        load_checkpoint(tmp_path / "half.pt")
    with pytest.raises(CorpusError, match="no such checkpoint"):
        export_checkpoint(tmp_path / "absent.pt", tmp_path / "x.onnx")
    assert not (tmp_path / "x.onnx").exists()
