"""The model-file contract, stated once: what a charmix step model is, and where models live.

docs/model-format.md describes the format for people; this module is its statement for the code.
The loader (engine/model.py), the exporter (export/onnx_export.py), the quantiser
(export/quantize.py), `charmix models` (tools/offline.py) and the style sources (engine/styles.py)
all read the format version, the graph's names, the metadata keys and the folder rules from here,
so a key or a version is written in one place and a writer and its reader cannot drift apart
(tests/test_modelformat.py fails on a second copy of a key).

Standard library only (platformdirs imported where it is needed): the training side and the
commands read the contract without loading numpy or onnxruntime.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

FORMAT_VERSION = 1  # metadata charmix.format; a loader refuses a newer one ("upgrade charmix")

# -- the graph ---------------------------------------------------------------------------------

TOKENS_INPUT = "tokens"  # int64 [B]: the previous character of each stream, a vocabulary index
H_INPUT = "h"  # float32 [layers, B, hidden]
C_INPUT = "c"  # float32 [layers, B, hidden]
LOGITS_OUTPUT = "logits"  # float32 [B, vocab]
H_OUTPUT = "h_out"
C_OUTPUT = "c_out"
STYLE_INPUT = "style"  # a style-conditioned model's extra input: float32 [B, S]
REQUIRED_INPUTS = {  # name → type, as onnxruntime reports it
    TOKENS_INPUT: "tensor(int64)",
    H_INPUT: "tensor(float)",
    C_INPUT: "tensor(float)",
}
REQUIRED_OUTPUTS = (LOGITS_OUTPUT, H_OUTPUT, C_OUTPUT)  # in this order
STYLE_INPUT_TYPE = "tensor(float)"

# -- metadata (metadata_props): every key, as written and read ----------------------------------

FORMAT_KEY = "charmix.format"  # str(FORMAT_VERSION)
VOCAB_KEY = "charmix.vocab"  # JSON list of distinct single characters, in index order
LAYERS_KEY = "charmix.layers"  # must match h/c dimension 0
HIDDEN_KEY = "charmix.hidden"  # must match h/c dimension 2
NAME_KEY = "charmix.name"  # the name on OSC; default: the file stem
CORPUS_KEY = "charmix.corpus"  # JSON {"name": ..., "description": ...}
VAL_LOSS_KEY = "charmix.val_loss"  # nats per character on the validation split
VAL_BITS_KEY = "charmix.val_bits"
VAL_SPLIT_KEY = "charmix.val_split"
TRAIN_CHARS_KEY = "charmix.train_chars"
TRAIN_STEPS_KEY = "charmix.train_steps"
TRAIN_SECONDS_KEY = "charmix.train_seconds"
TRAIN_CONFIG_KEY = "charmix.train_config"  # JSON: dropout, seq_len, batch, lr, ...
EMBEDDING_KEY = "charmix.embedding"
PARAMETERS_KEY = "charmix.parameters"
MACHINE_KEY = "charmix.machine"
CREATED_KEY = "charmix.created"
WEIGHTS_KEY = "charmix.weights"  # WEIGHTS_INT8 in a model written by `charmix quantize`
WEIGHTS_KL_KEY = "charmix.weights_kl"  # JSON {"mean": ..., "max": ...} from the fidelity check
FP32_VAL_LOSS_KEY = "charmix.fp32_val_loss"  # a quantised model's float32 original's val loss
STYLES_KEY = "charmix.styles"  # a style-conditioned model: its style names, in column order
STYLE_INTO_KEY = "charmix.style_into"  # input, gates or both
STYLE_VAL_LOSS_KEY = "charmix.style_val_loss"  # JSON name → val loss
FP32_STYLE_VAL_LOSS_KEY = "charmix.fp32_style_val_loss"  # the same, of the float32 original
STYLE_CORPORA_KEY = "charmix.style_corpora"  # JSON name → corpus file

REQUIRED_META = (FORMAT_KEY, VOCAB_KEY, LAYERS_KEY, HIDDEN_KEY)
META_KEYS = (  # every key a model file may carry, in docs/model-format.md's order
    *REQUIRED_META,
    NAME_KEY, CORPUS_KEY, VAL_LOSS_KEY, VAL_BITS_KEY, VAL_SPLIT_KEY, TRAIN_CHARS_KEY,
    TRAIN_STEPS_KEY, TRAIN_SECONDS_KEY, TRAIN_CONFIG_KEY, EMBEDDING_KEY, PARAMETERS_KEY,
    MACHINE_KEY, CREATED_KEY, WEIGHTS_KEY, WEIGHTS_KL_KEY, FP32_VAL_LOSS_KEY, STYLES_KEY,
    STYLE_INTO_KEY, STYLE_VAL_LOSS_KEY, FP32_STYLE_VAL_LOSS_KEY, STYLE_CORPORA_KEY,
)
# Not in files: the daemon marks each style of a conditioned model with the model it came from.
STYLE_OF_KEY = "charmix.style_of"

WEIGHTS_FP32 = "fp32"  # what no WEIGHTS_KEY means
WEIGHTS_INT8 = "int8-block32"  # `charmix quantize`: 8-bit MatMulNBits, blocks of 32

# -- folders -----------------------------------------------------------------------------------

MODEL_SUFFIX = ".onnx"  # a model is one file; every *.onnx in a models folder is one
SHIPPED_MODELS_PACKAGE = "charmix.models"  # the repo's models/, installed as a package
VOCAB_FILE = "vocab.json"  # the shipped models' shared vocabulary, beside them


class ModelError(Exception):
    """A file that is not a usable charmix model (or a models folder that is not there); str()
    is one line naming the file."""


def shipped_models_dir() -> Path:
    """The models/ folder that comes with charmix (the repo's, or the installed package's)."""
    return Path(str(resources.files(SHIPPED_MODELS_PACKAGE)))


def user_models_dir() -> Path:
    """Where `charmix train` writes a user's models: the platform's user data directory
    (~/.local/share/charmix/models on Linux, $XDG_DATA_HOME respected). Never the package's
    own folder: a model there would join every plain `charmix daemon` and ship in a wheel."""
    from platformdirs import user_data_path

    return user_data_path("charmix", appauthor=False) / "models"


def model_files(folder: Path | None = None) -> list[Path]:
    """The model files in a folder (default: the shipped models), in a stable order."""
    folder = folder or shipped_models_dir()
    if not folder.is_dir():
        raise ModelError(f"{folder}: no such models folder")
    return sorted(folder.glob(f"*{MODEL_SUFFIX}"))


def resolve_model(spec: str, search: Path | None = None) -> Path:
    """A model given as a path, or as a bare name looked up in `search`, or else in the shipped
    models and then the user models folder."""
    candidate = Path(spec)
    if candidate.suffix == MODEL_SUFFIX or candidate.exists() or os.sep in spec:
        return candidate
    folders = [search] if search else [shipped_models_dir(), user_models_dir()]
    for folder in folders:
        found = folder / f"{spec}{MODEL_SUFFIX}"
        if found.exists():
            return found
    have = sorted({p.stem for folder in folders if folder.is_dir()
                   for p in folder.glob(f"*{MODEL_SUFFIX}")})
    where = " or ".join(str(f) for f in folders)
    names = ", ".join(have) or "none"
    raise ModelError(f"{spec}: no model of that name in {where} (have: {names})")
