"""Set-up many tests share: waiting for a condition, OSC built by python-osc, a loopback UDP
receiver, daemons started in-process or as `charmix daemon` on free ports.

One copy, so that a fix (a clearer timeout message, a socket closed on failure, a daemon stopped
when its test fails) reaches every test at once. conftest.py keeps the fixtures that build
things once per session (the tiny models); the pieces here are imported, and each test module
wraps them in fixtures of the scope it needs.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from conftest import free_udp_port
from fakes.osc_receiver import OscReceiver
from pythonosc.osc_message_builder import OscMessageBuilder

if TYPE_CHECKING:  # imported when a daemon starts: osc() and wait_for() stay light
    from charmix.daemon.runtime.daemon import Daemon


def wait_for(condition: Callable[[], object], timeout: float = 10.0, what: str = "",
             poll: float = 0.002) -> float:
    """Seconds until condition() is true; AssertionError naming `what` after `timeout` s."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for "
                                 f"{what or 'a condition'}")
        time.sleep(poll)
    return time.monotonic() - start


def udp_backlog(port: int) -> int | None:
    """Bytes waiting, unread, in the receive queue of the loopback UDP socket bound to `port`
    (Linux's /proc/net/udp; None when no such socket is open).

    A test that floods a receiver sizes the flood to it with this: send a chunk, wait until the
    receiver has read it (backlog 0), send the next. A datagram that matters (the answer after
    the junk) then never meets a full buffer, however slow or loaded the machine is."""
    want = f":{port:04X}"
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(want):
            return int(fields[4].split(":")[1], 16)
    return None


def wait_drained(port: int, timeout: float = 60.0) -> None:
    """Until the receiver on loopback `port` has read everything sent to it (or is gone)."""
    wait_for(lambda: not udp_backlog(port), timeout, f"the receiver on port {port} to read",
             poll=0.001)


def osc(path: str, *args: object) -> bytes:
    """One message encoded by python-osc (an encoder independent of the daemon's). Each
    argument is a value (python-osc picks its type) or a (type tag, value) pair."""
    builder = OscMessageBuilder(path)
    for arg in args:
        if isinstance(arg, tuple):
            tag, value = arg
            builder.add_arg(value, tag)
        else:
            builder.add_arg(arg)
    return builder.build().dgram


@contextlib.contextmanager
def udp_receiver(timeout: float | None = 3.0) -> Iterator[socket.socket]:
    """A UDP socket bound to a free loopback port (recv times out after `timeout` s; None:
    it blocks)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(timeout)
        yield sock
    finally:
        sock.close()


@contextlib.contextmanager
def daemons(log: logging.Logger, run_clock: bool = True,
            **defaults: Any) -> Iterator[Callable[..., Daemon]]:
    """make(**cli) starts an in-process Daemon on `defaults` updated by `cli` (the settings a
    `charmix daemon` command line gives); every daemon that started is stopped at the end.

    make also takes run_clock (False: the test steps the engine itself) and echo (the
    console's line sink)."""
    from charmix.daemon.runtime.config import build
    from charmix.daemon.runtime.daemon import Daemon

    made: list[Daemon] = []

    def make(run_clock: bool = run_clock, echo: Callable[[str], None] | None = None,
             **cli: Any) -> Daemon:
        d = Daemon(build({**defaults, **cli}), log, echo=echo)
        d.start(run_clock=run_clock)
        made.append(d)
        return d

    try:
        yield make
    finally:
        for d in made:
            d.stop()


class DaemonProcess:
    """`charmix daemon` as a subprocess with the given models, controlled on a free loopback
    port (`control`), its output going to an OscReceiver (`out`); `names` are its models as
    its first /charmix/models said. A fixture of any scope: `with contextlib.closing(
    DaemonProcess(...)) as d: yield d`."""

    def __init__(self, models: dict[str, Path], rate: float, *extra: str) -> None:
        self.control = f"127.0.0.1:{free_udp_port()}"
        self.out = OscReceiver()
        args = [sys.executable, "-m", "charmix.daemon.cli", "daemon"]
        for model in models.values():
            args += ["--model", str(model)]
        args += ["--listen", self.control, "--send", self.out.target, "--rate", f"{rate:g}",
                 "--status-every", "0", "--no-echo", *extra]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        try:
            self.names = list(self.out.wait_for("models", timeout=30).params)
        except AssertionError:
            self.close()
            raise

    def close(self) -> str:
        """Stop it; its stderr. AssertionError if it printed a traceback."""
        self.proc.terminate()
        try:
            err = self.proc.communicate(timeout=10)[1]
        finally:
            self.out.close()
        assert "Traceback" not in err, err
        return err

