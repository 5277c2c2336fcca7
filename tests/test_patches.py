"""The visualiser patches against the daemon's address table, so they cannot drift apart.

Every patch (Max, Pure Data, Processing, TouchDesigner) may only use addresses of
charmix.daemon.protocol, each in its direction (what it receives must be an output of the daemon,
what it sends an input), and the default ports of the table. The .maxpat must also be a valid
patcher: unique box ids, every patchline between existing boxes, inlet and outlet numbers within
each box's counts, counts that fit the object (route with N arguments has N+1 outlets ...). The
TouchDesigner callbacks are run here with stand-ins for TouchDesigner's operators.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
from collections import defaultdict
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
from conftest import ROOT

from charmix.daemon import protocol

PATCHES = ROOT / "patches"
MAXPAT = PATCHES / "max" / "charmix.maxpat"
PD = PATCHES / "pd" / "charmix.pd"
PDE = PATCHES / "processing" / "charmix" / "charmix.pde"
TD = PATCHES / "touchdesigner"

OUT = {a.path for a in protocol.OUTPUT}
IN = {a.path for a in protocol.INPUT}
P = protocol.PREFIX
# What every visualiser must show (the layout) and what every control section sends.
SHOWN = {f"{P}/{s}" for s in ("char", "text", "dist", "weights", "attribution", "models",
                               "status", "model/{name}/dist")}
ADDRESS = re.compile(re.escape(P) + r"(/[^\s\"']*)?")


def template(path: str) -> str:
    """A concrete or pattern path as the table writes it: a model-name part becomes {name}."""
    return re.sub(r"/(\(\.\+\)|\(\[\^/\]\+\)|<name>|NAME)/", "/{name}/", path)


# -- Max -----------------------------------------------------------------------------------------
# The voice filter's regexp and the address it rebuilds (test_maxpat_shows_the_chosen_voice).
# No `$` anchor (Max reads `$` in a box as an argument) and no backslash (Max drops single ones).
VOICE_FILTER = (f"regexp ^{protocol.VOICE_PREFIX}([0-9]+)(/.+)", f"sprintf symout {P}%s")


@pytest.fixture(scope="module")
def maxpat() -> dict:
    return json.loads(MAXPAT.read_text(encoding="utf-8"))["patcher"]


def max_boxes(patcher: dict) -> dict[str, dict]:
    return {b["box"]["id"]: b["box"] for b in patcher["boxes"]}


def max_graph(patcher: dict) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for line in patcher["lines"]:
        out[line["patchline"]["source"][0]].add(line["patchline"]["destination"][0])
    return out


def reachable(graph: dict[str, set], start: set) -> set:
    seen, todo = set(start), list(start)
    while todo:
        for nxt in graph.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def reverse(graph: dict[str, set]) -> dict[str, set]:
    back: dict[str, set] = defaultdict(set)
    for a, bs in graph.items():
        for b in bs:
            back[b].add(a)
    return back


def expected_counts(box: dict) -> tuple[int | None, int | None]:
    """Inlets and outlets the object's text implies (None: not checked for this class)."""
    if box["maxclass"] != "newobj":
        fixed = {"message": (2, 1), "comment": (1, 0), "multislider": (1, 2), "slider": (1, 1),
                 "flonum": (1, 2), "number": (1, 2), "toggle": (1, 1), "button": (1, 1)}
        return fixed.get(box["maxclass"], (None, None))
    head, *args = box["text"].split()
    if head == "gate":
        return 2, int(args[0]) if args else 1
    rules = {
        "route": (len(args) + 1, len(args) + 1), "t": (1, len(args)),
        "unpack": (1, len(args)), "pak": (len(args), 1), "regexp": (1, 5),
        "udpreceive": (1, 1), "udpsend": (1, 0), "s": (1, 0), "r": (0, 1),
        "prepend": (1, 1), "loadbang": (1, 1), "metro": (2, 1), "delay": (2, 1), "sel": (2, 2),
        "maximum": (2, 2), ">": (2, 1), "==": (2, 1), "routepass": (len(args) + 1, len(args) + 1),
        "sprintf": (max(1, box["text"].count("%")), 1),
    }
    if head.startswith("zl."):
        return 2, 2
    return rules.get(head, (None, None))


def test_maxpat_is_a_valid_patcher(maxpat: dict) -> None:
    ids = [b["box"]["id"] for b in maxpat["boxes"]]
    assert len(ids) == len(set(ids)), "duplicate box ids"
    boxes = max_boxes(maxpat)
    for box in boxes.values():
        assert len(box.get("outlettype", [])) == box["numoutlets"], box
        assert len(box["patching_rect"]) == 4
        ins, outs = expected_counts(box)
        what = box.get("text", box["maxclass"])
        assert ins is None or box["numinlets"] == ins, f"{what}: {box['numinlets']} inlets"
        assert outs is None or box["numoutlets"] == outs, f"{what}: {box['numoutlets']} outlets"
    seen = set()
    for line in maxpat["lines"]:
        (src, outlet), (dst, inlet) = (line["patchline"]["source"],
                                       line["patchline"]["destination"])
        assert src in boxes and dst in boxes, line
        assert 0 <= outlet < boxes[src]["numoutlets"], (boxes[src].get("text"), outlet)
        assert 0 <= inlet < boxes[dst]["numinlets"], (boxes[dst].get("text"), inlet)
        assert (src, outlet, dst, inlet) not in seen, f"duplicate patchline {line}"
        seen.add((src, outlet, dst, inlet))


def test_maxpat_addresses_and_ports_follow_the_table(maxpat: dict) -> None:
    boxes = max_boxes(maxpat)
    graph = max_graph(maxpat)
    texts = {i: b.get("text", "") for i, b in boxes.items()}
    rx = [i for i, t in texts.items() if t.startswith("udpreceive")]
    tx = [i for i, t in texts.items() if t.startswith("udpsend")]
    assert len(rx) == 1 and len(tx) == 1
    assert texts[rx[0]].split()[1:] == [str(protocol.OUTPUT_PORT)]
    assert texts[tx[0]].split()[1:] == [protocol.DEFAULT_HOST, str(protocol.CONTROL_PORT)]
    downstream = reachable(graph, set(rx))
    upstream = reachable(reverse(graph), set(tx))
    received, sent = set(), set()
    for ident, text in texts.items():
        found = [template(m.group(0)) for m in ADDRESS.finditer(text)]
        if not found or boxes[ident]["maxclass"] == "comment" or text in VOICE_FILTER:
            continue  # the voice filter's patterns: test_maxpat_shows_the_chosen_voice
        assert (ident in downstream) != (ident in upstream), f"{text}: direction unclear"
        (received if ident in downstream else sent).update(found)
        if any(f.endswith(("/subscribe", "/unsubscribe", "/query")) for f in found):
            assert text.split()[1:] == [str(protocol.OUTPUT_PORT)], text  # its own port
    assert received <= OUT, received - OUT
    assert sent <= IN, sent - IN
    assert received >= SHOWN, SHOWN - received
    assert {f"{P}/{s}" for s in ("weights", "temperature", "rate", "subscribe")} <= sent


def test_maxpat_shows_the_chosen_voice(maxpat: dict) -> None:
    """Every datagram passes the voice filter before the displays (Pd's `voice` box, for Max):
    /charmix/voice/k/… is cut back to /charmix/… when k is the chosen voice, unprefixed frames
    pass for voice 0 only, and what every voice shares (the table's outputs without `voice`)
    always passes. The addresses come from the table; each cord is checked, outlet and inlet."""
    boxes = max_boxes(maxpat)
    texts = {i: b.get("text", "") for i, b in boxes.items()}
    cords = {(line["patchline"]["source"][0], line["patchline"]["source"][1],
              line["patchline"]["destination"][0], line["patchline"]["destination"][1])
             for line in maxpat["lines"]}

    def out_of(box: str, outlet: int) -> set[tuple[str, int]]:
        return {(d, di) for s, so, d, di in cords if (s, so) == (box, outlet)}

    def only(box: str, outlet: int, text: str | None = None, inlet: int = 0) -> str:
        [(dst, di)] = out_of(box, outlet)  # exactly one cord from this outlet
        assert di == inlet and (text is None or texts[dst] == text), (texts[dst], di)
        return dst

    def one(text: str) -> str:
        ids = [i for i, t in texts.items() if t == text]
        assert len(ids) == 1, f"{text!r}: {len(ids)} boxes"
        return ids[0]

    # /charmix/scenes has no display here: through the voice-0 gate it reaches the main
    # route, which has no outlet for it (other voices' gates drop it).
    shared = [a.path for a in protocol.OUTPUT if not a.voice and a.short != "scenes"]
    assert shared == [f"{P}/models", f"{P}/vocab", f"{P}/status"]
    rx = one(f"udpreceive {protocol.OUTPUT_PORT}")
    main = next(i for i, t in texts.items() if t.startswith(f"route {P}/char "))
    assert {(s, so) for s, so, _, _ in cords if s == rx} == {(rx, 0)}
    cut = only(rx, 0, "zl.slice 1")  # address | arguments
    join = only(cut, 1, "zl.join", inlet=1)  # the arguments wait in the cold inlet
    split = only(cut, 0, VOICE_FILTER[0])
    assert only(join, 0) == main
    passing = only(split, 3, "routepass " + " ".join(shared))  # no voice in the address
    for k in range(len(shared)):
        assert only(passing, k) == join
    gate = only(passing, len(shared), "gate 1", inlet=1)  # voice 0's frames
    assert only(gate, 0) == join
    match = only(split, 1, "route 0")  # (voice, rest of the address)
    symbol = only(match, 0, "prepend symbol")
    assert only(only(symbol, 0, VOICE_FILTER[1]), 0) == join
    [box] = [i for i, b in boxes.items() if b.get("varname") == "voice"]
    assert boxes[box]["maxclass"] == "number"
    assert (boxes[box]["minimum"], boxes[box]["maximum"]) == (0, protocol.VOICES_MAX - 1)
    fan = only(box, 0, "t i i")
    assert out_of(fan, 1) == {(match, 1)}  # route looks for the chosen voice's number
    assert only(only(fan, 0, "== 0"), 0) == gate  # unprefixed frames: voice 0 only
    load = one("loadbang")
    assert any(texts[m] == "0" and only(m, 0) == box for m, _ in out_of(load, 0))
    # Nothing reaches the displays around the filter.
    graph = max_graph(maxpat)
    del graph[join]
    assert main not in reachable(graph, {rx})


def test_maxpat_status_fields_in_table_order(maxpat: dict) -> None:
    boxes = max_boxes(maxpat)
    unpack = next(i for i, b in boxes.items()
                  if b.get("text", "").startswith("unpack f"))
    assert boxes[unpack]["numoutlets"] == len(protocol.STATUS_FIELDS)
    shown = {line["patchline"]["source"][1]: boxes[line["patchline"]["destination"][0]]
             for line in maxpat["lines"] if line["patchline"]["source"][0] == unpack}
    for k, field in enumerate(protocol.STATUS_FIELDS):
        assert shown[k].get("varname") == f"status_{field}"


# -- Pure Data -----------------------------------------------------------------------------------
class PdCanvas:
    def __init__(self) -> None:
        self.objects: list[list[str]] = []  # ["obj"|"msg"|..., tokens...]
        self.edges: dict[int, list[tuple[int, int, int]]] = defaultdict(list)  # a: (out, b, in)


def pd_canvases(text: str) -> list[PdCanvas]:
    """Every canvas of a .pd file, objects numbered as Pd numbers them (restore = an object)."""
    statements = [s.strip() for s in re.split(r"(?<!\\);\s*\n", text) if s.strip()]
    stack: list[PdCanvas] = []
    done: list[PdCanvas] = []
    for st in statements:
        tokens = st.rstrip(";").split()
        if tokens[:2] == ["#N", "canvas"]:
            stack.append(PdCanvas())
        elif tokens[:2] == ["#X", "restore"]:
            done.append(stack.pop())
            stack[-1].objects.append(["restore", *tokens[4:]])
        elif tokens[:2] == ["#X", "connect"]:
            a, out, b, inl = map(int, tokens[2:6])
            stack[-1].edges[a].append((out, b, inl))
        elif tokens[0] == "#X" and tokens[1] in ("obj", "msg", "text", "floatatom",
                                                 "symbolatom", "listbox"):
            stack[-1].objects.append([tokens[1], *tokens[4:]])
    done.extend(stack)
    return done


def pd_out_paths(canvas: PdCanvas) -> set[str]:
    """Walk from each [oscparse]: [route] outlets add address parts, [list split 1]'s middle
    outlet is a model name; [list], [list trim] and [trigger] pass through; anything else ends
    an address."""
    found: set[str] = set()

    def walk(index: int, parts: tuple[str, ...], depth: int = 0) -> None:
        kind, *tokens = canvas.objects[index]
        head = tokens[0] if tokens else ""
        for outlet, target, _ in canvas.edges.get(index, []):
            t_kind, *t_tokens = canvas.objects[target]
            t_head, t_args = (t_tokens[0], t_tokens[1:]) if t_tokens else ("", [])
            if head == "route" and outlet == len(tokens) - 1:
                if tokens[1:] != ["voice"]:
                    continue  # the reject outlet
                here = parts  # the voice filter's: everything not under /charmix/voice/k/
            else:
                here = parts + ((tokens[1 + outlet],) if head == "route" else ())
            if head == "list" and tokens[1:2] == ["split"]:
                if outlet != 1:
                    continue  # the name itself, or a too-short list
                here = parts + ("{name}",)
            passes = t_head in ("route", "trigger", "t", "spigot") or (
                t_head == "list" and (t_args in ([], ["trim"]) or t_args[:1] == ["split"]))
            if t_kind == "obj" and passes and depth < 50:
                walk(target, here, depth + 1)
            elif here:
                found.add("/" + "/".join(here))

    for i, obj in enumerate(canvas.objects):
        if obj[:2] == ["obj", "oscparse"]:
            walk(i, ())
    return found


@pytest.fixture(scope="module")
def pd() -> list[PdCanvas]:
    return pd_canvases(PD.read_text(encoding="utf-8"))


def pd_reaches(canvas: PdCanvas, start: int, head: str) -> bool:
    graph = {a: {b for _, b, _ in edges} for a, edges in canvas.edges.items()}
    return any(canvas.objects[i][1:2] == [head] for i in reachable(graph, {start}))


def test_pd_connections_join_existing_objects(pd: list[PdCanvas]) -> None:
    for canvas in pd:
        for a, edges in canvas.edges.items():
            for out, b, inl in edges:
                assert 0 <= a < len(canvas.objects) and 0 <= b < len(canvas.objects)
                assert out >= 0 and inl >= 0
    # (Pd itself checks every wire and object when tests/test_pd.py loads the patch.)


def test_pd_addresses_and_ports_follow_the_table(pd: list[PdCanvas]) -> None:
    received: set[str] = set()
    sent: set[str] = set()
    listens, connects = [], []
    for canvas in pd:
        received |= pd_out_paths(canvas)
        for i, (kind, *tokens) in enumerate(canvas.objects):
            if kind == "obj" and tokens[:1] == ["oscformat"]:
                assert pd_reaches(canvas, i, "netsend"), tokens
                sent.add("/" + "/".join(t for t in tokens[1:] if not t.startswith("-")))
            if kind == "msg" and pd_reaches(canvas, i, "netreceive") and tokens[0] != "listen":
                listens.append(tokens)
            if kind == "msg" and tokens[:1] == ["connect"]:
                connects.append(tokens[1:])
    # The voice filter hands /charmix/voice/k/… (k where a name would be) to the same routes
    # (tests/test_pd.py plays it).
    by_voice = {protocol.VOICE_PREFIX + "{name}/" + a.short for a in protocol.OUTPUT}
    assert received - OUT <= by_voice, received - OUT - by_voice
    assert {protocol.VOICE_PREFIX + "{name}/" + s for s in ("char", "dist")} <= received
    assert sent <= IN, sent - IN
    assert received >= SHOWN, SHOWN - received
    assert {f"{P}/{s}" for s in ("weights", "temperature", "rate", "mode", "subscribe",
                                 "unsubscribe", "query", "pause", "resume")} <= sent
    assert listens == [[str(protocol.OUTPUT_PORT)]]  # the default port it listens on
    assert connects == [[protocol.DEFAULT_HOST, str(protocol.CONTROL_PORT)]]


def test_pd_status_fields_in_table_order(pd: list[PdCanvas]) -> None:
    for canvas in pd:
        for i, (kind, *tokens) in enumerate(canvas.objects):
            if kind == "obj" and tokens[:2] == ["unpack", "f"]:
                assert len(tokens) - 1 == len(protocol.STATUS_FIELDS)
                sends = {out: canvas.objects[b] for out, b, _ in canvas.edges[i]}
                for k, field in enumerate(protocol.STATUS_FIELDS):
                    assert sends[k][1:] == ["s", f"charmix-st-{field}"]
                return
    raise AssertionError("no [unpack f ...] for /charmix/status")


# -- Processing ----------------------------------------------------------------------------------
def _block_body(code: str, at: int) -> str:
    """The statements of the { … } block that opens after offset `at`, comments removed."""
    start = code.index("{", at)
    depth = 0
    for i in range(start, len(code)):
        depth += {"{": 1, "}": -1}.get(code[i], 0)
        if depth == 0:
            return re.sub(r"/\*.*?\*/|//[^\n]*", "", code[start + 1 : i], flags=re.S).strip()
    raise AssertionError(f"unbalanced braces after offset {at}")


def pde_addresses(code: str) -> tuple[set[str], set[str]]:
    """(received, sent): addresses whose receiving branch does something, and those sent.

    A branch that tests an address but has no statements (only a comment) does not count as
    receiving it: the sketch would show nothing for it.
    """
    received, sent = set(), set()
    offset = 0
    for line in code.splitlines(keepends=True):
        at, offset = offset, offset + len(line)
        if line.strip().startswith(("//", "*", "/*")):
            continue
        literals = re.findall(r'"(/charmix[^"]*)"', line)
        if not literals:
            continue
        prefix = [s for s in literals if s.endswith("/model/")]
        is_model_dist = prefix and f"{P}/dist" not in literals and any(
            s == "/dist" for s in re.findall(r'"(/[^"]*)"', line))
        if is_model_dist or "checkAddrPattern" in line:
            if _block_body(code, at):
                received.add(prefix[0] + "{name}/dist" if is_model_dist else literals[0])
                received.update(literals[1:] if not is_model_dist else ())
        else:
            sent.update(literals)
    return received, sent


def test_an_empty_branch_does_not_count_as_shown() -> None:
    code = """
    if (m.checkAddrPattern("/charmix/char")) {
      text.append(c);
    } else if (m.checkAddrPattern("/charmix/text")) {
      // built from /charmix/char
    } else if (addr.startsWith("/charmix/model/") && addr.endsWith("/dist")) {
    }
    """
    received, _ = pde_addresses(code)
    assert received == {f"{P}/char"}


def test_processing_sketch_follows_the_table() -> None:
    code = PDE.read_text(encoding="utf-8")
    received, sent = pde_addresses(code)
    assert received <= OUT, received - OUT
    assert sent <= IN, sent - IN
    assert received >= SHOWN, SHOWN - received
    assert f"{P}/subscribe" in sent and f"{P}/weights" in sent

    def constant(name: str) -> str:
        match = re.search(rf"final \w+ {name} = ([^;]+);", code)
        assert match, name
        return match.group(1).strip('"')

    assert constant("CONTROL_PORT") == str(protocol.CONTROL_PORT)
    assert constant("LISTEN_PORT") == str(protocol.OUTPUT_PORT)
    assert constant("DAEMON_HOST") == protocol.DEFAULT_HOST
    assert int(constant("DATAGRAM_SIZE")) >= protocol.MAX_DATAGRAM
    assert int(constant("RENEW_MS")) < protocol.SUBSCRIBER_TTL * 1000 / 2
    fields = re.search(r"STATUS_FIELDS = \{([^}]*)\}", code)
    assert fields and re.findall(r'"(\w+)"', fields.group(1)) == list(protocol.STATUS_FIELDS)
    modes = re.search(r"MODES = \{([^}]*)\}", code)
    assert modes and tuple(re.findall(r'"(\w+)"', modes.group(1))) == protocol.MODES
    # oscP5 pitfalls: floatValues() truncates in some versions; the datagram size is raised.
    statements = re.sub(r"/\*.*?\*/|//[^\n]*", "", code, flags=re.S)
    assert "floatValues(" not in statements and "floatValue()" in statements
    assert "setDatagramSize(DATAGRAM_SIZE)" in code
    # oscP5 makes one char per byte of an OSC string: the strings are decoded as UTF-8 again
    assert re.search(r'new String\(bytes, "UTF-8"\)', statements)
    for suffix in ("char", "text", "vocab", "models"):
        at = code.index(f'checkAddrPattern("{P}/{suffix}")')
        assert "utf8(" in _block_body(code, at), suffix
    # the keys step from the sketch's own last-sent values, not from the 2 s status
    keys = _block_body(code, code.index("void keyPressed()"))
    assert "statusOf(" not in keys and "sentTemperature" in keys and "sentPaused" in keys


# -- TouchDesigner -------------------------------------------------------------------------------
TD_RECEIVE = ("charmix_osc_in.py", "charmix_dists.py")
TD_SEND = ("charmix_subscribe.py", "charmix_controls.py")


def td_module(name: str, **globals_: object) -> ModuleType:
    """A callbacks file loaded as a module, with stand-ins for TouchDesigner's globals."""
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), TD / name)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.__dict__.update(globals_)
    return module


def py_addresses(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.value for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and n.value.startswith(P + "/")}


def test_touchdesigner_files_follow_the_table() -> None:
    assert {p.name for p in TD.glob("*.py")} == set(TD_RECEIVE + TD_SEND)
    received = set().union(*(py_addresses(TD / f) for f in TD_RECEIVE))
    sent = set().union(*(py_addresses(TD / f) for f in TD_SEND))
    assert received <= OUT, received - OUT
    assert sent <= IN, sent - IN
    assert received >= SHOWN, SHOWN - received
    sub = td_module("charmix_subscribe.py")
    assert sub.DAEMON_PORT == protocol.CONTROL_PORT and sub.DAEMON_HOST == protocol.DEFAULT_HOST
    assert sub.LISTEN_PORT == protocol.OUTPUT_PORT
    assert sub.CHOP_PORT == protocol.TD_CHOP_PORT
    assert protocol.TD_CHOP_PORT not in (protocol.CONTROL_PORT, protocol.OUTPUT_PORT)
    assert sub.RENEW < protocol.SUBSCRIBER_TTL / 2
    assert td_module("charmix_osc_in.py").STATUS_FIELDS == protocol.STATUS_FIELDS
    readme = (TD / "README.md").read_text(encoding="utf-8")
    for port in (protocol.OUTPUT_PORT, protocol.CONTROL_PORT, sub.CHOP_PORT):
        assert f"Network Port **{port}**" in readme


class FakeDAT:
    """Just enough of a Text/Table DAT: .text, clear(), appendRow(), numRows, store/fetch."""

    def __init__(self) -> None:
        self.text = ""
        self.rows: list[list] = []
        self._storage: dict = {}

    def clear(self) -> None:
        self.rows = []

    def appendRow(self, row: list) -> None:  # noqa: N802 (TouchDesigner's name)
        self.rows.append(list(row))

    @property
    def numRows(self) -> int:  # noqa: N802
        return len(self.rows)

    def store(self, key: str, value: object) -> None:
        self._storage[key] = value

    def fetch(self, key: str, default: object = None, search: bool = True) -> object:
        return self._storage.get(key, default)


def test_touchdesigner_osc_in_colours_the_text_by_attribution() -> None:
    dats: dict[str, FakeDAT] = defaultdict(FakeDAT)
    mod = td_module("charmix_osc_in.py", op=lambda name: dats[name])
    me = FakeDAT()

    def receive(address: str, *args: object) -> None:
        mod.onReceiveOSC(me, 0, "", b"", 0.0, address, list(args), "127.0.0.1")

    receive(f"{P}/models", "shakespeare", "linux")
    written = [("T", [0.9, 0.1]), ("o", [0.2, 0.8]), ("\n", [0.6, 0.4]), ("b", [0.1, 0.9]),
               ("e", [0.7, 0.3])]
    for ch, attribution in written:
        receive(f"{P}/char", ch)
        receive(f"{P}/attribution", *attribution)
    receive(f"{P}/text", "be")
    receive(f"{P}/status", *[float(i) for i in range(len(protocol.STATUS_FIELDS))])
    receive(f"{P}/status", 1.0, 2.0)  # malformed: ignored
    assert dats["charmix_models"].rows[1:] == [[0, "shakespeare", *mod.NAMED["shakespeare"]],
                                               [1, "linux", *mod.NAMED["linux"]]]
    assert dats["charmix_text"].text == "To\nbe"
    assert dats["charmix_text0"].text == "T \n e"
    assert dats["charmix_text1"].text == " o\nb "
    assert all(len(dats[f"charmix_text{k}"].text) == 5 for k in range(mod.SLOTS))
    assert dats["charmix_line"].text == "be" and dats["charmix_char"].text == "e"
    assert [r[0] for r in dats["charmix_status"].rows] == list(protocol.STATUS_FIELDS)
    # A newer daemon with two more fields: the known ones are still shown.
    receive(f"{P}/status", *[float(i) for i in range(len(protocol.STATUS_FIELDS) + 2)])
    assert [r[1] for r in dats["charmix_status"].rows] == [
        float(i) for i in range(len(protocol.STATUS_FIELDS))]


def test_touchdesigner_text_keeps_the_last_lines() -> None:
    mod = td_module("charmix_osc_in.py")
    state = mod.TextState(lines=2)
    for ch in "one\ntwo\nthree":
        state.add_char(ch)
        state.attribute([1.0])
    assert state.text() == "two\nthree"


def test_touchdesigner_script_chop_regroups_the_osc_channels() -> None:
    mod = td_module("charmix_dists.py")
    channels = [(f"charmix/dist{i}", i / 10) for i in (10, 2, 1, 3, 4, 5, 6, 7, 8, 9)]
    channels += [(f"/charmix/model/bible/dist{i}", i) for i in (1, 0, 2)]  # other numbering
    channels += [("charmix/weights1", 0.25), ("charmix/weights2", 0.75), ("charmix/step", 7),
                 ("charmix/status1", 1.0)]
    groups = mod.regroup(channels)
    assert groups["mix"] == [i / 10 for i in range(1, 11)]
    assert groups["p_bible"] == [0, 1, 2]
    assert groups["weights"] == [0.25, 0.75]
    assert set(groups) == {"mix", "p_bible", "weights"}

    class Chan(SimpleNamespace):
        def eval(self) -> float:
            return self.value

    made: dict[str, SimpleNamespace] = {}
    script = SimpleNamespace(
        inputs=[SimpleNamespace(chans=lambda: [Chan(name=n, value=v) for n, v in channels])],
        numSamples=0, clear=made.clear,
        appendChan=lambda name: made.setdefault(name, SimpleNamespace(vals=[])))
    mod.onCook(script)
    assert script.numSamples == 10
    assert made["p_bible"].vals == [0, 1, 2] + [0.0] * 7


def test_touchdesigner_subscription_is_renewed() -> None:
    sent: list[tuple[str, list]] = []
    out = SimpleNamespace(sendOSC=lambda address, args: sent.append((address, args)))
    clock = SimpleNamespace(seconds=100.0)
    mod = td_module("charmix_subscribe.py", op=lambda name: out, absTime=clock, me=FakeDAT())
    mod.onStart()
    assert sent == [(f"{P}/subscribe", [mod.CHOP_PORT]), (f"{P}/query", [mod.LISTEN_PORT])]
    clock.seconds += mod.RENEW / 2
    mod.onFrameStart(1)
    assert len(sent) == 2
    clock.seconds += mod.RENEW
    mod.onFrameStart(2)
    assert sent[2] == (f"{P}/subscribe", [mod.CHOP_PORT])
    mod.onExit()
    assert sent[-1] == (f"{P}/unsubscribe", [mod.CHOP_PORT])


def test_touchdesigner_controls_send_weights_cut_to_the_models() -> None:
    sent: list[tuple[str, list]] = []
    models = FakeDAT()
    models.rows = [["index", "name"], [0, "a"], [1, "b"]]
    ops = {"charmix_osc_out": SimpleNamespace(sendOSC=lambda a, v: sent.append((a, v))),
           "charmix_models": models}
    mod = td_module("charmix_controls.py", op=ops.get)

    class Chan(SimpleNamespace):
        def eval(self) -> float:
            return self.value

    owner = SimpleNamespace()
    chans = [Chan(name="w1", value=0.5, owner=owner), Chan(name="w2", value=-1.0, owner=owner),
             Chan(name="w3", value=1.0, owner=owner), Chan(name="temperature", value=9.0,
                                                            owner=owner)]
    owner.chans = lambda: chans
    mod.onValueChange(chans[0], 0, 0.5, 0.0)
    mod.onValueChange(chans[3], 0, 9.0, 0.0)
    # signed: w2 at -1 is an anti-expert (geometric mode); beyond -1 … 1 it is clamped
    assert sent == [(f"{P}/weights", [0.5, -1.0]), (f"{P}/temperature", [5.0])]
    assert mod.weights_message({"w1": -3.0, "w2": 2.0}, 2) == [-1.0, 1.0]
    assert mod.weights_message({}, 0) is None


# -- the README ----------------------------------------------------------------------------------
def test_readmes_name_only_table_addresses_and_ports() -> None:
    everything = OUT | IN
    for readme in (PATCHES / "README.md", TD / "README.md"):
        text = readme.read_text(encoding="utf-8")
        for match in re.finditer(r"`(" + re.escape(P) + r"/[^`\s]*)", text):
            path = template(match.group(1))
            if path.startswith(protocol.VOICE_PREFIX):  # /charmix/voice/k/… or …/voice/2/char
                voice, _, rest = path.removeprefix(protocol.VOICE_PREFIX).partition("/")
                assert voice == "k" or voice.isdigit(), f"{readme.name}: {path}"
                voiced = {a.short for a in protocol.TABLE if a.voice}
                assert rest in ("…", "") or template(f"{P}/{rest}").removeprefix(P + "/") in voiced
                continue
            assert path in everything, f"{readme.name}: {match.group(1)}"
        for port in re.findall(r"\b(77\d\d)\b", text):
            ports = (protocol.CONTROL_PORT, protocol.OUTPUT_PORT, protocol.TD_CHOP_PORT)
            assert int(port) in ports, port
