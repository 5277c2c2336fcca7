"""A style-conditioned model as S sources of the instrument: one onnxruntime call per character.

A conditioned model (docs/model-format.md, `charmix.styles`) is one network steered by a style
vector s. In the daemon its S styles play the part of S models: one weight each, on the same OSC
addresses, listed by /charmix/models under the style names, so every bridge and patch works
unchanged. `sources(model)` turns the loaded model into S `StyleSource`s that look to the Engine
exactly like StepModels (name, vocab, reset, step → logits), and share one `StyleGroup`.

Each character is ONE call with B = S + 1 rows per voice: row 0 steps at the live style mix (the
group's share of the engine's weights, renormalised), rows 1..S at each pure style. With K voices
(one batch row per voice for an ordinary model) the group has K blocks of S + 1 rows, voice-major,
and each voice's row 0 follows that voice's weights. All rows are
fed the same sampled character and keep their own state. The pure rows are the per-style p_i:
the Figure-1 view, the attribution r_i = w_i p_i(c) / Σ w_j p_j(c), and, in `mixture` mode, the
distribution mixed (the paper's mixing, done by one model). In `embedding` mode the character is
sampled from the mixed row instead (the styles blended inside the network); the Engine asks the
group for those rows through `blend_rows`.

The style mix of row 0 is the weights the Engine last applied, so a weight change reaches the
network one character later than it reaches the mixture (the Engine steps the models ahead).

The Engine steps its models in order; the group runs its call when its first source is stepped
and the others return their rows of that call, so nothing is stepped twice and a failed call
leaves every source where it was.
"""

from __future__ import annotations

import numpy as np

from charmix.daemon.engine.model import ModelInfo, StepModel
from charmix.daemon.engine.modelformat import (
    C_INPUT,
    H_INPUT,
    STYLE_INPUT,
    STYLE_OF_KEY,
    TOKENS_INPUT,
)

STYLE_MODES = ("embedding", "mixture")


class StyleGroup:
    """The shared state of one conditioned model's sources: its rows, their style vectors, and
    the logits of the latest call."""

    def __init__(self, model: StepModel, mode: str = "embedding"):
        if not model.info.styles:
            raise ValueError(f"{model.name} is not a style-conditioned model")
        if mode not in STYLE_MODES:
            raise ValueError(f"style mode must be {' or '.join(STYLE_MODES)}, not {mode!r}")
        self.model = model
        self.mode = mode
        self.styles = list(model.info.styles)
        self.voices = 1
        self.mix = np.full((1, len(self.styles)), 1.0 / len(self.styles))
        self.logits = np.zeros((1, len(self.styles) + 1, len(model.vocab)), np.float32)
        self.reset(1)

    @property
    def rows(self) -> int:
        return len(self.styles) + 1

    def reset(self, voices: int = 1) -> None:
        """Zero every row's state for `voices` voices (S + 1 rows each)."""
        if voices != self.voices:
            self.mix = np.resize(self.mix, (voices, len(self.styles)))
        self.voices = voices
        self.model.reset(voices * self.rows)
        self.logits = np.zeros((voices, self.rows, len(self.model.vocab)), np.float32)
        pure = np.eye(len(self.styles), dtype=np.float32)
        self._style = np.zeros((voices, self.rows, len(self.styles)), np.float32)
        self._style[:, 1:] = pure
        self._set_mix_rows()

    def _block(self, start: int, stop: int) -> slice:
        """The batch rows of voices start:stop."""
        return slice(start * self.rows, stop * self.rows)

    def reset_rows(self, start: int, stop: int) -> None:
        """Zero the state of voices start:stop only."""
        rows = self._block(start, stop)
        m = self.model
        m.h, m.c = m.h.copy(), m.c.copy()
        m.h[:, rows] = 0.0
        m.c[:, rows] = 0.0

    def set_weights(self, weights: np.ndarray) -> None:
        """The engine's weights for this group's sources, [S] (every voice) or [voices, S]; each
        voice's row 0 follows their proportions."""
        w = np.asarray(weights, np.float64)
        w = np.where(np.isfinite(w) & (w > 0), w, 0.0)
        w = np.broadcast_to(w, (self.voices, len(self.styles)))
        total = w.sum(axis=1, keepdims=True)
        mix = np.where(total > 0, w / np.where(total > 0, total, 1.0), 1.0 / len(self.styles))
        if not np.array_equal(mix, self.mix):
            self.mix = mix
            self._set_mix_rows()

    def _set_mix_rows(self) -> None:
        self._style[:, 0] = self.mix
        self.model.style = self._style.reshape(-1, len(self.styles))

    def step(self, tokens: np.ndarray) -> None:
        """One call for every row: tokens [voices], each fed to that voice's S + 1 rows."""
        feed = np.repeat(np.asarray(tokens, np.int64), self.rows)
        self.logits = self.model.step(feed).reshape(self.voices, self.rows, -1)

    def step_rows(self, tokens: np.ndarray, start: int, stop: int) -> None:
        """One call for the rows of voices start:stop only (priming or resetting one voice of
        several), the other voices' state and logits left as they were."""
        m, rows = self.model, self._block(start, stop)
        feed = {
            TOKENS_INPUT: np.repeat(np.asarray(tokens, np.int64), self.rows),
            H_INPUT: np.ascontiguousarray(m.h[:, rows]),
            C_INPUT: np.ascontiguousarray(m.c[:, rows]),
            STYLE_INPUT: np.ascontiguousarray(m.style[rows]),
        }
        logits, h, c = m._run(m._out, feed, None)
        m.h, m.c = m.h.copy(), m.c.copy()  # onnxruntime's outputs may be read-only views
        m.h[:, rows], m.c[:, rows] = h, c
        self.logits = self.logits.copy()
        self.logits[start:stop] = logits.reshape(stop - start, self.rows, -1)

    def blend_rows(self) -> np.ndarray:
        """Each voice's mixed-style row's logits [voices, V] (what `embedding` mode samples)."""
        return self.logits[:, 0]


class StyleSource:
    """One style of a conditioned model, presented to the Engine as a model of that name."""

    def __init__(self, group: StyleGroup, k: int):
        self.group = group
        self.index = k
        self.name = group.styles[k]
        self.vocab = group.model.vocab
        base = group.model.info
        meta = dict(base.meta)
        meta[STYLE_OF_KEY] = base.name
        self.info = ModelInfo(self.name, base.path, base.vocab, base.layers, base.hidden, meta)

    # The LSTM state is the group's, one array for all its rows; every source shows it, so code
    # that saves and restores each model's state (the Primer's shadow state) works unchanged.
    @property
    def h(self) -> np.ndarray:
        return self.group.model.h

    @h.setter
    def h(self, value: np.ndarray) -> None:
        self.group.model.h = value

    @property
    def c(self) -> np.ndarray:
        return self.group.model.c

    @c.setter
    def c(self, value: np.ndarray) -> None:
        self.group.model.c = value

    @property
    def lead(self) -> bool:
        """The group's first source: the one whose step and reset act for all of them."""
        return self.index == 0

    def reset(self, batch: int = 1) -> None:
        if self.lead:
            self.group.reset(batch)

    def step(self, tokens: np.ndarray) -> np.ndarray:
        """The logits of this style's pure row [voices, V] (the call runs on the first style)."""
        if self.lead:
            self.group.step(tokens)
        return self.group.logits[:, 1 + self.index]

    def reset_rows(self, start: int, stop: int) -> None:
        if self.lead:
            self.group.reset_rows(start, stop)

    def step_rows(self, tokens: np.ndarray, start: int, stop: int) -> np.ndarray:
        """This style's pure rows for voices start:stop [stop - start, V]."""
        if self.lead:
            self.group.step_rows(tokens, start, stop)
        return self.group.logits[start:stop, 1 + self.index]

    # The engine's per-voice calls (priming or resetting one voice of several).
    rows_per_voice = 1  # the engine's view: one pure row per voice; the group keeps S + 1

    def reset_voice(self, voice: int) -> None:
        self.reset_rows(voice, voice + 1)

    def step_voice(self, tokens: np.ndarray, voice: int) -> np.ndarray:
        return self.step_rows(tokens, voice, voice + 1)

    def warm_up(self) -> None:
        """The conditioned model warmed itself up when it was loaded."""


def sources(model: StepModel, mode: str = "embedding") -> list[StyleSource]:
    """The S sources of a conditioned model, in its style order."""
    group = StyleGroup(model, mode)
    return [StyleSource(group, k) for k in range(len(group.styles))]


def expand(models: list[StepModel], mode: str = "embedding") -> list:
    """A model list with every conditioned model replaced by its sources (the others as is)."""
    out: list = []
    for m in models:
        out.extend(sources(m, mode) if m.info.styles else [m])
    return out


def groups(models: list) -> list[tuple[np.ndarray, StyleGroup]]:
    """(indices of its sources in `models`, group) for each conditioned model in an engine's
    model list."""
    found: dict[int, tuple[list[int], StyleGroup]] = {}
    for i, m in enumerate(models):
        group = getattr(m, "group", None)
        if isinstance(group, StyleGroup):
            found.setdefault(id(group), ([], group))[0].append(i)
    return [(np.array(idx), g) for idx, g in found.values()]


def blended(
    p: np.ndarray,
    w: np.ndarray,
    found: list[tuple[np.ndarray, StyleGroup]],
    inv_temp: np.ndarray,
    scatter: list[np.ndarray | None],
) -> tuple[np.ndarray, np.ndarray]:
    """The distributions and weights to mix when groups sample from their blended rows.

    p [K, N, V] (each voice's per-source distributions), w [K, N], inv_temp [K, N]. For each
    group in `embedding` mode its S pure rows are replaced by its mixed-style row (softmax at its
    first source's temperature, placed in the union vocabulary by `scatter` when given) carrying
    the group's total weight; other sources stay as they are. Returns (p' [K, N', V], w' [K, N']).
    """
    keep = np.ones(w.shape[1], bool)
    rows, weights = [], []
    for idx, group in found:
        if group.mode != "embedding":
            continue
        keep[idx] = False
        z = group.blend_rows().astype(np.float64) * inv_temp[:, idx[0], None]
        q = np.exp(z - z.max(axis=1, keepdims=True))
        q /= q.sum(axis=1, keepdims=True)
        place = scatter[idx[0]]
        if place is not None:
            row = np.zeros((q.shape[0], p.shape[2]))
            row[:, place] = q
            q = row
        rows.append(q)
        weights.append(w[:, idx].sum(axis=1))
    if not rows:
        return p, w
    return (np.concatenate([p[:, keep], np.stack(rows, axis=1)], axis=1),
            np.concatenate([w[:, keep], np.stack(weights, axis=1)], axis=1))
