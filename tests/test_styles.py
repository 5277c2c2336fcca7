"""The style-conditioned model end to end: training, export, the loader's contract, 8-bit weights,
and the daemon's adapter (S sources, one onnxruntime call per character, both style modes).

The model is a real one: a 2×32 conditioned LSTM trained in seconds on the three tiny corpora
by the real StyleTrainer and export (tests/conftest.py: train_tiny_styles).
"""

from __future__ import annotations

import json
import logging
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import helpers
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import SHARED_VOCAB, TINY_CORPORA
from onnx import helper
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from charmix.daemon import protocol
from charmix.daemon.engine.mixer import Engine, Settings, softmax_entropy
from charmix.daemon.engine.model import default_models, load_model, session_options
from charmix.daemon.engine.modelformat import ModelError
from charmix.daemon.engine.styles import StyleGroup, StyleSource, expand
from charmix.daemon.runtime.daemon import Daemon
from charmix.daemon.runtime.startup import StartupError
from charmix.export.dataset import CorpusError, load_vocab
from charmix.export.model import CharLSTM, ModelConfig
from charmix.export.onnx_export import build_graph, parity
from charmix.export.quantize import quantize_file
from charmix.export.style_specs import load_styles, parse_style, read_style_file
from charmix.export.styles import StyleTrainer
from charmix.export.train import TrainConfig

STYLES = list(TINY_CORPORA)


def one_call_rows(path: Path, text: str, style: np.ndarray) -> np.ndarray:
    """Logits after feeding "\\n" + text to the model at a fixed style, stepping it directly."""
    sess = ort.InferenceSession(str(path), sess_options=session_options(),
                                providers=["CPUExecutionProvider"])
    vocab = load_model(path).vocab
    n = style.shape[0]
    h = np.zeros((2, n, 32), np.float32)
    c = h.copy()
    for ch in "\n" + text:
        tokens = np.full(n, vocab.index(ch), np.int64)
        logits, h, c = sess.run(None, {"tokens": tokens, "h": h, "c": c,
                                       "style": style.astype(np.float32)})
    return logits


# -- the model and its export -----------------------------------------------------------------


@pytest.mark.parametrize("into", ["input", "gates", "both"])
def test_every_style_path_exports_with_parity(into: str) -> None:
    torch.manual_seed(0)
    model = CharLSTM(ModelConfig(20, 2, 16, 8, 0.0, styles=3, style_into=into)).eval()
    for p in model.parameters():  # random, not init-small: a style that did nothing would pass
        torch.nn.init.normal_(p, std=0.3)
    proto = build_graph(model)
    assert [i.name for i in proto.graph.input] == ["tokens", "h", "c", "style"]
    assert parity(model, proto, 60) < 1e-4


def test_style_changes_the_output() -> None:
    torch.manual_seed(0)
    model = CharLSTM(ModelConfig(20, 2, 16, 8, 0.0, styles=3)).eval()
    tokens, state = torch.tensor([[1, 2, 3]]), model.zero_state(1)
    a = model(tokens, state, torch.tensor([[1.0, 0, 0]]))[0]
    b = model(tokens, state, torch.tensor([[0, 1.0, 0]]))[0]
    assert not torch.allclose(a, b)


def test_regularisers_are_training_only_and_reach_the_weights() -> None:
    torch.manual_seed(0)
    cfg = ModelConfig(20, 2, 16, 8, 0.0, embed_dropout=0.3, weight_dropout=0.5)
    model = CharLSTM(cfg)
    tokens, state = torch.randint(0, 20, (4, 12)), model.zero_state(4)
    model.train()
    a, b = model(tokens, state)[0], model(tokens, state)[0]
    assert not torch.allclose(a, b)  # a new mask each batch
    a.sum().backward()
    assert model.lstm.weight_hh_l0.grad is not None and model.lstm.weight_hh_l0.grad.abs().sum() > 0
    model.eval()
    plain = CharLSTM(ModelConfig(20, 2, 16, 8, 0.0))
    plain.load_state_dict(model.state_dict())
    plain.eval()
    assert torch.equal(model(tokens, state)[0], plain(tokens, state)[0])


def test_the_exported_model_describes_its_styles(tiny_styles: Path) -> None:
    model = load_model(tiny_styles)
    assert model.info.styles == STYLES
    inputs = {i.name: i for i in model.session.get_inputs()}
    assert inputs["style"].type == "tensor(float)" and inputs["style"].shape[1] == 3
    meta = model.info.meta
    losses = json.loads(meta["charmix.style_val_loss"])
    assert list(losses) == STYLES
    assert float(meta["charmix.val_loss"]) == pytest.approx(np.mean(list(losses.values())), 1e-5)


def test_each_style_predicts_its_own_corpus(tiny_styles: Path) -> None:
    """Each style's recorded loss is its one-hot loss on its own corpus; after 240 steps the
    linux style already predicts C best by far (the two English styles take longer to part)."""
    losses = json.loads(load_model(tiny_styles).info.meta["charmix.style_val_loss"])
    from charmix.export.dataset import load_corpus
    from charmix.export.quantize import onnx_val_loss

    data = tiny_styles.read_bytes()
    vocab = load_vocab(SHARED_VOCAB)
    for k, name in enumerate(STYLES):
        ids = load_corpus(TINY_CORPORA[name], vocab).val
        at = [onnx_val_loss(data, ids, j) for j in range(3)]
        assert at[k] == pytest.approx(losses[name], abs=1e-3)
        assert at[k] <= min(at) + 0.02, (name, at)
        if name == "linux":
            assert at[k] < min(at[:k] + at[k + 1 :]) - 0.05, at


def _with(path: Path, tmp: Path, edit) -> Path:
    proto = onnx.load(str(path))
    edit(proto)
    out = tmp / "edited.onnx"
    out.write_bytes(proto.SerializeToString())
    return out


def test_loader_refuses_inconsistent_style_models(tiny_styles: Path, tmp_path: Path) -> None:
    def drop_meta(p):
        keep = [m for m in p.metadata_props if m.key != "charmix.styles"]
        del p.metadata_props[:]
        p.metadata_props.extend(keep)

    def wrong_count(p):
        for m in p.metadata_props:
            if m.key == "charmix.styles":
                m.value = json.dumps(["a", "b"])

    def not_a_list(p):
        for m in p.metadata_props:
            if m.key == "charmix.styles":
                m.value = '"abc"'

    with pytest.raises(ModelError, match="has a 'style' input but no charmix.styles"):
        load_model(_with(tiny_styles, tmp_path, drop_meta))
    with pytest.raises(ModelError, match=r"expected float \[batch, 2\]"):
        load_model(_with(tiny_styles, tmp_path, wrong_count))
    with pytest.raises(ModelError, match="must be a list of distinct style names"):
        load_model(_with(tiny_styles, tmp_path, not_a_list))


def test_loader_refuses_styles_metadata_without_the_input(tiny_models, tmp_path: Path) -> None:
    def add(p):
        helper.set_model_props(p, {**{m.key: m.value for m in p.metadata_props},
                                   "charmix.styles": '["a", "b"]'})

    with pytest.raises(ModelError, match="the graph has no 'style'"):
        load_model(_with(tiny_models["bible"], tmp_path, add))


def test_quantised_conditioned_model(tiny_styles: Path, tmp_path: Path) -> None:
    vocab = load_vocab(SHARED_VOCAB)
    from charmix.export.dataset import load_corpus

    ids = [load_corpus(TINY_CORPORA[n], vocab).val for n in STYLES]
    report = quantize_file(tiny_styles, tmp_path / "q.onnx", ids)
    assert report.mean_kl < 2e-3
    q = load_model(tmp_path / "q.onnx")
    assert q.info.styles == STYLES and q.info.weights == "int8-block32"
    per_style = json.loads(q.info.meta["charmix.style_val_loss"])
    assert list(per_style) == STYLES
    assert report.val_loss == pytest.approx(np.mean(list(per_style.values())), abs=1e-5)
    # the style matrix stays float32: it is tiny, and blends deserve its precision
    proto = onnx.load(str(tmp_path / "q.onnx"))
    assert any(t.name == "style_w" for t in proto.graph.initializer)


# -- training ---------------------------------------------------------------------------------


def test_rows_are_balanced_and_read_their_own_corpus(tmp_path: Path) -> None:
    vocab = load_vocab(SHARED_VOCAB)
    specs = list(TINY_CORPORA.items())
    corpora = load_styles(specs, vocab)
    cfg = TrainConfig(name="s", corpus_path="", layers=1, hidden=8, embedding=4, batch=6,
                      seq_len=16, max_steps=1, device="cpu",
                      styles=[{"name": n, "corpus": str(p)} for n, p in specs])
    trainer = StyleTrainer(cfg, corpora, tmp_path)
    x, _ = trainer._next_batch()
    assert [list(r) for r in trainer.rows] == [[0, 3], [1, 4], [2, 5]]
    for k, rows in enumerate(trainer.rows):
        assert torch.equal(trainer.style[rows, k], torch.ones(2))
        text = corpora[k].train
        for r in rows:  # every row is a contiguous stretch of its own style's corpus
            window = x[r].numpy()
            hits = np.flatnonzero(np.all(
                np.lib.stride_tricks.sliding_window_view(text, 16) == window, axis=1))
            assert hits.size, (k, r)


def test_batch_must_split_between_styles(tmp_path: Path) -> None:
    vocab = load_vocab(SHARED_VOCAB)
    specs = list(TINY_CORPORA.items())
    cfg = TrainConfig(name="s", corpus_path="", batch=64, device="cpu",
                      styles=[{"name": n, "corpus": str(p)} for n, p in specs])
    with pytest.raises(CorpusError, match="use 63 or 66"):
        StyleTrainer(cfg, load_styles(specs, vocab), tmp_path)


def test_style_specs_and_files(tmp_path: Path) -> None:
    assert parse_style("bard=a/b.txt") == ("bard", Path("a/b.txt"))
    for bad in ("bard", "=x.txt", "bard=", "a b=x.txt"):
        with pytest.raises(CorpusError):
            parse_style(bad)
    toml = tmp_path / "s.toml"
    toml.write_text('[styles]\nbard = "bard.txt"\ncode = "/abs/code.txt"\n')
    assert read_style_file(toml) == [("bard", tmp_path / "bard.txt"),
                                     ("code", Path("/abs/code.txt"))]
    toml.write_text("styles = 3\n")
    with pytest.raises(CorpusError, match="expected a TOML file"):
        read_style_file(toml)
    with pytest.raises(CorpusError, match="at least two styles"):
        load_styles([("a", TINY_CORPORA["bible"])], load_vocab(SHARED_VOCAB))


# -- the daemon's adapter ---------------------------------------------------------------------


class CountingModel:
    """Counts the onnxruntime calls of a loaded model (the step method is the only caller)."""

    def __init__(self, model):
        self.model, self.calls, self.batches = model, 0, []
        inner = model.step

        def step(tokens):
            self.calls += 1
            self.batches.append(len(tokens))
            return inner(tokens)

        model.step = step


def settings(weights, **kw) -> Settings:
    return Settings(weights=np.asarray(weights, float), slew=0.0, **kw)


def test_sources_present_styles_as_models(tiny_styles: Path) -> None:
    sources = expand([load_model(tiny_styles)])
    assert [s.name for s in sources] == STYLES
    assert all(isinstance(s, StyleSource) for s in sources)
    assert len({id(s.group) for s in sources}) == 1


@pytest.mark.parametrize("mode", ["embedding", "mixture"])
def test_one_call_of_s_plus_one_rows_per_character(tiny_styles: Path, mode: str) -> None:
    model = load_model(tiny_styles)
    counter = CountingModel(model)
    engine = Engine(expand([model], mode), seed=3)
    counter.calls, counter.batches = 0, []
    engine.generate(settings([1, 1, 1]), 40)
    assert counter.calls == 40 and set(counter.batches) == {4}


def test_pure_rows_are_the_per_style_distributions(tiny_styles: Path) -> None:
    engine = Engine(expand([load_model(tiny_styles)], "mixture"), seed=5)
    w = np.array([0.2, 0.5, 0.3])
    text = "".join(engine.step(settings(w), 0.0).char for _ in range(25))
    frame = engine.step(settings(w), 0.0)
    expected = one_call_rows(tiny_styles, text, np.eye(3))
    inv = np.full(3, 1 / 0.8)
    p, _ = softmax_entropy(expected.astype(np.float64), inv)
    np.testing.assert_allclose(frame.p_models, p, atol=2e-5)
    # mixture: p_mix is the weighted mix of the pure rows; attribution r_i = w_i p_i(c) / Σ
    np.testing.assert_allclose(frame.p_mix, w @ p, atol=2e-5)
    r = w * p[:, frame.index]
    np.testing.assert_allclose(frame.attribution, r / r.sum(), atol=1e-5)


def test_embedding_mode_samples_from_the_blended_row(tiny_styles: Path) -> None:
    engine = Engine(expand([load_model(tiny_styles)], "embedding"), seed=5)
    w = np.array([0.2, 0.5, 0.3])
    text = "".join(engine.step(settings(w), 0.0).char for _ in range(25))
    frame = engine.step(settings(w), 0.0)
    blended = one_call_rows(tiny_styles, text, w[None, :])
    p_blend, _ = softmax_entropy(blended.astype(np.float64), np.array([1 / 0.8]))
    np.testing.assert_allclose(frame.p_mix, p_blend[0], atol=2e-5)
    pure, _ = softmax_entropy(one_call_rows(tiny_styles, text, np.eye(3)).astype(np.float64),
                              np.full(3, 1 / 0.8))
    assert np.abs(frame.p_mix - w @ pure).max() > 1e-3  # the two modes really differ


def test_weights_steer_the_blended_row(tiny_styles: Path) -> None:
    model = load_model(tiny_styles)
    engine = Engine(expand([model], "embedding"), seed=1)
    engine.step(settings([0, 0, 5]), 0.0)
    group: StyleGroup = engine.models[0].group
    np.testing.assert_allclose(group.mix, [[0, 0, 1]])
    np.testing.assert_allclose(model.style[0], [0, 0, 1])
    np.testing.assert_allclose(model.style[1:], np.eye(3))


def test_conditioned_and_ordinary_models_in_one_engine(tiny_styles: Path, tiny_models) -> None:
    ordinary = load_model(tiny_models["shakespeare"])
    ordinary.name = ordinary.info.name = "mine"
    for mode in ("embedding", "mixture"):
        engine = Engine(expand([load_model(tiny_styles), ordinary], mode), seed=2)
        assert engine.names == [*STYLES, "mine"]
        w = np.array([0.25, 0.25, 0.0, 0.5])
        frames = [engine.step(settings(w), 0.0) for _ in range(30)]
        f = frames[-1]
        assert f.p_models.shape == (4, len(engine.vocab))
        assert abs(f.p_mix.sum() - 1) < 1e-5 and abs(f.attribution.sum() - 1) < 1e-5
        if mode == "mixture":
            np.testing.assert_allclose(f.p_mix, w @ f.p_models.astype(np.float64), atol=2e-5)


def test_voices_are_blocks_of_rows_stepped_together_or_alone(tiny_styles: Path) -> None:
    """K voices: K blocks of S + 1 rows in one call, each voice's row 0 at its own weights;
    one voice's rows can be reset and stepped alone (priming or resetting that voice)."""
    sources = expand([load_model(tiny_styles)], "mixture")
    group = sources[0].group
    for s in sources:
        s.reset(2)
    group.set_weights(np.array([[1.0, 0, 0], [0, 0, 2.0]]))
    v = load_model(tiny_styles).vocab
    for ch in "\nThe ":
        rows = [s.step(np.array([v.index(ch)] * 2)) for s in sources]
    assert group.model.h.shape[1] == 8 and rows[0].shape == (2, len(v))
    alone = expand([load_model(tiny_styles)], "mixture")
    alone[0].group.set_weights(np.array([0, 0, 2.0]))
    for ch in "\nThe ":
        ref = [s.step(np.array([v.index(ch)])) for s in alone]
    np.testing.assert_allclose(group.logits[1], alone[0].group.logits[0], atol=1e-5)
    np.testing.assert_allclose(rows[2][1], ref[2][0], atol=1e-5)
    before = group.model.h[:, :4].copy()
    for s in sources:
        s.reset_rows(1, 2)
    assert not group.model.h[:, 4:].any() and np.array_equal(group.model.h[:, :4], before)
    out = [s.step_rows(np.array([v.index("\n")]), 1, 2) for s in sources]
    assert out[0].shape == (1, len(v)) and np.array_equal(group.model.h[:, :4], before)
    fresh = expand([load_model(tiny_styles)], "mixture")
    first = [s.step(np.array([v.index("\n")])) for s in fresh]
    np.testing.assert_allclose(out[1][0], first[1][0], atol=1e-5)


def test_reset_zeroes_every_row(tiny_styles: Path) -> None:
    model = load_model(tiny_styles)
    engine = Engine(expand([model]), seed=4)
    a = engine.generate(settings([1, 1, 1]), 30)
    engine.reset()
    engine.reseed(4)
    assert not model.h.any()
    assert engine.generate(settings([1, 1, 1]), 30) == a


# -- which models a daemon loads --------------------------------------------------------------


def test_default_set_leaves_the_conditioned_model_out(
    tiny_styles: Path, tiny_models, tmp_path: Path
) -> None:
    for path in [tiny_styles, *tiny_models.values()]:
        shutil.copy(path, tmp_path / path.name)
    models, notes = default_models(tmp_path)
    assert sorted(m.name for m in models) == sorted(tiny_models)
    assert len(notes) == 1 and "styles.onnx is style-conditioned" in notes[0]
    assert "--model styles" in notes[0]


# -- in the daemon: weights, /charmix/models, the default set ------------------------------------


LOG = logging.getLogger("test.styles")
P = protocol.PREFIX


@pytest.fixture
def receiver() -> Iterator[socket.socket]:
    with helpers.udp_receiver() as sock:
        yield sock


@pytest.fixture
def daemon(receiver: socket.socket) -> Iterator[Callable[..., Daemon]]:
    with helpers.daemons(LOG, run_clock=False, listen="127.0.0.1:0",
                         send=[f"127.0.0.1:{receiver.getsockname()[1]}"]) as make:
        yield make


def weight_message(name: str, value: float) -> bytes:
    b = OscMessageBuilder(f"{P}/weight/{name}")
    b.add_arg(value, "f")
    return b.build().dgram


def test_daemon_plays_the_styles_as_its_models(
    daemon, receiver: socket.socket, tiny_styles: Path
) -> None:
    """--model PATH: each style is one weight on the usual addresses, named on /charmix/models."""
    d = daemon(models=[str(tiny_styles)], seed=3, weights="shakespeare=0.25", slew=0.0)
    assert d.engine.names == STYLES
    d.clock.burst(5)
    group = d.engine.models[0].group
    np.testing.assert_allclose(group.mix, [[1, 0, 0]])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        tx.sendto(weight_message("linux", 0.75), d.server.address)
    deadline = time.monotonic() + 5
    while not np.allclose(group.mix, [[0.25, 0.75, 0]]):
        assert time.monotonic() < deadline, group.mix
        d.clock.burst(1)
        time.sleep(0.005)
    seen: dict[str, list] = {}
    d.broadcaster.announce()
    while f"{P}/models" not in seen:
        data, _ = receiver.recvfrom(65535)
        messages = OscBundle(data) if OscBundle.dgram_is_bundle(data) else [OscMessage(data)]
        for m in messages:
            seen[m.address] = m.params
    assert seen[f"{P}/models"] == STYLES


def test_daemon_mixes_styles_with_an_ordinary_model(
    daemon, tiny_styles: Path, own_vocab_model: Path
) -> None:
    """A conditioned model beside a user's model with its own vocabulary: one instrument."""
    texts = []
    for mode in ("embedding", "mixture"):
        d = daemon(models=[str(tiny_styles), str(own_vocab_model)], style_mode=mode, seed=1)
        assert d.engine.names == [*STYLES, "ownvocab"]
        frames = [d.engine.step(d.controls.snapshot(), 0.0) for _ in range(60)]
        assert all(abs(f.p_mix.sum() - 1) < 1e-4 for f in frames)
        texts.append("".join(f.char for f in frames))
        d.stop()
    assert texts[0] != texts[1]  # the same seed: the modes sample different distributions


def test_style_names_must_not_clash_with_a_model(daemon, tiny_styles: Path, tiny_models) -> None:
    with pytest.raises(StartupError, match="two models are named shakespeare"):
        daemon(models=[str(tiny_styles), str(tiny_models["shakespeare"])])


def test_plain_daemon_leaves_the_conditioned_model_out(
    daemon, tiny_styles: Path, tiny_models, tmp_path: Path
) -> None:
    for path in [tiny_styles, *tiny_models.values()]:
        shutil.copy(path, tmp_path / path.name)
    assert sorted(daemon(models_dir=tmp_path).engine.names) == sorted(tiny_models)
    assert daemon(models_dir=tmp_path, models=["styles"]).engine.names == STYLES
