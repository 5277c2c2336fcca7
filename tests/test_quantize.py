"""8-bit weights (`charmix quantize`): the block layout onnxruntime reads, fidelity, the guard that
refuses an unfaithful model, the metadata, and that the daemon's loader and engine take the result.

Real parts: real onnxruntime running MatMulNBits, real tiny models from the training path, and
the shipped 8-bit models against their float32 originals in models/fp32.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import ROOT, TINY_CORPORA
from onnx import TensorProto, helper, numpy_helper

from charmix.daemon.engine.mixer import Engine, Settings
from charmix.daemon.engine.model import load_model, session_options
from charmix.daemon.engine.modelformat import WEIGHTS_KEY
from charmix.export import quantize as q
from charmix.export.dataset import load_corpus


def matmul_nbits_graph(w: np.ndarray) -> bytes:
    """y = x @ W as one MatMulNBits node, with W quantised by quantize_matrix."""
    k, n = w.shape
    qw, scales = q.quantize_matrix(w)
    node = helper.make_node(
        "MatMulNBits", ["x", "w_q", "w_s"], ["y"], domain=q.MS_DOMAIN, K=k, N=n, bits=8,
        block_size=q.BLOCK_SIZE, accuracy_level=0,  # float compute: isolates the weight layout
    )
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, n])],
        initializer=[numpy_helper.from_array(qw, "w_q"), numpy_helper.from_array(scales, "w_s")],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(q.MS_DOMAIN, 1)]
    )
    model.ir_version = 8
    return model.SerializeToString()


@pytest.mark.parametrize("shape", [(256, 1024), (70, 50), (32, 1)])
def test_onnxruntime_reads_the_block_layout_as_written(shape):
    """Our uint8 blocks and scales, multiplied by onnxruntime, equal x @ dequantize(W): a wrong
    layout (not transposed, wrong block axis, wrong zero point) gives a different product. K=70 is
    not a whole number of blocks, so the zero padding is covered too."""
    rng = np.random.default_rng(1)
    w = rng.normal(0, 0.1, shape).astype(np.float32)
    w[:, 0] = 0.0  # an all-zero column: every block of it is zero
    qw, scales = q.quantize_matrix(w)
    blocks = -(-shape[0] // q.BLOCK_SIZE)
    assert qw.shape == (shape[1], blocks, q.BLOCK_SIZE) and qw.dtype == np.uint8
    assert scales.shape == (shape[1], blocks)
    deq = q.dequantize_matrix(qw, scales, shape[0])
    # Round to nearest: each weight is within half a step of its block's scale.
    step = np.repeat(scales, q.BLOCK_SIZE, axis=1)[:, : shape[0]].T
    assert np.all(np.abs(deq - w) <= step / 2 + 1e-7)
    assert np.all(deq[:, 0] == 0.0)
    x = rng.normal(0, 1, (1, shape[0])).astype(np.float32)
    session = ort.InferenceSession(matmul_nbits_graph(w), session_options(),
                                   providers=["CPUExecutionProvider"])
    (y,) = session.run(None, {"x": x})
    np.testing.assert_allclose(y, x @ deq, rtol=1e-4, atol=1e-4)


def test_quantize_proto_replaces_only_the_weight_matmuls(tiny_models):
    original = onnx.load(str(tiny_models["shakespeare"]))
    quantised = q.quantize_proto(original)
    ops = [n.op_type for n in quantised.graph.node]
    assert ops.count("MatMulNBits") == 3 and "MatMul" not in ops
    assert [n.op_type for n in original.graph.node].count("MatMul") == 3  # the original is intact
    names = {t.name for t in quantised.graph.initializer}
    assert "layer0_input_table" in names  # the embedding stays float32: one row per step
    assert not {"layer0_w_hh", "layer1_w", "head_w"} & names  # the float32 matrices are gone
    with pytest.raises(q.QuantizeError, match="already quantised"):
        q.quantize_proto(quantised)
    # Other exporters leave nodes unnamed; the new nodes' names must still be distinct.
    for node in original.graph.node:
        node.name = ""
    unnamed = q.quantize_proto(original)
    ort.InferenceSession(unnamed.SerializeToString(), session_options(),
                         providers=["CPUExecutionProvider"])


def test_quantize_file_writes_a_faithful_model_the_daemon_loads(tiny_models, tmp_path):
    src = tiny_models["shakespeare"]
    val = load_corpus(TINY_CORPORA["shakespeare"], load_model(src).vocab).val
    out = tmp_path / "shakespeare8.onnx"
    report = q.quantize_file(src, out, val)
    assert report.matmuls == 3 and report.bytes_after < report.bytes_before
    assert report.mean_kl <= q.MAX_MEAN_KL and report.max_kl >= report.mean_kl

    model = load_model(out)  # the daemon's own loader and checks
    meta = model.info.meta
    original = load_model(src).info
    assert meta[WEIGHTS_KEY] == "int8-block32"
    # The evaluator behind --corpus reproduces training's number for the float32 graph...
    assert float(meta["charmix.fp32_val_loss"]) == pytest.approx(original.val_loss, abs=2e-4)
    # ...and the 8-bit model's own loss is close to it.
    assert model.info.val_loss == pytest.approx(original.val_loss, abs=0.02)
    assert float(meta["charmix.val_bits"]) == pytest.approx(model.info.val_loss / np.log(2))
    assert meta["charmix.vocab"] == original.meta["charmix.vocab"]
    with pytest.raises(q.QuantizeError, match="already quantised"):
        q.quantize_file(out, tmp_path / "twice.onnx")

    # An 8-bit and a float32 model mix in one engine like any two models.
    engine = Engine([model, load_model(tiny_models["linux"])], seed=3)
    text = engine.generate(Settings(weights=np.array([1.0, 1.0]), slew=0.0), 200)
    assert len(text) == 200


def test_without_a_corpus_the_val_loss_is_not_passed_off_as_the_new_models(tiny_models, tmp_path):
    out = tmp_path / "noval.onnx"
    report = q.quantize_file(tiny_models["bible"], out)
    assert report.val_loss is None
    info = load_model(out).info
    assert info.val_loss is None
    assert float(info.meta["charmix.fp32_val_loss"]) == pytest.approx(
        load_model(tiny_models["bible"]).info.val_loss
    )


def test_an_unfaithful_quantisation_is_refused_and_nothing_is_written(tiny_models, tmp_path,
                                                                      monkeypatch):
    real = q.quantize_matrix

    def coarse(w, block_size=q.BLOCK_SIZE):  # a broken quantiser: scales 20x too large
        qw, scales = real(w, block_size)
        return np.clip((qw.astype(np.int16) - 128) // 20 + 128, 0, 255).astype(np.uint8), \
            scales * 20

    monkeypatch.setattr(q, "quantize_matrix", coarse)
    out = tmp_path / "bad.onnx"
    with pytest.raises(q.QuantizeError, match="drifts too far"):
        q.quantize_file(tiny_models["linux"], out)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_quantize_command(tiny_models, tmp_path):
    out = tmp_path / "cli8.onnx"
    cmd = [sys.executable, "-m", "charmix.daemon.cli", "quantize"]
    done = subprocess.run(
        [*cmd, str(tiny_models["linux"]), "--out", str(out), "--corpus",
         str(TINY_CORPORA["linux"])], capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "3 MatMuls in 8 bits" in done.stdout and "val loss" in done.stdout
    assert load_model(out).info.meta[WEIGHTS_KEY] == "int8-block32"

    for bad, message in [
        (tmp_path / "missing.onnx", "no such model file"),
        (out, "already quantised"),
    ]:
        failed = subprocess.run([*cmd, str(bad), "--out", str(tmp_path / "x.onnx")],
                                capture_output=True, text=True, timeout=60)
        assert failed.returncode == 1
        assert message in failed.stderr and "Traceback" not in failed.stderr
        assert len(failed.stderr.strip().splitlines()) == 1


def test_the_shipped_models_are_the_8bit_forms_of_the_float32_originals(shipped_models):
    """models/NAME.onnx is models/fp32/NAME.onnx quantised: same vocabulary and training record,
    a faithful fidelity check stored, and its own val loss within 0.001 nats of the original's."""
    for path in shipped_models:
        small = load_model(path).info
        original = load_model(ROOT / "models" / "fp32" / path.name).info
        assert small.meta[WEIGHTS_KEY] == "int8-block32"
        assert WEIGHTS_KEY not in original.meta
        for key in ("charmix.vocab", "charmix.train_steps", "charmix.train_chars",
                    "charmix.corpus"):
            assert small.meta[key] == original.meta[key], (path.name, key)
        assert float(small.meta["charmix.fp32_val_loss"]) == pytest.approx(
            original.val_loss, abs=2e-4
        )
        assert small.val_loss == pytest.approx(original.val_loss, abs=1e-3)
        assert 0 < json.loads(small.meta["charmix.weights_kl"])["mean"] <= q.MAX_MEAN_KL
        assert path.stat().st_size < 0.4 * (ROOT / "models" / "fp32" / path.name).stat().st_size
