"""How every charmix process stops: SIGINT and SIGTERM both end it the way Ctrl-C does.

Why not rely on Python's defaults: a process started in the background by a non-interactive
shell (`charmix monitor &` in an installation's start script, a CI runner) inherits SIGINT
*ignored*, and Python then leaves it ignored, so `kill -INT` or a supervisor's SIGINT would do
nothing; and SIGTERM (systemd, a gallery's shutdown) kills without any cleanup by default. Inside
`interrupt_on_signals` both raise KeyboardInterrupt in the main thread, so the one `except
KeyboardInterrupt` path (restore the terminal, unsubscribe, close the port) serves all three.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise KeyboardInterrupt; the previous handlers come
    back after it. Outside the main thread (an embedding, a test) signals are left alone."""
    try:
        previous = {sig: signal.signal(sig, _interrupt) for sig in STOP_SIGNALS}
    except ValueError:  # signal only works in the main thread
        yield
        return
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
