"""systemd's notify protocol against a notify socket the test binds (what systemd does for a
Type=notify unit): READY=1 after start, STATUS= with the counters, WATCHDOG=1 from the character
loop (and none while the clock is stalled by a hung model), STOPPING=1 on the way out."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_udp_port
from helpers import wait_for

from charmix.daemon.runtime.config import build
from charmix.daemon.runtime.daemon import Daemon
from charmix.daemon.runtime.notify import Notifier

CLI = [sys.executable, "-m", "charmix.daemon.cli"]


class NotifySocket:
    """A bound AF_UNIX datagram socket collecting (time, fields) like systemd's manager."""

    def __init__(self, path: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path if not path.startswith("@") else "\0" + path[1:])
        self.sock.settimeout(0.1)
        self.path = path
        self.got: list[tuple[float, list[str]]] = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            self.got.append((time.monotonic(), data.decode().split("\n")))

    def fields(self) -> list[str]:
        return [f for _, fs in list(self.got) for f in fs]

    def pings(self, since: float = 0.0) -> list[float]:
        return [t for t, fs in list(self.got) if "WATCHDOG=1" in fs and t >= since]

    def wait(self, field: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not any(f.startswith(field) for f in self.fields()):
            if time.monotonic() > deadline:
                raise AssertionError(f"no {field} within {timeout} s; got {self.fields()[:20]}")
            time.sleep(0.01)

    def close(self) -> None:
        self._stop = True
        self._thread.join(1)
        self.sock.close()


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[NotifySocket]:
    ns = NotifySocket(str(tmp_path / "notify.sock"))
    yield ns
    ns.close()


def run_daemon(model_dir: Path, ns: NotifySocket, *extra: str,
               watchdog_usec: int = 400_000) -> subprocess.Popen:
    env = {**os.environ, "NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": str(watchdog_usec)}
    return subprocess.Popen(
        [*CLI, "daemon", "--models-dir", str(model_dir), "--listen",
         f"127.0.0.1:{free_udp_port()}", "--send", f"127.0.0.1:{free_udp_port()}", "--no-echo",
         "--status-every", "0", *extra],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


@pytest.mark.parametrize("rate", ["20", "0"])  # free-running, and idle on the external clock
def test_ready_status_watchdog_and_stopping(tiny_model_dir: Path, notify_socket: NotifySocket,
                                            rate: str) -> None:
    proc = run_daemon(tiny_model_dir, notify_socket, "--rate", rate)
    try:
        notify_socket.wait("READY=1")
        ready_at = notify_socket.got[0][0]
        wait_for(lambda: len(notify_socket.pings(ready_at)) >= 3, 30,
                 "three pings (one every ~0.2 s)")
        status = [f for f in notify_socket.fields() if f.startswith("STATUS=")]
        assert any("rx 0 ok 0 bad 0 denied" in s for s in status), status
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        notify_socket.wait("STOPPING=1", timeout=2)
        assert notify_socket.fields().index("READY=1") < notify_socket.fields().index("STOPPING=1")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_a_hung_model_stops_the_pings(tiny_model_dir: Path, notify_socket: NotifySocket,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", notify_socket.path)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    d = Daemon(build({"models_dir": tiny_model_dir, "listen": "127.0.0.1:0", "rate": 50.0,
                      "send": [f"127.0.0.1:{free_udp_port()}"]}))
    d.start()
    release = threading.Event()
    try:
        notify_socket.wait("READY=1")
        wait_for(lambda: len(notify_socket.pings()) >= 3, 30, "three pings")
        model = d.engine.models[0]
        real = model.step

        entered = threading.Event()

        def hung(tokens):
            entered.set()
            release.wait(10)
            return real(tokens)

        model.step = hung  # the next advance() blocks the clock thread, as a hung model would
        assert entered.wait(30)
        time.sleep(0.5)  # a ping the clock thread sent just before may still be on its way in
        stalled_from = time.monotonic()
        time.sleep(1.0)
        assert notify_socket.pings(stalled_from) == []
        release.set()
        model.step = real  # back to pinging once it plays
        wait_for(lambda: len(notify_socket.pings(stalled_from)) >= 2, 30, "pings again")
    finally:
        release.set()
        d.stop()


def test_a_loop_that_turns_without_playing_does_not_ping() -> None:
    n = Notifier({"NOTIFY_SOCKET": "@charmix-test-unbound", "WATCHDOG_USEC": "1000000"})
    sent: list[tuple[str, ...]] = []
    n.send = lambda *fields: sent.append(fields) or True  # type: ignore[method-assign]
    n.tick(steps=0, period=0.05, now=0.0)
    n.tick(steps=0, period=0.05, now=0.6)  # due, but no character since: a stall
    n.tick(steps=1, period=0.05, now=0.7)
    n.tick(steps=1, period=None, now=1.3)  # idle by design (paused): pings
    assert sent == [("WATCHDOG=1",), ("WATCHDOG=1",), ("WATCHDOG=1",)]


def test_no_socket_no_messages_and_an_unbound_one_is_counted() -> None:
    assert not Notifier({}).enabled and not Notifier({}).send("READY=1")
    n = Notifier({"NOTIFY_SOCKET": "@charmix-test-nobody-listens"})
    assert n.enabled and not n.send("READY=1") and n.errors == 1


def test_an_abstract_socket_name_works(tmp_path: Path) -> None:
    name = f"@charmix-test-{os.getpid()}"
    ns = NotifySocket(name)
    try:
        n = Notifier({"NOTIFY_SOCKET": name})
        n.ready("hello")
        ns.wait("READY=1", timeout=2)
        assert "STATUS=hello" in ns.fields()
    finally:
        ns.close()
