"""Export a trained CharLSTM to the charmix ONNX step-model format (docs/model-format.md).

The graph is written directly with onnx.helper from nn.LSTM's weights rather than traced: one
character per call is a handful of matrix products, and writing them out keeps the graph small,
the op set plain (Gather, MatMul, Add, Concat, Split, Sigmoid, Tanh, Mul, Unsqueeze) and the
result independent of torch exporter versions. Two things are folded at export time:

* layer 0's input projection and both its biases are folded into the embedding table, so the
  first layer's input path is a single Gather of a [vocab, 4·hidden] table;
* for deeper layers the input and recurrent weights are stacked, so each layer is one MatMul of
  concat(x, h).

`export_checkpoint` finishes with a parity self-check against torch and refuses to write a model
whose logits differ by more than 1e-4.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from charmix.export.dataset import VAL_SPLIT_NAME, CorpusError, load_corpus
from charmix.export.model import CharLSTM
from charmix.export.modelfile import WriteError, write_model
from charmix.export.train import evaluate, load_checkpoint, model_from_checkpoint

FORMAT_VERSION = "1"
OPSET = 17
IR_VERSION = 8  # readable by onnxruntime >= 1.10
PARITY_TOLERANCE = 1e-4


def build_graph(model: CharLSTM) -> onnx.ModelProto:
    """The step graph: (tokens [B], h, c [L, B, H]) → (logits [B, V], h_out, c_out)."""
    cfg = model.cfg
    L, H, V = cfg.layers, cfg.hidden, cfg.vocab_size
    sd = {k: v.detach().double().numpy() for k, v in model.state_dict().items()}
    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.array(array, order="C"), name))
        return name

    def node(op: str, inputs: list[str], outputs: list[str], **attrs) -> None:
        nodes.append(helper.make_node(op, inputs, outputs, name=f"{op}_{len(nodes)}", **attrs))

    split = const("split_4", np.array([H, H, H, H], dtype=np.int64))
    axis0 = const("axis_0", np.array([0], dtype=np.int64))
    emb = sd["embed.weight"]
    table0 = emb @ sd["lstm.weight_ih_l0"].T + sd["lstm.bias_ih_l0"] + sd["lstm.bias_hh_l0"]
    const("layer0_input_table", table0.astype(np.float32))

    x = ""
    h_outs, c_outs = [], []
    for layer in range(L):
        idx = const(f"layer{layer}_index", np.array(layer, dtype=np.int64))
        node("Gather", ["h", idx], [f"h{layer}"], axis=0)
        node("Gather", ["c", idx], [f"c{layer}"], axis=0)
        if layer == 0:
            node("Gather", ["layer0_input_table", "tokens"], ["x_proj0"], axis=0)
            w_hh = const("layer0_w_hh", sd["lstm.weight_hh_l0"].T.astype(np.float32))
            node("MatMul", [f"h{layer}", w_hh], ["h_proj0"])
            node("Add", ["x_proj0", "h_proj0"], ["gates0"])
        else:
            w = np.concatenate(
                [sd[f"lstm.weight_ih_l{layer}"].T, sd[f"lstm.weight_hh_l{layer}"].T], axis=0
            )
            b = sd[f"lstm.bias_ih_l{layer}"] + sd[f"lstm.bias_hh_l{layer}"]
            w_name = const(f"layer{layer}_w", w.astype(np.float32))
            b_name = const(f"layer{layer}_b", b.astype(np.float32))
            node("Concat", [x, f"h{layer}"], [f"xh{layer}"], axis=1)
            node("MatMul", [f"xh{layer}", w_name], [f"mm{layer}"])
            node("Add", [f"mm{layer}", b_name], [f"gates{layer}"])
        gi, gf, gg, go = (f"{g}{layer}" for g in ("gi", "gf", "gg", "go"))
        node("Split", [f"gates{layer}", split], [gi, gf, gg, go], axis=1)
        node("Sigmoid", [gi], [f"i{layer}"])
        node("Sigmoid", [gf], [f"f{layer}"])
        node("Tanh", [gg], [f"g{layer}"])
        node("Sigmoid", [go], [f"o{layer}"])
        node("Mul", [f"f{layer}", f"c{layer}"], [f"fc{layer}"])
        node("Mul", [f"i{layer}", f"g{layer}"], [f"ig{layer}"])
        node("Add", [f"fc{layer}", f"ig{layer}"], [f"c_new{layer}"])
        node("Tanh", [f"c_new{layer}"], [f"tc{layer}"])
        node("Mul", [f"o{layer}", f"tc{layer}"], [f"h_new{layer}"])
        node("Unsqueeze", [f"h_new{layer}", axis0], [f"h_out{layer}"])
        node("Unsqueeze", [f"c_new{layer}", axis0], [f"c_out{layer}"])
        h_outs.append(f"h_out{layer}")
        c_outs.append(f"c_out{layer}")
        x = f"h_new{layer}"

    head_w = const("head_w", sd["head.weight"].T.astype(np.float32))
    head_b = const("head_b", sd["head.bias"].astype(np.float32))
    node("MatMul", [x, head_w], ["head_mm"])
    node("Add", ["head_mm", head_b], ["logits"])
    if L == 1:
        node("Identity", [h_outs[0]], ["h_out"])
        node("Identity", [c_outs[0]], ["c_out"])
    else:
        node("Concat", h_outs, ["h_out"], axis=0)
        node("Concat", c_outs, ["c_out"], axis=0)

    state_shape = [L, "batch", H]
    graph = helper.make_graph(
        nodes,
        "charmix_step",
        inputs=[
            helper.make_tensor_value_info("tokens", TensorProto.INT64, ["batch"]),
            helper.make_tensor_value_info("h", TensorProto.FLOAT, state_shape),
            helper.make_tensor_value_info("c", TensorProto.FLOAT, state_shape),
        ],
        outputs=[
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", V]),
            helper.make_tensor_value_info("h_out", TensorProto.FLOAT, state_shape),
            helper.make_tensor_value_info("c_out", TensorProto.FLOAT, state_shape),
        ],
        initializer=inits,
    )
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="charmix",
        producer_version=FORMAT_VERSION,
    )
    proto.ir_version = IR_VERSION
    onnx.checker.check_model(proto)
    return proto


def parity(model: CharLSTM, proto: onnx.ModelProto, steps: int, seed: int = 0) -> float:
    """Step torch and onnxruntime side by side; return the max |logit difference|."""
    import onnxruntime as ort

    sess = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    V = model.cfg.vocab_size
    model = model.cpu().eval()
    state = model.zero_state(1)
    h = np.zeros((model.cfg.layers, 1, model.cfg.hidden), np.float32)
    c = np.zeros_like(h)
    worst = 0.0
    token = int(rng.integers(V))
    with torch.no_grad():
        for _ in range(steps):
            t_logits, state = model(torch.tensor([[token]]), state)
            logits, h, c = sess.run(None, {"tokens": np.array([token], np.int64), "h": h, "c": c})
            worst = max(worst, float(np.abs(t_logits[0, 0].numpy() - logits[0]).max()))
            p = np.exp(logits[0] - logits[0].max())
            token = int(rng.choice(V, p=p / p.sum()))
    return worst


def metadata(ckpt: dict, val_loss: float, parameters: int) -> dict[str, str]:
    tc, mc, st = ckpt["train_config"], ckpt["model_config"], ckpt["state"]
    return {
        "charmix.format": FORMAT_VERSION,
        "charmix.name": tc["name"],
        "charmix.vocab": json.dumps(ckpt["vocab"], ensure_ascii=False),
        "charmix.layers": str(mc["layers"]),
        "charmix.hidden": str(mc["hidden"]),
        "charmix.embedding": str(mc["embedding"]),
        "charmix.parameters": str(parameters),
        "charmix.corpus": json.dumps(
            {"name": ckpt["corpus_name"], "description": tc.get("description", "")},
            ensure_ascii=False,
        ),
        "charmix.val_loss": f"{val_loss:.6f}",
        "charmix.val_bits": f"{val_loss / np.log(2):.6f}",
        "charmix.val_split": VAL_SPLIT_NAME,
        "charmix.train_chars": str(st["train_chars"]),
        "charmix.train_steps": str(st["step"]),
        "charmix.train_seconds": f"{st['train_seconds']:.1f}",
        "charmix.train_config": json.dumps(
            {
                **{k: tc[k] for k in ("dropout", "seq_len", "batch", "lr", "weight_decay", "seed")},
                "batching": tc.get("batching", "stateful"),
            }
        ),
        "charmix.machine": f"{platform.machine()} {platform.system()}, torch {torch.__version__}",
        "charmix.created": _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
    }


def recorded_val_loss(ckpt: dict) -> float | None:
    """The val loss training measured for this checkpoint's own weights, if it measured one.

    best.pt holds the weights of the best evaluation; last.pt holds the latest weights, which
    were evaluated only if training stopped on an evaluation step (not after Ctrl-C between
    two), and are not best.pt's weights once the val loss has stopped improving.
    """
    st = ckpt["state"]
    if st["step"] == st["best_step"] and np.isfinite(st["best_val"]):
        return float(st["best_val"])
    for entry in reversed(st.get("history", [])):
        if entry["step"] == st["step"]:
            return float(entry["val"])
    return None


def _training_val_split(checkpoint: Path, ckpt: dict) -> np.ndarray:
    corpus = ckpt["train_config"]["corpus_path"]
    try:
        return load_corpus(Path(corpus), ckpt["vocab"]).val
    except CorpusError as exc:
        raise CorpusError(
            f"{checkpoint}: no val loss was recorded for step {ckpt['state']['step']} and its "
            f"corpus cannot be read ({exc}); pass --corpus"
        ) from None


def export_checkpoint(
    checkpoint: Path, out: Path, full_val: np.ndarray | None = None, parity_steps: int = 200
) -> dict:
    """Write checkpoint's model to `out` as a charmix model; returns the metadata written.

    With full_val, the val loss is recomputed on the whole validation split (the value in the
    checkpoint may come from a capped evaluation). Without it, the val loss training recorded
    for the checkpoint's weights is used, or, when none was (last.pt after Ctrl-C), it is
    measured on the validation split of the corpus the checkpoint was trained on.
    """
    ckpt = load_checkpoint(checkpoint)
    model = model_from_checkpoint(ckpt)
    val_loss = None if full_val is not None else recorded_val_loss(ckpt)
    if val_loss is None:
        if full_val is None:
            full_val = _training_val_split(checkpoint, ckpt)
        val_loss = evaluate(model, full_val, torch.device("cpu"), None)
    proto = build_graph(model)
    worst = parity(model, proto, parity_steps)
    if worst > PARITY_TOLERANCE:
        raise CorpusError(f"{checkpoint}: ONNX parity check failed (max |Δlogit| {worst:.2e})")
    meta = metadata(ckpt, val_loss, model.num_parameters())
    onnx.helper.set_model_props(proto, meta)
    proto.doc_string = f"charmix step model '{meta['charmix.name']}'"
    try:
        write_model(out, proto.SerializeToString())
    except WriteError as exc:
        raise CorpusError(str(exc)) from None
    return {"val_loss": val_loss, "parity": worst, **meta}
