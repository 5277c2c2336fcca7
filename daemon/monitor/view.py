"""How `charmix monitor` draws a MonitorState: header, coloured text, one row per model, counters.

Pure functions of the state (and the terminal's size), so a test or a screenshot can render any
state without a daemon or a terminal.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from charmix.daemon import protocol
from charmix.daemon.client.frames import MonitorState
from charmix.daemon.protocol import palette

GLYPHS = {"\n": "⏎", " ": "␣", "\t": "⇥", "\r": "␍"}
STALE_AFTER = 2.0  # seconds without a datagram before the header says so


def model_colour(index: int | None, names: Sequence[str] = ()) -> str:
    """The model's colour from the one palette (protocol/palette.py), as every view has it."""
    if index is None:
        return palette.UNKNOWN
    return palette.colour(names[index] if 0 <= index < len(names) else "", index)


def glyph(ch: str) -> str:
    """A character as one visible cell: whitespace and control characters get a symbol."""
    if ch in GLYPHS:
        return GLYPHS[ch]
    if len(ch) != 1:  # never from a daemon (the reader refuses it); still, never raise
        return "".join(glyph(c) for c in ch)
    return ch if ch.isprintable() else f"\\x{ord(ch):02x}"


def entropy_bits(p: np.ndarray | None) -> float | None:
    if p is None or p.size == 0 or not np.all(np.isfinite(p)) or p.sum() <= 0:
        return None
    q = p[p > 0] / p.sum()
    return float(-(q * np.log2(q)).sum())



def render(state: MonitorState, source: str, width: int, height: int, top: int = 5,
           now: float | None = None, fill: bool = True) -> RenderableType:
    """The whole screen for one refresh: header, coloured text, one row per model, counters.

    `fill` keeps the layout still in a live view (the text area always takes the free rows);
    printed views only show the rows that have text.
    """
    now = time.monotonic() if now is None else now
    models = state.models or [f"model {i + 1}" for i in range(len(state.weights))]
    text_rows = max(3, height - 10 - len(models))
    return Group(
        _header(state, source, now),
        _text_view(state, width, text_rows, fill),
        _models_table(state, models, width, top),
        _counters(state),
        Text("q quits", "dim"),
    )


def _header(state: MonitorState, source: str, now: float) -> Text:
    out = Text.assemble(("charmix monitor  ", "bold"), (source, "dim"), "\n",
                        ("step ", "dim"), (str(state.step) if state.step is not None else "–"),
                        ("   chars/s ", "dim"), f"{state.chars_per_s(now):.1f}")
    if state.status:
        s = state.status
        mode = protocol.MODES[int(s["mode"])] if 0 <= s["mode"] < len(protocol.MODES) else "?"
        out.append(f"   daemon {s['chars_per_s']:.1f} chars/s, rate {s['rate']:g}, "
                   f"T {s['temperature']:.2f}, {mode}", "dim")
        if s["paused"]:
            out.append("   PAUSED", "bold red")
    if state.scene:  # a morph or the score is running (daemon --score, /charmix/scene/recall)
        out.append(f"   scene {state.scene} ", "bold")
        out.append(f"{_bar(state.progress, 10)} {min(max(state.progress, 0), 1):.0%}"
                   if math.isfinite(state.progress) else "", "dim")
    if state.last_rx is None:
        out.append("   waiting for the daemon", "bold yellow")
    elif now - state.last_rx > STALE_AFTER:
        out.append(f"   nothing received for {now - state.last_rx:.0f} s", "bold red")
    return out


def _text_view(state: MonitorState, width: int, rows: int, fill: bool) -> Text:
    """The last `rows` screen rows of text, each character in its model's colour.

    Only the tail that can be on screen is laid out (rows × width characters at most), and each
    run of one model's characters is one span: a full screen costs a few ms per refresh.
    """
    width = max(10, width)
    tail = list(itertools.islice(reversed(state.text), rows * width))[::-1]
    lines: list[list[Any]] = [[]]
    for ch, model in tail:
        if ch == "\n":
            lines.append([])
        else:
            lines[-1].append((" " if ch == " " else glyph(ch), model))
    wrapped = [ln[i:i + width] for ln in lines for i in range(0, max(len(ln), 1), width)]
    shown = wrapped[-rows:]
    if fill:  # text grows upwards from the table, like a terminal scrolling
        shown = [[]] * (rows - len(shown)) + shown
    out = Text(no_wrap=True, overflow="crop")
    for i, row in enumerate(shown):
        for model, run in itertools.groupby(row, key=lambda cell: cell[1]):
            out.append("".join(ch for ch, _ in run), model_colour(model, state.models))
        if i < len(shown) - 1:
            out.append("\n")
    return out


def _bar(value: float, cells: int) -> str:
    """A weight as a bar: filled from the left; a negative one (an anti-expert, geometric mode)
    the other way — from the right, in a shade of its own — so it reads as a push away."""
    value = min(max(value, -1.0), 1.0) if math.isfinite(value) else 0.0
    full = round(abs(value) * cells)
    if value < 0:
        return "·" * (cells - full) + "▒" * full
    return "█" * full + "·" * (cells - full)


def _models_table(state: MonitorState, models: list[str], width: int, top: int) -> Table:
    """One row per model (weight bar, attribution, entropy, top characters) and one for p_mix."""
    name_w = min(14, max([len(n) for n in models] + [5]))
    bar_w = max(6, min(24, (width - name_w) // 6))
    table = Table(box=None, pad_edge=False, show_edge=False, padding=(0, 1), width=width)
    table.add_column("model", width=name_w, no_wrap=True, header_style="dim")
    table.add_column("weight", width=bar_w + 5, no_wrap=True, header_style="dim")
    table.add_column("attr", width=4, justify="right", no_wrap=True, header_style="dim")
    table.add_column("bits", width=4, justify="right", no_wrap=True, header_style="dim")
    table.add_column(f"top {top}", no_wrap=True, overflow="crop", header_style="dim", ratio=1)

    def cell(values: list[float], i: int) -> str:
        return f"{values[i]:.2f}"[:4] if i < len(values) and math.isfinite(values[i]) else "–"

    for i, name in enumerate(models):
        w = state.weights[i] if i < len(state.weights) else float("nan")
        anti = math.isfinite(w) and w < 0
        bar = Text(_bar(w, bar_w), model_colour(i, models) + (" italic" if anti else ""))
        bar.append(f" {cell(state.weights, i)}")
        table.add_row(Text(name, model_colour(i, models)), bar, cell(state.attribution, i),
                      cell(state.entropy, i), _top_text(state.top(state.dists.get(name), top)))
    h = entropy_bits(state.mix)
    table.add_row(Text("mix", "bold"), "", "", cell([h] if h is not None else [], 0),
                  _top_text(state.top(state.mix, top)))
    return table


def _top_text(pairs: list[tuple[str, float]]) -> Text:
    out = Text()
    for ch, p in pairs:
        out.append(glyph(ch) if len(ch) == 1 else ch, "bold")
        out.append(f" {p:.2f}".replace(" 0.", " .") + "  ")
    return out


def _counters(state: MonitorState) -> Text:
    c = state.counters
    bad = c.dropped_steps + c.incomplete + c.malformed + c.unknown + c.bad_args
    out = Text.assemble(
        ("rx ", "dim"), f"{c.datagrams} datagrams, {c.bytes / 1e6:.2f} MB",
        ("   dropped steps ", "dim"), str(c.dropped_steps),
        ("   incomplete ", "dim"), str(c.incomplete), "\n",
        ("malformed ", "dim"), str(c.malformed),
        ("   unknown ", "dim"), str(c.unknown),
        ("   bad args ", "dim"), str(c.bad_args),
        ("   restarts ", "dim"), str(c.restarts),
        style="red" if bad else "",
    )
    out.append("\ndaemon  ", "dim")
    if state.status:
        s = state.status
        for i, keys in enumerate((
            ("rx_ok", "rx_bad", "rx_denied", "ticks_dropped", "subscribers"),
            ("tx_datagrams", "tx_errors", "overruns", "step_errors", "ws_dropped", "uptime"),
            ("masked_mass", "words_blocked", "mask_fallbacks"),  # blocklist and charset
        )):
            out.append("\n        " if i else "")
            out.append("   ".join(f"{k} {s[k]:.{1 if k == 'masked_mass' else 0}f}"
                                   for k in keys if k in s))
    else:
        out.append("status not received yet", "dim")
    return out


