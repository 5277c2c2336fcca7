"""charmix.daemon.common.signals is the one place signal handlers are set (daemon, monitor, bridges,
train): each shape installs SIGINT and SIGTERM together and restores what was there before."""

from __future__ import annotations

import os
import select
import signal
import threading

import pytest

from charmix.daemon.common.signals import (
    STOP_SIGNALS,
    install_stop_handlers,
    on_stop_signals,
    wake_on_stop_signals,
)


@pytest.mark.parametrize("sig", STOP_SIGNALS)
def test_both_signals_call_back_and_the_old_handlers_return(sig: int) -> None:
    before = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    calls: list[int] = []
    restore = install_stop_handlers(lambda: calls.append(1))
    assert restore is not None
    os.kill(os.getpid(), sig)
    restore()
    assert calls == [1]
    assert {s: signal.getsignal(s) for s in STOP_SIGNALS} == before


def test_the_wake_socket_becomes_readable_on_a_signal() -> None:
    stopped = threading.Event()
    with wake_on_stop_signals(stopped.set) as (wake, _writer):
        os.kill(os.getpid(), signal.SIGTERM)
        ready, _, _ = select.select([wake], [], [], 2.0)
        assert ready == [wake] and stopped.is_set()


def test_off_the_main_thread_nothing_is_installed() -> None:
    got: list[bool] = []

    def worker() -> None:
        got.append(install_stop_handlers(lambda: None) is None)
        with on_stop_signals(lambda: None) as installed:
            got.append(not installed)

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert got == [True, True]


def test_no_other_module_sets_signal_handlers() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    offenders = [
        str(p.relative_to(root)) for folder in ("daemon", "controllers", "export")
        for p in (root / folder).rglob("*.py")
        if p.name != "signals.py" and "signal.signal(" in p.read_text(encoding="utf-8")
    ]
    assert offenders == []
