"""The soak's short run (benchmarks/soak.py): tiny models at full speed for a few thousand
characters with controls, subscribers and receivers coming and going. Every structure must stay
within its bound and the fds must come back; RSS is only sanity-checked here (the 1 MB goal is
the full run's, docs/performance.md), since a few seconds are mostly warm-up."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT


@pytest.mark.timeout(240)
def test_short_soak_passes(tiny_model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "soak.py"), "--chars", "4000",
         "--warmup-chars", "1000", "--models-dir", str(tiny_model_dir), "--interval", "2",
         "--subscriber-ttl", "1", "--rss-limit", "20", "--max-seconds", "150",
         "--json", str(out)],
        capture_output=True, text=True, timeout=220,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["pass"] and report["end"]["chars"] >= 4000
    assert report["end"]["fds"] <= report["warm"]["fds"]
    assert report["peaks"]["subscribers"] >= 1  # subscribers really came
    assert report["end"]["subscribers"] == 0  # and went (they expired)
    assert report["end"]["rx_bad"] > 0  # the junk was counted
    assert "Traceback" not in result.stderr
