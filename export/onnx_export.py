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

from charmix.daemon.engine.modelformat import (
    C_INPUT,
    C_OUTPUT,
    CORPUS_KEY,
    CREATED_KEY,
    EMBEDDING_KEY,
    FORMAT_KEY,
    FORMAT_VERSION,
    H_INPUT,
    H_OUTPUT,
    HIDDEN_KEY,
    LAYERS_KEY,
    LOGITS_OUTPUT,
    MACHINE_KEY,
    NAME_KEY,
    PARAMETERS_KEY,
    STYLE_CORPORA_KEY,
    STYLE_INPUT,
    STYLE_INTO_KEY,
    STYLE_VAL_LOSS_KEY,
    STYLES_KEY,
    TOKENS_INPUT,
    TRAIN_CHARS_KEY,
    TRAIN_CONFIG_KEY,
    TRAIN_SECONDS_KEY,
    TRAIN_STEPS_KEY,
    VAL_BITS_KEY,
    VAL_LOSS_KEY,
    VAL_SPLIT_KEY,
    VOCAB_KEY,
)
from charmix.export.dataset import VAL_SPLIT_NAME, CorpusError, load_corpus
from charmix.export.model import CharLSTM
from charmix.export.modelfile import WriteError, write_model
from charmix.export.train import evaluate, load_checkpoint, model_from_checkpoint

OPSET = 17
IR_VERSION = 8  # readable by onnxruntime >= 1.10
PARITY_TOLERANCE = 1e-4


def layer_weights(model: CharLSTM) -> list[dict[str, np.ndarray]]:
    """Each layer's weights in one form (float64, transposed for x @ W), whatever the module
    layout: w_x [in, 4H], w_h [H, 4H], b [4H], and for a conditioned model w_s [S, 4H], the
    style's whole linear effect on that layer's gates (see charmix.export.model)."""
    cfg = model.cfg
    sd = {k: v.detach().double().numpy() for k, v in model.state_dict().items()}
    out = []
    for i in range(cfg.layers):
        if cfg.styles:
            pre, suf = f"layers.{i}.", "_l0"
        else:
            pre, suf = "lstm.", f"_l{i}"
        w_ih = sd[f"{pre}weight_ih{suf}"].T
        layer = {
            "w_h": sd[f"{pre}weight_hh{suf}"].T,
            "b": sd[f"{pre}bias_ih{suf}"] + sd[f"{pre}bias_hh{suf}"],
        }
        if cfg.styles:
            width = cfg.embedding if i == 0 else cfg.hidden
            layer["w_x"] = w_ih[:width]
            w_s = w_ih[width:] if cfg.style_gates else np.zeros((cfg.styles, w_ih.shape[1]))
            if i == 0 and cfg.style_input:
                w_s = w_s + sd["style_embed.weight"].T @ w_ih[:width]
            layer["w_s"] = w_s
        else:
            layer["w_x"] = w_ih
        out.append(layer)
    return out


def build_graph(model: CharLSTM) -> onnx.ModelProto:
    """The step graph: (tokens [B], h, c [L, B, H] (, style [B, S])) → (logits [B, V], h_out,
    c_out)."""
    cfg = model.cfg
    L, H, V, S = cfg.layers, cfg.hidden, cfg.vocab_size, cfg.styles
    sd = {k: v.detach().double().numpy() for k, v in model.state_dict().items()}
    weights = layer_weights(model)
    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.array(array, order="C"), name))
        return name

    def node(op: str, inputs: list[str], outputs: list[str], **attrs) -> None:
        nodes.append(helper.make_node(op, inputs, outputs, name=f"{op}_{len(nodes)}", **attrs))

    split = const("split_4", np.array([H, H, H, H], dtype=np.int64))
    axis0 = const("axis_0", np.array([0], dtype=np.int64))
    table0 = sd["embed.weight"] @ weights[0]["w_x"] + weights[0]["b"]
    const("layer0_input_table", table0.astype(np.float32))
    if S:
        # The style's effect on every layer's gates is linear in s: one [S, L·4H] MatMul per
        # step, split per layer (layers it does not reach get zero columns only if "gates" is
        # off, in which case only layer 0 is stored).
        reach = L if cfg.style_gates else 1
        w_style = np.concatenate([weights[i]["w_s"] for i in range(reach)], axis=1)
        const("style_w", w_style.astype(np.float32))
        node("MatMul", [STYLE_INPUT, "style_w"], ["style_proj"])
        if reach == 1:
            style_parts = ["style_proj"]
        else:
            const("split_layers", np.array([4 * H] * reach, dtype=np.int64))
            style_parts = [f"style_gates{i}" for i in range(reach)]
            node("Split", ["style_proj", "split_layers"], style_parts, axis=1)

    x = ""
    h_outs, c_outs = [], []
    for layer in range(L):
        idx = const(f"layer{layer}_index", np.array(layer, dtype=np.int64))
        node("Gather", [H_INPUT, idx], [f"h{layer}"], axis=0)
        node("Gather", [C_INPUT, idx], [f"c{layer}"], axis=0)
        gates = f"gates{layer}"
        if S and layer < len(style_parts):
            gates = f"gates_plain{layer}"
        if layer == 0:
            node("Gather", ["layer0_input_table", TOKENS_INPUT], ["x_proj0"], axis=0)
            w_hh = const("layer0_w_hh", weights[0]["w_h"].astype(np.float32))
            node("MatMul", [f"h{layer}", w_hh], ["h_proj0"])
            node("Add", ["x_proj0", "h_proj0"], [gates])
        else:
            w = np.concatenate([weights[layer]["w_x"], weights[layer]["w_h"]], axis=0)
            w_name = const(f"layer{layer}_w", w.astype(np.float32))
            b_name = const(f"layer{layer}_b", weights[layer]["b"].astype(np.float32))
            node("Concat", [x, f"h{layer}"], [f"xh{layer}"], axis=1)
            node("MatMul", [f"xh{layer}", w_name], [f"mm{layer}"])
            node("Add", [f"mm{layer}", b_name], [gates])
        if gates != f"gates{layer}":
            node("Add", [gates, style_parts[layer]], [f"gates{layer}"])
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
    node("Add", ["head_mm", head_b], [LOGITS_OUTPUT])
    if L == 1:
        node("Identity", [h_outs[0]], [H_OUTPUT])
        node("Identity", [c_outs[0]], [C_OUTPUT])
    else:
        node("Concat", h_outs, [H_OUTPUT], axis=0)
        node("Concat", c_outs, [C_OUTPUT], axis=0)

    state_shape = [L, "batch", H]
    graph = helper.make_graph(
        nodes,
        "charmix_step",
        inputs=[
            helper.make_tensor_value_info(TOKENS_INPUT, TensorProto.INT64, ["batch"]),
            helper.make_tensor_value_info(H_INPUT, TensorProto.FLOAT, state_shape),
            helper.make_tensor_value_info(C_INPUT, TensorProto.FLOAT, state_shape),
            *(
                [helper.make_tensor_value_info(STYLE_INPUT, TensorProto.FLOAT, ["batch", S])]
                if S
                else []
            ),
        ],
        outputs=[
            helper.make_tensor_value_info(LOGITS_OUTPUT, TensorProto.FLOAT, ["batch", V]),
            helper.make_tensor_value_info(H_OUTPUT, TensorProto.FLOAT, state_shape),
            helper.make_tensor_value_info(C_OUTPUT, TensorProto.FLOAT, state_shape),
        ],
        initializer=inits,
    )
    proto = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="charmix",
        producer_version=str(FORMAT_VERSION),
    )
    proto.ir_version = IR_VERSION
    onnx.checker.check_model(proto)
    return proto


def parity(model: CharLSTM, proto: onnx.ModelProto, steps: int, seed: int = 0) -> float:
    """Step torch and onnxruntime side by side; return the max |logit difference|.

    A conditioned model is stepped with a blended style (a Dirichlet draw, changed every 16
    characters), which exercises every style path at once.
    """
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
    S = model.cfg.styles
    style = None
    with torch.no_grad():
        for step in range(steps):
            feed = {TOKENS_INPUT: np.array([token], np.int64), H_INPUT: h, C_INPUT: c}
            if S:
                if step % 16 == 0:
                    style = rng.dirichlet(np.ones(S)).astype(np.float32)[None, :]
                feed[STYLE_INPUT] = style
                t_logits, state = model(torch.tensor([[token]]), state, torch.from_numpy(style))
            else:
                t_logits, state = model(torch.tensor([[token]]), state)
            logits, h, c = sess.run(None, feed)
            worst = max(worst, float(np.abs(t_logits[0, 0].numpy() - logits[0]).max()))
            p = np.exp(logits[0] - logits[0].max())
            token = int(rng.choice(V, p=p / p.sum()))
    return worst


def metadata(ckpt: dict, val_loss: float, parameters: int) -> dict[str, str]:
    tc, mc, st = ckpt["train_config"], ckpt["model_config"], ckpt["state"]
    extra: dict[str, str] = {}
    if mc.get("styles"):
        # Style names in the order of the `style` input's columns, and what each was trained
        # on and reached (a conditioned model's val_loss is the mean over its styles).
        extra[STYLES_KEY] = json.dumps(ckpt["style_names"], ensure_ascii=False)
        extra[STYLE_INTO_KEY] = mc.get("style_into", "both")
        if "style_val_loss" in ckpt:
            extra[STYLE_VAL_LOSS_KEY] = json.dumps(
                {k: round(v, 6) for k, v in ckpt["style_val_loss"].items()}
            )
        if "style_corpora" in ckpt:
            extra[STYLE_CORPORA_KEY] = json.dumps(ckpt["style_corpora"], ensure_ascii=False)
    return {
        FORMAT_KEY: str(FORMAT_VERSION),
        NAME_KEY: tc["name"],
        VOCAB_KEY: json.dumps(ckpt["vocab"], ensure_ascii=False),
        LAYERS_KEY: str(mc["layers"]),
        HIDDEN_KEY: str(mc["hidden"]),
        EMBEDDING_KEY: str(mc["embedding"]),
        PARAMETERS_KEY: str(parameters),
        CORPUS_KEY: json.dumps(
            {"name": ckpt["corpus_name"], "description": tc.get("description", "")},
            ensure_ascii=False,
        ),
        VAL_LOSS_KEY: f"{val_loss:.6f}",
        VAL_BITS_KEY: f"{val_loss / np.log(2):.6f}",
        VAL_SPLIT_KEY: VAL_SPLIT_NAME,
        TRAIN_CHARS_KEY: str(st["train_chars"]),
        TRAIN_STEPS_KEY: str(st["step"]),
        TRAIN_SECONDS_KEY: f"{st['train_seconds']:.1f}",
        TRAIN_CONFIG_KEY: json.dumps(
            {
                **{k: tc[k] for k in ("dropout", "seq_len", "batch", "lr", "weight_decay", "seed")},
                "weight_dropout": tc.get("weight_dropout", 0.0),  # DropConnect on W_hh
                "embed_dropout": tc.get("embed_dropout", 0.0),
                "batching": tc.get("batching", "stateful"),
            }
        ),
        MACHINE_KEY: f"{platform.machine()} {platform.system()}, torch {torch.__version__}",
        CREATED_KEY: _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        **extra,
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


def _style_val_loss(
    checkpoint: Path, ckpt: dict, model: CharLSTM, full_val: list[np.ndarray] | None
) -> float:
    """A conditioned model's val loss: each style on its corpus's whole last 10%, at its one-hot
    style (kept in ckpt["style_val_loss"] for the metadata); the mean over the styles."""
    names = ckpt["style_names"]
    if full_val is None:
        paths = {s["name"]: s["corpus"] for s in ckpt["train_config"]["styles"]}
        try:
            full_val = [
                load_corpus(Path(paths[n]), ckpt["vocab"], ckpt["train_config"]["errors"]).val
                for n in names
            ]
        except CorpusError as exc:
            raise CorpusError(f"{checkpoint}: a style's corpus cannot be read ({exc})") from None
    if len(full_val) != len(names):
        raise CorpusError(f"{checkpoint}: {len(names)} styles but {len(full_val)} val splits")
    losses = {
        name: evaluate(model, ids, torch.device("cpu"), None, style=k)
        for k, (name, ids) in enumerate(zip(names, full_val, strict=True))
    }
    ckpt["style_val_loss"] = losses
    return float(np.mean(list(losses.values())))


def export_checkpoint(
    checkpoint: Path,
    out: Path,
    full_val: np.ndarray | list[np.ndarray] | None = None,
    parity_steps: int = 200,
) -> dict:
    """Write checkpoint's model to `out` as a charmix model; returns the metadata written.

    With full_val, the val loss is recomputed on the whole validation split (the value in the
    checkpoint may come from a capped evaluation). Without it, the val loss training recorded
    for the checkpoint's weights is used, or, when none was (last.pt after Ctrl-C), it is
    measured on the validation split of the corpus the checkpoint was trained on. A conditioned
    model is always measured on every style's whole split (full_val: one array per style).
    """
    ckpt = load_checkpoint(checkpoint)
    model = model_from_checkpoint(ckpt)
    if model.cfg.styles:
        val_loss = _style_val_loss(checkpoint, ckpt, model, full_val)
    else:
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
    proto.doc_string = f"charmix step model '{meta[NAME_KEY]}'"
    try:
        write_model(out, proto.SerializeToString())
    except WriteError as exc:
        raise CorpusError(str(exc)) from None
    return {"val_loss": val_loss, "parity": worst, **meta}
