"""The rooms' rules (docs/architecture.md): imports run one way and every name has one home.

`lint-imports` checks the contracts in pyproject.toml; here it runs on the real tree (it must
pass) and on a copy with one upward import added (it must fail, so the contracts can bite). The
rest walks the source: no module cycles (imports inside functions and type-only ones count), no
re-exports, one `fail`, one `format_endpoint`, no OSC message built by hand outside protocol/.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"daemon": "charmix.daemon", "controllers": "charmix.controllers",
           "export": "charmix.export"}
LINT = Path(sys.executable).with_name("lint-imports")


def modules() -> Iterator[tuple[str, Path]]:
    """(dotted name, path) of every module of the three code folders."""
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join((package, *parts)), path


SOURCES = {name: path for name, path in modules()}
TREES = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in SOURCES.items()}


def charmix_imports(tree: ast.AST, importer: str) -> Iterator[tuple[ast.ImportFrom | ast.Import,
                                                                      str, str | None]]:
    """Every charmix import anywhere in a module (functions and TYPE_CHECKING blocks too):
    (node, module, name) — name is None for `import charmix.x`."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.startswith("charmix."):
            for alias in node.names:
                yield node, node.module, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("charmix."):
                    yield node, alias.name, None


def lint(cwd: Path, env_path: Path | None = None) -> subprocess.CompletedProcess:
    env = None
    if env_path is not None:
        import os

        env = {**os.environ, "PYTHONPATH": str(env_path)}
    return subprocess.run([str(LINT), "--no-cache"], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env=env)


def test_the_import_contracts_hold() -> None:
    proc = lint(ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


@pytest.mark.parametrize(("where", "imports"), [
    ("daemon/engine/_probe.py", "from charmix.daemon.runtime import config"),  # engine upwards
    ("daemon/protocol/_probe.py", "import charmix.daemon.engine.vocab"),  # the kernel upwards
    ("controllers/_probe.py", "from charmix.daemon.engine import model"),  # a bridge: onnxruntime
    ("daemon/live/_probe.py", "from charmix.daemon.client import discovery"),  # daemon → client
    ("controllers/_probe.py", "import aalink"),  # Link (GPL): only controllers/abletonlink.py
])
def test_a_deliberate_violation_fails_the_linter(tmp_path: Path, where: str, imports: str) -> None:
    """A copy of the tree with one forbidden import inside a function: lint-imports must fail."""
    tree = tmp_path / "charmix"
    for folder in FOLDERS:
        shutil.copytree(ROOT / folder, tree / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "static"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    probe = tree / where
    probe.write_text(f'"""A deliberate violation."""\n\n\ndef probe() -> None:\n    {imports}\n')
    proc = lint(tmp_path, env_path=tmp_path)
    assert proc.returncode != 0, proc.stdout
    assert "BROKEN" in proc.stdout and where.replace("/", ".")[:-3] in proc.stdout.replace(
        "\n", ""), proc.stdout
    probe.unlink()
    assert lint(tmp_path, env_path=tmp_path).returncode == 0, "the copy itself must pass"


def test_no_module_imports_one_that_imports_it_back() -> None:
    """Strongly connected components of the module graph, all of size one (Tarjan)."""
    graph: dict[str, set[str]] = {name: set() for name in SOURCES}
    for importer, tree in TREES.items():
        for _, module, name in charmix_imports(tree, importer):
            target = f"{module}.{name}" if name and f"{module}.{name}" in SOURCES else module
            if target in SOURCES and target != importer:
                graph[importer].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    assert cycles == [], f"import cycles: {cycles}"


def defined_names(tree: ast.Module) -> set[str]:
    """Names a module binds itself (def, class, assignment), not the ones it imports."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


FACADES = {"charmix.daemon.protocol"}  # a package whose __init__ offers its room's API (__all__)


def test_every_name_is_imported_from_the_module_that_defines_it() -> None:
    """No re-exports: `from charmix.x import n` names a submodule of x, or n is defined in x
    (only a room's __init__ with __all__ may gather names; protocol's is the table's API)."""
    defined = {name: defined_names(tree) for name, tree in TREES.items()}
    wrong = []
    for importer, tree in TREES.items():
        for node, module, name in charmix_imports(tree, importer):
            if name is None or module not in SOURCES or f"{module}.{name}" in SOURCES:
                continue
            if module in FACADES and name in defined[module] | facade_names(module):
                continue
            if name not in defined[module]:
                wrong.append(f"{SOURCES[importer].relative_to(ROOT)}:{node.lineno}: "
                             f"{name} is not defined in {module}")
    assert wrong == [], "\n".join(wrong)


def facade_names(module: str) -> set[str]:
    for node in TREES[module].body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    return set()


def test_only_a_package_init_has_all() -> None:
    offenders = [name for name, tree in TREES.items()
                 if SOURCES[name].name != "__init__.py" and "__all__" in defined_names(tree)]
    assert offenders == []


def test_fail_and_format_endpoint_exist_once() -> None:
    homes: dict[str, list[str]] = {"fail": [], "_fail": [], "format_endpoint": []}
    for name, tree in TREES.items():
        for node in tree.body:  # module-level helpers (a class's own _fail is another thing)
            if isinstance(node, ast.FunctionDef) and node.name in homes:
                homes[node.name].append(name)
    assert homes == {"fail": ["charmix.daemon.common.fail"], "_fail": [],
                     "format_endpoint": ["charmix.daemon.protocol.endpoint"]}
    inlined = [name for name, path in SOURCES.items()
               if '"[{host}]:{port}"' in path.read_text(encoding="utf-8")
               and name != "charmix.daemon.protocol.endpoint"]
    assert inlined == [], "format_endpoint inlined again"


def test_no_osc_message_is_built_by_hand_outside_protocol() -> None:
    """Clients build control messages with protocol/encode.py (checked by the table)."""
    hand = [name for name, tree in TREES.items()
            if not name.startswith("charmix.daemon.protocol")
            and any(isinstance(n, ast.Name | ast.Attribute)
                    and (n.id if isinstance(n, ast.Name) else n.attr) == "OscMessageBuilder"
                    for n in ast.walk(tree))]
    assert hand == []


def test_every_room_says_its_job_in_its_init() -> None:
    """Each package's __init__ docstring: what it holds, what it may import, where new code goes."""
    for init in [*(ROOT / "daemon").glob("*/__init__.py"), *(ROOT / "controllers").glob(
            "*/__init__.py")]:
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and len(doc.splitlines()) >= 3, init
        assert "import" in doc.lower(), f"{init}: say what the room may import"
        room = init.parent.name
        assert f"`{room}/`" in (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8"), \
            f"docs/architecture.md does not map {room}/"
