"""`charmix render`: a recorded performance as a web page, subtitles or JSON, without the models.

* ``--html``: one self-contained page (no scripts, no fonts, no CDN: it opens offline, years
  later) with the text coloured by the model that wrote each character (the largest share of
  its attribution; the exact shares are in each character's tooltip) and the weight timeline
  as an inline SVG plot, one line per model, over the steps.
* ``--srt``: subtitles for a video editor, one per line of text (long lines are wrapped at a
  word), timed by the steps' recorded times: a subtitle appears with its first character.
* ``--json``: the performance digested: models, and per voice the text, each character's step,
  time, model and attribution, and the weight timeline.
"""

from __future__ import annotations

import html
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from charmix.daemon.protocol import palette

if TYPE_CHECKING:  # the recording modules import numpy: only the command's run loads them
    from charmix.daemon.recording.reader import Performance

Opt = typer.Option

SUBTITLE_WIDTH = 42  # characters per subtitle line (a common broadcast limit)
SUBTITLE_HOLD = 2.0  # s the last subtitle stays up


def characters(perf: Performance, voice: int = 0) -> list[dict[str, Any]]:
    """Per character: step, time, char, the model that wrote most of it, its attribution."""
    out = []
    for e in perf.steps:
        shares = e["a"][voice]
        top = max(range(len(shares)), key=shares.__getitem__) if shares else 0
        out.append({"s": e["s"], "t": e["t"], "c": e["c"][voice], "model": top, "a": shares})
    return out


def timeline(perf: Performance, voice: int = 0) -> list[tuple[int, float, list[float]]]:
    """(step, time, effective weights) wherever the weights changed."""
    points = []
    for e in perf.steps:
        if "w" in e:
            points.append((int(e["s"]), float(e["t"]), e["w"][voice]))
    return points


def svg_plot(perf: Performance, voice: int = 0, width: int = 900, height: int = 180) -> str:
    """The weight timeline as inline SVG: step on x, weight 0–1 on y (−1 – 1 when an
    anti-expert played: its line runs below 0), one polyline per model."""
    points = timeline(perf, voice)
    steps = perf.steps
    if not points or not steps:
        return "<p>(no steps recorded)</p>"
    first, last = int(steps[0]["s"]), int(steps[-1]["s"])
    span = max(1, last - first)
    pad = 30

    def x(step: int) -> float:
        return pad + (step - first) / span * (width - 2 * pad)

    low = -1.0 if any(min(w, default=0.0) < 0 for _, _, w in points) else 0.0

    def y(w: float) -> float:
        return height - pad - (w - low) / (1.0 - low) * (height - 2 * pad)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="weights over steps">',
             f'<rect width="{width}" height="{height}" fill="#111"/>']
    for level in (-1.0, -0.5, 0.0, 0.5, 1.0) if low < 0 else (0.0, 0.5, 1.0):
        parts.append(f'<line x1="{pad}" x2="{width - pad}" y1="{y(level):.1f}" '
                     f'y2="{y(level):.1f}" stroke="#333"/>')
        parts.append(f'<text x="4" y="{y(level) + 4:.1f}" fill="#888" font-size="10">'
                     f"{level:g}</text>")
    parts.append(f'<text x="{pad}" y="{height - 8}" fill="#888" font-size="10">step {first}</text>')
    parts.append(f'<text x="{width - pad}" y="{height - 8}" fill="#888" font-size="10" '
                 f'text-anchor="end">step {last}</text>')
    for i, name in enumerate(perf.names):
        coords = []
        previous = None
        for step, _, w in points:  # a step function: hold each value until the next change
            if previous is not None:
                coords.append(f"{x(step):.1f},{y(previous):.1f}")
            coords.append(f"{x(step):.1f},{y(w[i]):.1f}")
            previous = w[i]
        coords.append(f"{x(last):.1f},{y(previous or 0.0):.1f}")
        parts.append(f'<polyline fill="none" stroke="{palette.colour(name, i)}" '
                     'stroke-width="1.5" '
                     f'points="{" ".join(coords)}"><title>{html.escape(name)}</title></polyline>')
    parts.append("</svg>")
    return "\n".join(parts)


def render_html(perf: Performance, voice: int = 0) -> str:
    chars = characters(perf, voice)
    legend = " ".join(
        f'<span style="color:{palette.colour(n, i)}">■ {html.escape(n)}</span>'
        for i, n in enumerate(perf.names)
    )
    spans, run, run_model = [], [], None

    def flush() -> None:
        if run:
            spans.append(f'<span class="m{run_model}">{"".join(run)}</span>')
            run.clear()

    for ch in chars:
        title = ", ".join(f"{n} {a:.2f}" for n, a in zip(perf.names, ch["a"], strict=False))
        glyph = html.escape(ch["c"]) if ch["c"] != "\n" else "\n"
        if ch["model"] != run_model:
            flush()
            run_model = ch["model"]
        run.append(f'<span title="step {ch["s"]}: {html.escape(title)}">{glyph}</span>')
    flush()
    styles = "\n".join(f".m{i} {{ color: {palette.colour(n, i)}; }}"
                       for i, n in enumerate(perf.names))
    created = html.escape(str(perf.header.get("created", "")))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>charmix performance {html.escape(perf.path.name)}</title>
<style>
body {{ background: #111; color: #ddd; font-family: monospace; margin: 2em; }}
pre {{ white-space: pre-wrap; font-size: 15px; line-height: 1.4; }}
{styles}
</style></head><body>
<h1>charmix performance</h1>
<p>{html.escape(perf.path.name)} · recorded {created} · {len(chars)} characters ·
voice {voice} of {perf.voices}</p>
<p>{legend}</p>
<h2>Weights</h2>
{svg_plot(perf, voice)}
<h2>Text</h2>
<pre id="text">{"".join(spans)}</pre>
</body></html>
"""


def _srt_time(seconds: float) -> str:
    ms = int(round(max(0.0, seconds) * 1000))
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def subtitles(perf: Performance, voice: int = 0) -> list[tuple[float, str]]:
    """(start time, text) per subtitle: a line of text, wrapped at a word past SUBTITLE_WIDTH."""
    out: list[tuple[float, str]] = []
    start: float | None = None
    text = ""
    for ch in characters(perf, voice):
        if ch["c"] == "\n":
            if text.strip():
                out.append((start or 0.0, text.strip()))
            start, text = None, ""
            continue
        if start is None:
            start = ch["t"]
        text += ch["c"]
        if len(text) >= SUBTITLE_WIDTH and ch["c"] == " ":
            out.append((start, text.strip()))
            start, text = None, ""
    if text.strip():
        out.append((start or 0.0, text.strip()))
    return out


def render_srt(perf: Performance, voice: int = 0) -> str:
    subs = subtitles(perf, voice)
    end_of_all = (float(perf.steps[-1]["t"]) if perf.steps else 0.0) + SUBTITLE_HOLD
    blocks = []
    for n, (start, text) in enumerate(subs):
        end = subs[n + 1][0] if n + 1 < len(subs) else end_of_all
        blocks.append(f"{n + 1}\n{_srt_time(start)} --> {_srt_time(max(end, start + 0.04))}\n"
                      f"{text}\n")
    return "\n".join(blocks)


def render_json(perf: Performance) -> str:
    out = {
        "file": str(perf.path),
        "models": perf.header["models"],
        "created": perf.header.get("created"),
        "complete": perf.ended,
        "voices": [
            {"text": perf.text(v), "characters": characters(perf, v),
             "weights": [{"s": s, "t": t, "w": w} for s, t, w in timeline(perf, v)]}
            for v in range(perf.voices)
        ],
    }
    return json.dumps(out, ensure_ascii=False, indent=1)


def render_command(
    file: Annotated[Path, typer.Argument(help="A performance file (charmix daemon --record).")],
    as_html: Annotated[bool, Opt("--html", help="A self-contained web page.")] = False,
    as_srt: Annotated[bool, Opt("--srt", help="SRT subtitles timed by the steps.")] = False,
    as_json: Annotated[bool, Opt("--json", help="The performance digested as JSON.")] = False,
    voice: Annotated[int, Opt(min=0, help="Which voice (HTML and SRT).")] = 0,
    out: Annotated[Path | None, Opt("--out", "-o", help="Write here (default: stdout).")] = None,
) -> None:
    """Render a recorded performance as HTML (text coloured by model, weights plot), SRT or JSON."""
    from charmix.daemon.common.fail import fail
    from charmix.daemon.recording.reader import PerformanceError, read

    if as_html + as_srt + as_json != 1:
        fail("choose one of --html, --srt, --json")
    try:
        perf = read(file)
    except PerformanceError as exc:
        fail(str(exc))
    if voice >= perf.voices:
        fail(f"--voice {voice}: the performance has {perf.voices} voice(s)")
    for note in perf.notes:
        typer.echo(f"charmix: {note}", err=True)
    text = (render_html(perf, voice) if as_html else render_srt(perf, voice) if as_srt
            else render_json(perf))
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {out}: {exc.strerror or exc}")


def register(app: typer.Typer) -> None:
    app.command("render", rich_help_panel="Perform")(render_command)
