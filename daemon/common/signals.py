"""How every charmix process stops: SIGINT and SIGTERM both end it the way Ctrl-C does.

Why not rely on Python's defaults: a process started in the background by a non-interactive
shell (`charmix monitor &` in an installation's start script, a CI runner) inherits SIGINT
*ignored*, and Python then leaves it ignored, so `kill -INT` or a supervisor's SIGINT would do
nothing; and SIGTERM (systemd, a gallery's shutdown) kills without any cleanup by default.

This module is the only place charmix touches signal handlers, in three shapes of one idea:
- `on_stop_signals(callback)`: both signals call `callback` (a bridge's quit, a trainer's "save
  and stop"); the previous handlers come back after the block. `install_stop_handlers` is the
  same without a block: it returns the function that puts the previous handlers back.
- `interrupt_on_signals()`: both raise KeyboardInterrupt in the main thread, so one `except
  KeyboardInterrupt` path (restore the terminal, unsubscribe, close the port) serves all three.
- `wake_on_stop_signals(callback)`: as on_stop_signals, plus a socket that becomes readable on a
  signal, for a main thread that waits in select() (the daemon): the handler only sets a flag
  (taking a lock in a signal handler can deadlock) and the wake-up fd ends the wait at once.
Outside the main thread (an embedding, a test) signals are left alone.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from collections.abc import Callable, Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def install_stop_handlers(callback: Callable[[], object]) -> Callable[[], None] | None:
    """SIGINT and SIGTERM call `callback()` from now on; returns the function that restores the
    previous handlers, or None off the main thread (where Python refuses signal handlers)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    handler = callback if callback is _interrupt else (lambda signum, frame: callback())
    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


@contextlib.contextmanager
def on_stop_signals(callback: Callable[[], object]) -> Iterator[bool]:
    """Within the block SIGINT and SIGTERM call `callback()`; yields whether they were installed
    (False off the main thread)."""
    restore = install_stop_handlers(callback)
    try:
        yield restore is not None
    finally:
        if restore is not None:
            restore()


@contextlib.contextmanager
def interrupt_on_signals() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise KeyboardInterrupt; the previous handlers come
    back after it."""
    with on_stop_signals(_interrupt):  # type: ignore[arg-type]
        yield


@contextlib.contextmanager
def wake_on_stop_signals(
    callback: Callable[[], object],
) -> Iterator[tuple[socket.socket, socket.socket]]:
    """on_stop_signals, yielding a socket pair (reader, writer): the reader, which select() can
    wait on, becomes readable after a signal (Python's wakeup fd) or a byte sent to the writer
    (from any thread)."""
    wake_r, wake_w = socket.socketpair()
    for sock in (wake_r, wake_w):
        sock.setblocking(False)
    old_fd: int | None = None
    try:
        with on_stop_signals(callback) as installed:
            if installed:
                old_fd = signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
            try:
                yield wake_r, wake_w
            finally:
                if installed and old_fd is not None:
                    signal.set_wakeup_fd(old_fd)
    finally:
        wake_r.close()
        wake_w.close()
