"""The phone page with anti-experts (issue #24), in headless Chromium: in geometric mode the weight
sliders are bipolar and a negative weight shows as such; in linear mode they are 0 … 1 as before.

The page's own files are served by the browser's request routing (no bridge, no daemon): the
messages a bridge would send are fed through `window.charmix.feed`, the page's test hook. Its
WebSocket finds nobody, which the page survives (it retries)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from web_helpers import CHROMIUM, CHROMIUM_ARGS, PHONE, chromium_or_skip, wait_js

STATIC = Path(__file__).resolve().parent.parent / "controllers" / "web" / "static"
SITE = "http://charmix.test"
pytestmark = pytest.mark.timeout(120)

HELLO = """charmix.feed({t: "hello", id: 1, role: "control", pin: false, control: "last",
  models: ["shakespeare", "bible"], colours: ["#f2c14e", "#4fc3f7"], anchors: [[0, 1], [1, 0]],
  vocab: "ab", weights: [0.5, 0.5], settings: {mode: "linear", temperature: 0.8, paused: false}})"""


@pytest.fixture(scope="module")
def browser() -> Iterator:
    chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def _serve(route) -> None:  # noqa: ANN001  (playwright's Route)
    name = route.request.url.removeprefix(SITE).removeprefix("/static/").strip("/")
    file = STATIC / (name or "index.html")
    if file.parent != STATIC or not file.is_file():
        route.fulfill(status=404, body="")
        return
    route.fulfill(path=str(file))


def test_sliders_go_bipolar_in_geometric_mode(browser) -> None:
    page = browser.new_context(**PHONE).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.route(f"{SITE}/**", _serve)
    page.goto(f"{SITE}/")
    wait_js(page, "window.charmix", what="the page's script")
    page.evaluate(HELLO)
    assert page.eval_on_selector("#w1", "e => e.min") == "0"  # linear: 0 … 1 as before
    page.evaluate("""charmix.feed({t: "f", step: 1, w: [1, -0.5], a: [0.7, -0.3],
      mix: [600, 400], p: [[500, 500], [300, 700]],
      settings: {mode: "geometric", temperature: 0.8, paused: false}})""")
    wait_js(page, "document.getElementById('w1').min === '-1000'", what="a bipolar slider")
    wait_js(page, "document.getElementById('w1').value === '-500'", what="the anti-weight shown")
    assert page.eval_on_selector("#w1 + output", "e => e.textContent") == "−50%"
    assert page.eval_on_selector("#sliders", "e => e.classList.contains('bipolar')")
    # and back: linear mode, 0 … 1 again
    page.evaluate("""charmix.feed({t: "f", step: 2, w: [1, 0],
      settings: {mode: "linear", temperature: 0.8, paused: false}})""")
    wait_js(page, "document.getElementById('w1').min === '0'", what="a 0 … 1 slider again")
    page.wait_for_timeout(100)  # a few frames drawn with the anti bar and without
    assert not errors, errors
