"""The docs a performer reads must match the code (docs/osc.md comes from the address table)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from charmix.daemon import protocol
from charmix.daemon.protocol import docs as osc_docs

ROOT = Path(__file__).resolve().parent.parent


def test_osc_md_is_generated_from_the_address_table():
    current = (ROOT / "docs" / "osc.md").read_text(encoding="utf-8")
    assert current == osc_docs.render(), "docs/osc.md is stale: run `make docs`"


def test_every_address_is_documented_once_per_direction():
    text = osc_docs.render()
    for entry in protocol.TABLE:
        assert f"`{entry.path}`" in text
    keys = [(a.path, a.direction) for a in protocol.TABLE]
    assert len(keys) == len(set(keys))


def test_address_paths_are_well_formed():
    for entry in protocol.TABLE:
        assert entry.path.startswith(protocol.PREFIX + "/")
        assert re.fullmatch(r"[a-z/{}]+", entry.path), entry.path
        assert re.fullmatch(r"([fis][+?*]?)*", entry.types), entry.types


def test_type_patterns_accept_numbers_loosely_and_reject_wrong_arity():
    weights = protocol.address(f"{protocol.PREFIX}/weights", "in")
    assert weights.accepts("ffff") and weights.accepts("ifd")
    assert not weights.accepts("") and not weights.accepts("fs")
    sub = protocol.address(f"{protocol.PREFIX}/subscribe", "in")
    assert sub.accepts("") and sub.accepts("i") and sub.accepts("is")
    assert not sub.accepts("ss") and not sub.accepts("isi")


def test_readme_commands_exist():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in re.findall(r"^\s*make (\w+)", readme, flags=re.M):
        assert re.search(rf"^{target}:", makefile, flags=re.M), f"make {target} is not a target"
    commands = set(re.findall(r"`charmix (\w+)", readme))
    help_text = subprocess.run(
        [sys.executable, "-m", "charmix.daemon.cli", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    listed = set(re.findall(r"^│ (\w+) ", help_text, flags=re.M))
    assert commands and commands <= listed, commands - listed


def test_every_markdown_table_row_has_its_headers_cell_count():
    """An unescaped '|' in a cell (once: 'linear | geometric') splits a row into extra cells."""
    header = None
    for line in osc_docs.render().splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = len(re.findall(r"(?<!\\)\|", line)) - 1
        if header is None:
            header = cells
        assert cells == header, line


def test_no_unfilled_placeholder_reaches_the_docs_or_help():
    """A description written without f (once: 'keeps its last {PRIME_MAX} characters')."""
    text = osc_docs.render()
    assert not re.findall(r"\{(?!name\})[A-Za-z_]+\}", text)
    for entry in protocol.TABLE:
        assert not re.findall(r"\{(?!name\})[A-Za-z_]+\}", entry.description), entry.path


def test_every_address_has_typed_fields_for_oscquery():
    """TYPE, ACCESS, RANGE, CLIPMODE and UNIT per address come from the typed fields."""
    for entry in protocol.TABLE:
        node = entry.oscquery(models=3, vocab=5)
        assert node["FULL_PATH"] == entry.path and node["DESCRIPTION"] == entry.description
        assert node["ACCESS"] == {"r": 1, "w": 2, "rw": 3}[entry.access]
        assert (entry.direction == "in") == ("w" in entry.access)
        if not entry.args:
            assert "TYPE" not in node
            continue
        n = len(node["TYPE"])
        assert len(node["RANGE"]) == len(node["CLIPMODE"]) == len(node["UNIT"]) == n
        assert set(node["CLIPMODE"]) <= {"none", "low", "high", "both"}
        for arg in entry.args:  # no prose: bounds are numbers, enumerations are lists
            assert arg.min is None or isinstance(arg.min, int | float)
            assert arg.max is None or isinstance(arg.max, int | float)
            assert arg.default is None or arg.check(arg.default) == arg.default, entry.path
    weights = protocol.control("weights").oscquery(models=3)
    assert weights["TYPE"] == "fff" and weights["RANGE"] == [{"MIN": -1.0, "MAX": 1.0}] * 3
    mode = protocol.control("mode").oscquery()
    assert mode["RANGE"] == [{"VALS": ["linear", "geometric"]}]


def test_expand_lists_every_concrete_path_of_a_running_daemon():
    paths = [p for p, _, _ in protocol.expand(["a", "b"])]
    assert f"{protocol.PREFIX}/weight/a" in paths and f"{protocol.PREFIX}/model/b/dist" in paths
    assert not [p for p in paths if "{name}" in p]
    assert len(paths) == len(protocol.TABLE) + sum(a.per_model for a in protocol.TABLE)
