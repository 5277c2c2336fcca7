"""The six shipped models in models/: they load, share models/vocab.json, carry complete metadata,
are small, shakespeare reaches its val loss, and each one writes in its own style.

All tests use the `shipped_models` fixture, which skips until all six are in models/.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest

from charmix.daemon.engine.mixer import Engine, Settings
from charmix.daemon.engine.model import StepModel, default_models, load_model

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
NAMES = {"shakespeare", "austen", "nietzsche", "bible", "linux", "latex"}
MAX_TOTAL_BYTES = 40_000_000
SHAKESPEARE_MAX_VAL_LOSS = 1.47
STYLE_CHARS = 600
STYLE_TEMPERATURE = 0.8
STYLE_SEED = 2024


@pytest.fixture(scope="module")
def loaded(shipped_models: list[Path]) -> dict[str, StepModel]:
    return {path.stem: load_model(path) for path in shipped_models}


def test_the_six_models_are_there(shipped_models: list[Path]) -> None:
    assert {p.stem for p in shipped_models} == NAMES


def test_all_load_and_share_the_vocabulary(loaded: dict[str, StepModel]) -> None:
    shared = json.loads((MODELS / "vocab.json").read_text(encoding="utf-8"))
    for stem, model in loaded.items():
        assert model.name == stem
        assert model.vocab == shared, stem


def test_metadata_is_complete(loaded: dict[str, StepModel]) -> None:
    for stem, model in loaded.items():
        meta = model.info.meta
        assert meta["charmix.format"] == "1"
        assert (model.info.layers, model.info.hidden) == (2, 256), stem
        assert int(meta["charmix.embedding"]) == 64
        assert int(meta["charmix.parameters"]) > 0
        corpus = json.loads(meta["charmix.corpus"])
        assert corpus["name"] == stem and corpus["description"], stem
        val = float(meta["charmix.val_loss"])
        assert 0.3 < val < 3.0, (stem, val)
        assert float(meta["charmix.val_bits"]) == pytest.approx(val / np.log(2), abs=1e-5)
        assert meta["charmix.val_split"] == "last 10%"
        assert int(meta["charmix.train_chars"]) > 1_000_000, stem
        assert int(meta["charmix.train_steps"]) > 0
        assert float(meta["charmix.train_seconds"]) > 0
        config = json.loads(meta["charmix.train_config"])
        assert set(config) >= {"dropout", "seq_len", "batch", "lr", "weight_decay", "seed"}
        assert meta["charmix.machine"]
        created = dt.datetime.fromisoformat(meta["charmix.created"])
        assert created.utcoffset() == dt.timedelta(0)


def test_shakespeare_val_loss(loaded: dict[str, StepModel]) -> None:
    val = loaded["shakespeare"].info.val_loss
    assert val is not None and val <= SHAKESPEARE_MAX_VAL_LOSS


def test_models_folder_is_small(shipped_models: list[Path]) -> None:
    total = sum(
        p.stat().st_size for p in MODELS.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )
    assert total <= MAX_TOTAL_BYTES, f"models/ is {total / 1e6:.1f} MB"


def mean_losses(model: StepModel, texts: list[str]) -> np.ndarray:
    """Mean per-character loss (nats) of each text under `model`, stepped from a fresh state
    after "\\n" as the engine starts; all texts at once through the batch dimension."""
    index = {ch: i for i, ch in enumerate(model.vocab)}
    ids = np.array([[index[ch] for ch in "\n" + text] for text in texts], dtype=np.int64)
    model.reset(len(texts))
    total = np.zeros(len(texts))
    for t in range(ids.shape[1] - 1):
        logits = model.step(ids[:, t]).astype(np.float64)
        top = logits.max(axis=1, keepdims=True)
        logz = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
        total += logz - logits[np.arange(len(texts)), ids[:, t + 1]]
    model.reset(1)
    return total / (ids.shape[1] - 1)


def test_each_model_writes_in_its_own_style(shipped_models: list[Path]) -> None:
    """Text sampled from each model is best explained by that same model, among the six."""
    names = [p.stem for p in shipped_models]
    texts = []
    for path in shipped_models:
        engine = Engine([load_model(path)], seed=STYLE_SEED)
        settings = Settings(weights=np.ones(1), temperature=STYLE_TEMPERATURE, slew=0.0)
        texts.append(engine.generate(settings, STYLE_CHARS))
    # losses[i, j]: model i's mean loss on the text model j wrote
    losses = np.stack([mean_losses(load_model(path), texts) for path in shipped_models])
    table = "\n".join(
        f"{name:>12} " + " ".join(f"{x:6.3f}" for x in row)
        for name, row in zip(names, losses, strict=True)
    )
    for j, writer in enumerate(names):
        best = names[int(np.argmin(losses[:, j]))]
        assert best == writer, (
            f"text written by {writer} is best explained by {best}:\n{table}\n{texts[j][:200]!r}"
        )


def test_models_readme_table_is_the_files_metadata(shipped_models: list[Path]) -> None:
    """models/README.md shows `charmix models --markdown`: regenerate it when a model changes."""
    from charmix.daemon.tools.offline import markdown_table

    readme = (MODELS / "README.md").read_text(encoding="utf-8")
    start, end = "<!-- table: charmix models --markdown -->\n", "<!-- end table -->"
    table = readme.split(start, 1)[1].split(end, 1)[0].strip()
    every = sorted(MODELS.glob("*.onnx"))  # the six and the style-conditioned one
    expected = markdown_table([(path, load_model(path).info) for path in every])
    assert table == expected


def test_a_plain_daemon_loads_exactly_the_six(shipped_models: list[Path]) -> None:
    """models/styles.onnx sits beside the six but joins only by name (--model styles)."""
    models, notes = default_models()
    assert {m.name for m in models} == NAMES and len(models) == 6
    if (MODELS / "styles.onnx").exists():
        assert len(notes) == 1 and "--model styles" in notes[0]


def test_the_style_model_knows_the_six_styles(shipped_models: list[Path]) -> None:
    path = MODELS / "styles.onnx"
    if not path.exists():
        pytest.skip("models/styles.onnx is not trained yet (make styles)")
    model = load_model(path)
    assert model.info.styles == ["shakespeare", "austen", "nietzsche", "bible", "linux", "latex"]
    assert model.vocab == json.loads((MODELS / "vocab.json").read_text(encoding="utf-8"))
    assert model.info.weights == "int8-block32"
    per_style = json.loads(model.info.meta["charmix.style_val_loss"])
    assert set(per_style) == NAMES and all(0 < v < 3 for v in per_style.values())
    assert (MODELS / "fp32" / "styles.onnx").exists()
