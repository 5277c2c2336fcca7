"""`charmix train` saves its checkpoint on SIGTERM (a supervisor's or a shutdown's stop), as it
always did on SIGINT: before, SIGTERM killed it and the run since the last eval was lost."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest
from test_train import load_ckpt, popen_cli, stream_lines, train_args, wait_for_line


@pytest.mark.timeout(180)
def test_sigterm_saves_the_checkpoint_like_sigint(tmp_path: Path) -> None:
    steps = 5000
    proc = popen_cli(*train_args(tmp_path / "c", tmp_path / "c.onnx", "--max-steps", str(steps),
                                 "--eval-every", "50"), cwd=tmp_path)
    try:
        lines, pump = stream_lines(proc.stderr)
        seen = list(wait_for_line(lines, rf"^t step \d+/{steps} ", timeout=90))
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        pump.join(timeout=10)
        while (line := lines.get_nowait()) is not None:
            seen.append(line)
        err = "".join(seen)
        assert proc.returncode == 130, err
        assert "Traceback" not in err, err
        said = re.search(r"interrupted at step (\d+): checkpoint saved to (\S+)", err)
        assert said, err
        assert load_ckpt(tmp_path / "c" / "last.pt")["state"]["step"] == int(said[1])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
