"""Reading a performance file (written by charmix.daemon.recording.writer), tolerant of a crash.

A file cut short by a crash ends in a partial line: it is ignored with a note, and everything
before it is used. Any other line that is not JSON, or has no known kind, is skipped and counted
in a note, never fatal: a performance file is read back long after it was written, by people
who want the text, not a traceback. A file without a header line is the one thing that cannot be
read (PerformanceError, one line).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charmix.daemon.recording.writer import FORMAT, VERSION

KINDS = ("set", "cmd", "step", "end")


class PerformanceError(ValueError):
    """A file that is not a readable performance; str() is one line naming the file."""


@dataclass
class Performance:
    path: Path
    header: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)  # set / cmd / step, in order
    ended: bool = False  # an end line: the recording was stopped cleanly
    notes: list[str] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [m["name"] for m in self.header["models"]]

    @property
    def voices(self) -> int:
        return int(self.header.get("voices", 1))

    @property
    def steps(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["k"] == "step"]

    def text(self, voice: int = 0) -> str:
        """The recorded text of one voice (what a replay must give again)."""
        return "".join(e["c"][voice] for e in self.steps)


def read(path: Path) -> Performance:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PerformanceError(f"{path}: cannot read ({exc.strerror or exc})") from None
    lines = raw.split(b"\n")
    cut = lines and lines[-1] != b""  # no final newline: the last write was cut short
    perf: Performance | None = None
    skipped = 0
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line.decode("utf-8"))
            if not isinstance(item, dict):
                raise ValueError("not an object")
        except ValueError:
            if number == len(lines) and cut:
                note = f"{path}: the last line is cut short (a crash?); ignored it"
                if perf is not None:
                    perf.notes.append(note)
                continue
            skipped += 1
            continue
        kind = item.get("k")
        if perf is None:
            if kind != "header" or item.get("format") != FORMAT:
                raise PerformanceError(f"{path}: not a charmix performance (no header line)")
            if int(item.get("version", 0)) > VERSION:
                raise PerformanceError(
                    f"{path}: performance format {item.get('version')} is newer than this "
                    f"charmix reads ({VERSION}); upgrade charmix"
                )
            perf = Performance(path, item)
            continue
        if kind == "end":
            perf.ended = True
        elif kind in KINDS:
            perf.events.append(item)
        else:
            skipped += 1
    if perf is None:
        raise PerformanceError(f"{path}: empty, not a charmix performance")
    if skipped:
        perf.notes.append(f"{path}: skipped {skipped} unreadable line(s)")
    if not perf.ended and not any("cut short" in n for n in perf.notes):
        perf.notes.append(f"{path}: no end line (the recording did not stop cleanly)")
    return perf
