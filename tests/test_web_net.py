"""`charmix web` as a process between a real daemon and WebSocket peers not written here
(websocket-client): junk on its UDP frame port and on its WebSocket (bounded, seeded) never stops
it, the rate limit and --view-only refuse, and --idle glides the daemon's weights to --rest."""

from __future__ import annotations

import contextlib
import json
import random
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_controllers_daemon import Daemon
from web_helpers import Bridge

websocket = pytest.importorskip("websocket")
pytestmark = pytest.mark.timeout(240)  # the first test also trains the tiny models


@pytest.fixture(scope="module")
def daemon(tiny_models: dict[str, Path]) -> Iterator[Daemon]:
    with contextlib.closing(Daemon(tiny_models)) as d:
        yield d


def browser_refuses(name: str) -> None:
    raise AssertionError(f"{name} in the bridge's JSON: a browser's JSON.parse refuses it")


class Page:
    """A WebSocket client reading the bridge's messages on demand."""

    def __init__(self, bridge: Bridge) -> None:
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{bridge.port}/ws", timeout=5)
        self.hello = self.next("hello")

    def next(self, kind: str, timeout: float = 5.0, pred=lambda m: True) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(self.ws.recv(), parse_constant=browser_refuses)
            if msg["t"] == kind and pred(msg):
                return msg
        raise AssertionError(f"no {kind} message within {timeout} s")

    def send(self, obj: object) -> None:
        self.ws.send(obj if isinstance(obj, str | bytes) else json.dumps(obj))

    def close(self) -> None:
        self.ws.close()


def still_serving(bridge: Bridge) -> None:
    page = Page(bridge)
    try:
        assert page.next("f", pred=lambda m: "chars" in m)["chars"]
    finally:
        page.close()
    assert bridge.proc.poll() is None


def test_junk_on_the_frame_port_and_the_websocket(daemon: Daemon) -> None:
    bridge = Bridge(daemon.control)
    rng = random.Random(7)
    try:
        watcher = Page(bridge)
        assert bridge.frames_port > 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            deadline = time.monotonic() + 10
            for k in range(1500):
                if time.monotonic() > deadline:
                    break
                junk = [rng.randbytes(rng.randint(0, 200)), b"#bundle\0" + rng.randbytes(40),
                        b"/charmix/char\0\0\0,s\0\0" + rng.randbytes(8),
                        b"/charmix/weights\0\0\0\0,fff" + b"\x7f\xc0\0\0" * 3,
                        b"/charmix/models\0,s\0\0\0" + rng.randbytes(5)][k % 5]
                udp.sendto(junk, ("127.0.0.1", bridge.frames_port))
        pages = [Page(bridge) for _ in range(3)]
        deadline = time.monotonic() + 15
        for k in range(600):
            if time.monotonic() > deadline:
                break
            page = pages[k % 3]
            kind = k % 6
            if kind == 0:
                page.ws.send_binary(rng.randbytes(rng.randint(1, 64)))
            elif kind == 1:
                page.send(rng.randbytes(rng.randint(1, 64)).decode("latin-1"))
            elif kind == 2:
                page.send({"t": rng.choice(["pad", "weight", "mode", "pin", "x", None]),
                           "touches": rng.choice([[[1e308, -1e308]], "x", [[0, 0]] * 50, None]),
                           "i": rng.choice([-1, 99, "0", 1.5]), "v": rng.choice([None, "NaN"])})
            elif kind == 3:
                page.send("[" * rng.randint(1, 1500))
            else:
                page.send({"t": "pad", "touches": [[rng.uniform(-3, 3), rng.uniform(-3, 3)]]})
        for page in pages:
            page.close()
        with pytest.raises(websocket.WebSocketBadStatusException, match="403"):
            websocket.create_connection(f"ws://127.0.0.1:{bridge.port}/ws", timeout=5,
                                        origin="http://elsewhere.example")  # another site's page
        huge = Page(bridge)
        huge.send("x" * 100_000)  # past the size limit: that connection is closed, nothing else
        with pytest.raises((websocket.WebSocketException, OSError)):
            for _ in range(50):
                huge.ws.recv()
        still_serving(bridge)
        assert watcher.next("f", pred=lambda m: "chars" in m)  # the watcher never noticed
        watcher.close()
    finally:
        out = bridge.close()
    assert "Traceback" not in out
    summary = re.search(r"(\d+) message\(s\) refused.*, (\d+) not understood", out)
    assert summary, out  # the junk is counted and said once, at exit
    assert int(summary[1]) > 100 and int(summary[2]) > 100


def test_rate_limit_and_view_only(daemon: Daemon) -> None:
    bridge = Bridge(daemon.control, "--rate-limit", "20")
    try:
        page = Page(bridge)
        for _ in range(200):
            page.send({"t": "pad", "touches": [[0.0, 0.75]]})
        assert "slow down" in page.next("refused")["why"]
        page.close()
    finally:
        bridge.close()
    bridge = Bridge(daemon.control, "--view-only", "--pin", "1")
    try:
        page = Page(bridge)
        assert page.hello["role"] == "view" and page.hello["pin"] is False
        page.send({"t": "pin", "code": "1"})
        assert page.next("role")["role"] == "view"  # a PIN does not lift --view-only
        page.send({"t": "pad", "touches": [[0.0, 0.75]]})
        assert page.next("refused")["why"] == "view only"
        page.close()
    finally:
        bridge.close()


def test_idle_glides_to_the_rest_mix_and_a_port_in_use_is_one_line(daemon: Daemon) -> None:
    rest = daemon.names[1]
    bridge = Bridge(daemon.control, "--idle", "1", "--glide", "1", "--rest", f"{rest}=1")
    k = daemon.names.index(rest)
    try:
        page = Page(bridge)
        x, y = page.hello["anchors"][0]
        page.send({"t": "pad", "touches": [[x, y]]})
        page.send({"t": "pad", "touches": []})
        t0 = time.monotonic()
        daemon.out.wait_until(lambda ms: any(m.t > t0 and m.address.endswith("/weights")
                                             and m.params[0] > 0.95 for m in ms), timeout=5,
                              what="the touch")
        daemon.out.wait_until(lambda ms: any(m.t > t0 + 1 and m.address.endswith("/weights")
                                             and m.params[k] > 0.97 for m in ms), timeout=10,
                              what="the rest mix")
        on_the_way = {round(m.params[k], 2) for m in daemon.out.of("weights")
                      if m.t > t0 and 0.2 < m.params[k] < 0.8}
        assert len(on_the_way) >= 3  # a glide, not a jump
        page.close()
        second = subprocess.run(  # another bridge on the same port: one line, exit 2
            [sys.executable, "-m", "charmix.daemon.cli", "web", "--to", daemon.control,
             "--listen", f"127.0.0.1:{bridge.port}", "--no-qr"],
            capture_output=True, text=True, timeout=60)
        assert second.returncode == 2
        assert "cannot serve on" in second.stderr and "Traceback" not in second.stderr
    finally:
        bridge.close()


def test_a_daemon_with_other_models_gets_a_new_pad() -> None:
    """The daemon restarted with other models: its announcement gives every page a new hello
    and the bridge a new pad; a --rest that named the old models falls back to even."""
    import logging

    from charmix.controllers.sender import Sender
    from charmix.controllers.web.bridge import WebBridge, WebOptions
    from charmix.daemon import protocol
    from charmix.daemon.client.link import Link
    from charmix.daemon.live.broadcast import Broadcaster
    from charmix.daemon.live.counters import Counters

    link = Link(("127.0.0.1", 9), None)
    sender = Sender([("127.0.0.1", 9)])
    try:
        bridge = WebBridge(link, sender, ["austen", "bible"], WebOptions(rest="austen=1"))
        assert bridge.arbiter.rest == [1.0, 0.0]
        status = [0.0] * len(protocol.STATUS_FIELDS)
        new = Broadcaster(["linux", "latex", "bible"], list("ab"), [], Counters(),
                          lambda: status, logging.getLogger("t"))
        for dgram in new.announce_datagrams():
            bridge.feed.feed(dgram, time.monotonic())
        bridge._flush()
        assert bridge.arbiter.mapping.names == ["linux", "latex", "bible"]
        assert bridge.arbiter.rest == pytest.approx([1 / 3] * 3)
        hello = json.loads(bridge._hello(bridge.arbiter.clients.get(1) or _client()))
        assert hello["models"] == ["linux", "latex", "bible"] and len(hello["anchors"]) == 3
    finally:
        sender.close()
        link.close()


def _client():
    from charmix.controllers.web.control import Client, RateLimit

    return Client(1, "127.0.0.1", True, RateLimit(60))
