"""The model-file contract is stated once, in daemon/engine/modelformat.py, and everyone reads it.

What the writers put in a file (the exporter, the quantiser) is exactly what modelformat lists;
the loader requires exactly modelformat's keys and version; docs/model-format.md's table lists
exactly its keys; and no metadata key is spelled out anywhere else in daemon/, export/ or
benchmarks/ (an AST scan), so a second copy of the contract fails here.

Real parts: tiny models made by the real training and export path (tests/conftest.py), the real
quantiser and the daemon's loader.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import onnx
import pytest
from conftest import ROOT

from charmix.daemon.engine import modelformat as mf
from charmix.daemon.engine.model import load_model
from charmix.daemon.engine.modelformat import ModelError
from charmix.export import quantize as q

# What only some files carry: the quantiser's own keys, and a conditioned model's.
QUANTISER_KEYS = {mf.WEIGHTS_KEY, mf.WEIGHTS_KL_KEY, mf.FP32_VAL_LOSS_KEY,
                  mf.FP32_STYLE_VAL_LOSS_KEY}
STYLE_KEYS = {mf.STYLES_KEY, mf.STYLE_INTO_KEY, mf.STYLE_VAL_LOSS_KEY, mf.STYLE_CORPORA_KEY,
              mf.FP32_STYLE_VAL_LOSS_KEY}
SCANNED = ("daemon", "export", "benchmarks")


def metadata(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def rewrite(src: Path, out: Path, meta: dict[str, str]) -> Path:
    """src's graph with its metadata replaced by `meta`."""
    proto = onnx.load(str(src))
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, meta)
    onnx.save(proto, str(out))
    return out


# -- the writers ----------------------------------------------------------------------------------


def test_an_exported_model_carries_exactly_the_contract(tiny_models: dict[str, Path]) -> None:
    path = tiny_models["shakespeare"]
    meta = metadata(path)
    assert meta[mf.FORMAT_KEY] == str(mf.FORMAT_VERSION)
    assert set(mf.REQUIRED_META) <= meta.keys()
    # every key it writes is one of modelformat's, and it writes all an ordinary model has
    assert meta.keys() == set(mf.META_KEYS) - QUANTISER_KEYS - STYLE_KEYS
    proto = onnx.load(str(path))
    assert [i.name for i in proto.graph.input] == list(mf.REQUIRED_INPUTS)
    assert [o.name for o in proto.graph.output] == list(mf.REQUIRED_OUTPUTS)
    assert proto.producer_version == str(mf.FORMAT_VERSION)


def test_a_conditioned_model_carries_the_style_keys_and_input(tiny_styles: Path) -> None:
    meta = metadata(tiny_styles)
    assert meta.keys() == set(mf.META_KEYS) - QUANTISER_KEYS
    names = json.loads(meta[mf.STYLES_KEY])
    style = next(i for i in onnx.load(str(tiny_styles)).graph.input if i.name == mf.STYLE_INPUT)
    assert style.type.tensor_type.shape.dim[1].dim_value == len(names)
    assert load_model(tiny_styles).info.styles == names


def test_a_quantised_model_carries_the_weights_tag(tiny_models: dict[str, Path],
                                                   tmp_path: Path) -> None:
    out = tmp_path / "q.onnx"
    q.quantize_file(tiny_models["linux"], out)
    meta = metadata(out)
    assert meta[mf.WEIGHTS_KEY] == mf.WEIGHTS_INT8
    assert meta[mf.FORMAT_KEY] == str(mf.FORMAT_VERSION)  # still the same format
    assert meta.keys() <= set(mf.META_KEYS)
    assert {mf.WEIGHTS_KEY, mf.WEIGHTS_KL_KEY, mf.FP32_VAL_LOSS_KEY} <= meta.keys()
    assert load_model(out).info.weights == mf.WEIGHTS_INT8
    assert load_model(tiny_models["linux"]).info.weights == mf.WEIGHTS_FP32


def test_the_weights_tag_names_the_quantisers_layout() -> None:
    assert f"int{q.BITS}-block{q.BLOCK_SIZE}" == mf.WEIGHTS_INT8


# -- the loader -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "problem"), [
    (mf.FORMAT_VERSION + 1, f"is newer than this charmix reads ({mf.FORMAT_VERSION})"),
    (mf.FORMAT_VERSION - 1, f"unknown model format {mf.FORMAT_VERSION - 1}"),
])
def test_the_loader_refuses_another_format_version(
    tiny_models: dict[str, Path], tmp_path: Path, version: int, problem: str
) -> None:
    good = tiny_models["bible"]
    meta = metadata(good)
    assert load_model(rewrite(good, tmp_path / "same.onnx", meta)).name == "bible"
    path = rewrite(good, tmp_path / "other.onnx", {**meta, mf.FORMAT_KEY: str(version)})
    with pytest.raises(ModelError, match=re.escape(problem)):
        load_model(path)


@pytest.mark.parametrize("key", mf.REQUIRED_META)
def test_the_loader_requires_each_required_key(
    tiny_models: dict[str, Path], tmp_path: Path, key: str
) -> None:
    good = tiny_models["bible"]
    meta = metadata(good)
    path = rewrite(good, tmp_path / "less.onnx", {k: v for k, v in meta.items() if k != key})
    with pytest.raises(ModelError, match=re.escape(key)):
        load_model(path)


def test_the_loader_needs_no_other_key(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    good = tiny_models["bible"]
    meta = {k: v for k, v in metadata(good).items() if k in mf.REQUIRED_META}
    model = load_model(rewrite(good, tmp_path / "bare.onnx", meta))
    assert model.name == "bare"  # no NAME_KEY: the file stem
    assert model.info.val_loss is None and model.info.weights == mf.WEIGHTS_FP32


# -- the docs -------------------------------------------------------------------------------------


def test_the_docs_table_lists_exactly_the_keys() -> None:
    text = (ROOT / "docs" / "model-format.md").read_text(encoding="utf-8")
    table = text.split("## Metadata", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(charmix\.[a-z0-9_]+)` \|([^|]*)\|", table, re.MULTILINE)
    assert [key for key, _ in rows] == list(mf.META_KEYS)
    assert [key for key, required in rows if required.strip() == "yes"] == list(mf.REQUIRED_META)
    assert "daemon/engine/modelformat.py" in text


# -- one copy -------------------------------------------------------------------------------------


def key_literals(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, key) of every metadata key written out in a module: a string equal to one of
    modelformat's keys, or any "charmix.x" string used the way a key is (a subscript, the first
    argument of .get/.pop/.setdefault, the left of `in`, a dict key)."""
    keys = {*mf.META_KEYS, mf.STYLE_OF_KEY}
    pattern = re.compile(r"charmix\.[a-z0-9_]+")
    suspects: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript):
            suspects.add(id(node.slice))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("get", "pop", "setdefault") and node.args:
            suspects.add(id(node.args[0]))
        elif isinstance(node, ast.Compare) and isinstance(node.ops[0], ast.In | ast.NotIn):
            suspects.add(id(node.left))
        elif isinstance(node, ast.Dict):
            suspects.update(id(k) for k in node.keys if k is not None)
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
            continue
        if node.value in keys or (id(node) in suspects and pattern.fullmatch(node.value)):
            yield node.lineno, node.value


def test_the_scan_finds_a_second_copy() -> None:
    source = (
        'meta = {"charmix.format": "1"}\n'
        'x = meta.get("charmix.val_loss")\n'
        'y = meta["charmix.something_new"]\n'
        'z = f"{meta[\'charmix.name\']}"\n'
        'w = "charmix.styles" in meta\n'
        'log = logging.getLogger("charmix.daemon")\n'  # not a key
        'module = "charmix.daemon.cli"\n'
    )
    found = [key for _, key in key_literals(ast.parse(source))]
    assert sorted(found) == sorted(["charmix.format", "charmix.val_loss",
                                    "charmix.something_new", "charmix.name", "charmix.styles"])


def test_no_metadata_key_is_written_outside_modelformat() -> None:
    home = Path(mf.__file__).resolve()
    where = [
        f"{path.relative_to(ROOT).as_posix()}:{line}: {key!r}"
        for folder in SCANNED
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path.resolve() != home
        for line, key in key_literals(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert not where, "metadata keys outside daemon/engine/modelformat.py:\n" + "\n".join(where)


def test_modelformat_is_cheap_to_import() -> None:
    code = (
        "import sys, charmix.daemon.engine.modelformat as mf; mf.shipped_models_dir(); "
        "print(sorted(m for m in ('numpy', 'onnxruntime', 'onnx', 'torch') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
