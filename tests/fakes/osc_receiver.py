"""A real UDP OSC receiver for the controller tests: it stands where the daemon would listen.

It reads whole datagrams (no 8 KiB truncation), parses them with python-osc's OscPacket
(messages and bundles), keeps every message with its arrival time, and lets a test wait on a
condition with a timeout instead of sleeping. It can also answer /charmix/query like a daemon.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket, ParseError

from charmix.daemon import protocol


@dataclass(frozen=True)
class Received:
    t: float  # time.monotonic() at arrival
    address: str
    params: tuple


def path(suffix: str) -> str:
    """'/charmix/<suffix>' as the table spells it (never a hand-written address)."""
    return f"{protocol.PREFIX}/{suffix}"


class OscReceiver:
    def __init__(
        self, port: int = 0, answer_models: list[str] | None = None,
        answer_junk: list[bytes] = (), status_fields: int | None = None,
    ) -> None:
        """`answer_junk`: datagrams sent before each reply to /charmix/query (a stray peer);
        `status_fields`: how many numbers the reply's /charmix/status has (a newer daemon)."""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", port))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.answer_models = answer_models
        self.answer_junk = list(answer_junk)
        self.status_fields = status_fields or len(protocol.STATUS_FIELDS)
        self.messages: list[Received] = []
        self.unparsable = 0
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self) -> None:
        while not self._stop:
            try:
                data, src = self.sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            now = time.monotonic()
            try:
                msgs = [m.message for m in OscPacket(data).messages]
            except (ParseError, UnicodeDecodeError):
                self.unparsable += 1
                continue
            with self._cond:
                self.messages += [Received(now, m.address, tuple(m.params)) for m in msgs]
                self._cond.notify_all()
            if self.answer_models and any(m.address == path("query") for m in msgs):
                self._answer(src)

    def _answer(self, src: tuple) -> None:
        """Reply like the daemon: /models, /vocab and /status in one bundle (after any junk)."""
        for junk in self.answer_junk:
            self.sock.sendto(junk, src)
        bundle = OscBundleBuilder(IMMEDIATELY)
        for suffix, args, tag in (
            ("models", self.answer_models, "s"),
            ("vocab", ["abc"], "s"),
            ("status", [float(i) for i in range(self.status_fields)], "f"),
        ):
            b = OscMessageBuilder(path(suffix))
            for a in args:
                b.add_arg(a, tag)
            bundle.add_content(b.build())
        self.sock.sendto(bundle.build().dgram, src)

    def of(self, suffix: str) -> list[Received]:
        with self._cond:
            return [m for m in self.messages if m.address == path(suffix)]

    def wait_for(
        self, suffix: str, pred: Callable[[tuple], bool] = lambda p: True, timeout: float = 10.0
    ) -> Received:
        """The first message to `suffix` whose params satisfy `pred`, waiting up to `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for m in self.messages:
                    if m.address == path(suffix) and pred(m.params):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(m.address, m.params) for m in self.messages[-8:]]
                    raise AssertionError(f"no matching {path(suffix)} within {timeout} s; "
                                         f"last messages: {seen}")
                self._cond.wait(left)

    def wait_until(self, condition: Callable[[list[Received]], bool], timeout: float = 10.0,
                   what: str = "condition") -> None:
        """Wait until `condition(all messages so far)` holds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not condition(self.messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{what} not met within {timeout} s")
                self._cond.wait(left)

    def wait_count(self, suffix: str, n: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(got := [m for m in self.messages if m.address == path(suffix)]) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{len(got)} of {n} {path(suffix)} within {timeout} s")
                self._cond.wait(left)
            return got

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self.sock.close()

    def __enter__(self) -> OscReceiver:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
