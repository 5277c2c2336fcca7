"""The engine's maths against a plain numpy reference, sampling, union vocabularies, determinism.

The reference steps its own copies of the models through onnxruntime with the characters the
engine produced, and recomputes every quantity with explicit loops; nothing is shared with the
engine's implementation.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from charmix.daemon.engine.mixer import Engine, Settings, softmax_entropy, truncate
from charmix.daemon.engine.model import load_model
from charmix.daemon.engine.vocab import fallback_char, union_vocab
from charmix.daemon.engine.voice import normalise_weights


def reference_run(paths, frames, settings: Settings, first: str = "\n"):
    """Replay the engine's characters through fresh copies of the models; yield p_i per step."""
    models = [load_model(p) for p in paths]
    union = union_vocab([m.vocab for m in models])
    prev = first
    for frame in frames:
        rows = []
        for i, m in enumerate(models):
            tok = fallback_char(prev, {c: k for k, c in enumerate(m.vocab)})
            logits = m.step(np.array([tok], np.int64))[0].astype(np.float64)
            t = settings.temperature
            if settings.model_temperature is not None and settings.model_temperature[i] > 0:
                t = settings.model_temperature[i]
            e = [math.exp((x - logits.max()) / t) for x in logits]
            s = sum(e)
            row = np.zeros(len(union))
            for k, ch in enumerate(m.vocab):
                row[union.index(ch)] = e[k] / s
            rows.append(row)
        yield frame, np.array(rows)
        prev = frame.char


def reference_mix(p: np.ndarray, w: np.ndarray, mode: str) -> np.ndarray:
    w = w / w.sum()
    out = np.zeros(p.shape[1])
    for k in range(p.shape[1]):
        if mode == "linear":
            out[k] = sum(w[i] * p[i, k] for i in range(len(w)))
        else:
            out[k] = math.exp(
                sum(w[i] * math.log(max(p[i, k], 1e-6)) for i in range(len(w)) if w[i] > 0)
            )
    return out / out.sum()


def reference_truncate(p: np.ndarray, topk: int, topp: float) -> np.ndarray:
    q = p.copy()
    if topk:
        kth = sorted(q, reverse=True)[topk - 1]
        q = np.array([x if x >= kth else 0.0 for x in q])
        q /= q.sum()
    if topp < 1:
        order = sorted(range(len(q)), key=lambda k: -q[k])
        keep, mass = [], 0.0
        for k in order:
            keep.append(k)
            mass += q[k]
            if mass >= topp:
                break
        q = np.array([q[k] if k in keep else 0.0 for k in range(len(q))])
        q /= q.sum()
    return q


CASES = [
    Settings(weights=np.array([1.0, 1.0, 1.0]), temperature=1.0, slew=0.0),
    Settings(weights=np.array([0.7, 0.2, 0.1]), temperature=0.6, slew=0.0),
    Settings(weights=np.array([0.5, 0.0, 2.0]), mode="geometric", temperature=0.9, slew=0.0),
    Settings(
        weights=np.array([1.0, 2.0, 3.0]),
        temperature=0.8,
        model_temperature=np.array([0.0, 1.5, 0.3]),
        slew=0.0,
    ),
    Settings(weights=np.array([1.0, 1.0, 0.0]), temperature=1.2, topk=5, slew=0.0),
    Settings(weights=np.array([0.2, 0.3, 0.5]), temperature=1.0, topp=0.8, slew=0.0),
    Settings(weights=np.array([0.2, 0.3, 0.5]), mode="geometric", topk=8, topp=0.9, slew=0.0),
]


@pytest.mark.parametrize("settings", CASES, ids=lambda s: f"{s.mode}-k{s.topk}-p{s.topp}")
def test_engine_matches_numpy_reference(tiny_models, settings):
    paths = list(tiny_models.values())
    engine = Engine([load_model(p) for p in paths], seed=5)
    frames = [engine.step(settings, 1 / 15) for _ in range(60)]
    w = settings.weights / settings.weights.sum()
    for frame, p in reference_run(paths, frames, settings):
        np.testing.assert_allclose(frame.p_models, p, atol=2e-6)
        mixed = reference_truncate(reference_mix(p, w, settings.mode), settings.topk, settings.topp)
        np.testing.assert_allclose(frame.p_mix, mixed, atol=2e-6)
        np.testing.assert_allclose(frame.weights, w, atol=1e-6)
        c = frame.index
        assert engine.vocab[c] == frame.char and mixed[c] > 0
        contrib = np.array([w[i] * p[i, c] for i in range(len(w))])
        np.testing.assert_allclose(frame.attribution, contrib / contrib.sum(), atol=1e-5)
        entropy = [-sum(x * math.log2(x) for x in row if x > 0) for row in p]
        np.testing.assert_allclose(frame.entropy, entropy, atol=1e-4)
        assert abs(frame.p_mix.sum() - 1) < 1e-5


def test_samples_follow_p_mix_chi_square(tiny_models):
    """Pooled Pearson test: counts of each character vs the sum of p_mix over the steps."""
    engine = Engine([load_model(p) for p in tiny_models.values()], seed=11)
    settings = Settings(weights=np.array([1.0, 1.0, 1.0]), temperature=1.3, slew=0.0)
    steps = 4000
    expected = np.zeros(len(engine.vocab))
    observed = np.zeros(len(engine.vocab))
    for _ in range(steps):
        f = engine.step(settings, 0.0)
        expected += f.p_mix
        observed[f.index] += 1
    # Merge the rare characters so every bin expects >= 5.
    order = np.argsort(expected)
    bins_e, bins_o, acc_e, acc_o = [], [], 0.0, 0.0
    for k in order:
        acc_e += expected[k]
        acc_o += observed[k]
        if acc_e >= 5:
            bins_e.append(acc_e)
            bins_o.append(acc_o)
            acc_e = acc_o = 0.0
    bins_e[-1] += acc_e
    bins_o[-1] += acc_o
    e, o = np.array(bins_e), np.array(bins_o)
    chi2 = float(((o - e) ** 2 / e).sum())
    dof = len(e) - 1
    # Wilson–Hilferty: the chi-square 99.9% quantile; steps with varying p make the statistic
    # conservative, so a sampler that ignores p_mix lands far above this.
    z = 3.09
    limit = dof * (1 - 2 / (9 * dof) + z * math.sqrt(2 / (9 * dof))) ** 3
    assert dof > 10
    assert chi2 < limit, f"chi2 {chi2:.1f} over {dof} dof exceeds {limit:.1f}"


def test_union_vocabulary_and_feeding_rule(tiny_models, own_vocab_model):
    shakespeare = load_model(tiny_models["shakespeare"])
    own = load_model(own_vocab_model)
    engine = Engine([shakespeare, own], seed=3)
    assert engine.vocab == sorted(set(shakespeare.vocab) | set(own.vocab))
    missing = [ch for ch in engine.vocab if ch not in own.vocab]
    assert missing, "the own-vocabulary model should lack some characters"
    # Put all the mass on the shakespeare model so the missing characters get sampled.
    settings = Settings(weights=np.array([1.0, 0.0]), temperature=1.5, slew=0.0)
    seen_missing = 0
    for _ in range(1500):
        f = engine.step(settings, 0.0)
        own_row = f.p_models[1]
        assert all(own_row[engine.vocab.index(ch)] == 0 for ch in missing)
        assert abs(own_row.sum() - 1) < 1e-5 and abs(f.p_models[0].sum() - 1) < 1e-5
        expected_token = fallback_char(f.char, {c: k for k, c in enumerate(own.vocab)})
        assert engine._tokens[1][0] == expected_token
        if f.char in missing:
            seen_missing += 1
            assert f.attribution[1] == 0.0
    assert seen_missing > 0


def test_fallback_rule_cases():
    lower = {c: i for i, c in enumerate(" abcdeé\n")}
    assert fallback_char("é", lower) == lower["é"]
    assert fallback_char("è", lower) == lower["e"]  # accent stripped
    assert fallback_char("A", lower) == lower["a"]  # other case
    assert fallback_char("\t", lower) == lower[" "]  # whitespace
    assert fallback_char("€", lower) == lower[" "]  # anything else → space
    assert fallback_char("€", {"x": 0, "y": 1}) == 0  # no space: first entry


def test_geometric_keeps_characters_one_model_lacks(tiny_models, own_vocab_model):
    engine = Engine([load_model(tiny_models["shakespeare"]), load_model(own_vocab_model)], seed=1)
    f = engine.step(Settings(weights=np.array([0.5, 0.5]), mode="geometric", slew=0.0), 0.0)
    lacking = [engine.vocab.index(ch) for ch in engine.vocab if ch not in engine.models[1].vocab]
    assert np.all(f.p_mix[lacking] > 0)


def test_same_seed_and_weight_timeline_give_same_text(tiny_models):
    def run(seed: int) -> str:
        engine = Engine([load_model(p) for p in tiny_models.values()], seed=seed)
        out = []
        for k in range(300):
            w = np.array([1.0, 0.0, 0.0]) if k < 100 else np.array([0.0, 1.0, 0.5])
            out.append(engine.step(Settings(weights=w, slew=0.2), 1 / 20).char)
        return "".join(out)

    assert run(42) == run(42)
    assert run(42) != run(43)


def test_reset_and_reseed_restart_the_stream(tiny_models):
    engine = Engine([load_model(p) for p in tiny_models.values()], seed=9)
    s = Settings(weights=np.ones(3), slew=0.0)
    first = engine.generate(s, 80)
    engine.reset()
    engine.reseed(9)
    assert engine.generate(s, 80) == first
    assert engine.step_count == 160  # the counter keeps counting across resets


def test_slew_smooths_toward_target(tiny_models):
    engine = Engine([load_model(p) for p in tiny_models.values()], seed=0, weights=[1, 0, 0])
    target = Settings(weights=np.array([0.0, 1.0, 0.0]), slew=0.1)
    f = engine.step(target, 0.1)
    alpha = 1 - math.exp(-1)
    np.testing.assert_allclose(f.weights, [1 - alpha, alpha, 0], atol=1e-6)
    for _ in range(40):
        f = engine.step(target, 0.1)
    np.testing.assert_allclose(f.weights, [0, 1, 0], atol=1e-6)


def test_all_zero_weights_mean_uniform_mix(tiny_models):
    engine = Engine([load_model(p) for p in tiny_models.values()], seed=0)
    f = engine.step(Settings(weights=np.zeros(3), slew=0.0), 0.0)
    np.testing.assert_allclose(f.weights, [1 / 3] * 3, atol=1e-6)


def test_prime_with_unknown_characters_and_line_tracking(tiny_models):
    engine = Engine([load_model(p) for p in tiny_models.values()], seed=0)
    engine.prime("First line\nTo be €Ω\u00a0or")
    assert engine.line == "To be €Ω\u00a0or"
    s = Settings(weights=np.ones(3), slew=0.0)
    for _ in range(200):
        f = engine.step(s, 0.0)
        assert "\n" not in f.line
        if f.char == "\n":
            assert f.line == ""
        else:
            assert f.line.endswith(f.char)


def test_priming_changes_what_follows(tiny_models):
    def after(prime: str) -> str:
        engine = Engine([load_model(tiny_models["shakespeare"])], seed=4)
        engine.prime(prime)
        return engine.generate(Settings(weights=np.ones(1), slew=0.0), 60)

    assert after("KING HENRY:\n") != after("static int ")


def test_topk_keeps_exactly_k_when_probabilities_tie():
    p = np.full(10, 0.1)
    q = truncate(p, 3, 1.0)
    assert np.count_nonzero(q) == 3
    assert q.sum() == pytest.approx(1.0)


def test_huge_finite_weights_normalise_instead_of_overflowing(tiny_models):
    engine = Engine([load_model(p) for p in tiny_models.values()], seed=3)
    huge = Settings(weights=np.array([1e308, 1e308, 0.0]), slew=0.0)
    frame = engine.step(huge, 0.05)
    assert np.allclose(frame.weights, [0.5, 0.5, 0.0])
    assert np.all(np.isfinite(frame.p_mix)) and np.all(np.isfinite(frame.attribution))
    assert normalise_weights(np.array([np.inf, np.nan, -1.0])).tolist() == pytest.approx(
        [1 / 3] * 3
    )


def test_minus_infinity_logits_give_a_finite_entropy():
    logits = np.array([[0.0, 1.0, -np.inf, -np.inf]], np.float32)
    p, entropy = softmax_entropy(logits, np.ones(1))
    assert p[0, 2] == 0.0 and np.isfinite(entropy[0])
    assert entropy[0] == pytest.approx(-(p[0, :2] * np.log2(p[0, :2])).sum(), rel=1e-5)


class CountingModel:
    """Wraps a real model and counts its steps (the engine must not step a model twice)."""

    def __init__(self, model):
        self.model, self.name, self.vocab, self.steps = model, model.name, model.vocab, 0

    def reset(self, batch: int = 1) -> None:
        self.model.reset(batch)

    def step(self, tokens):
        self.steps += 1
        return self.model.step(tokens)


@pytest.mark.parametrize("with_own_vocab", [False, True])
def test_running_the_models_ahead_changes_no_character(tiny_models, own_vocab_model,
                                                       with_own_vocab):
    """advance() between steps (as the daemon does) gives the same text as plain steps, through
    priming, a reset and changing settings, on the shared-vocabulary and the union paths."""
    paths = list(tiny_models.values()) + ([own_vocab_model] if with_own_vocab else [])
    n = len(paths)
    timeline = [
        Settings(weights=np.ones(n), slew=0.0),
        Settings(weights=np.eye(n)[0] + 0.01, temperature=0.5, slew=0.05),
        Settings(weights=np.arange(1.0, n + 1), mode="geometric", topk=6, slew=0.0),
    ]

    def run(ahead: bool) -> tuple[str, int]:
        models = [CountingModel(load_model(p)) for p in paths]
        engine = Engine(models, seed=21)
        assert engine._shared is not with_own_vocab
        out = []
        for k, settings in enumerate(timeline):
            if ahead:
                engine.advance()
            engine.prime("And so " if k == 1 else "")
            for _ in range(40):
                out.append(engine.step(settings, 0.05).char)
                if ahead:
                    engine.advance()
                    engine.advance()  # a second call is free: the models already moved on
            if k == 1:
                engine.reset()
        return "".join(out), sum(m.steps for m in models)

    plain, plain_steps = run(False)
    ahead, ahead_steps = run(True)
    assert ahead == plain
    # Running ahead wastes one step per model where the precomputed step is thrown away: before
    # the reset, and after the last character.
    assert ahead_steps == plain_steps + 2 * n


def test_settings_sent_after_the_models_ran_ahead_still_shape_the_next_character(tiny_models):
    """The mix is computed at step time: a weights change that arrives after advance() (while the
    daemon waits for the next deadline or tick) applies to the very next character."""
    engine = Engine([load_model(p) for p in tiny_models.values()], seed=5)
    engine.step(Settings(weights=np.ones(3), slew=0.0), 0.05)
    engine.advance()
    for target in (0, 2, 1):
        frame = engine.step(Settings(weights=np.eye(3)[target], slew=0.0), 0.05)
        np.testing.assert_allclose(frame.weights, np.eye(3)[target])
        np.testing.assert_allclose(frame.attribution, np.eye(3)[target], atol=1e-6)
        np.testing.assert_allclose(frame.p_mix, frame.p_models[target], atol=1e-6)
        engine.advance()


def test_a_model_failing_mid_advance_costs_no_model_a_double_step(tiny_models):
    """If the third model raises, the first two have consumed the character; the retry (the
    next advance or step) resumes at the third, so every model reads each character once."""
    models = [CountingModel(load_model(p)) for p in tiny_models.values()]
    flaky = models[2]
    real_step = flaky.step
    failures = iter([True])

    def step_once_failing(tokens):
        if next(failures, False):
            raise RuntimeError("onnxruntime hiccup")
        return real_step(tokens)

    flaky.step = step_once_failing
    engine = Engine(models, seed=1)
    with pytest.raises(RuntimeError):
        engine.advance()
    assert [m.steps for m in models] == [1, 1, 0] and not engine.ready
    engine.step(Settings(weights=np.ones(3), slew=0.0), 0.05)  # resumes, then mixes
    assert [m.steps for m in models] == [1, 1, 1]
    engine.advance()
    assert [m.steps for m in models] == [2, 2, 2] and engine.ready
