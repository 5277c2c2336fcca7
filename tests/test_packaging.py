"""Packaging: the daemon side never imports torch, `charmix --help` lists the commands, and a wheel
built from the repo holds only charmix.* packages plus the shipped models and installs into a
fresh virtual environment (dependencies from the package registry) where `charmix` runs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {
    "daemon": "charmix.daemon",
    "controllers": "charmix.controllers",
    "export": "charmix.export",
    "models": "charmix.models",
}
# The rooms (docs/architecture.md): every subpackage must reach the wheel.
SUBPACKAGES = (
    "daemon/protocol", "daemon/engine", "daemon/live", "daemon/recording", "daemon/oscquery",
    "daemon/runtime", "daemon/client", "daemon/monitor", "daemon/tools", "daemon/common",
    "controllers/web", "controllers/midi",
)
ISSUE_COMMANDS = ("train", "export", "models", "sample")


def charmix_cmd() -> list[str]:
    script = Path(sys.executable).parent / "charmix"
    return [str(script)] if script.exists() else [sys.executable, "-m", "charmix.daemon.cli"]


def run(cmd: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)


# -- no torch on the daemon side --------------------------------------------------------------

IMPORT_ALL = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys

    import charmix.daemon.cli  # the CLI registers every room's commands
    imported = ["charmix.daemon.cli"]
    for package in ("charmix.daemon", "charmix.controllers"):
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, package + "."):
            if info.name.rsplit(".", 1)[-1] == "__main__":
                continue  # running it would start the program
            importlib.import_module(info.name)
            imported.append(info.name)
    if len(sys.argv) > 1:  # then run `charmix models DIR` and `charmix sample` in this process
        from charmix.daemon.cli import app
        app(["models", sys.argv[1]], standalone_mode=False)
        app(["sample", "-m", sys.argv[2], "-n", "20", "--seed", "1"], standalone_mode=False)
    heavy = sorted(m for m in ("torch", "onnx") if m in sys.modules)
    print(json.dumps({"imported": imported, "heavy": heavy}))
    """
)


def test_the_daemon_side_never_imports_torch(tmp_path: Path) -> None:
    proc = run([sys.executable, "-c", IMPORT_ALL], tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.splitlines()[-1])
    on_disk = {
        ".".join((PACKAGES[folder], *path.relative_to(ROOT / folder).with_suffix("").parts))
        for folder in ("daemon", "controllers")
        for path in (ROOT / folder).rglob("*.py")
        if path.stem not in ("__init__", "__main__")
    }
    assert on_disk <= set(report["imported"]), "a module was not imported"
    assert {"charmix.daemon.engine.model", "charmix.daemon.engine.mixer",
            "charmix.daemon.tools.offline"} <= on_disk
    assert report["heavy"] == [], f"the daemon side imported {report['heavy']}"


def test_models_and_sample_run_without_torch(tmp_path: Path, tiny_models: dict[str, Path]) -> None:
    folder = tiny_models["shakespeare"].parent
    proc = run([sys.executable, "-c", IMPORT_ALL, str(folder), str(tiny_models["linux"])], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "shakespeare" in proc.stdout
    assert json.loads(proc.stdout.splitlines()[-1])["heavy"] == []


def test_help_lists_the_commands(tmp_path: Path) -> None:
    proc = run([*charmix_cmd(), "--help"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    listed = {
        line.split()[1]
        for line in proc.stdout.splitlines()
        if line.startswith("│ ") and len(line.split()) > 2
    }
    assert set(ISSUE_COMMANDS) <= listed, proc.stdout


def test_train_help_documents_the_issue_flags(tmp_path: Path) -> None:
    proc = run([*charmix_cmd(), "train", "--help"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    for flag in (
        "--name",
        "--out",
        "--vocab",
        "--errors",
        "--layers",
        "--hidden",
        "--embedding",
        "--max-steps",
        "--patience",
        "--seed",
        "--device",
        "--checkpoint-dir",
        "--resume",
        "--threads",
    ):
        assert flag in proc.stdout, flag


# -- the wheel --------------------------------------------------------------------------------


def repo_copy(dest: Path) -> Path:
    """The files a build of this working tree sees (tracked and untracked, not ignored)."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        src = ROOT / name
        if src.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, target)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> tuple[Path, list[str]]:
    """A wheel built from a copy of the working tree (no stale build/ folder can leak in)."""
    work = tmp_path_factory.mktemp("wheel")
    src = repo_copy(work / "src")
    proc = run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(src),
            "--no-deps",  # the build backend (setuptools>=68) comes in pip's isolated env
            "-w",
            str(work / "dist"),
            "-q",
        ],
        work,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    (built,) = (work / "dist").glob("charmix-*.whl")
    models = sorted(p.name for p in (src / "models").glob("*.onnx"))
    return built, models


@pytest.mark.slow
def test_wheel_contains_only_charmix_packages(wheel: tuple[Path, list[str]]) -> None:
    built, models = wheel
    names = zipfile.ZipFile(built).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"charmix", built.name.split("-py3")[0] + ".dist-info"}, tops
    packages = {name.split("/")[1] for name in names if name.startswith("charmix/")}
    assert packages == set(PACKAGES), packages
    on_disk = {str(p.parent.relative_to(ROOT)) for f in ("daemon", "controllers")
               for p in (ROOT / f).glob("*/__init__.py")}
    assert on_disk == set(SUBPACKAGES), on_disk
    for sub in SUBPACKAGES:
        assert f"charmix/{sub}/__init__.py" in names, sub
    for module in (
        "daemon/cli.py",
        "daemon/engine/model.py",
        "daemon/engine/mixer.py",
        "daemon/engine/constraints.py",
        "daemon/engine/blocklists/en.txt",  # --blocklist default, with its source and licence
        "daemon/engine/blocklists/LICENSE-better-profanity",
        "daemon/engine/blocklists/README.md",
        "export/train.py",
        "export/onnx_export.py",
        "models/__init__.py",
        "models/vocab.json",
        "controllers/web/static/index.html",
        "controllers/web/static/app.js",
        "controllers/web/static/style.css",
        "daemon/live/demo_score.toml",  # --score demo
    ):
        assert f"charmix/{module}" in names, module
    for model in models:
        assert f"charmix/models/{model}" in names, model
    assert not [n for n in names if "/tests/" in n or n.endswith((".pt", ".pyc"))]
    info = zipfile.ZipFile(built).read(f"{built.name.split('-py3')[0]}.dist-info/entry_points.txt")
    assert "charmix = charmix.daemon.cli:main" in info.decode()


@pytest.mark.slow
@pytest.mark.timeout(600)  # pip fetches the dependencies from the package registry
def test_wheel_installs_into_a_fresh_venv(tmp_path: Path, wheel: tuple[Path, list[str]]) -> None:
    built, models = wheel
    venv = tmp_path / "venv"
    made = run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    assert made.returncode == 0, made.stderr
    python, charmix = venv / "bin" / "python", venv / "bin" / "charmix"
    install = run([str(python), "-m", "pip", "install", "-q", str(built)], tmp_path, timeout=400)
    assert install.returncode == 0, install.stderr

    helped = run([str(charmix), "--help"], tmp_path)
    assert helped.returncode == 0, helped.stderr
    for command in ISSUE_COMMANDS:
        assert f"│ {command} " in helped.stdout, command

    where = run(
        [
            str(python),
            "-c",
            textwrap.dedent("""
        import importlib.util, json, charmix.daemon.engine.model as m
        import charmix.daemon.engine.modelformat as f
        print(json.dumps({"model": m.__file__, "models": str(f.shipped_models_dir()),
                          "daemon": importlib.util.find_spec("daemon") is not None,
                          "export": importlib.util.find_spec("export") is not None,
                          "torch": importlib.util.find_spec("torch") is not None}))
    """),
        ],
        tmp_path,
    )
    assert where.returncode == 0, where.stderr
    found = json.loads(where.stdout)
    assert Path(found["model"]).is_relative_to(venv), found
    assert Path(found["models"]).is_relative_to(venv), found
    assert not found["daemon"] and not found["export"]  # no generic top-level names
    assert not found["torch"]

    # without the train extra, training says what to install in one line
    train = run([str(charmix), "train", "corpus.txt", "--name", "x"], tmp_path)
    assert train.returncode == 1
    assert "Traceback" not in train.stderr
    assert train.stderr.count("\n") == 1 and "charmix[train]" in train.stderr

    if not models:
        pytest.skip("models/ has no .onnx yet: the shipped-models part is not checked")
    listed = run([str(charmix), "models", "--json"], tmp_path)
    assert listed.returncode == 0, listed.stderr
    entries = json.loads(listed.stdout)
    assert sorted(Path(e["file"]).name for e in entries) == models
    assert all(Path(e["file"]).is_relative_to(venv) for e in entries)
    table = run([str(charmix), "models"], tmp_path)
    assert table.returncode == 0 and all(Path(m).stem in table.stdout for m in models)
    first = Path(models[0]).stem
    sampled = run([str(charmix), "sample", "-m", first, "-n", "50", "--seed", "1"], tmp_path)
    assert sampled.returncode == 0, sampled.stderr
    assert len(sampled.stdout) == 51


# -- the protocol kernel and --help stay light ------------------------------------------------
LIGHT = textwrap.dedent(
    """
    import json, sys
    for name in sys.argv[1:]:
        __import__(name)
    print(json.dumps(sorted(m for m in ("onnxruntime", "torch", "numpy", "aalink")
                            if m in sys.modules)))
    """
)


@pytest.mark.parametrize(
    ("modules", "allowed"),
    [
        # the kernel: address table, endpoints, signals, settings; and what bridges import
        (["charmix.daemon.protocol", "charmix.daemon.protocol.endpoint",
          "charmix.daemon.common.signals", "charmix.daemon.runtime.config",
          "charmix.controllers.sender", "charmix.controllers.midi.bridge",
          "charmix.controllers.leap", "charmix.controllers.commands",
          "charmix.controllers.ticks", "charmix.controllers.midi.clock"], []),
        (["charmix.daemon.cli"], []),  # `charmix --help`: not even numpy
        # the daemon: its engine, never the Link binding (GPL; only `charmix link` loads it)
        (["charmix.daemon.runtime.daemon", "charmix.daemon.runtime.command"],
         ["numpy", "onnxruntime"]),
    ],
)
def test_bridges_and_help_load_no_onnxruntime(tmp_path: Path, modules: list[str],
                                              allowed: list[str]) -> None:
    """protocol → config → controls → engine → model once pulled onnxruntime into every bridge.
    The daemon, the bridges and --help never load aalink either (GPL: only `charmix link` may)."""
    proc = run([sys.executable, "-c", LIGHT, *modules], tmp_path)
    assert proc.returncode == 0, proc.stderr
    heavy = set(json.loads(proc.stdout.splitlines()[-1]))
    assert heavy <= set(allowed), f"{modules} imported {sorted(heavy - set(allowed))}"


EVERY_HELP = textwrap.dedent(
    """
    import contextlib, io, json, sys

    import typer

    from charmix.daemon.cli import app, main

    HEAVY = ("numpy", "onnxruntime", "aiohttp", "zeroconf", "tkinter", "mido", "torch", "onnx",
             "aalink")
    paths = [[]]
    for name, command in typer.main.get_command(app).commands.items():
        paths.append([name])
        subs = sorted(getattr(command, "commands", {}))  # send: generated alike, one will do
        paths.extend([name, sub] for sub in subs[:1])
    codes = {}
    for path in paths:
        with contextlib.redirect_stdout(io.StringIO()) as out:
            codes[" ".join(path)] = [main([*path, "--help"]), len(out.getvalue())]
    print(json.dumps({"codes": codes, "heavy": sorted(m for m in HEAVY if m in sys.modules)}))
    """
)


def test_help_of_every_command_imports_nothing_heavy(tmp_path: Path) -> None:
    """`charmix --help` and `charmix COMMAND --help` load typer and the address table only.

    The numerical, network, GUI and MIDI stacks (numpy, onnxruntime, aiohttp, zeroconf, tkinter,
    mido, torch) cost a performer's terminal up to a second each time; they load inside the
    commands. Every registered command's help is printed here, in one interpreter, then
    sys.modules is read.
    """
    proc = run([sys.executable, "-c", EVERY_HELP], tmp_path)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout.splitlines()[-1])
    assert {"", "daemon", "monitor", "mouse", "midi", "web", "link", "replay", "render"} <= set(
        report["codes"]), report["codes"]
    assert all(code == 0 and size > 200 for code, size in report["codes"].values()), report
    assert report["heavy"] == [], f"--help imported {report['heavy']}"
