"""Constraints in the sampler (issue 21): blocklist, charset, fold, their fallbacks and bad input.

The property tests drive `Guards` the way Engine.step_voices does, over random distributions, and
check the written text with a reference written here (regular expressions over the text), not with
the automaton's own normalisation. The engine tests use the shipped models.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charmix.daemon.engine.constraints import (
    ConstraintError,
    Constraints,
    Guards,
    Term,
    fold_text,
    load_terms,
    parse_charset,
    parse_term,
    parse_terms,
)
from charmix.daemon.engine.mixer import Engine, Settings
from charmix.daemon.engine.model import load_model

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "models"
VOCAB = sorted("\n !,-.ABSabs1")
CONTEXT_LIMIT = 1024


# ---------------------------------------------------------------------------- the reference
def reference_words(text: str) -> str:
    """The text as the rules read it, rebuilt here: lower case, each run of characters that are
    not letters or digits one space, a space in front (the start of a text is a boundary)."""
    low = "".join(ch.lower() if ch.isalnum() else " " for ch in text)
    return re.sub(" +", " ", " " + low)


def violations(text: str, terms: list[Term]) -> list[str]:
    """Blocked terms the text shows: whole words followed by a separator, or substrings."""
    words = reference_words(text)
    found = []
    for t in terms:
        if t.substring:
            if t.text in words:
                found.append(t.line())
        elif re.search(" " + re.escape(t.text) + " ", words):
            found.append(t.line())
    return found


def sample(constraints: Constraints | None, n: int, seed: int, zeros: float = 0.0,
           vocab: list[str] = VOCAB, fixed: np.ndarray | None = None) -> tuple[str, Guards]:
    """n characters from random distributions (or `fixed`), through Guards as the engine does."""
    guards = Guards(vocab, 1)
    rng = np.random.default_rng(seed)
    size = len(vocab)
    if fixed is None:  # every step's distribution at once (the loop below is the slow part)
        rows = rng.dirichlet(np.full(size, 0.3), size=n)
        if zeros:
            rows[rng.random((n, size)) < zeros] = 0.0
            empty = rows.sum(axis=1) <= 0
            rows[empty, rng.integers(size, size=int(empty.sum()))] = 1.0
    else:
        rows = np.repeat(fixed[None, :], n, axis=0)
    rows /= rows.sum(axis=1, keepdims=True)
    draws = rng.random(n)
    context, text = "", []
    for step in range(n):
        p = rows[step : step + 1].copy()
        guarded = guards.engage([constraints], [context])
        if guarded:
            guards.mask(p, p.copy())
        draw = draws[step]
        cdf = np.cumsum(p[0])
        c = min(int(np.searchsorted(cdf, draw * cdf[-1], side="right")), size - 1)
        while p[0, c] <= 0.0:
            c -= 1
        ch = vocab[c]
        text.append(ch)
        context = (context + ch)[-CONTEXT_LIMIT:]
        if guarded:
            guards.wrote(np.array([c]), np.array([draw]), [context])
    return "".join(text), guards


# ------------------------------------------------------------------------- property tests
LETTERS = "abs1AB"
word = st.text(alphabet=LETTERS, min_size=1, max_size=5)
phrase = st.builds(lambda a, sep, b: a + sep + b, word, st.sampled_from([" ", ", ", "-", "."]),
                   word)
whole_terms = st.lists(st.one_of(word, word, phrase), min_size=1, max_size=2000)
substring_terms = st.lists(st.text(alphabet="abs", min_size=3, max_size=5), max_size=4)


def with_prefixes(terms: list[str]) -> list[str]:
    """Some terms' prefixes too (the automaton must keep both)."""
    return terms + [t[: max(1, len(t) // 2)] for t in terms[::3]]


# 50 examples x 4,000 characters = the 200,000 sampled characters per property.
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(whole=whole_terms, seed=st.integers(0, 2**32 - 1), zeros=st.sampled_from([0.0, 0.5]))
def test_no_blocked_whole_word_is_ever_written(whole, seed, zeros):
    terms = [parse_term(t) for t in with_prefixes(whole)]
    constraints = Constraints.build(terms)
    text, guards = sample(constraints, 4000, seed, zeros)
    assert violations(text, terms) == []
    assert guards.stats(0).chars == 4000


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(whole=st.lists(word, max_size=200), subs=substring_terms,
       seed=st.integers(0, 2**32 - 1))
def test_no_substring_term_is_ever_written_anywhere(whole, subs, seed):
    terms = [parse_term(t) for t in whole] + [parse_term("*" + s) for s in subs]
    constraints = Constraints.build(terms)
    try:
        constraints.compiled(VOCAB)
    except ConstraintError:  # a list that would block every word is refused: nothing to run
        return
    text, _ = sample(constraints, 4000, seed, 0.3)
    assert violations(text, terms) == []


@settings(max_examples=30, deadline=None)
@given(spec=st.sets(st.sampled_from(VOCAB), min_size=1).map(
    lambda chars: "".join("\\n" if c == "\n" else "\\-" if c == "-" else c for c in chars)),
    seed=st.integers(0, 2**32 - 1))
def test_nothing_outside_the_charset_is_ever_written(spec, seed):
    allowed = parse_charset(spec)
    text, guards = sample(Constraints.build(charset=spec), 1000, seed, 0.5)
    assert set(text) <= allowed
    assert guards.stats(0).fallbacks <= 1000


# --------------------------------------------------------------------------- the rules
def test_whole_words_only_by_default_and_substrings_by_the_marker():
    fixed = np.array([1.0 if ch in " asc" else 0.02 for ch in VOCAB])
    vocab = VOCAB
    plain, _ = sample(None, 20000, 1, vocab=vocab, fixed=fixed)
    assert " ass " in reference_words(plain)  # the property is not vacuous
    terms = [parse_term("ass")]
    text, guards = sample(Constraints.build(terms), 20000, 1, vocab=vocab, fixed=fixed)
    words = reference_words(text)
    assert violations(text, terms) == []
    assert "ass" in words and "sass" in words  # inside words it is untouched
    assert guards.stats(0).words_blocked > 0 and guards.stats(0).masked_mass > 0
    sub, _ = sample(Constraints.build([parse_term("*ass")]), 20000, 1, vocab=vocab, fixed=fixed)
    assert "ass" not in reference_words(sub)


def test_case_punctuation_and_line_breaks_do_not_hide_a_term():
    terms = [parse_term("Son of a")]
    assert terms[0] == Term("son of a")
    assert violations("SON,\nof  a.", terms) == ["son of a"]
    assert parse_term("f.u.c.k").text == "f u c k"
    assert parse_term("*ABS").line() == "*abs"


def test_a_list_that_blocks_every_word_is_refused_with_one_line():
    terms = [parse_term(t) for t in ("ab", "*a", "*b", "*s", "*1")]
    with pytest.raises(ConstraintError, match="blocks every"):
        Constraints.build(terms).compiled(VOCAB)


def test_a_charset_changed_mid_word_gives_way_for_one_character_never_the_blocklist():
    terms = [parse_term("ab")]
    first = Constraints.build(terms)
    guards = Guards(VOCAB, 1)
    p = np.full((1, len(VOCAB)), 1.0 / len(VOCAB))
    assert guards.engage([first], [" ab"])
    only_space = first.with_charset(" ")  # a space would complete " ab "
    assert guards.engage([only_space], [" ab"])
    guards.mask(p, p.copy())
    allowed = {VOCAB[i] for i in np.flatnonzero(p[0] > 0)}
    assert allowed and allowed <= set("ABSabs1")  # only letters continue the word
    assert guards.stats(0).fallbacks == 1


def test_models_giving_no_mass_to_the_allowed_characters_fall_back_to_uniform():
    fixed = np.array([1.0 if ch == "a" else 0.0 for ch in VOCAB])
    text, guards = sample(Constraints.build(charset="b"), 50, 3, fixed=fixed)
    assert text == "b" * 50 and guards.stats(0).fallbacks == 50


def test_charset_ranges_escapes_and_fold():
    assert parse_charset("a-c\\n\\-") == frozenset("abc\n-")
    assert parse_charset("-a") == frozenset("-a")
    with pytest.raises(ConstraintError, match="backwards"):
        parse_charset("z-a")
    with pytest.raises(ConstraintError, match="empty"):
        parse_charset("")
    with pytest.raises(ConstraintError, match="escape"):
        parse_charset("\\q")
    # with a fold the charset is compared folded: either case of a letter allows both
    table = Constraints.build(charset="A-Z ", fold="upper").compiled(VOCAB)
    assert {VOCAB[i] for i in np.flatnonzero(table.charset)} == set(" ABSabs")
    table = Constraints.build(charset="a-z ", fold="upper").compiled(VOCAB)
    assert {VOCAB[i] for i in np.flatnonzero(table.charset)} == set(" ABSabs")
    table = Constraints.build(charset="a-z ").compiled(VOCAB)  # no fold: the case counts
    assert {VOCAB[i] for i in np.flatnonzero(table.charset)} == set(" abs")
    assert fold_text("Straße", "upper") == "STRAßE"  # one glyph stays one glyph
    assert fold_text("Abc", "lower") == "abc" and fold_text("Abc", "upper") == "ABC"


def test_spec_round_trips_for_state_and_recordings():
    c = Constraints.build([parse_term("ab"), parse_term("*ss")], "a-z ", "lower")
    again = Constraints.from_spec(c.spec())
    assert again == c and again.spec() == c.spec()


# ---------------------------------------------------------------------------- bad input
def test_bad_blocklists_are_one_line_refusals(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n\n", encoding="utf-8")
    assert load_terms(str(empty)) == [] and Constraints.build([]).empty
    big = tmp_path / "big.txt"
    big.write_bytes(b"word\n" * 210_000)  # about 1 MB
    with pytest.raises(ConstraintError, match="at most") as info:
        load_terms(str(big))
    assert "\n" not in str(info.value)
    long = tmp_path / "long.txt"
    long.write_text("x" * 1001 + "\n", encoding="utf-8")
    with pytest.raises(ConstraintError, match="long.txt:1: term of 1001 characters"):
        load_terms(str(long))
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\n\xff\xfe\n")
    with pytest.raises(ConstraintError, match="not UTF-8"):
        load_terms(str(bad))
    with pytest.raises(ConstraintError, match="no letters"):
        parse_terms("...\n")
    with pytest.raises(ConstraintError, match="No such file"):
        load_terms(str(tmp_path / "missing.txt"))


def test_the_default_list_loads_and_compiles():
    terms = load_terms("default")
    assert len(terms) > 800 and Term("whore") in terms
    assert Constraints.build(terms).compiled(VOCAB).states > 1


# --------------------------------------------------------------------- the real engine
def shipped(*names: str) -> list:
    return [load_model(MODELS / f"{name}.onnx") for name in names]


def run_engine(constraints: Constraints | None, n: int, voices: int = 2, seed: int = 11,
               mode: str = "linear", topk: int = 0, topp: float = 1.0) -> list[list]:
    engine = Engine(shipped("bible", "shakespeare"), seed=seed, voices=voices)
    s = Settings(weights=np.array([0.7, 0.3]), temperature=1.0, mode=mode, topk=topk, topp=topp,
                 constraints=constraints)
    return [engine.step_voices([s] * voices, 0.01) for _ in range(n)]


@pytest.mark.parametrize("mode,topk,topp", [("linear", 0, 1.0), ("geometric", 5, 0.9)])
def test_no_constraints_leave_the_text_identical(mode, topk, topp):
    """None, an empty Constraints and a fold alone: the same characters and distributions."""
    base = run_engine(None, 300, mode=mode, topk=topk, topp=topp)
    for c in (Constraints(), Constraints.build(fold="upper")):
        other = run_engine(c, 300, mode=mode, topk=topk, topp=topp)
        for a, b in zip(base, other, strict=True):
            assert [f.char for f in a] == [f.char for f in b]
            assert all(np.array_equal(x.p_mix, y.p_mix) for x, y in zip(a, b, strict=True))


def test_the_text_before_constraints_existed():
    """Recorded with the engine of commit 65d250d (before this module): bible 0.7 +
    shakespeare 0.3, T 1.0, seed 11, two voices, linear, voice 0's first characters."""
    frames = run_engine(None, 60)
    assert "".join(f[0].char for f in frames) == (
        ">inces as he hath slrept of the aspassing mept acwise\nthe af")


def test_a_40_glyph_charset_over_100000_characters():
    spec = "a-z0-4 .,;:!?'\\n"  # a split-flap board's 40 glyphs
    allowed = parse_charset(spec)
    assert len(allowed) == 40
    c = Constraints.build(charset=spec)
    voices = 20
    engine = Engine(shipped("bible", "shakespeare"), seed=3, voices=voices)
    s = Settings(weights=np.array([0.5, 0.5]), temperature=1.0, constraints=c)
    written = set()
    for _ in range(100_000 // voices):
        for f in engine.step_voices([s] * voices, 0.01):
            written.add(f.char)
            assert abs(float(f.attribution.sum()) - 1.0) < 1e-4
    assert written <= allowed
    stats = [engine.guards.stats(k) for k in range(voices)]
    assert sum(st.chars for st in stats) == 100_000


def test_the_shipped_models_never_write_a_default_list_word():
    c = Constraints.build(load_terms("default") + [parse_term("the"), parse_term("and")])
    frames = run_engine(c, 2500, voices=4)
    for k in range(4):
        text = "".join(f[k].char for f in frames)
        assert violations(text, list(c.terms)) == []
        assert " the " not in reference_words(text)
