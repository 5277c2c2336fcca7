"""Corpus reading, the validation split, the --vocab rule and every bad-corpus error.

All in-process against charmix.export.dataset (numpy only); the CLI side of the same errors is in
test_train.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from charmix.export.dataset import (
    VAL_FRACTION,
    Batcher,
    CorpusError,
    load_corpus,
    load_vocab,
    map_to_vocab,
    read_text,
)

ROOT = Path(__file__).resolve().parent.parent
SHARED_VOCAB = ROOT / "models" / "vocab.json"
TEXT = "The quick brown fox jumps over the lazy dog; café naïve Ærø.\n" * 20


def decode(ids: np.ndarray, vocab: list[str]) -> str:
    return "".join(vocab[i] for i in ids)


def write(tmp_path: Path, data: bytes | str, name: str = "corpus.txt") -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8", newline="")
    else:
        path.write_bytes(data)
    return path


# -- the split --------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [200, 201, 209, 1000, 1005, 1239])
def test_split_is_exactly_the_last_tenth_by_characters(tmp_path: Path, length: int) -> None:
    # Multi-byte characters throughout: the split counts characters, not bytes.
    text = ("é∑ab\nçd " * 200)[:length]
    corpus = load_corpus(write(tmp_path, text))
    n_val = length // 10
    assert corpus.val.size == n_val
    assert corpus.train.size == length - n_val
    assert corpus.total_chars == length
    assert decode(corpus.val, corpus.vocab) == text[length - n_val :]
    assert decode(corpus.train, corpus.vocab) == text[: length - n_val]
    assert VAL_FRACTION == 0.1


def test_own_vocabulary_is_the_sorted_characters_of_the_whole_file(tmp_path: Path) -> None:
    corpus = load_corpus(write(tmp_path, TEXT), name="fox")
    assert corpus.vocab == sorted(set(TEXT))
    assert corpus.name == "fox"
    assert corpus.mapped == corpus.dropped == 0 and corpus.notes == []
    assert corpus.train.dtype == np.int64


def test_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    assert load_corpus(write(tmp_path, TEXT, "my_corpus.txt")).name == "my_corpus"


# -- UTF-8 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "offset", "byte"),
    [
        (b"abc\xffdef", 3, 0xFF),
        ("h\u00e9llo ".encode() * 50 + b"\xc3(" + b"tail" * 20, 7 * 50, 0xC3),
        (b"\xef\xbb\xbf" + b"x" * 300 + b"\x80", 303, 0x80),  # offset counts the BOM's bytes
        ("€".encode()[:2] + b"rest of the file" * 20, 0, 0xE2),  # truncated sequence
    ],
)
def test_invalid_utf8_names_the_file_and_the_byte_offset(
    tmp_path: Path, data: bytes, offset: int, byte: int
) -> None:
    path = write(tmp_path, data, "broken.txt")
    with pytest.raises(CorpusError) as err:
        load_corpus(path)
    message = str(err.value)
    assert "\n" not in message
    assert str(path) in message
    assert f"byte offset {offset} " in message
    assert f"0x{byte:02x}" in message
    assert "--errors replace" in message


def test_errors_replace_turns_invalid_bytes_into_replacement_characters(tmp_path: Path) -> None:
    good = "a fine line of text\n" * 20
    path = write(tmp_path, good.encode() + b"\xff\xfe" + good.encode())
    assert read_text(path, "replace") == good + "\ufffd\ufffd" + good
    corpus = load_corpus(path, errors="replace")
    assert "\ufffd" in corpus.vocab
    assert corpus.total_chars == 2 * len(good) + 2


def test_errors_replace_with_a_shared_vocab_drops_the_replacement_character(
    tmp_path: Path,
) -> None:
    vocab = load_vocab(SHARED_VOCAB)
    good = "a fine line of text\n" * 20
    corpus = load_corpus(write(tmp_path, good.encode() + b"\xff" + good.encode()), vocab, "replace")
    assert corpus.dropped == 1 and corpus.mapped == 0
    assert decode(np.concatenate([corpus.train, corpus.val]), vocab) == good + good


@pytest.mark.parametrize("mode", ["bogus", "ignore", ""])
def test_unknown_errors_mode_is_refused_even_for_a_valid_file(tmp_path: Path, mode: str) -> None:
    with pytest.raises(CorpusError, match="--errors"):
        load_corpus(write(tmp_path, TEXT), errors=mode)


def test_bom_is_stripped_and_crlf_and_cr_become_newlines(tmp_path: Path) -> None:
    body = "line one\r\nline two\rline three\n" * 10
    path = write(tmp_path, b"\xef\xbb\xbf" + body.encode())
    text = read_text(path)
    assert text == "line one\nline two\nline three\n" * 10
    corpus = load_corpus(path)
    assert "\ufeff" not in corpus.vocab and "\r" not in corpus.vocab
    assert corpus.total_chars == len(text)


# -- the --vocab rule -------------------------------------------------------------------------


def test_vocab_rule_accents_whitespace_and_drops() -> None:
    vocab = list("abcdefghijklmnopqrstuvwxyzAE \n.")
    text = "café\u00a0naïve\tÆ\u2003x€y\ufb01\u0301."
    out, mapped, dropped, what = map_to_vocab(text, vocab)
    # é→e, ï→i (NFKD minus marks); no-break space → " " (its NFKD); tab and em space are other
    # whitespace → " "; Æ has no decomposition and is not whitespace → dropped; € dropped;
    # the ﬁ ligature → "fi"; a lone combining accent has an empty base → dropped.
    assert out == "cafe naive  xyfi."
    assert mapped == 6  # é, U+00A0, ï, tab, U+2003, ﬁ
    assert dropped == 3  # Æ, €, U+0301
    assert sorted(what) == sorted([
        "é→e ×1", "U+00A0→' ' ×1", "ï→i ×1", "U+0009→' ' ×1", "U+2003→' ' ×1", "ﬁ→fi ×1",
        "Æ dropped ×1", "€ dropped ×1", "U+0301 dropped ×1",
    ])


def test_vocab_rule_needs_every_decomposed_character() -> None:
    # "ǆ" decomposes to "dž" → "dz" after stripping marks; without "z" it cannot map.
    assert map_to_vocab("ǆ", list("dz "))[0] == "dz"
    assert map_to_vocab("ǆ", list("d "))[0] == ""


def test_vocab_rule_whitespace_is_dropped_without_a_space() -> None:
    out, mapped, dropped, what = map_to_vocab("a\tb\u2003c", list("abc"))
    assert (out, mapped, dropped) == ("abc", 0, 2)
    assert what == ["U+0009 dropped ×1", "U+2003 dropped ×1"]


def test_vocab_rule_text_already_in_vocabulary_is_untouched() -> None:
    assert map_to_vocab("abc cab", list("abc ")) == ("abc cab", 0, 0, [])


def test_shared_vocab_corpus_reports_counts_and_keeps_the_vocab(tmp_path: Path) -> None:
    vocab = load_vocab(SHARED_VOCAB)
    text = "Crème brûlée for the naïve café owner\u00a0— 10 € each.\n" * 10
    corpus = load_corpus(write(tmp_path, text), vocab)
    assert corpus.vocab == vocab
    # Per line: è, û, ï and U+00A0 are mapped (é is in the shared vocabulary and stays);
    # the em dash and the euro sign are dropped.
    assert corpus.mapped == 40
    assert corpus.dropped == 20
    assert len(corpus.notes) == 1
    assert "40 characters mapped" in corpus.notes[0] and "20 dropped" in corpus.notes[0]
    # the note names every character and what became of it, most frequent first
    assert corpus.notes[0].startswith(f"{tmp_path}")
    for part in ("è→e ×10", "û→u ×10", "ï→i ×10", "U+00A0→' ' ×10", "— dropped ×10",
                 "€ dropped ×10"):
        assert part in corpus.notes[0], corpus.notes[0]
    encoded = decode(np.concatenate([corpus.train, corpus.val]), vocab)
    assert encoded == "Creme brulée for the naive café owner  10  each.\n" * 10


def test_shared_vocab_file_is_valid() -> None:
    vocab = load_vocab(SHARED_VOCAB)
    assert vocab == sorted(vocab)
    assert {"\n", " ", "a", "Z"} <= set(vocab)


# -- too short, too few characters --------------------------------------------------------------


@pytest.mark.parametrize("length", [0, 1, 150, 199])
def test_too_short_corpus(tmp_path: Path, length: int) -> None:
    path = write(tmp_path, ("abcdefg " * 40)[:length], "short.txt")
    with pytest.raises(CorpusError) as err:
        load_corpus(path)
    assert str(path) in str(err.value)
    assert f"too short to train on ({length} characters" in str(err.value)


def test_shortness_is_judged_after_mapping_into_the_vocab(tmp_path: Path) -> None:
    # 300 characters of which 150 are dropped by the vocab rule: 150 remain, too short.
    path = write(tmp_path, "a€" * 150)
    assert load_corpus(path).total_chars == 300
    with pytest.raises(CorpusError, match="too short"):
        load_corpus(path, vocab=list("ab"))


def test_a_single_distinct_character_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "a" * 500)
    with pytest.raises(CorpusError, match="at least two distinct characters"):
        load_corpus(path)


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_unreadable_corpus(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "nope.txt"
    if kind == "directory":
        path.mkdir()
    with pytest.raises(CorpusError) as err:
        load_corpus(path)
    assert str(err.value).startswith(f"{path}: cannot read")


# -- vocabulary files -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", "not a vocabulary file"),
        ('["a", ', "not a vocabulary file"),
        ('{"a": 0}', "JSON list of single characters"),
        ('"abc"', "JSON list of single characters"),
        ("[]", "JSON list of single characters"),
        ('["a", "bc"]', "JSON list of single characters"),
        ('["a", ""]', "JSON list of single characters"),
        ('["a", 1]', "JSON list of single characters"),
        ('["a", "b", "a"]', "repeats a character"),
    ],
)
def test_bad_vocab_files(tmp_path: Path, content: str, problem: str) -> None:
    path = write(tmp_path, content, "vocab.json")
    with pytest.raises(CorpusError) as err:
        load_vocab(path)
    message = str(err.value)
    assert message.startswith(f"{path}: ") and problem in message
    assert "\n" not in message


def test_missing_vocab_file(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="not a vocabulary file"):
        load_vocab(tmp_path / "absent.json")


def test_vocab_file_round_trip(tmp_path: Path) -> None:
    vocab = ["\n", " ", "a", "é", "€"]
    path = write(tmp_path, json.dumps(vocab), "v.json")
    assert load_vocab(path) == vocab


# -- batcher ----------------------------------------------------------------------------------


def test_batcher_windows_are_contiguous_slices() -> None:
    ids = np.arange(1000, dtype=np.int64)
    x, y = Batcher(ids, batch=4, seq_len=16, rng=np.random.default_rng(0)).next()
    assert x.shape == y.shape == (4, 16)
    assert np.array_equal(y[:, :-1], x[:, 1:])
    assert np.all(np.diff(x, axis=1) == 1)


def test_batcher_refuses_a_split_shorter_than_seq_len() -> None:
    with pytest.raises(CorpusError, match="--seq-len"):
        Batcher(np.arange(10), batch=2, seq_len=16, rng=np.random.default_rng(0))
