"""Corpus loading, vocabularies and the train/validation split.

The validation split is the last 10% of the file by characters: the split nanoGPT uses for
tiny-shakespeare, so val losses here compare with published numbers.

Vocabulary rule (`--vocab`): when a model is trained against a shared vocabulary, a corpus
character outside it is mapped in this order:

1. Unicode NFKD decomposition with combining marks removed (``é`` → ``e``, ``ﬁ`` → ``fi``),
   if every resulting character is in the vocabulary;
2. any other whitespace (no-break space, form feed, ...) → ``" "`` if the vocabulary has it;
3. otherwise the character is dropped. The number of mapped and dropped characters is reported.
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

VAL_FRACTION = 0.1
VAL_SPLIT_NAME = "last 10%"
ERRORS_MODES = ("strict", "replace")


class CorpusError(Exception):
    """A corpus or vocabulary that cannot be used; the message names the file and the problem."""


@dataclass
class Corpus:
    """An encoded corpus: token ids in vocabulary order, split into train and validation."""

    name: str
    vocab: list[str]
    train: np.ndarray
    val: np.ndarray
    mapped: int = 0
    dropped: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def total_chars(self) -> int:
        return int(self.train.size + self.val.size)


def read_text(path: Path, errors: str = "strict") -> str:
    """Read a UTF-8 corpus; invalid bytes raise CorpusError with the byte offset."""
    if errors not in ERRORS_MODES:
        # Checked up front: Python only looks the handler up when it meets a bad byte, so a typo
        # (or 'ignore', which would silently drop bytes) would otherwise pass on a clean file.
        raise CorpusError(f"unknown --errors mode {errors!r} (use strict or replace)")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8", errors=errors)
    except UnicodeDecodeError as exc:
        raise CorpusError(
            f"{path}: not valid UTF-8 at byte offset {exc.start} "
            f"(byte 0x{raw[exc.start]:02x}); fix the file or pass --errors replace"
        ) from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def load_vocab(path: Path) -> list[str]:
    """A vocabulary file is a JSON list of single characters in index order."""
    try:
        vocab = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CorpusError(f"{path}: not a vocabulary file ({exc})") from None
    if (
        not isinstance(vocab, list)
        or not vocab
        or not all(isinstance(c, str) and len(c) == 1 for c in vocab)
    ):
        raise CorpusError(f"{path}: a vocabulary must be a JSON list of single characters")
    if len(set(vocab)) != len(vocab):
        raise CorpusError(f"{path}: the vocabulary repeats a character")
    return vocab


def map_to_vocab(text: str, vocab: list[str]) -> tuple[str, int, int, list[str]]:
    """Apply the documented out-of-vocabulary rule; returns (text, mapped, dropped, what), where
    `what` names each character's fate, most frequent first: ["è→e ×3", "£ dropped ×4"]."""
    known = set(vocab)
    missing = {ch for ch in set(text) if ch not in known}
    if not missing:
        return text, 0, 0, []
    table: dict[str, str] = {}
    for ch in missing:
        base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
        if base and all(c in known for c in base):
            table[ch] = base
        elif ch.isspace() and " " in known:
            table[ch] = " "
        else:
            table[ch] = ""
    counts = {ch: text.count(ch) for ch in table}
    mapped = sum(n for ch, n in counts.items() if table[ch])
    dropped = sum(n for ch, n in counts.items() if not table[ch])
    what = [
        f"{show_char(ch)}→{show_char(table[ch])} ×{counts[ch]}"
        if table[ch]
        else f"{show_char(ch)} dropped ×{counts[ch]}"
        for ch in sorted(table, key=lambda c: (-counts[c], c))
    ]
    return text.translate(str.maketrans(table)), mapped, dropped, what


def show_char(text: str) -> str:
    """A character as a message can show it: itself if it is visible on its own, else its code
    point (whitespace, control characters, a lone combining accent)."""

    def visible(c: str) -> bool:
        return c.isprintable() and not c.isspace() and not unicodedata.combining(c)

    if text == " ":
        return "' '"
    return "".join(c if visible(c) else f"U+{ord(c):04X}" for c in text)


OOV_LISTED = 12  # characters a note names before "and N more"


def oov_note(mapped: int, dropped: int, what: list[str]) -> str:
    shown = ", ".join(what[:OOV_LISTED])
    if len(what) > OOV_LISTED:
        shown += f" and {len(what) - OOV_LISTED} more"
    return (
        f"{mapped} characters mapped into the vocabulary, {dropped} dropped: {shown} "
        "(see the rule in docs/model-format.md)"
    )


def load_corpus(
    path: Path,
    vocab: list[str] | None = None,
    errors: str = "strict",
    name: str | None = None,
) -> Corpus:
    """Read, map and encode a corpus, then split it (train = first 90%, val = last 10%)."""
    text = read_text(path, errors)
    notes: list[str] = []
    mapped = dropped = 0
    if vocab is None:
        vocab = sorted(set(text))
    else:
        text, mapped, dropped, what = map_to_vocab(text, vocab)
        if mapped or dropped:
            notes.append(f"{path}: {oov_note(mapped, dropped, what)}")
    n_val = int(len(text) * VAL_FRACTION)
    if len(text) < 200 or n_val < 20:
        raise CorpusError(f"{path}: too short to train on ({len(text)} characters; need 200+)")
    if len(vocab) < 2:
        raise CorpusError(f"{path}: needs at least two distinct characters")
    index = {ch: i for i, ch in enumerate(vocab)}
    ids = np.fromiter((index[ch] for ch in text), dtype=np.int64, count=len(text))
    split = len(text) - n_val
    return Corpus(
        name=name or path.stem,
        vocab=vocab,
        train=ids[:split],
        val=ids[split:],
        mapped=mapped,
        dropped=dropped,
        notes=notes,
    )


class Batcher:
    """Random contiguous windows of the training ids: (inputs, targets) of shape [B, T]."""

    def __init__(self, ids: np.ndarray, batch: int, seq_len: int, rng: np.random.Generator):
        if ids.size <= seq_len + 1:
            raise CorpusError(f"training split ({ids.size} chars) is shorter than --seq-len")
        self.ids, self.batch, self.seq_len, self.rng = ids, batch, seq_len, rng

    def next(self) -> tuple[np.ndarray, np.ndarray]:
        starts = self.rng.integers(0, self.ids.size - self.seq_len - 1, size=self.batch)
        offs = starts[:, None] + np.arange(self.seq_len + 1)[None, :]
        win = self.ids[offs]
        return win[:, :-1], win[:, 1:]


def streams(ids: np.ndarray, n: int, offset: int = 0) -> np.ndarray:
    """Cut ids[offset:] into n equal parallel streams, shape [n, L]: how training batches the
    corpus, and how the val loss is evaluated (training's and `charmix quantize`'s alike)."""
    usable = (ids.size - offset) // n
    return ids[offset : offset + usable * n].reshape(n, usable)


EVAL_STREAMS = 32  # the val split is evaluated as this many long streams, the state carried


def val_streams(ids: np.ndarray) -> np.ndarray:
    """The val split as evaluation reads it: up to EVAL_STREAMS streams of at least 64 chars."""
    return streams(ids, max(1, min(EVAL_STREAMS, (ids.size - 1) // 64)))
