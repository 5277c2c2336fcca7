"""Writing model files: the output path checked before the slow work, the file written
atomically, so that a failed or interrupted write never leaves half a model where the daemon
looks for whole ones. Used by `charmix train`/`export` and `charmix quantize`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path


class WriteError(Exception):
    """The model cannot be written there; str() is one line naming the path."""


def check_output(out: Path) -> None:
    """Fail early (WriteError) for an output that can never be written: a directory."""
    if out.is_dir():
        raise WriteError(f"{out}: is a directory; the output must be a .onnx file name")


def write_model(out: Path, data: bytes) -> None:
    """Write data to out via a temporary file and a rename (atomic on one filesystem)."""
    check_output(out)
    tmp = out.with_suffix(".onnx.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        tmp.replace(out)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise WriteError(f"{out}: cannot write the model ({exc.strerror or exc})") from None
