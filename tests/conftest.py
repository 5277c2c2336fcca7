"""Shared fixtures: tiny real ONNX models trained in seconds, free UDP ports, the shipped models.

The tiny models are real charmix models made by the real training and export path (2×32 LSTMs
trained for a few seconds on 40 kB slices of three corpora), so every test that loads a model
goes through the same loader the daemon uses.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SHARED_VOCAB = ROOT / "models" / "vocab.json"
SHIPPED_NAMES = ("austen", "bible", "latex", "linux", "nietzsche", "shakespeare")
TINY_CORPORA = {
    "shakespeare": DATA / "shakespeare_tiny.txt",
    "linux": DATA / "linux_tiny.txt",
    "bible": DATA / "bible_tiny.txt",
}


# The real peers the tests drive. Locally a missing one skips its tests with the reason; in CI
# (CI set, as .ci/run and fresh-ci do) the run stops at once, so nothing is silently skipped there.
TOOLS_REQUIRED_IN_CI = ("oscsend", "oscdump", "pd", "Xvfb", "xdotool", "tmux", "ip", "chromium")

# No mDNS from the tests on the machine's own network: daemons and `--to NAME` started by any
# test (and inheriting this environment) neither advertise nor browse. The multi-host tests turn
# it on inside the network namespaces they create (tests/netns.py), and only there.
os.environ["CHARMIX_MDNS"] = "0"


def pytest_sessionstart(session: pytest.Session) -> None:
    if os.environ.get("CI"):
        missing = [tool for tool in TOOLS_REQUIRED_IN_CI if shutil.which(tool) is None]
        if missing:
            pytest.exit(f"CI is missing {', '.join(missing)}: run `make sysdeps`", returncode=3)


def free_udp_port() -> int:
    """A UDP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_tiny(
    corpus: Path, out: Path, name: str, vocab: list[str] | None, steps: int = 150, seed: int = 0
) -> Path:
    """Train a 2×32 LSTM for `steps` steps and export it; a few seconds on one core."""
    import torch

    from charmix.export.dataset import load_corpus
    from charmix.export.onnx_export import export_checkpoint
    from charmix.export.train import TrainConfig, Trainer

    torch.set_num_threads(1)
    data = load_corpus(corpus, vocab, name=name)
    cfg = TrainConfig(
        name=name,
        corpus_path=str(corpus),
        description=f"tiny test model on {corpus.name}",
        layers=2,
        hidden=32,
        embedding=16,
        dropout=0.0,
        seq_len=32,
        batch=16,
        lr=1e-2,
        min_lr=1e-3,
        warmup=10,
        max_steps=steps,
        eval_every=50,
        seed=seed,
    )
    ckpt_dir = out.parent / f"ckpt_{name}"
    Trainer(cfg, data, ckpt_dir).run()
    export_checkpoint(ckpt_dir / "best.pt", out, full_val=data.val, parity_steps=50)
    return out


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """Three tiny models sharing the shipped vocabulary: shakespeare, linux, bible."""
    folder = tmp_path_factory.mktemp("tiny_models")
    vocab = json.loads(SHARED_VOCAB.read_text(encoding="utf-8"))
    return {
        name: train_tiny(path, folder / f"{name}.onnx", name, vocab, seed=i)
        for i, (name, path) in enumerate(TINY_CORPORA.items())
    }


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_models) -> Path:
    """The folder holding the three tiny models (for `--models-dir`-style arguments)."""
    return next(iter(tiny_models.values())).parent


@pytest.fixture(scope="session")
def own_vocab_model(tmp_path_factory) -> Path:
    """A tiny model with its own (corpus-derived, smaller) vocabulary, for union-vocab tests."""
    folder = tmp_path_factory.mktemp("own_vocab")
    return train_tiny(DATA / "bible_tiny.txt", folder / "ownvocab.onnx", "ownvocab", None, 80)


@pytest.fixture
def udp_port() -> int:
    return free_udp_port()


@pytest.fixture(scope="session")
def shipped_models() -> list[Path]:
    """The six committed dedicated models (not models/styles.onnx, the conditioned one); missing
    ones fail in CI and skip (with the reason) elsewhere."""
    files = sorted(p for p in (ROOT / "models").glob("*.onnx") if p.stem in SHIPPED_NAMES)
    if len(files) < 6:
        message = f"the shipped models are not all in models/ ({len(files)} of 6)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return files


def train_tiny_styles(
    out: Path, steps: int = 240, seed: int = 0, style_into: str = "gates"
) -> Path:
    """A tiny style-conditioned model (2×32, the three tiny corpora as styles shakespeare, linux,
    bible) trained for `steps` steps through the real StyleTrainer and export; seconds."""
    import torch

    from charmix.export.dataset import load_vocab
    from charmix.export.onnx_export import export_checkpoint
    from charmix.export.style_specs import load_styles
    from charmix.export.styles import StyleTrainer
    from charmix.export.train import TrainConfig

    torch.set_num_threads(1)
    specs = list(TINY_CORPORA.items())
    corpora = load_styles(specs, load_vocab(SHARED_VOCAB))
    cfg = TrainConfig(
        name=out.stem, corpus_path="", description="tiny conditioned test model",
        layers=2, hidden=32, embedding=16, dropout=0.0, seq_len=32, batch=12, lr=1e-2,
        min_lr=1e-3, warmup=10, max_steps=steps, eval_every=60, eval_chars=4000, seed=seed,
        device="cpu", style_into=style_into,
        styles=[{"name": n, "corpus": str(p)} for n, p in specs],
    )
    ckpt_dir = out.parent / f"ckpt_{out.stem}"
    StyleTrainer(cfg, corpora, ckpt_dir).run()
    export_checkpoint(ckpt_dir / "best.pt", out, full_val=[c.val for c in corpora],
                      parity_steps=50)
    return out


@pytest.fixture(scope="session")
def tiny_styles(tmp_path_factory) -> Path:
    """A tiny style-conditioned model with the styles shakespeare, linux, bible."""
    return train_tiny_styles(tmp_path_factory.mktemp("tiny_styles") / "styles.onnx")
