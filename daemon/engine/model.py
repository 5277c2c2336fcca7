"""Loading charmix step models into onnxruntime: the checks of the contract that modelformat.py
states (docs/model-format.md describes it).

Every way a file can fail to be a charmix model ends in a ModelError whose message is one line
naming the file and the problem; the CLI prints it without a traceback. The daemon, `charmix
sample` and `charmix models` all load through `load_model`.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from charmix.daemon.engine.modelformat import (
    C_INPUT,
    CORPUS_KEY,
    FORMAT_KEY,
    FORMAT_VERSION,
    H_INPUT,
    HIDDEN_KEY,
    LAYERS_KEY,
    NAME_KEY,
    REQUIRED_INPUTS,
    REQUIRED_META,
    REQUIRED_OUTPUTS,
    STYLE_INPUT,
    STYLE_INPUT_TYPE,
    STYLES_KEY,
    TOKENS_INPUT,
    VAL_LOSS_KEY,
    VOCAB_KEY,
    WEIGHTS_FP32,
    WEIGHTS_KEY,
    ModelError,
    model_files,
)


@dataclass
class ModelInfo:
    """What a model file says about itself (metadata_props, parsed)."""

    name: str
    path: Path
    vocab: list[str]
    layers: int
    hidden: int
    meta: dict[str, str] = field(default_factory=dict)

    @property
    def val_loss(self) -> float | None:
        try:
            return float(self.meta[VAL_LOSS_KEY])
        except (KeyError, ValueError):
            return None

    @property
    def weights(self) -> str:
        """How the weights are stored: WEIGHTS_INT8 (`charmix quantize`) or WEIGHTS_FP32."""
        return self.meta.get(WEIGHTS_KEY, WEIGHTS_FP32)

    @property
    def styles(self) -> list[str]:
        """A style-conditioned model's style names ([] for an ordinary model); read_info has
        checked them."""
        return json.loads(self.meta[STYLES_KEY]) if STYLES_KEY in self.meta else []

    @property
    def corpus(self) -> dict:
        try:
            value = json.loads(self.meta.get(CORPUS_KEY, "{}"))
            return value if isinstance(value, dict) else {"name": str(value)}
        except ValueError:
            return {"name": self.meta.get(CORPUS_KEY, "")}


def session_options() -> ort.SessionOptions:
    """One thread, no spinning: the default thread pool burns a core while the daemon idles."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.log_severity_level = 4  # fatal only: load errors reach the user as one ModelError line
    return opts


class _Slot:
    """One pre-bound onnxruntime call: the state buffers it reads, the ones it writes, the token
    row and the logits buffer, all owned by the model. Two slots swap their state buffers (the
    output of one is the input of the other), so a step allocates nothing and binds nothing."""

    def __init__(self, session: ort.InferenceSession, tokens: np.ndarray, logits: np.ndarray,
                 state_in: tuple[np.ndarray, np.ndarray],
                 state_out: tuple[np.ndarray, np.ndarray]) -> None:
        self.tokens, self.logits = tokens, logits
        self.h_in, self.c_in = state_in
        self.h_out, self.c_out = state_out
        binding = session.io_binding()
        binding.bind_cpu_input(TOKENS_INPUT, tokens)
        binding.bind_cpu_input(H_INPUT, self.h_in)
        binding.bind_cpu_input(C_INPUT, self.c_in)
        for name, array in zip(REQUIRED_OUTPUTS, (logits, self.h_out, self.c_out), strict=True):
            binding.bind_output(name, "cpu", 0, np.float32, list(array.shape), array.ctypes.data)
        self.binding = binding._iobinding  # the compiled object: no Python checks per call
        self.next: _Slot = self


class StepModel:
    """One loaded model: steps B characters at a time, keeping its own LSTM state.

    Two ways to call onnxruntime, the same arithmetic (the same kernels on the same inputs: the
    text is identical, tests/test_step_path.py):

    * ``bound`` (the default where it applies): the inputs and outputs are bound once to buffers
      the model owns (onnxruntime's IOBinding), and a step writes the new h and c straight into
      the buffers the next step reads. Per call this saves building the feed, converting three
      outputs into new numpy arrays and allocating them: ~10 µs of a ~45 µs 8-bit step
      (docs/performance.md).
    * ``run``: `session.run` with a feed dict, new output arrays every call (the path before
      issue #23; a style-conditioned model always takes it, and `bound = False` selects it, for
      the benchmark's before/after comparison).

    `h` and `c` stay plain attributes to every caller: an array read from them is never written
    again by the model (reading one hands it out, and the next bound step copies the state into
    fresh buffers), and an array assigned to them is copied before a bound step writes.
    """

    def __init__(self, info: ModelInfo, session: ort.InferenceSession):
        self.info = info
        self.name = info.name
        self.vocab = info.vocab
        self.session = session
        self._out = list(REQUIRED_OUTPUTS)
        # InferenceSession.run re-validates the input names and the feeds' ownership on every
        # call in Python (~8 µs, as much as a sixth of an 8-bit model's step). load_model has
        # checked the names once, and the feeds are plain numpy arrays, so the step calls the
        # compiled session directly when this onnxruntime has one (all versions since 1.0 do).
        inner = getattr(session, "_sess", None)
        self._run = inner.run if callable(getattr(inner, "run", None)) else session.run
        self._run_bound = getattr(inner, "run_with_iobinding", None)
        self._run_options = ort.RunOptions()
        # Whether this model can take the bound path; load_model turns it on once a step on
        # the plain path has shown the outputs' shapes (a bound output of the wrong shape is an
        # onnxruntime error, not the one line that names the problem).
        self.bindable = self._run_bound is not None and not info.styles
        self.bound = False
        self._slot: _Slot | None = None  # the next bound call, while h and c are its inputs
        self.reset(1)
        self.warm_up()

    # -- the state: plain arrays to callers, owned buffers inside --------------------------
    @property
    def h(self) -> np.ndarray:
        self._slot = None  # handed out: the next bound step must not write over it
        return self._h

    @h.setter
    def h(self, value: np.ndarray) -> None:
        self._h, self._slot = value, None

    @property
    def c(self) -> np.ndarray:
        self._slot = None
        return self._c

    @c.setter
    def c(self, value: np.ndarray) -> None:
        self._c, self._slot = value, None

    def _bind(self, batch: int) -> _Slot:
        """Two slots over fresh buffers holding a copy of the current state (after a reset, a
        change of batch, or when h or c were handed out or replaced)."""
        shape = (self.info.layers, batch, self.info.hidden)
        if self._h.shape != shape or self._c.shape != shape:
            raise ValueError(f"{self.name}: state {self._h.shape}, {batch} tokens")
        a = (np.array(self._h, np.float32, order="C"), np.array(self._c, np.float32, order="C"))
        b = (np.empty(shape, np.float32), np.empty(shape, np.float32))
        tokens = np.zeros(batch, np.int64)
        logits = np.empty((batch, len(self.vocab)), np.float32)
        first = _Slot(self.session, tokens, logits, a, b)
        second = _Slot(self.session, tokens, logits, b, a)
        first.next, second.next = second, first
        self._h, self._c = a
        return first

    def reset(self, batch: int = 1) -> None:
        shape = (self.info.layers, batch, self.info.hidden)
        self.h = np.zeros(shape, np.float32)
        self.c = np.zeros(shape, np.float32)
        if self.bound:  # bound now, so that the first step after a reset copies nothing
            self._slot = self._bind(batch)
        if self.info.styles:  # until told otherwise, every row at the even blend
            n = len(self.info.styles)
            self.style = np.full((batch, n), 1.0 / n, np.float32)

    def step(self, tokens: np.ndarray) -> np.ndarray:
        """Feed tokens [B] (int64 indices into self.vocab); returns logits [B, V] (an array of
        the caller's: the next step does not change it).

        A style-conditioned model steps each row at its row of self.style [B, S].
        """
        if self.bound:
            slot = self._slot
            if slot is None or slot.tokens.shape != tokens.shape:
                slot = self._bind(tokens.shape[0])
            slot.tokens[:] = tokens
            self._run_bound(slot.binding, self._run_options)
            self._h, self._c, self._slot = slot.h_out, slot.c_out, slot.next
            return slot.logits.copy()
        feed = {TOKENS_INPUT: tokens, H_INPUT: self._h, C_INPUT: self._c}
        if self.info.styles:
            feed[STYLE_INPUT] = self.style
        logits, self.h, self.c = self._run(self._out, feed, None)
        return logits

    # Several voices (`charmix daemon --voices K`): voice k is rows k·r … (k+1)·r − 1 of the
    # batch, r = rows_per_voice (1 here; a model that needs several rows per voice, like a
    # style-conditioned one, says so and keeps these two methods true for its rows).
    rows_per_voice = 1

    def reset_voice(self, voice: int) -> None:
        """Zero the state of one voice's rows only."""
        r = self.rows_per_voice
        self.h, self.c = self.h.copy(), self.c.copy()
        self.h[:, voice * r : (voice + 1) * r] = 0.0
        self.c[:, voice * r : (voice + 1) * r] = 0.0

    def step_voice(self, tokens: np.ndarray, voice: int) -> np.ndarray:
        """Step one voice's rows only, leaving the other voices' state as it was (priming or
        resetting one voice of several); tokens [1], returns that voice's logits [1, V]."""
        r = self.rows_per_voice
        rows = slice(voice * r, (voice + 1) * r)
        h = np.ascontiguousarray(self.h[:, rows])
        c = np.ascontiguousarray(self.c[:, rows])
        logits, h, c = self._run(self._out, {TOKENS_INPUT: tokens, H_INPUT: h, C_INPUT: c}, None)
        self.h = self.h.copy()  # onnxruntime's outputs may be read-only views of its buffers
        self.c = self.c.copy()
        self.h[:, rows] = h
        self.c[:, rows] = c
        return logits

    def warm_up(self) -> None:
        """One run at load so the first real step doesn't pay for allocation (nor binding)."""
        h, c = self.h, self.c
        self.step(np.zeros(h.shape[1], np.int64))
        if self._slot is not None:  # bound: the state back into the buffers the next step reads
            self._slot.h_in[...] = h
            self._slot.c_in[...] = c
        else:
            self.h, self.c = h, c


def read_info(path: Path, session: ort.InferenceSession) -> ModelInfo:
    meta = dict(session.get_modelmeta().custom_metadata_map)
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        if VOCAB_KEY in missing:
            raise ModelError(f"{path}: not a charmix model (no {VOCAB_KEY} in its metadata)")
        raise ModelError(f"{path}: missing metadata {', '.join(missing)}")
    try:
        version = int(meta[FORMAT_KEY])
    except ValueError:
        raise ModelError(f"{path}: {FORMAT_KEY} {meta[FORMAT_KEY]!r} is not a number") from None
    if version > FORMAT_VERSION:
        raise ModelError(
            f"{path}: model format {version} is newer than this charmix reads ({FORMAT_VERSION}); "
            "upgrade charmix"
        )
    if version < 1:
        raise ModelError(f"{path}: unknown model format {version}")
    try:
        vocab = json.loads(meta[VOCAB_KEY])
    except ValueError:
        raise ModelError(f"{path}: {VOCAB_KEY} is not valid JSON") from None
    if (
        not isinstance(vocab, list)
        or len(vocab) < 2
        or not all(isinstance(ch, str) and len(ch) == 1 for ch in vocab)
        or len(set(vocab)) != len(vocab)
    ):
        raise ModelError(f"{path}: {VOCAB_KEY} must be a list of distinct single characters")
    try:
        layers, hidden = int(meta[LAYERS_KEY]), int(meta[HIDDEN_KEY])
    except ValueError:
        raise ModelError(f"{path}: {LAYERS_KEY} / {HIDDEN_KEY} are not integers") from None
    name = meta.get(NAME_KEY) or path.stem
    if STYLES_KEY in meta:
        try:
            styles = json.loads(meta[STYLES_KEY])
        except ValueError:
            raise ModelError(f"{path}: {STYLES_KEY} is not valid JSON") from None
        if (
            not isinstance(styles, list)
            or not styles
            or not all(isinstance(n, str) and n for n in styles)
            or len(set(styles)) != len(styles)
        ):
            raise ModelError(f"{path}: {STYLES_KEY} must be a list of distinct style names")
    return ModelInfo(name, path, vocab, layers, hidden, meta)


def check_signature(path: Path, session: ort.InferenceSession, info: ModelInfo) -> None:
    inputs = {i.name: i for i in session.get_inputs()}
    for name, kind in REQUIRED_INPUTS.items():
        if name not in inputs:
            raise ModelError(
                f"{path}: graph has no input '{name}' (inputs: {', '.join(inputs) or 'none'})"
            )
        if inputs[name].type != kind:
            raise ModelError(f"{path}: input '{name}' is {inputs[name].type}, expected {kind}")
    outputs = [o.name for o in session.get_outputs()]
    for name in REQUIRED_OUTPUTS:
        if name not in outputs:
            raise ModelError(f"{path}: graph has no output '{name}'")
    styles = info.styles
    if styles or STYLE_INPUT in inputs:
        if not styles:
            raise ModelError(f"{path}: graph has a '{STYLE_INPUT}' input but no {STYLES_KEY}")
        if STYLE_INPUT not in inputs:
            raise ModelError(f"{path}: {STYLES_KEY} is set but the graph has no '{STYLE_INPUT}'")
        spec = inputs[STYLE_INPUT]
        if spec.type != STYLE_INPUT_TYPE or len(spec.shape) != 2 or spec.shape[1] != len(styles):
            raise ModelError(
                f"{path}: input '{STYLE_INPUT}' is {spec.type} {spec.shape}, expected float "
                f"[batch, {len(styles)}] for its {len(styles)} styles"
            )
    for name in (H_INPUT, C_INPUT):
        shape = inputs[name].shape
        if len(shape) != 3 or shape[0] != info.layers or shape[2] != info.hidden:
            raise ModelError(
                f"{path}: input '{name}' has shape {shape}, expected "
                f"[{info.layers}, batch, {info.hidden}] from its metadata"
            )


def load_model(path: str | os.PathLike[str]) -> StepModel:
    """Load and validate one model file; ModelError (one line) if it is not a charmix model."""
    path = Path(path)
    if not path.exists():
        raise ModelError(f"{path}: no such model file")
    if path.is_dir():
        raise ModelError(f"{path}: is a directory, not a model file")
    if path.stat().st_size == 0:
        raise ModelError(f"{path}: empty file, not a model")
    try:
        session = ort.InferenceSession(
            str(path), sess_options=session_options(), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own Fail/InvalidProtobuf types
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "Protobuf parsing failed" in detail or "INVALID_PROTOBUF" in detail:
            detail = "not an ONNX file, or truncated"
        # "[ONNXRuntimeError] : 10 : INVALID_GRAPH : Load model from PATH failed:..." → "..."
        detail = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", detail)
        detail = re.sub(r"^Load model from .* failed: ?", "", detail)
        if "MatMulNBits" in detail:  # onnxruntime < 1.22 runs 4-bit MatMulNBits only
            raise ModelError(
                f"{path}: its 8-bit weights need onnxruntime >= 1.22, this is {ort.__version__}; "
                "upgrade onnxruntime, or use a float32 model (the shipped ones are in models/fp32 "
                "of the charmix repository)"
            ) from None
        raise ModelError(f"{path}: cannot load ({detail[:160]})") from None
    info = read_info(path, session)
    check_signature(path, session, info)
    try:
        model = StepModel(info, session)
        logits = model.step(np.zeros(1, np.int64))
    except Exception as exc:
        raise ModelError(f"{path}: a test step failed ({str(exc).splitlines()[0][:160]})") from None
    if logits.shape != (1, len(info.vocab)):
        raise ModelError(
            f"{path}: logits have shape {list(logits.shape)}, expected [1, {len(info.vocab)}] "
            "(the vocabulary size)"
        )
    model.bound = model.bindable
    model.reset(1)
    model.warm_up()
    return model


def default_models(folder: Path | None = None) -> tuple[list[StepModel], list[str]]:
    """What a daemon loads when no --model is given: every ordinary model in the folder (default:
    the shipped six). A style-conditioned model (models/styles.onnx) is loaded only by name
    (`--model styles`): its styles would otherwise join as six more weights beside the six
    dedicated models, shifting every weight message. Returns (models, notes on what was
    left out)."""
    models, notes = [], []
    for path in model_files(folder):
        model = load_model(path)
        if model.info.styles:
            notes.append(f"{path.name} is style-conditioned ({', '.join(model.info.styles)}): "
                         f"not loaded by default; load it with --model {model.name}")
            continue
        models.append(model)
    return models, notes
