"""`charmix train` reads every corpus and style spec before its slow torch import, so a bad one is
its one line at once (export/styles.py, imported first, used to import torch: every bad corpus
waited seconds for it). Checked in a fresh interpreter, where sys.modules tells."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

NO_TORCH_YET = """
import sys
from charmix.daemon.cli import main
code = main(sys.argv[1:])
print(code, "torch" in sys.modules)
"""


def test_a_bad_corpus_or_style_fails_before_torch_is_imported(tmp_path: Path) -> None:
    """The corpora and style specs are read before the slow torch import (export/styles.py
    imported torch, so every bad corpus waited seconds for it before its one line)."""
    for args in (["absent.txt"], ["--style", "a=absent.txt", "--style", "b=also-absent.txt"],
                 ["--style", "bad name=x.txt"]):
        proc = subprocess.run([sys.executable, "-c", NO_TORCH_YET, "train", *args, "--name", "x",
                               "--out", str(tmp_path / "x.onnx")],
                              cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert proc.stdout.split() == ["1", "False"], (args, proc.stdout, proc.stderr)
        assert proc.stderr.startswith("charmix: ") and "Traceback" not in proc.stderr
