"""docs/osc.md, rendered from the address table (`make docs`; a test checks the file is current).

Kept apart from daemon/protocol/table.py so the table module stays the protocol itself; run it as
`python -m charmix.daemon.protocol.docs > docs/osc.md` (`make docs`).
"""

from __future__ import annotations

from charmix.daemon.protocol.address import Address, show_number
from charmix.daemon.protocol.table import (
    CONTROL_PORT,
    DEFAULT_HOST,
    INPUT,
    MAX_DATAGRAM,
    OUTPUT,
    OUTPUT_PORT,
    STATUS,
    VOICE_PREFIX,
    VOICES_MAX,
    voice_addresses,
)


def _cell(text: object) -> str:
    """A Markdown table cell: '|' escaped so it cannot split the row."""
    return str(text).replace("|", "\\|") if text not in ("", None) else "-"


def _column(entry: Address, part: str) -> str:
    """One of range/default/unit for the docs: per argument, joined with '; ' when several."""
    cells = []
    for a in entry.args:
        value = {"range": a.span(), "unit": a.unit,
                 "default": "" if a.default is None else show_number(a.default)
                 if not isinstance(a.default, str) else a.default}[part]
        if value:
            cells.append(f"{a.name}: {value}" if len(entry.args) > 1 else value)
    return "; ".join(cells)


def render() -> str:
    """docs/osc.md, generated from this table (a test checks the file is current)."""
    lines = [
        "# charmix OSC protocol",
        "",
        "Generated from `daemon/protocol/table.py` by "
        "`python -m charmix.daemon.protocol.docs > docs/osc.md`; do not edit by hand.",
        "",
        f"- The daemon listens for control messages on UDP **{CONTROL_PORT}** "
        f"(`--listen`, default `{DEFAULT_HOST}:{CONTROL_PORT}`).",
        f"- It sends frames to UDP **{OUTPUT_PORT}** (`--send`, default "
        f"`{DEFAULT_HOST}:{OUTPUT_PORT}`) and to every subscriber.",
        f"- Output datagrams are at most **{MAX_DATAGRAM} bytes**: one step's messages go out as "
        "one or more OSC bundles with the same timetag (immediate). A single message larger than "
        "that (a vector over a vocabulary of more than ~330 characters) goes alone in a larger "
        "datagram, and the daemon warns at start.",
        "- Vectors are flat argument lists (never OSC arrays); strings and numbers never share an "
        "address.",
        "- Input type patterns: `f+` one or more floats, `s?` optional string; `f` and `i` accept "
        "any OSC number (`i` a whole one). A message that does not fit, or a value outside its "
        "range, is ignored and counted (`rx_bad`); the daemon clips nothing except a `/charmix/"
        "prime` text longer than its limit (CLIPMODE `high`: its last characters are kept).",
        "- Access: `rw` is a setting the daemon keeps (its value can be read back), `w` an event, "
        "`r` an output.",
        "- `{name}` is a model name from `/charmix/models`; N is the number of models, V the size "
        "of the vocabulary.",
        "",
        "## Input (to the daemon)",
        "",
        "| address | types | arguments | range | default | unit | access | what it does |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for a in INPUT:
        lines.append(
            f"| `{a.path}` | `{a.types or '-'}` | {_cell(a.signature)} | "
            f"{_cell(_column(a, 'range'))} | {_cell(_column(a, 'default'))} | "
            f"{_cell(_column(a, 'unit'))} | {a.access} | {_cell(a.description)} |"
        )
    lines += ["", "Examples (liblo's `oscsend`):", "", "```sh"]
    lines += [a.example for a in INPUT if a.example]
    lines += [
        "```",
        "",
        "## Output (from the daemon; each step's messages in one or more bundles)",
        "",
        "| address | types | arguments | range | unit | what it carries |",
        "|---|---|---|---|---|---|",
    ]
    for a in OUTPUT:
        types = "f×" + str(len(a.types)) if a.types.startswith("ff") else a.types
        signature = "see below" if a.args is STATUS else a.signature
        ranged = "" if a.args is STATUS else _column(a, "range")
        unit = "" if a.args is STATUS else _column(a, "unit")
        lines.append(
            f"| `{a.path}` | `{types}` | {_cell(signature)} | {_cell(ranged)} | {_cell(unit)} | "
            f"{_cell(a.description)} |"
        )
    lines += [
        "",
        "## Voices (`charmix daemon --voices K`)",
        "",
        "A daemon run with `--voices K` writes K independent streams, each with its own "
        "settings, sampler, line and attribution (the models run once per character for all "
        "of them). Voice 0 is the unprefixed address space above, so every patch, bridge and "
        f"script written for one voice keeps working. Voice k (1 … K−1, at most "
        f"{VOICES_MAX - 1}) has its own copy of these addresses under "
        f"`{VOICE_PREFIX}k/`; everything else (rate, pause, tick, subscriptions, "
        "/charmix/models, /charmix/status, recording) is shared. A message to a voice the "
        "daemon does not have is ignored and counted (`rx_bad`). Bridges take `--voice k`; "
        "`charmix monitor --voice k` and the Pd and Max patches' voice box show one voice; the "
        "OSCQuery namespace lists every voice's addresses with that voice's values, and "
        "`--state` keeps every voice's settings.",
        "",
        "| input, per voice | output, per voice |",
        "|---|---|",
    ]
    ins = [f"`{VOICE_PREFIX}k/{a.short}`" for a in voice_addresses("in")]
    outs = [f"`{VOICE_PREFIX}k/{a.short}`" for a in voice_addresses("out")]
    for k in range(max(len(ins), len(outs))):
        lines.append(f"| {ins[k] if k < len(ins) else ''} | {outs[k] if k < len(outs) else ''} |")
    lines += [
        "",
        "## `/charmix/status` fields",
        "",
        "All floats (float32, as every receiver reads them): counters are exact up to 16,777,216 "
        "and are shown rounded beyond that (after days of an installation's uptime, "
        "`tx_datagrams` first); compare them over minutes, not to the last unit. Fields are "
        "only ever appended: read them by position and ignore any beyond the ones you know, "
        "as the shipped patches do, so an older patch keeps working with a newer daemon.",
        "",
        "| # | field | unit | meaning |",
        "|---|---|---|---|",
    ]
    lines += [f"| {i} | `{a.name}` | {_cell(a.unit)} | {_cell(a.description)} |"
              for i, a in enumerate(STATUS)]
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
