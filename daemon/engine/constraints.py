"""Constraints inside the sampler: words a voice never writes and characters a display can show.

Why inside the sampler: filtering text after the fact (``***``) breaks a character stream, and a
mix of models spells words no single corpus has. Here an excluded character is never sampled: its
probability is set to 0 and the mix renormalised over what is allowed, so the attribution, the
Figure-1 view, recordings and replays stay exact (they read the distribution that was sampled).

Blocklist rules (one term a line; ``#`` starts a comment line; UTF-8):

* case-insensitive (each character lower-cased);
* every run of characters that are not letters or digits (``str.isalnum``) is one separator, in
  the text and in the terms: the phrase ``son of a`` also blocks ``son,\\nof a``; a term's leading
  and trailing separators are dropped;
* **whole words** by default: a term is blocked where it stands as whole words (a separator or the
  start of the text before it, a separator after it): a blocked ``ass`` never stands as a word, but
  ``class`` and ``assert`` are untouched. The character that would *end* the word (any separator)
  is what is masked, so the word's letters may stand at the very end of the text for one character
  before it goes on (``asse…``);
* a line starting with ``*`` (``SUBSTRING_MARKER``) is a **substring** term: ``*ass`` is never
  written anywhere, not even inside ``class``; its last character is what is masked.

One Aho–Corasick automaton holds every term; each voice's state moves by one table look-up per
character (``Guards``), and the mask of the next character is one precomputed row per state, so
the cost does not grow with the number of terms. The tables are built per engine vocabulary
(``Constraints.compiled``); a term with a character no model can write cannot happen and is left
out of them.

Character set (``--charset``): characters and ranges (``a-z``; ``\\n``, ``\\t``, ``\\s`` (space),
``\\\\``, ``\\-`` escapes); with ``--fold`` the set and the characters are compared folded, so
``A-Z`` and ``a-z`` with ``--fold upper`` both allow every letter, shown in upper case.
``--fold upper|lower`` is an output option only (what is sent and shown); the models see the
characters they wrote.

When the mask leaves nothing (documented in docs/installation.md, counted as ``mask_fallbacks``):

1. nothing allowed kept mass after top-k/top-p → the untruncated mix over the allowed characters;
2. the models give the allowed characters no mass at all → uniform over the allowed characters;
3. the charset and the blocklist together allow nothing (a charset changed mid-word) → the
   charset gives way for that one character: the blocklist alone decides. The blocklist never gives
   way: a list under which some state allows no character at all ("blocks every word") is refused
   when it is built (``ConstraintError``), so step 3 always has a character.

Pure: no sockets, threads or logging, and no I/O but reading a blocklist file (`load_terms`);
one lock guards the compiled tables' cache because the
control thread pre-builds them (so that a live ``add`` costs the clock nothing).
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from charmix.daemon.protocol.table import BLOCK_TERM_MAX, CHARSET_MAX

SUBSTRING_MARKER = "*"
COMMENT = "#"
SEP = " "  # the one separator symbol of the automaton
TERM_MAX = BLOCK_TERM_MAX  # characters of one term (without the marker)
TERMS_MAX = 10_000  # terms in one list, all files and live additions (~0.5 s, ~20 MB to build)
LIST_BYTES_MAX = 512 * 1024  # one blocklist file
CHARSET_SPEC_MAX = CHARSET_MAX  # characters of a --charset spec
FOLDS = ("", "upper", "lower")  # "" = none (the protocol's "none" is read as "")
DEFAULT_LIST = "default"
TINY = 1e-300


class ConstraintError(ValueError):
    """A blocklist, term or charset that was refused; str() is one line saying why."""


@dataclass(frozen=True, order=True)
class Term:
    """One blocked term, normalised (lower case, single separators); substring or whole words."""

    text: str
    substring: bool = False

    def line(self) -> str:
        """The term as a blocklist line (what --state keeps)."""
        return (SUBSTRING_MARKER if self.substring else "") + self.text


def _symbol(ch: str) -> str:
    """The automaton's symbol for a character: lower-cased letter or digit, else SEP."""
    if not ch.isalnum():
        return SEP
    low = ch.lower()
    return low if len(low) == 1 else ch


def normalise(text: str) -> str:
    """Lower case, every run of non-alphanumerics one SEP, no leading or trailing SEP."""
    out: list[str] = []
    for ch in text:
        sym = _symbol(ch)
        if sym == SEP and (not out or out[-1] == SEP):
            continue
        out.append(sym)
    if out and out[-1] == SEP:
        out.pop()
    return "".join(out)


def parse_term(line: str) -> Term:
    """One term from a blocklist line (or /charmix/blocklist/add); ConstraintError if unusable."""
    raw = line.strip()
    substring = raw.startswith(SUBSTRING_MARKER)
    if substring:
        raw = raw[len(SUBSTRING_MARKER):]
    if len(raw) > TERM_MAX:
        raise ConstraintError(f"term of {len(raw)} characters (at most {TERM_MAX}): "
                              f"{raw[:20]!r}…")
    if any(ord(ch) < 32 for ch in raw if ch != "\t"):
        raise ConstraintError(f"term {raw[:40]!r} has control characters")
    text = normalise(raw)
    if not text:
        raise ConstraintError(f"term {raw[:40]!r} has no letters or digits")
    return Term(text, substring)


def parse_terms(text: str, where: str = "blocklist") -> list[Term]:
    """Every term of a blocklist's text; the first bad line is a one-line ConstraintError."""
    terms = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith(COMMENT):
            continue
        try:
            terms.append(parse_term(stripped))
        except ConstraintError as exc:
            raise ConstraintError(f"{where}:{number}: {exc}") from None
    if len(terms) > TERMS_MAX:
        raise ConstraintError(f"{where}: {len(terms)} terms (at most {TERMS_MAX})")
    return terms


def load_terms(source: str) -> list[Term]:
    """The terms of a blocklist file, or of the shipped English list for ``default``."""
    if source == DEFAULT_LIST:
        data = resources.files("charmix.daemon.engine").joinpath("blocklists/en.txt").read_bytes()
        where = "default blocklist"
    else:
        path = Path(source)
        try:
            size = path.stat().st_size
            if size > LIST_BYTES_MAX:
                raise ConstraintError(f"{source}: {size} bytes, a blocklist may have at most "
                                      f"{LIST_BYTES_MAX}")
            data = path.read_bytes()
        except OSError as exc:
            raise ConstraintError(f"{source}: {exc.strerror or exc}") from None
        where = source
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConstraintError(f"{where}: not UTF-8 (byte {exc.start})") from None
    return parse_terms(text.removeprefix("\ufeff"), where)


def from_settings(blocklists: Sequence[str], charset: str, fold: str) -> Constraints | None:
    """A daemon's starting constraints from --blocklist (files or ``default``), --charset and
    --fold; None when there are none. ConstraintError (one line) for anything unusable."""
    terms: list[Term] = []
    for source in blocklists:
        terms += load_terms(source)
    made = Constraints.build(terms, charset, fold)
    return None if made.empty and not made.fold else made


_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", "-": "-", "s": " "}


def parse_charset(spec: str) -> frozenset[str]:
    """Characters and ranges ('a-z .,\\n'); ConstraintError for an empty or malformed spec."""
    if len(spec) > CHARSET_SPEC_MAX:
        raise ConstraintError(f"charset of {len(spec)} characters (at most {CHARSET_SPEC_MAX})")
    items: list[tuple[str, bool]] = []  # (character, escaped)
    i = 0
    while i < len(spec):
        ch = spec[i]
        if ch == "\\" and i + 1 < len(spec):
            if spec[i + 1] not in _ESCAPES:
                raise ConstraintError(f"charset: unknown escape \\{spec[i + 1]} "
                                      "(have \\n \\t \\s \\\\ \\-)")
            items.append((_ESCAPES[spec[i + 1]], True))
            i += 2
        else:
            items.append((ch, False))
            i += 1
    chars: set[str] = set()
    k = 0
    while k < len(items):
        ch, _ = items[k]
        if k + 2 < len(items) and items[k + 1] == ("-", False):
            end = items[k + 2][0]
            if ord(end) < ord(ch):
                raise ConstraintError(f"charset: range {ch}-{end} runs backwards")
            if ord(end) - ord(ch) > 0x3000:
                raise ConstraintError(f"charset: range {ch}-{end} is too wide")
            chars.update(chr(c) for c in range(ord(ch), ord(end) + 1))
            k += 3
        else:
            chars.add(ch)
            k += 1
    if not chars:
        raise ConstraintError("charset: empty (it would allow no character)")
    return frozenset(chars)


def fold_text(text: str, fold: str) -> str:
    """The output form of text for a one-case display (``--fold``); '' leaves it as written."""
    if fold == "upper":
        return "".join(c if len(u := c.upper()) != 1 else u for c in text)
    if fold == "lower":
        return "".join(c if len(lo := c.lower()) != 1 else lo for c in text)
    return text


@dataclass(frozen=True)
class Constraints:
    """One voice's constraints: blocked terms, allowed characters, output fold. Immutable:
    a change is a new object (the engine notices by identity and moves the voice's state to it)."""

    terms: tuple[Term, ...] = ()
    charset: frozenset[str] | None = None
    charset_spec: str = ""
    fold: str = ""
    _cache: dict[tuple[str, ...], Compiled] = field(default_factory=dict, compare=False,
                                                    repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.fold == "none":
            object.__setattr__(self, "fold", "")
        if self.fold not in FOLDS:
            raise ConstraintError(f"fold must be upper, lower or none, got {self.fold!r}")
        if len(self.terms) > TERMS_MAX:
            raise ConstraintError(f"{len(self.terms)} blocked terms (at most {TERMS_MAX})")

    def __deepcopy__(self, memo: dict[int, Any]) -> Constraints:
        return self  # immutable; recordings deep-copy Settings

    @property
    def empty(self) -> bool:
        """Nothing constrains the sampler (a fold alone changes only the output)."""
        return not self.terms and self.charset is None

    @classmethod
    def build(cls, terms: Iterable[Term] = (), charset: str = "", fold: str = "") -> Constraints:
        """From terms (deduplicated, sorted), a charset spec ('' = every character) and a fold."""
        return cls(tuple(sorted(set(terms))), parse_charset(charset) if charset else None,
                   charset, fold or "")

    def with_terms(self, terms: Iterable[Term]) -> Constraints:
        return Constraints(tuple(sorted(set(terms))), self.charset, self.charset_spec, self.fold)

    def with_charset(self, spec: str) -> Constraints:
        return Constraints(self.terms, parse_charset(spec) if spec else None, spec, self.fold)

    def with_fold(self, fold: str) -> Constraints:
        return Constraints(self.terms, self.charset, self.charset_spec, fold)

    def spec(self) -> dict[str, Any]:
        """JSON-ready (--state, recordings); `from_spec` reads it back."""
        return {"blocklist": [t.line() for t in self.terms], "charset": self.charset_spec,
                "fold": self.fold}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Constraints:
        """The same object for the same spec (voices restored from --state with one list share
        one set of tables, not one each)."""
        return _from_spec(json.dumps(spec, sort_keys=True))

    def compiled(self, vocab: Sequence[str]) -> Compiled:
        """The tables for one vocabulary, built once (ConstraintError: refused, see the top)."""
        key = tuple(vocab)
        with self._lock:
            done = self._cache.get(key)
            if done is None:
                done = Compiled(self, key)
                self._cache[key] = done
            return done


@functools.lru_cache(maxsize=4)  # each keeps its tables (2 MB for the default list)
def _from_spec(text: str) -> Constraints:
    spec = json.loads(text)
    terms = [parse_term(str(line)) for line in spec.get("blocklist", [])]
    return Constraints.build(terms, str(spec.get("charset", "")), str(spec.get("fold", "")))


class Compiled:
    """The automaton and mask tables of one Constraints over one vocabulary.

    States: an Aho–Corasick automaton over the symbols (lower-cased letters and digits, and SEP)
    of the whole-word patterns ``SEP + term`` and the substring patterns ``term``. Per state s and
    vocabulary character v: ``nxt[s, v]`` the next state, ``allow[f, s, v]`` whether v may be
    written (f = 1 after a separator, when another separator is absorbed and completes nothing),
    ``allow_terms`` the same without the charset (the fallback of last resort)."""

    def __init__(self, constraints: Constraints, vocab: tuple[str, ...]) -> None:
        self.vocab = vocab
        size = len(vocab)
        symbols = [_symbol(ch) for ch in vocab]
        self.sep = np.array([s == SEP for s in symbols])
        alphabet = sorted(set(symbols))
        column = {s: i for i, s in enumerate(alphabet)}
        patterns = []
        for term in constraints.terms:
            pattern = term.text if term.substring else SEP + term.text
            if all(ch in column for ch in pattern):  # else no model can write it
                patterns.append((pattern, term.substring))
        # The trie.
        children: list[dict[str, int]] = [{}]
        whole = [False]  # a whole-word pattern ends exactly here
        sub = [False]  # a substring pattern ends exactly here
        for pattern, substring in patterns:
            s = 0
            for ch in pattern:
                nxt = children[s].get(ch)
                if nxt is None:
                    nxt = len(children)
                    children[s][ch] = nxt
                    children.append({})
                    whole.append(False)
                    sub.append(False)
                s = nxt
            if substring:
                sub[s] = True
            else:
                whole[s] = True
        n = len(children)
        # Breadth first: fail links, the full transition table, outputs through the fail chain.
        delta = np.zeros((n, len(alphabet)), np.int32)
        fail = np.zeros(n, np.int32)
        order = [0]
        for ch, child in children[0].items():
            delta[0, column[ch]] = child
            order.append(child)
        head = 1
        while head < len(order):
            s = order[head]
            head += 1
            whole[s] = whole[s] or whole[fail[s]]
            sub[s] = sub[s] or sub[fail[s]]
            delta[s] = delta[fail[s]]
            for ch, child in children[s].items():
                fail[child] = delta[fail[s], column[ch]] if s else 0
                delta[s, column[ch]] = child
                order.append(child)
        cols = np.array([column[s] for s in symbols], np.int64)
        self.nxt = delta[:, cols] if size else np.zeros((n, 0), np.int32)  # [S, V]
        ends_sub = np.array(sub)[self.nxt]  # writing v completes a substring term
        pending = np.array(whole)  # a whole-word term ends here: a separator would complete it
        blocked = ends_sub | (pending[:, None] & self.sep[None, :])
        terms_ok = ~blocked
        after_sep = terms_ok | self.sep[None, :]  # a second separator is absorbed
        dead = np.flatnonzero(~terms_ok.any(axis=1))
        if dead.size:
            raise ConstraintError(f"the blocklist blocks every character after "
                                  f"{self._label(int(dead[0]), order, children)!r} "
                                  "(it would block every word): refused")
        self.allow_terms = np.stack([terms_ok, after_sep])  # [2, S, V]
        if constraints.charset is None:
            self.charset = np.ones(size, bool)
        else:
            fold = constraints.fold
            glyphs = {fold_text(ch, fold) for ch in constraints.charset}
            self.charset = np.array([fold_text(ch, fold) in glyphs for ch in vocab])
            if not self.charset.any():
                raise ConstraintError("the charset allows no character the models have: refused")
        self.allow = self.allow_terms & self.charset[None, None, :]
        self.blocks = bool(patterns)
        self.states = n
        self._delta, self._column = delta, column
        # The per-character fast path, as Python lists (a numpy scalar look-up costs more):
        # free[f][s]: nothing is masked there; terms_free[f][s]: the blocklist masks nothing.
        self.free = self.allow.all(axis=2).tolist()
        self.terms_free = self.allow_terms.all(axis=2).tolist()
        self.sep_list = self.sep.tolist()

    @staticmethod
    def _label(state: int, order: list[int], children: list[dict[str, int]]) -> str:
        parent: dict[int, tuple[int, str]] = {}
        for s in order:
            for ch, child in children[s].items():
                parent[child] = (s, ch)
        out = []
        while state in parent:
            state, ch = parent[state]
            out.append(ch)
        return "".join(reversed(out)).strip()

    def follow(self, text: str) -> tuple[int, bool]:
        """(state, after a separator) after `text`, from the start of a text (a boundary)."""
        s = 0
        sep_col = self._column.get(SEP)
        if sep_col is not None:
            s = int(self._delta[0, sep_col])
        after_sep = True
        for ch in text:
            sym = _symbol(ch)
            if sym == SEP:
                if not after_sep and sep_col is not None:
                    s = int(self._delta[s, sep_col])
                after_sep = True
                continue
            col = self._column.get(sym)
            s = int(self._delta[s, col]) if col is not None else 0
            after_sep = False
        return s, after_sep


@dataclass
class GuardStats:
    """One voice's counters: characters constrained, masked mass, words blocked, fallbacks."""

    chars: int = 0
    masked_mass: float = 0.0  # Σ probability removed by the mask (after top-k/top-p)
    words_blocked: int = 0  # draws that, unmasked, would have completed a blocked term
    fallbacks: int = 0  # steps where the mask left nothing and a fallback decided


class _Voice:
    def __init__(self) -> None:
        self.constraints: Constraints | None = None
        self.compiled: Compiled | None = None
        self.state = 0
        self.after_sep = True
        self.seen: str | None = None  # the voice context the state follows
        self.unmasked: np.ndarray | None = None  # this step's row before the blocklist's mask
        self.stats = GuardStats()


class Guards:
    """Every voice's automaton state and counters; the engine's two hooks (`mask`, `wrote`)."""

    def __init__(self, vocab: Sequence[str], voices: int) -> None:
        self.vocab = tuple(vocab)
        self.voices = [_Voice() for _ in range(voices)]
        self._active: list[int] = []

    def stats(self, voice: int) -> GuardStats:
        return self.voices[voice].stats

    def engage(self, constraints: Sequence[Constraints | None],
               contexts: Sequence[str]) -> bool:
        """This step's constraints per voice, with each voice's text since its last reset.
        Moves a voice onto new constraints (by identity) or a text it did not follow (a prime,
        a reset), from that text. False when no voice is constrained (the sampler is untouched)."""
        active = []
        for k, c in enumerate(constraints):
            g = self.voices[k]
            if c is None or c.empty:
                g.constraints, g.compiled = c, None
                continue
            if c is not g.constraints:
                try:
                    g.compiled = c.compiled(self.vocab)
                except ConstraintError:
                    if g.compiled is None:  # refused before it got here; nothing to keep
                        continue
                    # keep the previous tables: never drop a blocklist because a change failed
                g.constraints = c
                g.seen = None
            if g.compiled is None:
                continue
            context = contexts[k]
            if context is not g.seen:
                g.state, g.after_sep = g.compiled.follow(context)
                g.seen = context
            active.append(k)
        self._active = active
        return bool(active)

    def mask(self, p_mix: np.ndarray, untruncated: np.ndarray) -> None:
        """Zero what each constrained voice may not write in its row of p_mix [K, V] (after
        top-k/top-p) and renormalise; `untruncated` is the mix before top-k/top-p (fallback)."""
        for k in self._active:
            g = self.voices[k]
            table = g.compiled
            assert table is not None
            f, s = int(g.after_sep), g.state
            g.stats.chars += 1
            g.unmasked = None
            if table.free[f][s]:  # the usual case: nothing to mask after this text
                continue
            allow = table.allow[f, s]
            row = p_mix[k]
            if not table.terms_free[f][s]:
                g.unmasked = row.copy()  # to count a word blocked once the draw is known
            kept = row * allow
            total = float(kept.sum())
            g.stats.masked_mass += max(0.0, 1.0 - total)  # the engine's rows sum to 1
            if total <= TINY:
                g.stats.fallbacks += 1
                if not allow.any():  # the charset gives way for this one character
                    allow = table.allow_terms[f, s]
                kept = untruncated[k] * allow
                total = float(kept.sum())
                if total <= TINY:
                    kept = allow.astype(np.float64)
                    total = float(kept.sum())
            kept /= total
            p_mix[k] = kept

    def wrote(self, chosen: np.ndarray, draws: np.ndarray, contexts: Sequence[str]) -> None:
        """Each constrained voice wrote vocabulary index chosen[k] with the uniform draw
        draws[k] in [0, 1): advance its automaton; count a word blocked when the same draw over
        the unmasked row would have completed a blocked term. `contexts`: each voice's text
        now, which the state follows from here on."""
        for k in self._active:
            g = self.voices[k]
            table = g.compiled
            assert table is not None
            c = int(chosen[k])
            if g.unmasked is not None:
                cdf = np.cumsum(g.unmasked)
                would = min(int(np.searchsorted(cdf, draws[k] * cdf[-1], side="right")),
                            len(cdf) - 1)
                if not table.allow_terms[int(g.after_sep), g.state, would]:
                    g.stats.words_blocked += 1
                g.unmasked = None
            sep = table.sep_list[c]
            if not (sep and g.after_sep):
                g.state = table.nxt.item(g.state, c)
            g.after_sep = sep
            g.seen = contexts[k]
