"""/charmix/prime fed in slices between characters, so a prime never stalls the instrument.

A 1,024-character prime costs ~0.66 s of model steps with the six shipped models. Done at once on
the clock thread (as it was) the text stopped for that long and every tick and control message
waited behind it. The Primer instead feeds the text a slice at a time — at most `budget` seconds
per slice, from the clock thread's service calls between characters — into a *shadow* copy of
every model's LSTM state. The instrument keeps playing from its live state meanwhile; when the
last slice is in, the shadow becomes the live state and the prime's last character is the
pending one. The result is exactly what an atomic prime at the moment the prime arrived gives
(the characters generated while it was consumed are not part of the primed context: the prime
replaces the recent past, as it always did).

With several voices (`--voices K`) each voice has its own Primer, whose shadow is that voice's
row of every model's state; the other rows are never touched.

A second prime while one is being consumed joins it (its text follows the first), keeping the
last protocol.PRIME_MAX characters not yet fed; a reset drops the prime in progress (a reset
after a prime always won).
"""

from __future__ import annotations

import time

import numpy as np

from charmix.daemon import protocol
from charmix.daemon.engine.mixer import Engine

SLICE_SECONDS = 0.002  # longest slice of model steps between two looks at the clock
SLICE_SHARE = 0.25  # and at most this share of a clock period


def slice_budget(rate: float) -> float:
    """Seconds one slice may take at `rate` chars/s (0: the external clock)."""
    return SLICE_SECONDS if rate <= 0 else min(SLICE_SECONDS, SLICE_SHARE / rate)


class Primer:
    """Feeds prime text into shadow LSTM states, a slice per call; see the module docstring."""

    def __init__(self, engine: Engine, voice: int = 0) -> None:
        self.engine = engine
        self.voice = voice
        self._todo = ""  # text not yet fed; its last character becomes the pending one
        self._text = ""  # all text of this prime, for the engine's current line
        self._shadow: list[tuple[np.ndarray, np.ndarray]] = []
        self.slices = 0  # slices fed for the prime in progress (for tests and benchmarks)

    def _rows(self, model: object) -> slice:
        """This voice's rows of a model's state (StepModel.rows_per_voice rows per voice)."""
        r = getattr(model, "rows_per_voice", 1)
        return slice(self.voice * r, (self.voice + 1) * r)

    @property
    def active(self) -> bool:
        return bool(self._todo)

    @property
    def remaining(self) -> int:
        return len(self._todo)

    def start(self, text: str) -> None:
        """Begin (or extend) a prime. Cheap: nothing is fed until `feed`."""
        if not text:
            return
        if not self.active:
            self.engine.advance()  # the live state has consumed the pending character
            self._shadow = [(m.h[:, self._rows(m)].copy(), m.c[:, self._rows(m)].copy())
                            for m in self.engine.models]
            self._text = ""
            self.slices = 0
        self._todo = (self._todo + text)[-protocol.PRIME_MAX :]
        self._text = (self._text + text)[-protocol.PRIME_MAX :]

    def cancel(self) -> None:
        self._todo, self._text, self._shadow = "", "", []

    def feed(self, budget: float, max_chars: int | None = None) -> bool:
        """Feed characters for about `budget` seconds (at least one); True once finished, when
        the shadow state has become the live one."""
        if not self.active:
            return False
        deadline = time.perf_counter() + budget
        fed = 0
        models, maps, index = self.engine.models, self.engine.maps, self.engine.vocab_index
        live = [(m.h, m.c) for m in models]
        try:
            for m, (h, c) in zip(models, self._shadow, strict=True):
                m.h, m.c = h, c
            while len(self._todo) > 1:
                ch, self._todo = self._todo[0], self._todo[1:]
                u = index.get(ch)
                for m, vm in zip(models, maps, strict=True):
                    m.step(np.array([vm.feed[u] if u is not None else vm.token_for(ch)], np.int64))
                fed += 1
                if time.perf_counter() >= deadline or (max_chars and fed >= max_chars):
                    break
            self._shadow = [(m.h, m.c) for m in models]
        finally:
            for m, (h, c) in zip(models, live, strict=True):
                m.h, m.c = h, c
        self.slices += 1
        if len(self._todo) > 1:
            return False
        for m, (h, c) in zip(models, self._shadow, strict=True):
            if self.engine.n_voices == 1:
                m.h, m.c = h, c
            else:  # the voice's rows only
                m.h, m.c = m.h.copy(), m.c.copy()
                m.h[:, self._rows(m)], m.c[:, self._rows(m)] = h, c
        self.engine.primed(self._todo, self._text, self.voice)
        self.cancel()
        return True
