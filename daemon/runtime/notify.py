"""systemd's notify protocol, spoken when $NOTIFY_SOCKET is set (a unit with Type=notify).

No dependency: the protocol is one datagram per message on a Unix socket whose path (or, with a
leading "@", abstract name) systemd puts in $NOTIFY_SOCKET. The daemon sends
- READY=1 once the models are loaded and the sockets bound (systemd then counts it as started,
  and `systemctl start` returns),
- STATUS=… with chars/s and the counters (`systemctl status` shows the latest),
- WATCHDOG=1 from the character loop itself (Daemon._service, which the clock thread runs
  between characters and at least every HOUSEKEEPING_EVERY when idle): a stalled clock or a hung
  model stops the pings, and with WatchdogSec= systemd kills and restarts the daemon. An idle
  daemon (external clock, paused) still pings, because its loop still turns; a free-running one
  pings only if it made a character since the last ping (when its period is shorter than the
  ping interval), so a loop that turns but never plays is caught too.
- STOPPING=1 on the way out.
Every send is non-blocking and its failure is counted, never raised: supervision must not be the
thing that stops the music.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping

STATUS_EVERY = 5.0  # seconds between STATUS= updates


class Notifier:
    """One process's link to its supervisor; does nothing without $NOTIFY_SOCKET."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        path = env.get("NOTIFY_SOCKET", "")
        self.address = ("\0" + path[1:]) if path.startswith("@") else path
        self.errors = 0
        self.sent = 0
        self.watchdog_every: float | None = None  # seconds between pings; None: not asked for
        usec, pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_every = int(usec) / 1e6 / 2  # systemd's advice: ping at half the limit
        self._sock: socket.socket | None = None
        if self.address:
            try:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._sock.setblocking(False)
            except OSError:
                self._sock = None
                self.errors += 1
        self._last_ping = -float("inf")
        self._last_status = -float("inf")
        self._steps_at_ping: int | None = None

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, *fields: str) -> bool:
        """One datagram of newline-separated KEY=VALUE fields; False (counted) if it failed."""
        if self._sock is None:
            return False
        try:
            self._sock.sendto("\n".join(fields).encode("utf-8", "replace"), self.address)
        except OSError:
            self.errors += 1
            return False
        self.sent += 1
        return True

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=stopping")

    def tick(self, steps: int, period: float | None, status: Callable[[], str] | None = None,
             now: float | None = None) -> None:
        """Called from the character loop: a watchdog ping when due (see the module docstring)
        and a STATUS= update every STATUS_EVERY seconds. `steps` is the clock's step count,
        `period` its free-running period (None: idle by design, external clock or paused)."""
        if self._sock is None:
            return
        now = time.monotonic() if now is None else now
        if self.watchdog_every is not None and now - self._last_ping >= self.watchdog_every:
            playing = (period is None or period >= self.watchdog_every
                       or self._steps_at_ping is None or steps > self._steps_at_ping)
            if playing:
                self.send("WATCHDOG=1")
                self._last_ping, self._steps_at_ping = now, steps
        if status is not None and now - self._last_status >= STATUS_EVERY:
            self._last_status = now
            self.send(f"STATUS={status()}")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
