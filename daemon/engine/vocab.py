"""The union vocabulary of several models, and the rule for feeding a character a model lacks.

Union order: all characters of all models, sorted by code point. It does not depend on the order
the models were given in, and for the shipped models (one shared, sorted vocabulary) it is exactly
that vocabulary.

Feeding rule — when the sampled (or primed) character c is not in a model's vocabulary, the model is
fed the first of these that it has:

1. c with its accents removed (Unicode NFKD minus combining marks): ``é`` → ``e``; ``æ`` has no
   decomposition and falls through;
2. c in the other case: ``A`` → ``a`` (a lower-cased corpus such as nietzsche);
3. ``" "`` for any whitespace (tab, no-break space), and for everything else — a space is the
   most neutral "something happened here" a character model knows;
4. its first vocabulary entry, if it has no space at all.

The model's *output* for characters it lacks is zero probability in the union (see Engine).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import numpy as np


def union_vocab(vocabs: Sequence[Sequence[str]]) -> list[str]:
    return sorted(set().union(*vocabs))


def fallback_char(ch: str, known: dict[str, int]) -> int:
    """The token index a model with vocabulary index `known` is fed for character ch."""
    if ch in known:
        return known[ch]
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    if len(base) == 1 and base in known:
        return known[base]
    for other in (ch.lower(), ch.upper()):
        if other in known:
            return known[other]
    if " " in known:
        return known[" "]
    return 0


class VocabMap:
    """Index maps between one model's vocabulary and the union.

    scatter[k] = union index of the model's character k (to place p_i into the union);
    feed[u] = the model's token for union character u (the feeding rule above).
    """

    def __init__(self, model_vocab: Sequence[str], union: Sequence[str]):
        self.known = {ch: i for i, ch in enumerate(model_vocab)}
        where = {ch: i for i, ch in enumerate(union)}
        self.scatter = np.array([where[ch] for ch in model_vocab], dtype=np.int64)
        self.feed = np.array([fallback_char(ch, self.known) for ch in union], dtype=np.int64)
        self.identity = list(model_vocab) == list(union)

    def token_for(self, ch: str) -> int:
        """A model token for any character, inside or outside the union (priming)."""
        return fallback_char(ch, self.known)
