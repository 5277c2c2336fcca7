"""Which corpora a style-conditioned model trains on: `--style NAME=CORPUS.txt` and style files.

Apart from export/styles.py (the trainer) because reading them needs no torch: `charmix train`
reads and checks every corpus before its slow torch import, so a bad corpus or style is one line
at once, not after seconds of importing.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from charmix.export.dataset import Corpus, CorpusError, load_corpus

STYLE_FILE_HELP = (
    "a TOML file with a [styles] table of NAME = \"corpus.txt\" lines (paths relative to the file)"
)


def parse_style(spec: str) -> tuple[str, Path]:
    """NAME=CORPUS.txt → (name, path); CorpusError (one line) otherwise."""
    name, sep, path = spec.partition("=")
    name = name.strip()
    if not sep or not name or not path.strip():
        raise CorpusError(f"--style {spec!r}: expected NAME=CORPUS.txt")
    if not name.replace("_", "").replace("-", "").isalnum():
        raise CorpusError(f"--style {spec!r}: a style name is letters, digits, - and _ only")
    return name, Path(path.strip())


def read_style_file(path: Path) -> list[tuple[str, Path]]:
    """The styles listed in a TOML file, in the file's order."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CorpusError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise CorpusError(f"{path}: not valid TOML ({exc})") from None
    table = data.get("styles")
    if not isinstance(table, dict) or not table:
        raise CorpusError(f"{path}: expected {STYLE_FILE_HELP}")
    out = []
    for name, corpus in table.items():
        if not isinstance(corpus, str):
            raise CorpusError(f"{path}: style {name!r} must name a corpus file (a string)")
        found = parse_style(f"{name}={corpus}")
        out.append((found[0], found[1] if found[1].is_absolute() else path.parent / found[1]))
    return out


def load_styles(
    specs: list[tuple[str, Path]], vocab: list[str], errors: str = "strict"
) -> list[Corpus]:
    """Every style's corpus, encoded in one shared vocabulary (required: the model has one)."""
    names = [name for name, _ in specs]
    if len(specs) < 2:
        raise CorpusError("a style-conditioned model needs at least two styles")
    if len(set(names)) != len(names):
        raise CorpusError(f"style names must be distinct: {', '.join(names)}")
    return [load_corpus(path, vocab, errors, name) for name, path in specs]
