"""One colour per model everywhere: every consumer of model colours takes them from
daemon/protocol/palette.py. The Python ones are asked what they draw (the Tk pad's canvas items,
the monitor's rendered spans, the web bridge's hello); the patches, which cannot import charmix,
carry copies that must equal it. The web page's own drawing is checked in test_web_browser."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest
from test_mouse import display  # noqa: F401 - a fixture

from charmix.daemon.protocol import palette

ROOT = Path(__file__).resolve().parent.parent
PATCHES = ROOT / "patches"
SHIPPED = list(palette.SHIPPED_ORDER)
MIXED = ["bible", "mystery", "shakespeare", "other"]  # shipped and unknown names, any order


def test_palette_is_distinct_and_by_name() -> None:
    every = list(palette.NAMED.values()) + list(palette.EXTRA) + [palette.UNKNOWN]
    assert len(set(every)) == len(every)
    assert all(re.fullmatch(r"#[0-9a-f]{6}", c) for c in every)
    assert palette.colour("bible", 0) == palette.colour("bible", 5)  # its place doesn't matter
    assert palette.colours(MIXED) == [palette.NAMED["bible"], palette.EXTRA[1],
                                      palette.NAMED["shakespeare"], palette.EXTRA[3]]
    assert sorted(palette.NAMED) == SHIPPED


def test_the_tk_pad_draws_the_palette(display: str) -> None:  # noqa: F811
    tk = pytest.importorskip("tkinter")
    from charmix.controllers.mapping import PadMapping
    from charmix.controllers.mouse import MouseBridge
    from charmix.controllers.sender import Sender

    root = tk.Tk(screenName=display)
    sender = Sender([("127.0.0.1", 9)])
    try:
        root.geometry("400x500")
        bridge = MouseBridge(root, PadMapping.for_models(MIXED), sender)
        root.update()
        bridge.redraw()
        c = bridge.canvas
        fills = {c.itemcget(i, "fill") for i in c.find_all() if c.type(i) == "oval"} - {""}
        labels = {c.itemcget(i, "text"): c.itemcget(i, "fill") for i in c.find_all()
                  if c.type(i) == "text"}
    finally:
        sender.close()
        root.destroy()
    assert fills == set(palette.colours(MIXED))
    assert all(labels[name] == palette.colour(name, i) for i, name in enumerate(MIXED))


def test_the_monitor_draws_the_palette() -> None:
    from charmix.daemon.client.frames import MonitorState
    from charmix.daemon.monitor.view import _text_view, model_colour

    state = MonitorState()
    state.models = MIXED
    for k, ch in enumerate("abcd"):
        state.text.append([ch, k])
    state.text.append(["?", None])
    spans = [str(s.style) for s in _text_view(state, 40, 3, fill=False).spans]
    assert spans == palette.colours(MIXED) + [palette.UNKNOWN]
    assert [model_colour(i, MIXED) for i in range(4)] == palette.colours(MIXED)


def test_the_web_bridge_sends_the_palette() -> None:
    from charmix.controllers.web.feed import FrameFeed

    feed = FrameFeed()
    feed.models = MIXED
    assert feed.layout()["colours"] == palette.colours(MIXED)
    page = (ROOT / "controllers" / "web" / "static" / "app.js").read_text(encoding="utf-8")
    assert f'const UNKNOWN = "{palette.UNKNOWN}"' in page
    model_colours = [*palette.NAMED.values(), *palette.EXTRA]
    assert not [c for c in model_colours if c in page.lower()]  # they come in the hello only


def test_processing_carries_the_palette() -> None:
    pde = (PATCHES / "processing" / "charmix" / "charmix.pde").read_text(encoding="utf-8")

    def array(name: str) -> list[str]:
        body = re.search(rf"final \w+\[\] {name} = \{{(.*?)\}};", pde, re.S)
        assert body, name
        return [v.strip().strip('"') for v in body[1].split(",")]

    named = dict(zip(array("NAMED"), array("NAMED_COLOURS"), strict=True))
    assert named == palette.NAMED
    assert array("EXTRA") == list(palette.EXTRA)
    assert f"final color UNKNOWN = {palette.UNKNOWN};" in pde
    assert "PALETTE" not in pde


def test_touchdesigner_carries_the_palette() -> None:
    path = PATCHES / "touchdesigner" / "charmix_osc_in.py"
    spec = importlib.util.spec_from_file_location("td_osc_in_palette", path)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rgb = {n: tuple(round(v, 3) for v in palette.rgb(c)) for n, c in palette.NAMED.items()}
    assert rgb == mod.NAMED
    assert list(mod.EXTRA) == [tuple(round(v, 3) for v in palette.rgb(c)) for c in palette.EXTRA]
    assert [mod.model_colour(n, i) for i, n in enumerate(MIXED)] == [
        tuple(round(v, 3) for v in palette.rgb(c)) for c in palette.colours(MIXED)]


def test_max_colours_its_rows_for_the_shipped_models() -> None:
    """Max's six p_i rows are fixed in the patch: coloured for the shipped models in the daemon's
    order (the rows are positional; patches/README.md says so)."""
    patch = json.loads((PATCHES / "max" / "charmix.maxpat").read_text(encoding="utf-8"))
    rows = sorted((b["box"] for b in patch["patcher"]["boxes"]
                   if b["box"].get("maxclass") == "multislider"
                   and b["box"]["patching_rect"][3] == 56.0),
                  key=lambda box: box["patching_rect"][1])
    assert len(rows) == 6
    for box, name in zip(rows, SHIPPED, strict=True):
        want = [round(v, 3) for v in palette.rgb(palette.NAMED[name])] + [1.0]
        assert box["slidercolor"] == want, name


def test_no_other_model_colour_table() -> None:
    """The old tables (austen red on the pad and cyan in the monitor) are gone for good."""
    for path in [*(ROOT / "controllers").glob("*.py"), *(ROOT / "daemon").glob("*.py")]:
        if path.name == "palette.py":
            continue
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^(PALETTE|COLOURS|COLORS)\s*=", text, re.M), path
