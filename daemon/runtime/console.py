"""The daemon's terminal: echoed text and log lines, written from a thread of their own.

Nothing on the clock or control thread ever writes to a terminal or pipe directly: a terminal
paused with Ctrl-S or a log pipe nobody reads would otherwise stop the music.

A log line (the periodic status) starts on a line of its own whenever the text and the log may
end up in one place — one terminal, one pipe (`make run 2>&1 | tee log`), one file, or a piped
text shown beside a terminal's log (`make run | tee log`): the line break goes to the log's
stream, so the text itself is never altered.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import stat
import threading
from typing import TextIO


class Console:
    """Writes echoed text and log lines from its own thread through a bounded queue.

    put() never blocks: if the terminal stops reading and the queue fills, new output is dropped
    and counted rather than stalling the caller (the clock thread, for the echo).
    """

    def __init__(self, out: TextIO, err: TextIO, size: int = 10_000) -> None:
        self.out, self.err = out, err
        self.dropped = 0
        self._queue: queue.Queue[tuple[TextIO, str] | None] = queue.Queue(size)
        self._mid_line = False
        self._shared = _may_share(out, err)
        self._thread = threading.Thread(target=self._run, name="charmix-console", daemon=True)
        self._thread.start()

    def text(self, chars: str) -> None:
        self._put(self.out, chars)

    def line(self, message: str) -> None:
        self._put(self.err, message + "\n")

    def _put(self, stream: TextIO, data: str) -> None:
        try:
            self._queue.put_nowait((stream, data))
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            with contextlib.suppress(queue.Empty):
                while len(batch) < 4096 and batch[-1] is not None:
                    batch.append(self._queue.get_nowait())
            # Consecutive writes to one stream become one write + flush (a burst echoes fast).
            runs: list[tuple[TextIO, list[str]]] = []
            for item in batch:
                if item is None:
                    break
                stream, data = item
                if runs and runs[-1][0] is stream:
                    runs[-1][1].append(data)
                else:
                    runs.append((stream, [data]))
            for stream, parts in runs:
                self._write(stream, "".join(parts))
            if batch[-1] is None:
                return

    def _write(self, stream: TextIO, data: str) -> None:
        try:
            if stream is self.err and self._mid_line and self._shared:
                data = "\n" + data  # the status line starts on a line of its own
                self._mid_line = False
            stream.write(data)
            stream.flush()
            if stream is self.out and data:
                self._mid_line = not data.endswith("\n")
        except (OSError, ValueError):
            self.dropped += 1  # a closed or broken stream: keep running without it

    def handler(self) -> logging.Handler:
        console = self

        class _Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                console.line(self.format(record))

        handler = _Handler()
        handler.setFormatter(logging.Formatter("charmix: %(message)s"))
        return handler

    def close(self, timeout: float = 0.3) -> None:
        """Flush what is queued (waiting at most `timeout`) and stop the thread."""
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            return
        self._thread.join(timeout)


def _may_share(out: TextIO, err: TextIO) -> bool:
    """Whether text on `out` and log lines on `err` may be read together, interleaved."""
    try:
        a, b = os.fstat(out.fileno()), os.fstat(err.fileno())
    except (OSError, ValueError, AttributeError):  # no real file behind them (a test's StringIO)
        return False
    if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino):  # one terminal, pipe or file
        return True
    try:  # `charmix daemon | tee log`: the piped text and the log meet on the terminal
        return stat.S_ISFIFO(a.st_mode) and err.isatty()
    except (OSError, ValueError):
        return False
