"""`--scenes FILE`: the saved scenes as TOML a person can read and edit, comments and all.

    # the gallery's scenes
    [morning]                              # one table per scene, by name
    weights = { bible = 1.0, austen = 0.5 }
    temperature = 0.6
    mode = "linear"

[tomlkit](https://tomlkit.readthedocs.io/) keeps the file's comments, order and layout through
a save: a changed scene has its keys rewritten in place, a new one is appended, a deleted one
removed. Every change (/charmix/scene/save, /charmix/scene/delete) is saved atomically (the tmp
file, fsync, rename of runtime/state.py) on a thread of its own, so a slow disk never holds up the
control thread; a burst of changes is one write of the newest scenes.

A file that cannot be used — not TOML, TOML but wrong, too large — is one line naming the file,
the line and the problem (`scenes.toml: line 4: 'temperature' must be in 0.05 – 5, got 9`); the
daemon then starts with no scenes, says so, and does not overwrite the file until a scene is
saved (so a typo is not erased by the next start).
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import ParseError, TOMLKitError

from charmix.daemon.live.scenes import Scene, SceneError, check_name, scene_from
from charmix.daemon.runtime.state import write_atomic

MAX_BYTES = 1 << 20  # a scenes file is a few KB; 256 scenes of every setting fit in 200 KB
HEADER = ("charmix scenes: one [table] per scene; edit by hand or save with "
          "/charmix/scene/save NAME")


class SceneFileError(ValueError):
    """A scenes file that cannot be read; str() is one line: file, line, problem."""


def _line(text: str, name: str) -> int | None:
    """The line of scene `name`'s table header (best effort, for the message)."""
    pattern = re.compile(r"^[ \t]*\[[ \t]*(\"?)" + re.escape(name) + r"\1[ \t]*\]", re.M)
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def parse(text: str, where: str = "scenes") -> tuple[tomlkit.TOMLDocument, dict[str, Scene]]:
    """The document and its scenes; SceneFileError naming the line and the problem."""
    try:
        doc = tomlkit.parse(text)
    except ParseError as exc:
        raise SceneFileError(f"{where}: line {exc.line}: not valid TOML ({exc.args[0]})") from None
    except TOMLKitError as exc:
        raise SceneFileError(f"{where}: not valid TOML ({exc})") from None
    scenes: dict[str, Scene] = {}
    for name, table in doc.unwrap().items():
        try:
            check_name(name)
            if not isinstance(table, dict):
                raise SceneError(f"must be a [{name}] table of settings, got a value")
            scenes[name] = scene_from(table)
        except SceneError as exc:
            line = _line(text, name)
            at = f" line {line}:" if line else ""
            raise SceneFileError(f"{where}:{at} scene {name[:64]!r}: {exc}") from None
    return doc, scenes


def read(path: Path) -> tuple[tomlkit.TOMLDocument | None, dict[str, Scene]]:
    """(None, {}) for a file not there yet; SceneFileError for one that cannot be used."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return None, {}
    except OSError as exc:
        raise SceneFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if len(data) > MAX_BYTES:
        raise SceneFileError(f"{path}: over {MAX_BYTES >> 10} KB, too large to be a scenes file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SceneFileError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return parse(text, str(path))


def _value(value: Any) -> Any:
    if isinstance(value, dict):
        table = tomlkit.inline_table()
        table.update(value)
        return table
    return value


def render(doc: tomlkit.TOMLDocument | None, scenes: dict[str, Scene]) -> str:
    """`doc` changed to hold exactly `scenes`, its comments and layout kept."""
    if doc is None:
        doc = tomlkit.document()
        doc.add(tomlkit.comment(HEADER))
    for name in [n for n in doc if n not in scenes]:
        del doc[name]
    for name, scene in scenes.items():
        values = scene.as_dict()
        table = doc.get(name)
        if not isinstance(table, dict):
            if name in doc:
                del doc[name]
            table = tomlkit.table()
            doc[name] = table
        for key in [k for k in table if k not in values]:
            del table[key]
        for key, value in values.items():
            if table.get(key) != value:
                table[key] = _value(value)
    return tomlkit.dumps(doc)


class SceneFile:
    """The file behind --scenes: read once, then saved on every change by its own thread."""

    def __init__(self, path: Path, log: logging.Logger) -> None:
        self.path = path
        self.log = log
        self.doc: tomlkit.TOMLDocument | None = None
        self.saves = 0
        self.errors = 0
        self._pending: dict[str, Scene] | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._failing = False
        self._thread: threading.Thread | None = None

    def load(self) -> dict[str, Scene]:
        """The scenes in the file; a bad file is one warning and no scenes."""
        try:
            self.doc, scenes = read(self.path)
        except SceneFileError as exc:
            self.log.warning("scenes: %s; starting with no scenes (the file is kept as it is "
                             "until a scene is saved)", exc)
            return {}
        if self.doc is None:
            self.log.info("scenes: no %s yet; it is written when a scene is saved", self.path)
        return scenes

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="charmix-scenes", daemon=True)
        self._thread.start()

    def changed(self, scenes: dict[str, Scene]) -> None:
        """(any thread) Save these scenes soon."""
        with self._lock:
            self._pending = scenes
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            self.flush()

    def flush(self) -> bool:
        with self._lock:
            scenes, self._pending = self._pending, None
        if scenes is None:
            return True
        try:
            text = render(self.doc, scenes)
            write_atomic(self.path, text.encode("utf-8"))
            self.doc = tomlkit.parse(text)
        except (OSError, TOMLKitError, ValueError) as exc:
            with self._lock:  # tried again with the next change, or at stop
                self._pending = self._pending or scenes
            self.errors += 1
            if not self._failing:
                self._failing = True
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                self.log.warning("scenes: cannot write %s (%s); the scenes are kept in memory",
                                 self.path, why)
            return False
        self.saves += 1
        if self._failing:
            self._failing = False
            self.log.info("scenes: writing %s works again", self.path)
        return True

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None
        self.flush()
