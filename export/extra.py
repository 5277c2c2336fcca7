"""Whether the `train` extra (torch, onnx) is installed, asked before anything imports it.

Finding a package is instant and importing torch is not, so every command of the extra asks
here first and fails in one line instead of a traceback.
"""

from __future__ import annotations

import importlib.util

from charmix.daemon.common.fail import fail


def need_torch() -> None:
    """Fail in one line when the train extra is missing."""
    if any(importlib.util.find_spec(m) is None for m in ("torch", "onnx")):
        fail(
            "training needs torch and onnx: pip install 'charmix[train]' "
            "(on a CPU machine install the CPU torch wheel first, e.g. pip install torch==2.13.0)"
        )
