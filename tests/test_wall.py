"""`/wall`, the display page of `charmix web`, in real Chromium against a real daemon.

Headless Debian Chromium at 1920×1080 and 3840×2160, the three tiny real models, real UDP and a
real WebSocket. What is compared is the daemon's own output (its /charmix/char and
/charmix/attribution, read by a UDP receiver on its --send port), never the bridge's idea of what
it sent. CHARMIX_SCREENSHOTS=docs writes the wall screenshot to docs/web-wall.png (how the
committed one was taken); otherwise it goes to the test's temporary folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.osc_receiver import OscReceiver, Received, path
from helpers import free_udp_port
from pythonosc.osc_message_builder import OscMessageBuilder
from test_controllers_daemon import Daemon
from web_helpers import CHROMIUM, CHROMIUM_ARGS, Bridge, chromium_or_skip, wait_js

from charmix.daemon.protocol import palette

pytestmark = pytest.mark.timeout(300)  # the first test also trains the tiny models
SCREENS = {"1080p": {"width": 1920, "height": 1080}, "2160p": {"width": 3840, "height": 2160}}


def roomy(out: OscReceiver) -> OscReceiver:
    """A large receive buffer for this process's receiver, so a loaded machine (this test's
    Chromium, other work) loses fewer of the daemon's datagrams before the thread reads them."""
    for option in (getattr(socket, "SO_RCVBUFFORCE", 33), socket.SO_RCVBUF):
        with contextlib.suppress(OSError):
            out.sock.setsockopt(socket.SOL_SOCKET, option, 8 << 20)
            break
    return out


@pytest.fixture(scope="module")
def daemon(tiny_models: dict[str, Path]) -> Iterator[Daemon]:
    with contextlib.closing(Daemon(tiny_models)) as d:
        roomy(d.out)
        yield d


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


class Wall:
    """One wall page in its own browser context, its console errors collected."""

    def __init__(self, browser, url: str, screen: str = "1080p") -> None:
        self.context = browser.new_context(viewport=SCREENS[screen])
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)

    def state(self) -> dict:
        return self.page.evaluate("window.charmix.state()")

    def wait(self, expr: str, timeout: float = 20.0, what: str = "") -> object:
        return wait_js(self.page, expr, timeout=timeout, what=what)

    def more_text(self, n: int = 20, timeout: float = 30.0) -> None:
        seen = self.state()["received"]
        self.wait(f"window.charmix.state().received >= {seen + n}", timeout, f"{n} more chars")

    def close(self) -> None:
        self.context.close()


def stream(out: OscReceiver, voice: int = 0) -> list[Received]:
    return out.of("char" if voice == 0 else f"voice/{voice}/char")


def assert_daemon_text(out: OscReceiver, text: str, voice: int = 0) -> str:
    """`text` is a stretch of the daemon's own characters, in order; the whole stream."""
    def holds(_: list) -> bool:
        return text in "".join(m.params[0] for m in stream(out, voice))

    # the page can be a few characters ahead of this process's receiver thread: wait for it
    out.wait_until(holds, timeout=10, what=f"the wall's text among voice {voice}'s: {text!r}")
    return "".join(m.params[0] for m in stream(out, voice))


def lost_steps(out: OscReceiver, voice: int = 0) -> int:
    """Gaps in the steps this process's receiver got (a restart's step 0 is not a gap)."""
    steps = [m.params[0] for m in out.of("step" if voice == 0 else f"voice/{voice}/step")]
    return sum(b > a + 1 for a, b in zip(steps, steps[1:], strict=False))


def check_wall(wall: Wall, out: OscReceiver, voice: int = 0, n: int = 150,
               attempts: int = 3) -> tuple[str, list[int]]:
    """The newest `n` characters on the wall are the daemon's, in order, each attributed to
    the model with the largest share of its /charmix/attribution. A datagram lost on its way to
    this test's receiver (a loaded machine) leaves a stretch that cannot be checked: then a
    later stretch is (at most `attempts`), never a looser comparison; so does a frame the bridge
    dropped because the page fell behind (counted by the page as `gaps`). With nothing lost, a
    difference fails at once."""
    prefix = "" if voice == 0 else f"voice/{voice}/"
    for attempt in range(attempts):
        if attempt:
            wall.more_text(n)
        else:
            wall.wait(f"window.charmix.text().length >= {n}", what=f"{n} characters")
        text, writers = wall.page.evaluate("[window.charmix.text(), window.charmix.writers()]")
        text, writers = text[-n:], writers[-n:]
        try:
            sent = assert_daemon_text(out, text, voice)
            at = sent.rfind(text)
            shares = [m.params for m in out.of(prefix + "attribution")][at:at + n]
            assert writers == [max(range(len(a)), key=a.__getitem__) for a in shares]
            return text, writers
        except AssertionError:
            if attempt == attempts - 1 or lost_steps(out, voice) + wall.state()["gaps"] == 0:
                raise
    raise AssertionError("unreachable")


@pytest.mark.parametrize("screen", list(SCREENS))
def test_wall_shows_the_daemons_text_in_its_colours(daemon: Daemon, browser, screen: str,
                                                    tmp_path: Path) -> None:
    bridge = Bridge(daemon.control, "--view-only")
    wall = Wall(browser, bridge.url + "wall?fig=bottom&weights=1", screen)
    try:
        check_wall(wall, daemon.out)  # the daemon's text, in order, each char by its writer
        spans = wall.page.evaluate("[...document.querySelectorAll('#runs span')].map("
                                   "s => [Number(s.dataset.who), getComputedStyle(s).color])")
        assert spans
        for who, css in spans:  # each run in its model's colour from the one palette
            r, g, b = (round(v * 255) for v in palette.rgb(palette.colour(daemon.names[who], who)))
            assert css == f"rgb({r}, {g}, {b})"
        kiosk = wall.page.evaluate("""(() => ({
            cursor: getComputedStyle(document.body).cursor,
            overflowX: document.documentElement.scrollWidth - innerWidth,
            overflowY: document.documentElement.scrollHeight - innerHeight,
            controls: document.querySelectorAll('button, input, select, textarea, a').length,
            caretLast: document.getElementById('text').lastElementChild.id,
            fig: document.getElementById('fig').hidden,
            bar: document.getElementById('wbar').children.length,
        }))()""")
        assert kiosk == {"cursor": "none", "overflowX": 0, "overflowY": 0, "controls": 0,
                         "caretLast": "caret", "fig": False, "bar": len(daemon.names)}
        state = wall.state()
        assert state["shown"] <= state["budget"] and state["conn"] == "live"
        assert state["ignored"] == [] and state["voice"] == 0
        if screen == "1080p":
            shot = Path(os.environ.get("CHARMIX_SCREENSHOTS") or tmp_path) / "web-wall.png"
            wall.page.screenshot(path=str(shot))
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert wall.errors == []
    finally:
        wall.close()
        assert "Traceback" not in bridge.close()


class RestartableDaemon:
    """`charmix daemon --voices 2` on a fixed control port, so it can be killed and restarted."""

    def __init__(self, models: dict[str, Path]) -> None:
        self.control = f"127.0.0.1:{free_udp_port()}"
        self.out = roomy(OscReceiver())
        self.args = [sys.executable, "-m", "charmix.daemon.cli", "daemon"]
        for model in models.values():
            self.args += ["--model", str(model)]
        self.args += ["--listen", self.control, "--send", self.out.target, "--rate", "40",
                      "--status-every", "0", "--no-echo", "--voices", "2", "--seed", "3"]
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> float:
        """Start it; when its models announcement arrived (time.monotonic())."""
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self.out.wait_until(lambda ms: any(m.t > t0 and m.address == path("models") for m in ms),
                            timeout=60, what="the daemon's models")
        return next(m.t for m in self.out.messages if m.t > t0 and m.address == path("models"))

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()


def test_wall_per_voice_survives_daemon_kill_and_bridge_restart(tiny_models: dict[str, Path],
                                                                browser) -> None:
    daemon = RestartableDaemon(tiny_models)
    bridge = Bridge(daemon.control, "--wall")
    walls: list[Wall] = []
    try:
        assert any(line.rstrip().endswith(f":{bridge.port}/wall") for line in bridge.log)
        walls = [Wall(browser, bridge.url + "wall"), Wall(browser, bridge.url + "wall?voice=1")]
        for k, wall in enumerate(walls):  # a page per voice, each exactly its voice's text
            check_wall(wall, daemon.out, k, 60)
            assert wall.state()["voice"] == k

        daemon.kill()  # kill -9: no goodbye; the bridge notices the silence
        for wall in walls:
            wall.wait("window.charmix.state().conn === 'waiting'", what="the daemon's absence")
            assert wall.page.is_visible("#conn")
        late = Wall(browser, bridge.url + "wall?voice=1")  # a screen switched on meanwhile
        walls.append(late)
        late.wait("window.charmix.state().waiting === 'waiting for the charmix daemon…'",
                  what="the quiet message of a wall with no daemon")
        assert late.page.is_visible("#waiting") and late.state()["received"] == 0
        back = daemon.start()
        for wall in walls:
            wall.more_text(20)
        writing = time.monotonic()
        print(f"\nwalls writing again {writing - back:.2f} s after the daemon's return "
              f"(upper bound: {len(walls)} pages polled in turn)")
        assert not late.page.is_visible("#waiting")
        for k, wall in zip((0, 1, 1), walls, strict=True):
            check_wall(wall, daemon.out, k, 40)  # the new daemon's text

        port = bridge.port
        bridge.close()
        for wall in walls:
            wall.wait("window.charmix.state().conn === 'reconnecting'", what="reconnecting shown")
        bridge = Bridge(daemon.control, port=port)
        for wall in walls:
            wall.wait("window.charmix.state().conn === 'live'", timeout=30, what="live again")
            wall.more_text(20)
        assert [w.state()["voice"] for w in walls] == [0, 1, 1]

        # a bridge frozen (SIGSTOP: its sockets stay open, nothing comes): the walls give up on
        # the silent socket by themselves, say so, and are back when it thaws
        bridge.proc.send_signal(signal.SIGSTOP)
        try:
            for wall in walls:
                wall.wait("window.charmix.state().conn === 'reconnecting'", timeout=60,
                          what="a frozen bridge noticed")
        finally:
            bridge.proc.send_signal(signal.SIGCONT)
        for wall in walls:
            wall.wait("window.charmix.state().conn === 'live'", timeout=60, what="live again")
            wall.more_text(20)
        # Chromium itself logs each refused WebSocket while the bridge is away; nothing else
        errors = [e for w in walls for e in w.errors if "ERR_CONNECTION_REFUSED" not in e]
        assert errors == []
    finally:
        for wall in walls:
            wall.close()
        bridge.close()
        daemon.close()


ABSURD = ("size=0&lines=1e9&voice=abc&font=%3Cscript%3E&theme=purple&fig=diagonal&drift=x"
          "&weights=maybe&colour=rainbow&nonsense=1")


def test_wall_bad_input_renders_with_defaults(daemon: Daemon, browser) -> None:
    bridge = Bridge(daemon.control)
    walls: list[Wall] = []
    rng = random.Random(22)
    try:
        absurd = Wall(browser, bridge.url + "wall?" + ABSURD)
        huge = Wall(browser, bridge.url + "wall?size=1e9&voice=7&font=NoSuchFontAnywhere")
        walls = [absurd, huge]
        for wall in walls:
            wall.wait("window.charmix.text().length >= 30", what="text despite the URL")
        state = absurd.state()
        said = " | ".join(state["ignored"])
        for key in ("size=0", "lines=1e9", "voice=abc", "font=<script>", "theme=purple",
                    "fig=diagonal", "drift=x", "weights=maybe", "colour=rainbow", "nonsense"):
            assert key in said, (key, said)
        config = state["config"]
        assert (config["lines"], config["size"], config["theme"], config["fig"]) == (
            14, None, "dark", "none")
        assert absurd.page.is_visible("#note") and "ignored" in absurd.page.inner_text("#note")
        huge.wait("window.charmix.state().ignored.some(s => s.startsWith('voice=7'))",
                  what="the unknown voice said")
        said = " | ".join(huge.state()["ignored"])
        assert "size=1e9" in said and "NoSuchFontAnywhere" in said
        assert huge.state()["voice"] == 0  # back to the bridge's voice
        size = huge.page.evaluate("getComputedStyle(document.getElementById('text')).fontSize")
        assert 10 < float(size.removesuffix("px")) < 200

        # junk and oversized datagrams on the bridge's frame port, junk on the walls' socket
        import websocket

        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            deadline = time.monotonic() + 10
            for k in range(600):
                if time.monotonic() > deadline:
                    break
                junk = [rng.randbytes(rng.randint(0, 300)), b"#bundle\0" + rng.randbytes(60),
                        b"/charmix/attribution\0\0\0\0,ff\0" + b"\x7f\xc0\0\0" * 2,
                        b"/charmix/step\0\0\0,s\0\0abc\0", rng.randbytes(60000)][k % 5]
                udp.sendto(junk, ("127.0.0.1", bridge.frames_port))
                if k % 50 == 49:
                    time.sleep(0.02)  # let the bridge's loop drain its socket
        peer = websocket.create_connection(f"ws://127.0.0.1:{bridge.port}/wall/ws?voice=x",
                                           timeout=5)
        hello = json.loads(peer.recv())
        assert hello["t"] == "hello" and hello["voice"] == 0
        for msg in ("{", "null", json.dumps({"t": "pad", "touches": [[0, 0]]}), "x" * 900):
            peer.send(msg)
        peer.send_binary(b"\0" * 100)
        with contextlib.suppress(Exception):
            peer.send("y" * 5000)  # over the limit: the bridge closes this socket
        with contextlib.suppress(Exception):
            peer.close()
        for wall in walls:
            wall.more_text(20)
        assert bridge.proc.poll() is None

        # memory stays bounded: 60,000 more characters leave at most the budget in the DOM
        burst = "".join(chr(0x61 + k % 26) for k in range(60000))
        absurd.page.evaluate("(s) => { for (let i = 0; i < s.length; i += 2000) window.charmix"
                             ".feed({t: 'f', chars: [...s.slice(i, i + 2000)],"
                             " who: Array(2000).fill(1)}); }", burst)
        absurd.wait(f"window.charmix.text().includes({burst[-40:]!r})", what="the burst drawn")
        state = absurd.state()
        assert state["shown"] <= state["budget"] < 60000
        assert all(w.errors == [] for w in walls), [w.errors for w in walls]
    finally:
        for wall in walls:
            wall.close()
        out = bridge.close()
    assert "not understood" in out


def test_wall_light_plain_title_and_drift(daemon: Daemon, browser) -> None:
    bridge = Bridge(daemon.control)
    wall = Wall(browser, bridge.url + "wall?theme=light&colour=plain&caret=0&fade=0&drift=6"
                "&title=1&lines=6&font=monospace&fig=left")
    try:
        wall.wait("window.charmix.text().length >= 20", what="text")
        look = wall.page.evaluate("""(() => {
            const body = getComputedStyle(document.body);
            const runs = document.querySelectorAll('#runs span');
            return { bg: body.backgroundColor, fg: body.color,
              colours: [...new Set([...runs].map(s => getComputedStyle(s).color))],
              caret: getComputedStyle(document.getElementById('caret')).display,
              fig: document.getElementById('fig').getBoundingClientRect().width > 0,
              drift: document.getElementById('block').style.transform };
        })()""")
        assert look["bg"] == "rgb(245, 243, 238)" and look["colours"] == [look["fg"]]
        assert look["caret"] == "none" and look["fig"] and look["drift"].startswith("translate(")
        assert wall.state()["ignored"] == [] and wall.state()["rows"] <= 8
        # the title: the daemon's own /charmix/scene/current while a scene morph runs
        host, port = daemon.control.rsplit(":", 1)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            for address, args in ((path("scene/save"), ["Act II: the storm"]),
                                  (path("scene/recall"), ["Act II: the storm", 600.0])):
                msg = OscMessageBuilder(address)
                for a in args:
                    msg.add_arg(a)
                udp.sendto(msg.build().dgram, (host, int(port)))
        wall.wait("window.charmix.state().title === 'Act II: the storm'", what="the title")
        assert wall.page.inner_text("#title") == "Act II: the storm"
        assert wall.errors == []
    finally:
        wall.close()
        bridge.close()
