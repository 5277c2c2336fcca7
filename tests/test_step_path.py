"""The bound step path (onnxruntime IOBinding into buffers the model owns, issue #23) writes the
same text as the per-call `session.run` path it replaced: same seed and settings, same characters,
through everything that touches the models' state (priming, resetting one voice, a state saved and
restored, several voices), on the six shipped models. And the state arrays a caller reads or
assigns are never written over behind its back."""

from __future__ import annotations

import numpy as np

from charmix.daemon.engine.mixer import Engine, Settings
from charmix.daemon.engine.model import load_model

CHARS = 400  # per phase: enough for every model to drift apart if one step differed


def performance(paths, bound: bool, voices: int) -> list[str]:
    """A short scripted performance; the text of every voice."""
    models = [load_model(p) for p in paths]
    for m in models:
        m.bound = bound
        m.reset(1)  # (re)bound, or not, from the start
    engine = Engine(models, seed=1234, voices=voices)
    n = len(models)
    timeline = [
        Settings(weights=np.ones(n), slew=0.0),
        Settings(weights=np.eye(n)[0] + 0.01, temperature=0.5, slew=0.05),
        Settings(weights=np.arange(1.0, n + 1), mode="geometric", topk=6, slew=0.0),
    ]
    text = ["" for _ in range(voices)]

    def play(settings: Settings, count: int) -> None:
        for _ in range(count):
            for k, frame in enumerate(engine.step_voices([settings] * voices, 0.05)):
                text[k] += frame.char

    play(timeline[0], CHARS)
    engine.prime("To be, or not to be", voice=voices - 1)
    play(timeline[1], CHARS)
    saved = engine.state()
    play(timeline[2], CHARS // 2)
    engine.restore(saved)  # back, and on again: the restored state must be the one saved
    engine.reset(voice=0)
    play(timeline[2], CHARS)
    return text


def test_bound_path_writes_the_same_text_as_session_run(shipped_models):
    for voices in (1, 3):
        before = performance(shipped_models, bound=False, voices=voices)
        after = performance(shipped_models, bound=True, voices=voices)
        assert after == before, f"{voices} voice(s): the text changed"
        assert all(len(t) == 3.5 * CHARS for t in after)


def test_state_read_or_assigned_is_never_written_behind_the_callers_back(shipped_models):
    m = load_model(shipped_models[0])
    assert m.bound
    token = np.array([5], np.int64)
    for _ in range(3):
        m.step(token)
    h, c = m.h, m.c  # handed out
    kept_h, kept_c = h.copy(), c.copy()
    first = m.step(token)
    kept_logits = first.copy()
    for _ in range(3):
        m.step(token)
    assert np.array_equal(h, kept_h) and np.array_equal(c, kept_c)
    assert np.array_equal(first, kept_logits)  # returned logits are the caller's
    mine = np.zeros_like(kept_h)
    m.h, m.c = mine, np.zeros_like(kept_c)  # assigned
    m.step(token)
    assert not mine.any()
    # and the same step from the same state gives the same logits on both paths
    m.h, m.c = kept_h.copy(), kept_c.copy()
    bound = m.step(token)
    m.bound = False
    m.h, m.c = kept_h.copy(), kept_c.copy()
    assert np.array_equal(m.step(token), bound)


def test_the_step_path_override_is_said_in_one_line(shipped_models, monkeypatch, caplog):
    """$CHARMIX_STEP_PATH=run takes session.run (the benchmark's "before"), and says so; a
    wrong value is a warning, not a silent choice."""
    import logging

    from charmix.daemon.runtime.startup import STEP_PATH_ENV, step_path

    models = [load_model(shipped_models[0])]
    log = logging.getLogger("test-step-path")
    monkeypatch.setenv(STEP_PATH_ENV, "run")
    with caplog.at_level(logging.INFO, logger="test-step-path"):
        step_path(models, log)
    assert not models[0].bound
    assert [r.getMessage() for r in caplog.records] == [
        f"models step through onnxruntime's session.run per call ({STEP_PATH_ENV}=run)"]
    caplog.clear()
    monkeypatch.setenv(STEP_PATH_ENV, "fast please")
    with caplog.at_level(logging.INFO, logger="test-step-path"):
        step_path(models, log)
    assert not models[0].bound and len(caplog.records) == 1
    assert caplog.records[0].levelno == logging.WARNING
    monkeypatch.setenv(STEP_PATH_ENV, "bound")
    step_path(models, log)
    assert models[0].bound


def test_the_startup_measurement_is_one_line_and_leaves_the_state(shipped_models):
    """`charmix daemon` says what a character costs on this CPU, and on which path; measuring
    must not move the models' state (the text stays the same)."""
    import re

    from charmix.daemon.runtime.startup import measured

    models = [load_model(p) for p in shipped_models[:2]]
    token = np.array([7], np.int64)
    for m in models:
        m.step(token)
    before = [(m.h.copy(), m.c.copy()) for m in models]
    line = measured(models)
    assert re.fullmatch(r"[\d,]+ µs a character on this CPU for 2 models "
                        r"\(int8-block32 weights; bound buffers\)", line), line
    for m, (h, c) in zip(models, before, strict=True):
        assert np.array_equal(m.h, h) and np.array_equal(m.c, c)
