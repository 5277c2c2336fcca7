"""How fast the command line and the bridges start, and whether they load onnxruntime.

    .venv/bin/python benchmarks/bench_startup.py              # 9 runs each, medians
    .venv/bin/python benchmarks/bench_startup.py --runs 21
    .venv/bin/python benchmarks/bench_startup.py --against main   # this tree beside another commit

Each case is a fresh interpreter (what a shell script or a performer's terminal pays), run N
times interleaved with the others so that load on a shared machine hits all alike; the table
gives the median and the spread. `onnxruntime` says whether the case imported it: the protocol
kernel (address table, endpoints, signals) and everything a bridge or `--help` loads must not
(issue 9: it once cost every bridge ~0.6 s); `numpy` the same for numpy, which `--help` must
not load either. `--against REF` runs every case also with REF's daemon/, controllers/ and
export/ (`git archive` into a temporary folder that shadows this tree on PYTHONPATH), interleaved
with this tree's runs, so a change is measured against its parent in the same run. Timings on a
shared VM move by a third between runs: compare the cases of one run, not runs of different days.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLI = "import sys; from charmix.daemon.cli import main; sys.argv[0] = 'charmix'; main()"
CASES = {
    "charmix --help": ["-c", CLI, "--help"],
    "import charmix.controllers.sender": ["-c", "import charmix.controllers.sender"],
    "import charmix.controllers.mouse": ["-c", "import charmix.controllers.mouse"],
    # controllers/midi.py became controllers/midi/bridge.py (the rooms): this case imports
    # whichever the tree has, so that --against an older commit measures the same bridge
    "import the MIDI bridge": ["-c", "try:\n import charmix.controllers.midi.bridge\n"
                               "except ModuleNotFoundError:\n import charmix.controllers.midi"],
    "charmix midi --help": ["-c", CLI, "midi", "--help"],
    "charmix monitor --help": ["-c", CLI, "monitor", "--help"],
    "charmix send tick --timeout 0": ["-c", CLI, "send", "tick", "--to", "127.0.0.1:9",
                                      "--timeout", "0"],
}
WATCHED = ("onnxruntime", "numpy")


def loaded(argv: list[str], env: dict[str, str]) -> set[str]:
    """Which of WATCHED the case imports (the CLI cases: what importing the CLI loads)."""
    code = argv[1] if argv[1] != CLI else "import charmix.daemon.cli"
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {WATCHED!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    return set(out.stdout.split())


def checkout(ref: str, into: Path) -> dict[str, str]:
    """REF's packages as charmix.* under `into`, and the environment that imports them first."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "daemon", "controllers",
                              "export"], capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into / "charmix", filter="data")
    return {**os.environ, "PYTHONPATH": str(into)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--against", metavar="REF", help="Also time another commit's tree.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"this tree": dict(os.environ)}
        if args.against:
            trees[args.against] = checkout(args.against, Path(tmp))
        times = {(tree, name): [] for name in CASES for tree in trees}
        for _ in range(args.runs):
            for name, argv in CASES.items():
                for tree, env in trees.items():
                    start = time.perf_counter()
                    subprocess.run([sys.executable, *argv], capture_output=True, env=env)
                    times[tree, name].append(time.perf_counter() - start)
        print(f"{'case':<34} {'tree':<10} {'median':>8} {'min':>7} {'max':>7}  loads")
        for name, argv in CASES.items():
            for tree, env in trees.items():
                t = times[tree, name]
                heavy = ", ".join(sorted(loaded(argv, env))) or "-"
                print(f"{name:<34} {tree:<10} {statistics.median(t) * 1e3:6.0f} ms "
                      f"{min(t) * 1e3:5.0f} ms {max(t) * 1e3:5.0f} ms  {heavy}")


if __name__ == "__main__":
    main()
