"""How fast the command line and the bridges start, and whether they load onnxruntime.

    .venv/bin/python benchmarks/bench_startup.py            # 9 runs each, medians
    .venv/bin/python benchmarks/bench_startup.py --runs 21

Each case is a fresh interpreter (what a shell script or a performer's terminal pays), run N
times interleaved with the others so that load on a shared machine hits all alike; the table
gives the median and the spread. `onnxruntime` says whether the case imported it: the protocol
kernel (address table, endpoints, signals) and everything a bridge or `--help` loads must not
(issue 9: it once cost every bridge ~0.6 s). Timings on a shared VM move by a third between
runs: compare the cases of one run, not runs of different days.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

CLI = "import sys; from charmix.daemon.cli import main; sys.argv[0] = 'charmix'; main()"
REPORT = "; import sys; print('onnxruntime' in sys.modules, file=sys.stderr)"
CASES = {
    "charmix --help": ["-c", CLI, "--help"],
    "import charmix.controllers.sender": ["-c", "import charmix.controllers.sender" + REPORT],
    "import charmix.controllers.mouse": ["-c", "import charmix.controllers.mouse" + REPORT],
    "import charmix.controllers.midi": ["-c", "import charmix.controllers.midi" + REPORT],
    "charmix midi --help": ["-c", CLI, "midi", "--help"],
    "charmix send tick --timeout 0": ["-c", CLI, "send", "tick", "--to", "127.0.0.1:9",
                                      "--timeout", "0"],
}


def loads_onnxruntime(argv: list[str]) -> bool:
    code = argv[1] if argv[1] != CLI else "import charmix.daemon.cli"
    code = code.removesuffix(REPORT)
    probe = f"{code}; import sys; print('onnxruntime' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    return out.stdout.strip() == "True"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    runs = parser.parse_args().runs
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(runs):
        for name, argv in CASES.items():
            start = time.perf_counter()
            subprocess.run([sys.executable, *argv], capture_output=True)
            times[name].append(time.perf_counter() - start)
    print(f"{'case':<36} {'median':>8} {'min':>7} {'max':>7}  onnxruntime")
    for name, argv in CASES.items():
        t = times[name]
        print(f"{name:<36} {statistics.median(t) * 1e3:6.0f} ms {min(t) * 1e3:5.0f} ms "
              f"{max(t) * 1e3:5.0f} ms  {'LOADED' if loads_onnxruntime(argv) else 'no'}")


if __name__ == "__main__":
    main()
