"""SIGINT and SIGTERM stop every charmix process cleanly, even one started with SIGINT ignored
(what a non-interactive shell does to `charmix monitor &` in an installation's start script)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import free_udp_port

from charmix.daemon.common.signals import interrupt_on_signals

CLI = [sys.executable, "-m", "charmix.daemon.cli"]


def ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_on_signals_raises_and_restores(sig: int) -> None:
    before = signal.getsignal(sig)
    with pytest.raises(KeyboardInterrupt), interrupt_on_signals():
        os.kill(os.getpid(), sig)
        time.sleep(1)  # the handler runs at the next bytecode; never reached
    assert signal.getsignal(sig) is before


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_monitor_stops_on_a_signal_even_started_with_sigint_ignored(sig: int) -> None:
    mon = subprocess.Popen(
        [*CLI, "monitor", "--plain", "-d", f"127.0.0.1:{free_udp_port()}", "--fps", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=ignore_sigint,
    )
    try:
        assert mon.stdout is not None
        mon.stdout.readline()  # its first view: the loop is running
        mon.send_signal(sig)
        assert mon.wait(15) == 0
        assert "Traceback" not in mon.stderr.read()
    finally:
        if mon.poll() is None:
            mon.kill()
            mon.wait()


def test_the_daemon_stops_on_sigint_even_started_with_sigint_ignored(tiny_model_dir) -> None:
    daemon = subprocess.Popen(
        [*CLI, "daemon", "--models-dir", str(tiny_model_dir), "--listen",
         f"127.0.0.1:{free_udp_port()}", "--send", f"127.0.0.1:{free_udp_port()}", "--no-echo"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=ignore_sigint,
    )
    try:
        assert daemon.stderr is not None
        while "Ctrl-C stops" not in daemon.stderr.readline():  # the banner's last line
            assert daemon.poll() is None, "the daemon exited before its banner"
        daemon.send_signal(signal.SIGINT)
        assert daemon.wait(15) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()
