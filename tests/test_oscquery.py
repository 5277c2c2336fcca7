"""OSCQuery: the proposal's rules checked directly, and clients not written here.

A real daemon (tiny real models, in-process) serves OSCQuery on a free loopback port. Clients:
plain HTTP (urllib), python-oscquery's OSCQueryClient, and the `websockets` library for LISTEN and
for binary OSC controls. The namespace is compared with the address table, never with numbers
restated here.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import helpers
import pytest
from helpers import osc
from pythonosc.osc_message import OscMessage

from charmix.daemon import protocol
from charmix.daemon.oscquery.namespace import ATTRIBUTES, EXTENSIONS
from charmix.daemon.runtime.daemon import Daemon

P = protocol.PREFIX
LOG = logging.getLogger("test.oscquery")
OSC_TAGS = set("ifsbhtdScrmTFNI[]")
wait_for = functools.partial(helpers.wait_for, poll=0.01)


@pytest.fixture
def daemon(tiny_model_dir: Path) -> Iterator[Callable[..., Daemon]]:
    with helpers.daemons(LOG, models_dir=tiny_model_dir, listen="127.0.0.1:0",
                         send=["127.0.0.1:9"], oscquery="127.0.0.1:0", name="test rig",
                         rate=50) as make:
        yield make


def port_of(d: Daemon) -> int:
    assert d.services is not None and d.services.server is not None
    return d.services.server.port


def get(d: Daemon, query: str) -> tuple[int, dict[str, str], Any]:
    """(status, headers, JSON body or None) for GET http://127.0.0.1:PORT{query}."""
    url = f"http://127.0.0.1:{port_of(d)}{query}"
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            body = reply.read()
            return reply.status, dict(reply.headers), json.loads(body) if body else None
    except urllib.error.HTTPError as exc:
        body = exc.read()
        return exc.code, dict(exc.headers), json.loads(body) if body else None


def leaves(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every method node: one with a TYPE, also one that is a container too (/charmix/record,
    beside /charmix/record/stop); a node without TYPE must be a pure container."""
    if "TYPE" in node or "CONTENTS" not in node:
        yield node
    for child in node.get("CONTENTS", {}).values():
        yield from leaves(child)


def expected_paths(names: list[str], direction: str) -> set[str]:
    out = set()
    for a in protocol.TABLE:
        if a.direction == direction:
            out |= {a.for_model(n) for n in names} if a.per_model else {a.path}
    return out


def test_the_namespace_is_the_address_table_and_the_proposals_rules_hold(daemon) -> None:
    d = daemon()
    wait_for(lambda: d.engine.step_count > 2, what="a few characters")
    status, headers, root = get(d, "/")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert root["FULL_PATH"] == "/" and "CONTENTS" in root
    found = {leaf["FULL_PATH"]: leaf for leaf in leaves(root)}
    names = d.engine.names
    inputs, outputs = expected_paths(names, "in"), expected_paths(names, "out")
    assert set(found) == inputs | outputs  # every address, per-model ones for each model
    for path, leaf in found.items():
        types = leaf["TYPE"]
        assert set(types) <= OSC_TAGS, path
        assert leaf["ACCESS"] in (0, 1, 2, 3), path
        n = 0 if types == "N" else len(types)
        for attr in ("RANGE", "UNIT", "CLIPMODE"):
            if attr in leaf:
                assert len(leaf[attr]) == n, (path, attr)
        for clip in leaf.get("CLIPMODE", []):
            assert clip in ("none", "low", "high", "both"), path
        for r in leaf.get("RANGE", []):
            assert set(r) <= {"MIN", "MAX", "VALS"}, path
            if "MIN" in r and "MAX" in r:
                assert r["MIN"] <= r["MAX"], path
        if "VALUE" in leaf:
            assert leaf["ACCESS"] & 1, path  # only readable nodes carry a value
            assert len(leaf["VALUE"]) == n, path
        entries = [a for a in protocol.TABLE if path in ({a.for_model(x) for x in names}
                                                         if a.per_model else {a.path})]
        access = 0
        for a in entries:
            access |= a.osc_access
        assert leaf["ACCESS"] == access, path
        table = entries[0].oscquery(models=len(names), vocab=len(d.engine.vocab))
        for attr in ("TYPE", "RANGE", "CLIPMODE", "UNIT"):
            assert leaf.get(attr, "N" if attr == "TYPE" else None) == table.get(
                attr, "N" if attr == "TYPE" else None), (path, attr)
        assert table["DESCRIPTION"] in leaf["DESCRIPTION"], path
        if access & 1 and n:
            assert "VALUE" in leaf, path  # every readable setting and output has its value
        elif "VALUE" in leaf:
            raise AssertionError(f"{path}: a value on a node that cannot be read")
    # vectors carry one value per model / per vocabulary character
    assert len(found[f"{P}/weights"]["TYPE"]) == len(names)
    assert len(found[f"{P}/dist"]["TYPE"]) == len(d.engine.vocab)
    assert found[f"{P}/models"]["VALUE"] == names
    assert len(found[f"{P}/status"]["VALUE"]) == len(protocol.STATUS_FIELDS)
    assert found[f"{P}/char"]["VALUE"][0] in d.engine.vocab
    # per-model containers, described by the model's own metadata
    for name in names:
        model = root["CONTENTS"]["charmix"]["CONTENTS"]["model"]["CONTENTS"][name]
        assert model["FULL_PATH"] == f"{P}/model/{name}" and "CONTENTS" in model
        assert "tiny test model" in model["DESCRIPTION"]


def test_one_node_one_attribute_host_info_and_the_error_codes(daemon) -> None:
    d = daemon()
    d.controls.set_temperature(0.65)
    status, _, node = get(d, f"{P}/temperature")
    assert status == 200 and node["FULL_PATH"] == f"{P}/temperature"
    assert node["VALUE"] == [pytest.approx(0.65)] and node["ACCESS"] == 3
    assert get(d, f"{P}/temperature/")[2] == node  # a trailing slash is the same node
    status, _, only = get(d, f"{P}/temperature?VALUE")
    assert status == 200 and only == {"VALUE": [pytest.approx(0.65)]}
    assert get(d, f"{P}/mode?TYPE")[2] == {"TYPE": "s"}
    # the errors: no such node 404, no such attribute 400, no readable value 204 — all with CORS
    for query, code in ((f"{P}/nope", 404), (f"{P}/model/nobody/dist", 404),
                        (f"{P}/temperature?NOT_AN_ATTRIBUTE", 400), (f"{P}/prime?VALUE", 204),
                        (f"{P}/pause?RANGE", 204), (f"{P}?VALUE", 204)):
        status, headers, _ = get(d, query)
        assert status == code, query
        assert headers["Access-Control-Allow-Origin"] == "*", query
    status, _, info = get(d, "/?HOST_INFO")
    assert status == 200 and info["NAME"] == "test rig"
    assert info["OSC_PORT"] == d.server.address[1] and info["OSC_IP"] == "127.0.0.1"
    assert info["OSC_TRANSPORT"] == "UDP"
    assert info["WS_PORT"] == port_of(d) and info["WS_IP"] == "127.0.0.1"
    assert info["EXTENSIONS"] == EXTENSIONS and info["EXTENSIONS"]["LISTEN"] is True
    assert {k for k, v in info["EXTENSIONS"].items() if v} <= ATTRIBUTES | {"LISTEN"}


def test_python_oscquery_client_reads_host_info_and_nodes(daemon) -> None:
    """python-oscquery's OSCQueryClient, pointed at us the way its users do (a ServiceInfo)."""
    from pythonoscquery.osc_query_client import OSCQueryClient
    from zeroconf import ServiceInfo

    d = daemon()
    wait_for(lambda: d.engine.step_count > 0, what="a character")
    info = ServiceInfo("_oscjson._tcp.local.", "test rig._oscjson._tcp.local.",
                       addresses=[socket.inet_aton("127.0.0.1")], port=port_of(d))
    client = OSCQueryClient(info)
    host = client.get_host_info()
    assert host.name == "test rig" and host.osc_port == d.server.address[1]
    assert host.osc_transport == "UDP" and host.extensions["VALUE"] is True
    node = client.query_node(f"{P}/topp")
    assert node.full_path == f"{P}/topp" and node.value == [1.0]
    assert node.access.value == 3
    char = client.query_node(f"{P}/char")
    assert char.value[0] in d.engine.vocab and char.access.value == 1
    assert client.query_node(f"{P}/no/such/node") is None  # its way of saying 404


async def _listen(port: int, paths: list[str], n: int, timeout: float = 10.0) -> list[OscMessage]:
    import websockets

    async with websockets.connect(f"ws://127.0.0.1:{port}/") as ws:
        for path in paths:
            await ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": path}))
        got = []
        while len(got) < n:
            frame = await asyncio.wait_for(ws.recv(), timeout)
            assert isinstance(frame, bytes)
            got.append(OscMessage(frame))
        return got


def test_listen_streams_binary_osc_and_ignore_stops_it(daemon) -> None:
    import websockets

    d = daemon(rate=100)
    got = asyncio.run(_listen(port_of(d), [f"{P}/char", f"{P}/attribution"], 20))
    chars = [m for m in got if m.address == f"{P}/char"]
    attributions = [m for m in got if m.address == f"{P}/attribution"]
    assert chars and attributions and len(chars) + len(attributions) == 20
    assert all(len(m.params) == 1 and m.params[0] in d.engine.vocab for m in chars)
    assert all(len(m.params) == len(d.engine.names) for m in attributions)

    async def ignore_then_quiet() -> int:
        async with websockets.connect(f"ws://127.0.0.1:{port_of(d)}/") as ws:
            await ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": f"{P}/step"}))
            await asyncio.wait_for(ws.recv(), 5)
            await ws.send(json.dumps({"COMMAND": "IGNORE", "DATA": f"{P}/step"}))
            await asyncio.sleep(0.1)  # frames already on their way
            while True:  # drain them
                try:
                    await asyncio.wait_for(ws.recv(), 0.05)
                except TimeoutError:
                    break
            late = 0
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(ws.recv(), 0.5)  # 50 steps pass: nothing comes
                late += 1
            return late

    assert asyncio.run(ignore_then_quiet()) == 0
    server = d.services.server
    wait_for(lambda: not server.clients, 5, "the sockets to be forgotten")
    assert server._listening == 0  # subscriptions ended with their sockets


def test_a_listened_setting_streams_its_value_and_its_changes(daemon) -> None:
    """LISTEN on a setting: its value at once, then each change, whoever made it (UDP here)."""
    import websockets

    d = daemon(rate=0)  # no frames at all: settings stream without them

    async def watch() -> list[OscMessage]:
        async with websockets.connect(f"ws://127.0.0.1:{port_of(d)}/") as ws:
            await ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": f"{P}/temperature"}))
            await ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": f"{P}/mode"}))
            got = [OscMessage(await asyncio.wait_for(ws.recv(), 5)) for _ in range(2)]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.sendto(osc(f"{P}/temperature", ("f", 1.5)), d.server.address)
            got.append(OscMessage(await asyncio.wait_for(ws.recv(), 5)))
            with pytest.raises(TimeoutError):  # unchanged: nothing more
                await asyncio.wait_for(ws.recv(), 0.3)
            return got

    got = asyncio.run(watch())
    first = {m.address: m.params for m in got[:2]}
    assert first == {f"{P}/temperature": [pytest.approx(d.config.temperature)],
                     f"{P}/mode": [d.config.mode]}
    assert got[2].address == f"{P}/temperature" and got[2].params == [pytest.approx(1.5)]


def test_binary_osc_from_a_websocket_is_control_like_udp(daemon) -> None:
    import websockets

    d = daemon()
    counters = d.controls.counters

    async def steer() -> None:
        async with websockets.connect(f"ws://127.0.0.1:{port_of(d)}/") as ws:
            await ws.send(osc(f"{P}/temperature", ("f", 0.55)))
            await ws.send(osc(f"{P}/temperature", ("f", 99.0)))  # out of range: refused
            await ws.send(b"\x00garbage")
            await ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": f"{P}/nope"}))
            await ws.send("not json")
            await asyncio.sleep(0.2)

    ok, bad = counters.rx_ok, counters.rx_bad
    asyncio.run(steer())
    assert d.controls.snapshot().temperature == pytest.approx(0.55)
    assert counters.rx_ok == ok + 1 and counters.rx_bad == bad + 2

    async def trigger(frame: bytes) -> None:
        async with websockets.connect(f"ws://127.0.0.1:{port_of(d)}/") as ws:
            await ws.send(frame)
            await asyncio.sleep(0.2)

    # A trigger (TYPE "N" in the namespace) sent as a client that follows TYPE does: Nil, Impulse
    asyncio.run(trigger(b"/charmix/pause\x00\x00,N\x00\x00"))
    assert d.controls.paused
    asyncio.run(trigger(b"/charmix/resume\x00,I\x00\x00"))
    assert not d.controls.paused and counters.rx_ok == ok + 3
    assert get(d, f"{P}/temperature?VALUE")[2] == {"VALUE": [pytest.approx(0.55)]}


def test_the_websocket_and_the_udp_port_share_one_dispatcher(daemon) -> None:
    """The composition root builds one Dispatcher and hands it to both transports."""
    d = daemon()
    assert d.server is not None and d.services is not None and d.services.server is not None
    assert d.services.server.dispatcher is d.dispatcher
    assert d.server.dispatcher is d.dispatcher


def test_websocket_controls_obey_the_allowlist(daemon) -> None:
    import websockets

    d = daemon(allow=["10.0.0.0/8"])  # loopback not allowed: our WebSocket is refused too

    async def steer() -> None:
        async with websockets.connect(f"ws://127.0.0.1:{port_of(d)}/") as ws:
            await ws.send(osc(f"{P}/temperature", ("f", 0.5)))
            await asyncio.sleep(0.2)

    asyncio.run(steer())
    assert d.controls.counters.rx_denied == 1 and d.controls.snapshot().temperature != 0.5


def ws_dropped(d: Daemon) -> float:
    """/charmix/status's ws_dropped, as an OSCQuery client reads it (HTTP ?VALUE)."""
    values = get(d, f"{P}/status?VALUE")[2]["VALUE"]
    return dict(zip(protocol.STATUS_FIELDS, values, strict=True))["ws_dropped"]


def test_a_client_that_stops_reading_is_dropped_counted_and_the_clock_goes_on(daemon) -> None:
    d = daemon(rate=400)
    port = port_of(d)
    assert ws_dropped(d) == 0
    listened = [f"{P}/dist", *(f"{P}/model/{n}/dist" for n in d.engine.names)]
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 b"Sec-WebSocket-Version: 13\r\n\r\n")
    assert b" 101 " in sock.recv(1024).split(b"\r\n", 1)[0]
    for path in listened:  # masked text frames, then never read again
        payload = json.dumps({"COMMAND": "LISTEN", "DATA": path}).encode()
        mask = b"\x01\x02\x03\x04"
        sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask +
                     bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    server = d.services.server
    steps = d.engine.step_count
    try:
        wait_for(lambda: server.dropped == 1, 30, "the stalled client to be dropped")
        before = d.engine.step_count  # the clock goes on stepping, the stalled client gone
        wait_for(lambda: d.engine.step_count - before >= 40, 30, "40 more steps")
        assert d.engine.step_count > steps
        assert not server.clients and server._listening == 0
        assert ws_dropped(d) == 1  # in /charmix/status for every patch and tool to see
        assert "WebSocket clients dropped 1" in d.status_line()
    finally:
        sock.close()


def test_fuzzed_binary_frames_never_hurt_the_daemon(daemon) -> None:
    """Random and mutated OSC over the WebSocket: bounded (400 frames, 10 s)."""
    import websockets

    d = daemon()
    rng = random.Random(9)
    seeds = [osc(f"{P}/temperature", ("f", 0.7)), osc(f"{P}/weights", ("f", 1.0), ("f", 0.0)),
             osc(f"{P}/mode", ("s", "geometric")), osc(f"{P}/prime", ("s", "To be"))]

    def junk() -> bytes:
        base = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 6)):
            kind = rng.random()
            if kind < 0.4 and base:
                base[rng.randrange(len(base))] = rng.randrange(256)
            elif kind < 0.7:
                base = base[: rng.randrange(len(base) + 1)]
            else:
                base += rng.randbytes(rng.randint(1, 64))
        return bytes(base) or b"\x00"

    async def fuzz() -> None:
        deadline = time.monotonic() + 10
        async with websockets.connect(f"ws://127.0.0.1:{port_of(d)}/") as ws:
            for _ in range(400):
                if time.monotonic() > deadline:
                    break
                await ws.send(junk())
            await ws.send(json.dumps({"COMMAND": "LISTEN", "DATA": f"{P}/step"}))
            await asyncio.wait_for(ws.recv(), 5)  # still served, still stepping

    steps = d.engine.step_count
    asyncio.run(fuzz())
    wait_for(lambda: d.engine.step_count > steps + 5, 5, "generation to go on")
    counters = d.controls.counters
    assert counters.rx_bad > 0 and counters.rx_ok + counters.rx_bad >= 100
    assert get(d, f"{P}/status?VALUE")[0] == 200


def test_a_range_changed_in_the_table_changes_the_namespace(monkeypatch) -> None:
    """One edit in the table: the OSCQuery RANGE follows (no range is restated for OSCQuery)."""
    import dataclasses

    from charmix.daemon.oscquery.namespace import Namespace

    old = protocol.control("temperature")
    arg = dataclasses.replace(old.args[0], max=3.25)
    new = dataclasses.replace(old, args=(arg,))
    monkeypatch.setattr(protocol, "INPUT", tuple(new if a is old else a for a in protocol.INPUT))
    ns = Namespace("n", ["a", "b"], list("xyz"), values=dict, status=lambda: [])
    assert ns.node(f"{P}/temperature")["RANGE"] == [{"MIN": old.args[0].min, "MAX": 3.25}]
    assert ns.node(f"{P}/weights")["TYPE"] == "ff"  # one per model loaded
    assert ns.node(f"{P}/model/b/dist")["TYPE"] == "fff"  # one per vocabulary character
