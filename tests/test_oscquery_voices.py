"""OSCQuery with --voices 3: every voice's addresses are listed, each with its own values.

A real daemon (tiny real models, in-process) with three voices; voice 1 and voice 2 are steered
over real UDP under /charmix/voice/k/…; the namespace is read with plain HTTP and with
python-oscquery's client, and a voice's frames are LISTENed to over a WebSocket (the
`websockets` library). Expected paths come from the address table (protocol.expand_voices),
never from a list written here.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from charmix.daemon import protocol
from charmix.daemon.runtime.config import build
from charmix.daemon.runtime.daemon import Daemon

P = protocol.PREFIX
V = protocol.VOICE_PREFIX
VOICES = 3


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def osc(path: str, *args: object) -> bytes:
    b = OscMessageBuilder(path)
    for value in args:
        b.add_arg(value)
    return b.build().dgram


@pytest.fixture
def daemon(tiny_model_dir: Path) -> Iterator[Callable[..., Daemon]]:
    made: list[Daemon] = []

    def make(**cli: Any) -> Daemon:
        cli = {"models_dir": tiny_model_dir, "listen": "127.0.0.1:0", "send": ["127.0.0.1:9"],
               "oscquery": "127.0.0.1:0", "name": "voices rig", "voices": VOICES, **cli}
        d = Daemon(build(cli), logging.getLogger("test.oscquery_voices"))
        d.start()
        made.append(d)
        return d

    yield make
    for d in made:
        d.stop()


def port_of(d: Daemon) -> int:
    assert d.services is not None and d.services.server is not None
    return d.services.server.port


def get(d: Daemon, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port_of(d)}{path}", timeout=5) as reply:
        return json.loads(reply.read())


def leaves(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    if "TYPE" in node or "CONTENTS" not in node:
        yield node
    for child in node.get("CONTENTS", {}).values():
        yield from leaves(child)


def test_every_voice_is_listed_with_its_own_values(daemon) -> None:
    d = daemon(rate=0)  # external clock: the frames stay put while they are read
    names = d.engine.names
    assert d.server is not None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for data in (osc(f"{V}2/weights", 0.0, 0.0, 1.0), osc(f"{V}2/temperature", 1.7),
                     osc(f"{V}2/model/{names[0]}/temperature", 0.5),
                     osc(f"{V}1/mode", "geometric"), osc(f"{V}1/topk", 4),
                     osc(f"{V}2/slew", 0.0), osc(f"{P}/temperature", 0.3)):
            udp.sendto(data, d.server.address)
        wait_for(lambda: d.controls.counters.rx_ok == 7)
        for _ in range(5):
            udp.sendto(osc(f"{P}/tick"), d.server.address)
        wait_for(lambda: d.engine.step_count >= 5)
    # The last tick's frames reach OSCQuery after the step counter moves: wait for them.
    assert d.services is not None
    namespace = d.services.namespace
    wait_for(lambda: len(namespace.latest) == VOICES
             and all(f.step == d.engine.step_count - 1 for f in namespace.latest))

    root = get(d, "/")
    found = {leaf["FULL_PATH"]: leaf for leaf in leaves(root)}
    expected = {path for path, *_ in protocol.expand_voices(names, VOICES)}
    assert set(found) == expected  # every voice's addresses, the shared ones once
    voiced = {a.short for a in protocol.TABLE if a.voice}
    for k in (1, 2):
        mine = {p for p in found if p.startswith(f"{V}{k}/")}
        assert {p.removeprefix(f"{V}{k}/").replace(names[0], "{name}") for p in mine
                if names[1] not in p and names[2] not in p} == voiced
        assert f"voice {k} of {VOICES}" in root["CONTENTS"]["charmix"]["CONTENTS"]["voice"][
            "CONTENTS"][str(k)]["DESCRIPTION"]
    assert not any(p.startswith(f"{V}0/") or p.startswith(f"{V}3/") for p in found)
    for path, *_ in protocol.expand_voices(names, 1):  # the same attributes as voice 0's
        if path in found and protocol.voice_path(path, 2) in found:
            twin = found[protocol.voice_path(path, 2)]
            for attr in ("TYPE", "ACCESS", "RANGE", "CLIPMODE", "UNIT"):
                assert twin.get(attr) == found[path].get(attr), (path, attr)

    value = {p: leaf.get("VALUE") for p, leaf in found.items()}
    assert value[f"{V}2/temperature"] == [pytest.approx(1.7)]
    assert value[f"{P}/temperature"] == [pytest.approx(0.3)]
    assert value[f"{V}1/temperature"] == [pytest.approx(d.config.temperature)]
    assert value[f"{V}2/model/{names[0]}/temperature"] == [pytest.approx(0.5)]
    assert value[f"{V}2/model/{names[1]}/temperature"] == [0.0]
    assert value[f"{V}2/weight/{names[2]}"] == [1.0] and value[f"{V}2/weight/{names[0]}"] == [0]
    assert value[f"{V}1/mode"] == ["geometric"] and value[f"{P}/mode"] == ["linear"]
    assert value[f"{V}1/topk"] == [4] and value[f"{V}2/topk"] == [0]
    for k, voice in enumerate(d.engine.voices):  # the outputs: each voice's own last frame
        base = protocol.voice_path(f"{P}/text", k).removesuffix("/text")
        assert value[f"{base}/text"] == [voice.line]
        assert value[f"{base}/step"] == [d.engine.step_count - 1]
        assert np.allclose(value[f"{base}/weights"], voice.weights, atol=1e-6)
    assert np.allclose(value[f"{V}2/weights"], [0, 0, 1], atol=1e-6)  # slew 0: there at once
    assert value[f"{P}/rate"] == [0.0] and f"{V}1/rate" not in found  # shared, listed once

    # One node, and python-oscquery's client reading a voice's node the way its users do.
    assert get(d, f"{V}2/temperature?VALUE") == {"VALUE": [pytest.approx(1.7)]}
    from pythonoscquery.osc_query_client import OSCQueryClient
    from zeroconf import ServiceInfo

    info = ServiceInfo("_oscjson._tcp.local.", "voices rig._oscjson._tcp.local.",
                       addresses=[socket.inet_aton("127.0.0.1")], port=port_of(d))
    client = OSCQueryClient(info)
    node = client.query_node(f"{V}1/mode")
    assert node.full_path == f"{V}1/mode" and node.value == ["geometric"]
    assert node.access.value == 3
    assert client.query_node(f"{V}{VOICES}/mode") is None  # no voice 3: a 404


def test_listen_to_one_voices_frames_and_settings(daemon) -> None:
    """LISTEN on voice 2's char and temperature: its own frames (the engine's voice 2 wrote
    them), its setting's value at once and again when it changes over UDP."""
    import websockets

    d = daemon(rate=100)
    assert d.server is not None

    async def listen() -> list[OscMessage]:
        async with websockets.connect(f"ws://127.0.0.1:{port_of(d)}/") as ws:
            for path in (f"{V}2/char", f"{V}2/temperature"):
                await ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": path}))
            got: list[OscMessage] = []
            sent = False
            while len([m for m in got if m.address.endswith("/temperature")]) < 2:
                got.append(OscMessage(await asyncio.wait_for(ws.recv(), 10)))
                if len(got) >= 10 and not sent:
                    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                        udp.sendto(osc(f"{V}2/temperature", 1.4), d.server.address)
                    sent = True
                assert len(got) < 2000
            return got

    got = asyncio.run(listen())
    chars = [m for m in got if m.address == f"{V}2/char"]
    temps = [m.params for m in got if m.address == f"{V}2/temperature"]
    assert {m.address for m in got} == {f"{V}2/char", f"{V}2/temperature"}
    assert len(chars) >= 9 and all(m.params[0] in d.engine.vocab for m in chars)
    assert temps == [[pytest.approx(d.config.temperature)], [pytest.approx(1.4)]]
    text = "".join(m.params[0] for m in chars)
    assert text[-5:] in d.engine.voices[2].context  # voice 2's own stream
