"""8-bit weights for a charmix model: the same graph with its MatMuls on int8 blocks.

Why: a 2×256 step reads ~3.3 MB of fp32 weights, and a rig mixing six models reads ~20 MB per
character. That does not stay in a small machine's cache, so the six models cost about twice what
one costs alone (docs/performance.md). Stored as int8, the six read ~5.5 MB, and onnxruntime's
`MatMulNBits` kernel (domain com.microsoft) multiplies with int8 arithmetic: the six step about
2.3 times faster, and what the models write is, to the listener, the same (a mean KL divergence
of ~4e-5 nats per character from the fp32 original on the shipped models).

What changes: every `MatMul` whose right-hand side is a weight initializer becomes a
`MatMulNBits` with `bits=8`, `block_size=32` and `accuracy_level=4` (int8 compute): the weight
matrix W [K, N] is stored transposed, in blocks of 32 along K, each block with its own float32
scale, q = round(w / scale) + 128 with scale = max|w| / 127 (symmetric, so no zero points are
stored). Nothing else changes: the embedding table (one row is read per step), the biases, the
gates and the state stay float32, and so do the graph's inputs and outputs, so a quantised model
is still a charmix model of format 1 and loads anywhere onnxruntime >= 1.22 runs.

A quantised file is only written after a fidelity check against its original: both graphs are
stepped side by side on text sampled from the original, and the mean KL divergence per character
must stay under MAX_MEAN_KL. With a corpus, the validation loss of the quantised graph is
measured (the same streams as training's evaluation) and stored as its `charmix.val_loss`; the
original's is kept as `charmix.fp32_val_loss`.

Needs the `onnx` package (the `train` extra), not torch.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

from charmix.daemon.engine.model import load_model, session_options
from charmix.daemon.engine.modelformat import (
    C_INPUT,
    FP32_STYLE_VAL_LOSS_KEY,
    FP32_VAL_LOSS_KEY,
    H_INPUT,
    STYLE_INPUT,
    STYLE_VAL_LOSS_KEY,
    STYLES_KEY,
    TOKENS_INPUT,
    VAL_BITS_KEY,
    VAL_LOSS_KEY,
    WEIGHTS_FP32,
    WEIGHTS_INT8,
    WEIGHTS_KEY,
    WEIGHTS_KL_KEY,
    ModelError,
)
from charmix.export.dataset import val_streams
from charmix.export.modelfile import WriteError, check_output, write_model

BITS = 8  # with BLOCK_SIZE, what the tag WEIGHTS_INT8 says (tests/test_modelformat.py)
BLOCK_SIZE = 32
ACCURACY_LEVEL = 4  # int8 inputs, int32 accumulation (the fast path on x86 and ARM)
MS_DOMAIN = "com.microsoft"
MAX_MEAN_KL = 2e-3  # nats per character; the shipped models measure ~4e-5
FIDELITY_STEPS = 400


class QuantizeError(Exception):
    """A model that cannot be quantised, or whose quantised form is not faithful; one line."""


@dataclass
class Report:
    """What `quantize_file` did, for the command's summary line."""

    matmuls: int
    bytes_before: int
    bytes_after: int
    mean_kl: float
    max_kl: float
    val_loss: float | None
    fp32_val_loss: float | None


def quantize_matrix(w: np.ndarray, block_size: int = BLOCK_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """W [K, N] float → (q [N, blocks, block_size] uint8, scales [N, blocks] float32).

    K is padded with zeros to whole blocks (onnxruntime expects whole blobs and ignores the
    padding).
    """
    k, n = w.shape
    blocks = math.ceil(k / block_size)
    wt = np.zeros((n, blocks * block_size), np.float64)
    wt[:, :k] = w.T
    wt = wt.reshape(n, blocks, block_size)
    scales = np.abs(wt).max(axis=2) / 127.0
    scales[scales == 0] = 1.0  # an all-zero block: any scale reproduces it
    q = np.clip(np.rint(wt / scales[:, :, None]), -127, 127) + 128
    return q.astype(np.uint8), scales.astype(np.float32)


def dequantize_matrix(q: np.ndarray, scales: np.ndarray, k: int) -> np.ndarray:
    """The inverse of quantize_matrix: the W [K, N] that onnxruntime multiplies by."""
    n = q.shape[0]
    wt = (q.astype(np.float32) - 128) * scales[:, :, None]
    return wt.reshape(n, -1)[:, :k].T


def quantize_proto(model: onnx.ModelProto, block_size: int = BLOCK_SIZE) -> onnx.ModelProto:
    """A copy of `model` with each MatMul-by-a-weight as an 8-bit MatMulNBits; the rest as is."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    graph = out.graph
    inits = {t.name: t for t in graph.initializer}
    uses: dict[str, int] = {}
    for node in graph.node:
        for name in node.input:
            uses[name] = uses.get(name, 0) + 1
    nodes, count = [], 0
    done: set[str] = set()  # weights already quantised (a matrix two MatMuls share: once)
    for node in graph.node:
        weight = node.input[1] if node.op_type == "MatMul" and len(node.input) == 2 else None
        tensor = inits.get(weight) if weight else None
        if (
            tensor is None
            or len(tensor.dims) != 2
            or tensor.data_type != onnx.TensorProto.FLOAT
            or tensor.dims[0] < block_size  # a conditioned model's [S, ·] style matrix: tiny,
        ):  # read once per step, and blends of styles are worth its float32 precision
            nodes.append(node)
            continue
        w = numpy_helper.to_array(tensor)
        q_name, s_name = f"{weight}_q{BITS}", f"{weight}_scales"
        if weight not in done:
            q, scales = quantize_matrix(w, block_size)
            graph.initializer.append(numpy_helper.from_array(q, q_name))
            graph.initializer.append(numpy_helper.from_array(scales, s_name))
            done.add(weight)
        uses[weight] -= 1
        if uses[weight] == 0:
            graph.initializer.remove(tensor)
        nodes.append(
            helper.make_node(
                "MatMulNBits",
                [node.input[0], q_name, s_name],
                list(node.output),
                name=f"{node.name}_q{BITS}" if node.name else f"MatMulNBits_{count}",
                domain=MS_DOMAIN,
                K=w.shape[0],
                N=w.shape[1],
                bits=BITS,
                block_size=block_size,
                accuracy_level=ACCURACY_LEVEL,
            )
        )
        count += 1
    if count == 0:
        raise QuantizeError("no MatMul with a weight matrix to quantise (already quantised?)")
    del graph.node[:]
    graph.node.extend(nodes)
    if not any(op.domain == MS_DOMAIN for op in out.opset_import):
        out.opset_import.append(helper.make_opsetid(MS_DOMAIN, 1))
    return out


def _session(data: bytes) -> ort.InferenceSession:
    return ort.InferenceSession(data, sess_options=session_options(),
                                providers=["CPUExecutionProvider"])


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _zero_state(session: ort.InferenceSession, batch: int) -> np.ndarray:
    layers, _, hidden = next(i.shape for i in session.get_inputs() if i.name == H_INPUT)
    return np.zeros((layers, batch, hidden), np.float32)


def fidelity(original: bytes, quantised: bytes, steps: int = FIDELITY_STEPS,
             seed: int = 0) -> tuple[float, float]:
    """(mean, max) KL(original ‖ quantised) in nats per character, on text the original samples.

    Both graphs are fed the same characters, so the states drift only as much as quantisation
    makes them: this is the difference a listener would hear.
    """
    a, b = _session(original), _session(quantised)
    ha = _zero_state(a, 1)
    ca, hb, cb = ha.copy(), ha.copy(), ha.copy()
    rng = np.random.default_rng(seed)
    token = np.zeros(1, np.int64)
    kls = np.zeros(steps)
    styles = _styles(a)
    extra: dict[str, np.ndarray] = {}
    for i in range(steps):
        if styles and i % (steps // 4 or 1) == 0:
            # A conditioned model: a quarter of the text at each of a blend and three pure
            # styles (every style at the shipped six's 400 steps would be too few per style).
            k = i // (steps // 4 or 1)
            s = rng.dirichlet(np.ones(styles)) if k == 0 else np.eye(styles)[(k - 1) % styles]
            extra = {STYLE_INPUT: s.astype(np.float32)[None, :]}
        la, ha, ca = a.run(None, {TOKENS_INPUT: token, H_INPUT: ha, C_INPUT: ca, **extra})
        lb, hb, cb = b.run(None, {TOKENS_INPUT: token, H_INPUT: hb, C_INPUT: cb, **extra})
        pa_log, pb_log = _log_softmax(la[0]), _log_softmax(lb[0])
        pa = np.exp(pa_log)
        kls[i] = float((pa * (pa_log - pb_log)).sum())
        token[0] = rng.choice(pa.size, p=pa / pa.sum())
    return float(kls.mean()), float(kls.max())


def _styles(session: ort.InferenceSession) -> int:
    """S for a style-conditioned graph (its `style` input is [B, S]), else 0."""
    spec = next((i for i in session.get_inputs() if i.name == STYLE_INPUT), None)
    return int(spec.shape[1]) if spec is not None else 0


def onnx_val_loss(model: bytes, ids: np.ndarray, style: int | None = None) -> float:
    """Mean next-character loss (nats) of an ONNX step model on ids, evaluated as training does
    (dataset.val_streams: parallel streams stepped together, the state carried throughout).
    A conditioned model is evaluated at the one-hot style of index `style`."""
    session = _session(model)
    data = val_streams(ids).astype(np.int64)
    n, length = data.shape
    h = _zero_state(session, n)
    c = h.copy()
    total = 0.0
    rows = np.arange(n)
    extra = {}
    if _styles(session):
        extra = {STYLE_INPUT: np.zeros((n, _styles(session)), np.float32)}
        extra[STYLE_INPUT][:, style or 0] = 1.0
    for t in range(length - 1):
        feed = {TOKENS_INPUT: data[:, t], H_INPUT: h, C_INPUT: c, **extra}
        logits, h, c = session.run(None, feed)
        total -= float(_log_softmax(logits)[rows, data[:, t + 1]].sum())
    return total / max(1, n * (length - 1))


def quantize_file(
    src: Path, out: Path, val_ids: np.ndarray | list[np.ndarray] | None = None
) -> Report:
    """Write src's quantised form to out (after the fidelity check); see the module docstring.

    For a style-conditioned model val_ids is one array per style, in style order: each style is
    measured at its one-hot style, and the val loss is their mean (as training reports it)."""
    try:
        check_output(out)  # before the minutes of checking and measuring below
    except WriteError as exc:
        raise QuantizeError(str(exc)) from None
    try:
        load_model(src)  # the same checks as the daemon: only charmix models go in
        original = onnx.load(str(src))
    except ModelError as exc:
        raise QuantizeError(str(exc)) from None
    meta = {p.key: p.value for p in original.metadata_props}
    if meta.get(WEIGHTS_KEY, WEIGHTS_FP32) != WEIGHTS_FP32:
        raise QuantizeError(f"{src}: already quantised ({meta[WEIGHTS_KEY]})")
    try:
        proto = quantize_proto(original)
    except QuantizeError as exc:
        raise QuantizeError(f"{src}: {exc}") from None
    before, after = original.SerializeToString(), proto.SerializeToString()
    try:
        mean_kl, max_kl = fidelity(before, after)
    except Exception as exc:  # onnxruntime too old for MatMulNBits, or a graph it rejects
        detail = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise QuantizeError(
            f"{src}: onnxruntime cannot run the quantised graph ({detail})"
        ) from None
    if not mean_kl <= MAX_MEAN_KL:
        raise QuantizeError(
            f"{src}: the quantised model drifts too far from the original (mean KL {mean_kl:.2e} "
            f"nats/char, limit {MAX_MEAN_KL:.0e}); keep the fp32 model"
        )
    fp32_val = _float(meta.get(VAL_LOSS_KEY))
    val = None
    style_val: dict[str, float] = {}
    if isinstance(val_ids, list):
        names = json.loads(meta.get(STYLES_KEY, "[]"))
        if len(names) != len(val_ids):
            raise QuantizeError(f"{src}: {len(names)} styles but {len(val_ids)} corpora")
        fp32_style = {n: onnx_val_loss(before, ids, k)
                      for k, (n, ids) in enumerate(zip(names, val_ids, strict=True))}
        style_val = {n: onnx_val_loss(after, ids, k)
                     for k, (n, ids) in enumerate(zip(names, val_ids, strict=True))}
        val, fp32_val = float(np.mean(list(style_val.values()))), float(
            np.mean(list(fp32_style.values())))
    elif val_ids is not None:
        val = onnx_val_loss(after, val_ids)
        fp32_val = onnx_val_loss(before, val_ids)
    new_meta = dict(meta)
    if style_val:
        new_meta[FP32_STYLE_VAL_LOSS_KEY] = json.dumps(
            {k: round(v, 6) for k, v in fp32_style.items()})
        new_meta[STYLE_VAL_LOSS_KEY] = json.dumps(
            {k: round(v, 6) for k, v in style_val.items()})
    elif STYLE_VAL_LOSS_KEY in new_meta:  # not re-measured: not this model's numbers
        new_meta[FP32_STYLE_VAL_LOSS_KEY] = new_meta.pop(STYLE_VAL_LOSS_KEY)
    new_meta[WEIGHTS_KEY] = WEIGHTS_INT8
    new_meta[WEIGHTS_KL_KEY] = json.dumps(
        {"mean": round(mean_kl, 8), "max": round(max_kl, 8)}
    )
    if fp32_val is not None:
        new_meta[FP32_VAL_LOSS_KEY] = f"{fp32_val:.6f}"
    if val is not None:
        new_meta[VAL_LOSS_KEY] = f"{val:.6f}"
        new_meta[VAL_BITS_KEY] = f"{val / math.log(2):.6f}"
    else:  # not re-measured: say so rather than pass the original's number off as this one's
        new_meta.pop(VAL_LOSS_KEY, None)
        new_meta.pop(VAL_BITS_KEY, None)
    del proto.metadata_props[:]
    helper.set_model_props(proto, new_meta)
    data = proto.SerializeToString()
    try:
        write_model(out, data)
    except WriteError as exc:
        raise QuantizeError(str(exc)) from None
    count = sum(1 for node in proto.graph.node if node.op_type == "MatMulNBits")
    return Report(count, len(before), len(data), mean_kl, max_kl, val, fp32_val)


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
