"""`charmix monitor` against a real daemon: what it shows must be what the daemon sent.

The daemon runs as a subprocess with the tiny models; an independent receiver (python-osc on its
own socket, the daemon's --send target) records the truth. The monitor subscribes by itself, so
everything it shows came through its own /charmix/subscribe. Views are read three ways: the
plain-text output of the CLI, the state and rich Text of an in-process run, and a real terminal
(tmux capture-pane) for the interactive view and the `q` key.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import helpers
import numpy as np
import pytest
import typer
from conftest import free_udp_port
from fakes.osc_receiver import OscReceiver, path
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.osc_packet import OscPacket
from rich.console import Console

from charmix.daemon import protocol
from charmix.daemon.client import frames as client_frames
from charmix.daemon.client import link as client_link
from charmix.daemon.monitor import app as monitor
from charmix.daemon.monitor import view as monitor_view
from charmix.daemon.protocol.palette import UNKNOWN

CLI = [sys.executable, "-m", "charmix.daemon.cli"]
wait_for = functools.partial(helpers.wait_for, poll=0.01)  # test_pd imports it


def send_udp(data: bytes, port: int) -> None:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as s:
        s.sendto(data, ("127.0.0.1", port))


@dataclass
class DaemonProc:
    proc: subprocess.Popen
    control: int
    stderr: str = ""  # filled in when it has stopped

    def send(self, suffix: str, *args: object) -> None:
        builder = OscMessageBuilder(path(suffix))
        for arg in args:
            builder.add_arg(arg)
        send_udp(builder.build().dgram, self.control)


@contextlib.contextmanager
def running_daemon(model_dir: Path, truth: OscReceiver, *extra: str) -> Iterator[DaemonProc]:
    """`charmix daemon` on free ports, sending to `truth`; stopped with Ctrl-C (SIGINT)."""
    control = free_udp_port()
    proc = subprocess.Popen(
        [*CLI, "daemon", "--models-dir", str(model_dir), "--listen", f"127.0.0.1:{control}",
         "--send", truth.target, "--no-echo", "--status-every", "0", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    daemon = DaemonProc(proc, control)
    try:
        truth.wait_for("step", timeout=30)
        yield daemon
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        daemon.stderr = err.decode("utf-8", "replace")


def frames(truth: OscReceiver) -> dict[int, dict[str, tuple]]:
    """The truth's frames by step: each message from one /charmix/char up to the next."""
    out: dict[int, dict[str, tuple]] = {}
    current: dict[str, tuple] | None = None
    with truth._cond:
        messages = list(truth.messages)
    for m in messages:
        name = m.address.removeprefix(protocol.PREFIX + "/")
        if name == "char":
            current = {}
        if current is None:
            continue
        current[name] = m.params
        if name == "step":
            out[m.params[0]] = current
    return out


def last_models(truth: OscReceiver) -> list[str]:
    return list(truth.wait_for("models").params)


@pytest.fixture
def truth() -> Iterator[OscReceiver]:
    with OscReceiver() as receiver:
        yield receiver


# -- against the real daemon ----------------------------------------------------------------
def test_plain_view_matches_what_the_daemon_sent(tiny_model_dir: Path, truth: OscReceiver,
                                                  tmp_path: Path) -> None:
    """The CLI in plain mode: once the daemon is paused, its last view is the last frame sent."""
    # stderr to a file, not to a pipe that nobody reads (which could block the monitor).
    with running_daemon(tiny_model_dir, truth, "--rate", "40", "--seed", "5") as daemon, \
            (tmp_path / "monitor.err").open("w+") as errors:
        env = {**os.environ, "COLUMNS": "100", "LINES": "30"}
        mon = subprocess.Popen([*CLI, "monitor", "-d", f"127.0.0.1:{daemon.control}", "--plain",
                                "--fps", "5"], stdout=subprocess.PIPE, stderr=errors,
                               env=env, text=True)
        out: list[str] = []
        reader = threading.Thread(target=lambda: out.extend(mon.stdout), daemon=True)
        reader.start()
        try:
            # Frames have reached the monitor (not just the names, which its query brings).
            wait_for(lambda: re.search(r"step \d+ ", "".join(out)), 20, "a view with frames")
            daemon.send("pause")
            truth.wait_for("status", lambda p: p[protocol.STATUS_FIELDS.index("paused")] == 1)
            wait_for(lambda: "PAUSED" in "".join(out), 10, "a view of the paused daemon")
        finally:
            mon.send_signal(signal.SIGINT)
            try:
                mon.wait(15)  # generous: a loaded CI machine
            except subprocess.TimeoutExpired:
                mon.kill()
                mon.wait()
            reader.join(5)
    stderr = (tmp_path / "monitor.err").read_text()
    assert mon.returncode == 0, f"exit {mon.returncode} after SIGINT; stderr: {stderr}"
    views = "".join(out).split("q quits")
    view = next(v for v in reversed(views) if "PAUSED" in v)
    by_step = frames(truth)
    last = max(by_step)
    frame = by_step[last]
    models = last_models(truth)
    assert f"step {last} " in view
    rows = {line.split()[0]: line for line in view.splitlines() if line.split()}
    vocab = truth.wait_for("vocab").params[0]
    for i, name in enumerate(models):
        row = rows[name]
        assert f"{frame['weights'][i]:.2f}" in row
        assert f"{frame['attribution'][i]:.2f}"[:4] in row
        dist = np.asarray(frame[f"model/{name}/dist"])
        assert f"{monitor_view.glyph(vocab[int(dist.argmax())])} {dist.max():.2f}".replace(
            " 0.", " .") in row
    mix = np.asarray(frame["dist"])
    assert f"{monitor_view.glyph(vocab[int(mix.argmax())])} {mix.max():.2f}".replace(
        " 0.", " .") in rows["mix"]
    # The last text row is the tail of the current line (/charmix/text), as the daemon wrote it.
    lines = view.strip("\n").splitlines()
    table = next(i for i, r in enumerate(lines) if r.startswith("model "))
    last_row = lines[table - 1]
    line = frame["text"][0]
    if line.endswith("\n"):
        assert last_row.strip() == ""
    else:
        mapped = "".join(" " if c == " " else monitor_view.glyph(c) for c in line)
        assert last_row.strip() and mapped.rstrip().endswith(last_row.rstrip())
    assert "dropped steps 0" in view and "malformed 0" in view and "unknown 0" in view


def test_text_is_coloured_by_the_model_that_wrote_it(tiny_model_dir: Path,
                                                     truth: OscReceiver) -> None:
    """In process: every character the monitor shows carries the argmax of its attribution."""
    with running_daemon(tiny_model_dir, truth, "--rate", "60", "--seed", "2", "--weights",
                        "1,0.5,1") as daemon:
        link = client_link.Link(("127.0.0.1", daemon.control), None)
        console = Console(file=io.StringIO(), record=True, width=100, height=30,
                          force_terminal=True, color_system="truecolor")
        state = monitor.run_monitor(console, link, monitor.RunLimits(frames=6), fps=4, top=3,
                                    plain=True, keys=False)
        daemon.send("pause")
    by_step = frames(truth)
    models = last_models(truth)
    seen = [(ch, model) for ch, model in state.text]
    assert len(seen) >= 20
    # Pair the monitor's characters with the truth by step: the monitor saw the last steps.
    steps = sorted(s for s in by_step if s <= (state.step or -1))[-len(seen):]
    for k, ((ch, model), step) in enumerate(zip(seen, steps, strict=True)):
        frame = by_step[step]
        assert ch == frame["char"][0]
        if model is None and k == len(seen) - 1:
            continue  # stopped reading between the datagrams of the last step
        assert model == int(np.argmax(frame["attribution"]))
    assert state.models == models
    text = monitor_view.render(state, "test", 100, 30, fill=False)
    console.print(text)
    exported = console.export_text()
    assert all(name in exported for name in models)
    rendered = monitor_view._text_view(state, 100, 30, fill=False)
    colours = {str(span.style) for span in rendered.spans}
    assert colours <= {monitor_view.model_colour(i, models) for i in range(len(models))} | {UNKNOWN}
    assert len(colours - {UNKNOWN}) >= 2  # weights 1, 0.5, 1: more than one model writes
    assert state.counters.malformed == state.counters.unknown == state.counters.bad_args == 0


def test_listen_mode_reads_the_daemons_send_port(tiny_model_dir: Path, truth: OscReceiver) -> None:
    """`--listen PORT` reads what the daemon's --send delivers there; no subscription."""
    port = free_udp_port()
    with running_daemon(tiny_model_dir, truth, "--rate", "30", "--send", f"127.0.0.1:{port}",
                        "--seed", "1") as daemon:
        done = subprocess.run([*CLI, "monitor", "-d", f"127.0.0.1:{daemon.control}", "--listen",
                               str(port), "--once", "--timeout", "10"],
                              capture_output=True, text=True, timeout=30,
                              env={**os.environ, "COLUMNS": "100"})
        assert done.returncode == 0, done.stderr
        assert f":{port} (listening)" in done.stdout
        assert all(name in done.stdout for name in last_models(truth))
    assert "subscriber" not in daemon.stderr  # it never subscribed


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux not installed")
@pytest.mark.parametrize("quit_by", ["q", "SIGTERM"])
def test_interactive_view_in_a_terminal_quits_cleanly(tiny_model_dir: Path, truth: OscReceiver,
                                                     tmp_path: Path, quit_by: str) -> None:
    """A real terminal (tmux): the live view draws; `q` or SIGTERM quits, the terminal is
    restored and the subscription dropped."""
    session = f"charmix-monitor-{os.getpid()}-{free_udp_port()}"
    marker = tmp_path / "exited"
    with running_daemon(tiny_model_dir, truth, "--rate", "30") as daemon:
        command = (f"stty -g > {tmp_path}/before; {' '.join(CLI)} monitor -d "
                   f"127.0.0.1:{daemon.control}; echo $? > {marker}; stty -g > {tmp_path}/after;"
                   " sleep 30")
        subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "110", "-y", "32",
                        command], check=True)
        try:
            def screen() -> str:
                return subprocess.run(["tmux", "capture-pane", "-p", "-t", session],
                                      capture_output=True, text=True).stdout

            models = last_models(truth)
            wait_for(lambda: all(n in screen() for n in models) and "chars/s" in screen(), 20,
                     "the live view")
            shown = screen()
            assert "q quits" in shown and "(subscribed)" in shown
            assert "daemon  rx_ok" in shown  # the status came (on /charmix/query)
            if quit_by == "q":
                subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
            else:
                shell = subprocess.run(["tmux", "display", "-p", "-t", session, "#{pane_pid}"],
                                       capture_output=True, text=True, check=True).stdout
                child = subprocess.run(["pgrep", "-P", shell.strip()], capture_output=True,
                                       text=True, check=True).stdout.split()
                assert len(child) == 1
                os.kill(int(child[0]), signal.SIGTERM)
            after = tmp_path / "after"  # the shell creates it before stty has written to it
            wait_for(lambda: marker.exists() and after.exists() and after.read_text(), 10,
                     f"the monitor to quit on {quit_by}")
        finally:
            subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
    assert marker.read_text().strip() == "0"
    assert (tmp_path / "before").read_text() == (tmp_path / "after").read_text()
    assert "removed" in daemon.stderr  # it unsubscribed on the way out


def test_once_shows_a_paused_daemon(tiny_model_dir: Path, truth: OscReceiver) -> None:
    """No frames come from a paused daemon; --once still shows its status (from the query)."""
    with running_daemon(tiny_model_dir, truth, "--rate", "30") as daemon:
        daemon.send("pause")
        truth.sock.sendto(message("query"), ("127.0.0.1", daemon.control))
        truth.wait_for("status", lambda p: p[protocol.STATUS_FIELDS.index("paused")] == 1)
        done = subprocess.run([*CLI, "monitor", "-d", f"127.0.0.1:{daemon.control}", "--once",
                               "--timeout", "0.5"], capture_output=True, text=True, timeout=30,
                              env={**os.environ, "COLUMNS": "100"})
    assert done.returncode == 0, done.stderr
    assert "PAUSED" in done.stdout and "bible" in done.stdout


def test_once_with_no_daemon_says_so_and_fails() -> None:
    done = subprocess.run([*CLI, "monitor", "-d", f"127.0.0.1:{free_udp_port()}", "--once",
                           "--timeout", "0.3"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert "nothing received" in done.stderr and "charmix daemon" in done.stderr


# -- the parts, with exact inputs ---------------------------------------------------------------
def message(suffix: str, *args: object) -> bytes:
    builder = OscMessageBuilder(path(suffix))
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


def bundle(*messages: bytes) -> bytes:
    from pythonosc.osc_message import OscMessage

    b = OscBundleBuilder(IMMEDIATELY)
    for m in messages:
        b.add_content(OscMessage(m))
    return b.build().dgram


def frame_datagram(step: int, ch: str, attribution: list[float], vocab: str = "ab") -> bytes:
    p = [0.75, 0.25]
    return bundle(
        message("char", ch), message("index", vocab.index(ch)), message("step", step),
        message("text", ch), message("dist", *p), message("weights", 0.5, 0.5),
        message("attribution", *attribution), message("entropy", 1.0, 1.0),
        message("model/x/dist", *p), message("model/y/dist", *p[::-1]),
    )


def test_state_counts_bad_input_and_never_raises() -> None:
    state = client_frames.MonitorState()
    state.feed(bundle(message("models", "x", "y"), message("vocab", "ab")), 0.0)
    bad = [b"", b"\x00\x01", b"#bundle\x00garbage", b"/charmix/char\x00\x00\x00,s\x00",
           message("char", 1.5)[:-2]]
    for data in bad:
        state.feed(data, 0.1)
    state.feed(message("nothing/here", 1), 0.2)
    state.feed(message("weights", "heavy"), 0.2)  # strings where floats belong
    state.feed(message("dist", 0.5, 0.2, 0.3), 0.2)  # three values for a two-character vocab
    state.feed(message("status", 1.0, 2.0), 0.2)  # too few status fields
    c = state.counters
    assert c.malformed >= 3 and c.unknown == 1 and c.bad_args >= 3
    assert state.mix is None and not state.status and not state.weights


def test_state_follows_frames_and_counts_drops_and_restarts() -> None:
    state = client_frames.MonitorState()
    state.feed(bundle(message("models", "x", "y"), message("vocab", "ab")), 0.0)
    for step, t in ((0, 0.0), (1, 0.1), (2, 0.2), (5, 0.3)):
        state.feed(frame_datagram(step, "ab"[step % 2], [0.2, 0.8] if step % 2 else [0.9, 0.1]),
                   t)
    assert state.counters.dropped_steps == 2  # steps 3 and 4 never came
    assert [(ch, m) for ch, m in state.text] == [("a", 0), ("b", 1), ("a", 0), ("b", 1)]
    assert state.top(state.mix, 2) == [("a", 0.75), ("b", 0.25)]
    assert state.top(state.dists["y"], 1) == [("b", 0.75)]
    # A frame whose later datagram was lost: counted as incomplete when the next one starts.
    state.feed(bundle(message("char", "a"), message("index", 0), message("step", 6)), 0.4)
    state.feed(frame_datagram(7, "b", [0.5, 0.5]), 0.5)
    assert state.counters.incomplete == 1
    assert state.text[-2] == ["a", None]  # no attribution came: shown uncoloured
    state.feed(frame_datagram(0, "a", [1.0, 0.0]), 0.6)  # the daemon restarted
    assert state.counters.restarts == 1 and state.counters.dropped_steps == 2


def test_chars_per_second_is_measured_over_the_recent_window() -> None:
    state = client_frames.MonitorState()
    for step in range(41):
        state.feed(message("step", step), 10.0 + step * 0.05)  # 20 per second
    assert state.chars_per_s(12.0) == pytest.approx(20, rel=0.05)
    assert state.chars_per_s(30.0) == 0.0  # nothing recent


def test_render_fits_the_width_and_shows_every_model() -> None:
    state = client_frames.MonitorState()
    state.feed(bundle(message("models", "shakespeare", "x" * 30), message("vocab", "ab")), 0.0)
    state.feed(frame_datagram(0, "a", [0.3, 0.7]), 0.0)
    for width in (60, 80, 132):
        console = Console(file=io.StringIO(), width=width, record=True)
        console.print(monitor_view.render(state, "src", width, 24))
        lines = console.export_text().splitlines()
        assert max(len(line) for line in lines) <= width
        assert any(line.startswith("shakespeare") for line in lines)
        assert any(line.startswith("mix") for line in lines)


def test_header_says_when_nothing_arrives() -> None:
    state = client_frames.MonitorState()

    def header(now: float) -> str:
        console = Console(file=io.StringIO(), width=100, record=True)
        console.print(monitor_view.render(state, "src", 100, 24, now=now))
        return console.export_text().splitlines()[1]

    assert "waiting for the daemon" in header(0.0)
    state.feed(message("step", 1), 10.0)
    assert "nothing received" not in header(10.5)
    assert "nothing received for 5 s" in header(15.0)


def test_link_subscribes_renews_and_unsubscribes() -> None:
    with OscReceiver(answer_models=["x"]) as fake_daemon:
        link = client_link.Link(("127.0.0.1", fake_daemon.port), None)
        link.maintain(100.0, want_announce=True)
        fake_daemon.wait_for("subscribe", lambda p: p == (link.port,))
        fake_daemon.wait_for("query")
        link.maintain(100.5, want_announce=False)  # too soon: nothing
        link.maintain(100.0 + client_link.RENEW_EVERY + 0.1, want_announce=False)
        subs = fake_daemon.wait_count("subscribe", 2)
        assert client_link.RENEW_EVERY < protocol.SUBSCRIBER_TTL / 2
        state = client_frames.MonitorState()
        wait_for(lambda: link.receive(state) or state.models, 5, "the query's reply")
        assert state.models == ["x"] and len(subs) == 2
        link.close()
        fake_daemon.wait_for("unsubscribe", lambda p: p == (link.port,))


def test_whole_datagrams_are_read_past_8_kib() -> None:
    link = client_link.Link(("127.0.0.1", free_udp_port()), ("127.0.0.1", 0))
    try:
        big = message("dist", *([1.0 / 3000] * 3000))  # ~15 kB
        send_udp(big, link.port)
        state = client_frames.MonitorState()
        wait_for(lambda: link.receive(state) or state.mix is not None, 5, "the datagram")
        assert state.mix is not None and state.mix.size == 3000
        assert state.counters.bytes == len(big) > 8192
    finally:
        link.close()


@pytest.mark.parametrize("spec,expected", [("7770", ("h", 7770)), (":9", ("h", 9)),
                                           ("10.0.0.2:7770", ("10.0.0.2", 7770)),
                                           ("x", ("x", protocol.CONTROL_PORT))])
def test_parse_hostport(spec: str, expected: tuple[str, int]) -> None:
    assert client_link.parse_hostport(spec, "h") == expected


def test_listen_on_a_bare_host_takes_the_output_port() -> None:
    assert client_link.parse_hostport("0.0.0.0", "h", protocol.OUTPUT_PORT) == (
        "0.0.0.0", protocol.OUTPUT_PORT)


@pytest.mark.parametrize("spec", ["", "host:", "host:70000", "1:-1"])
def test_parse_hostport_refuses_nonsense(spec: str) -> None:
    with pytest.raises(typer.BadParameter):
        client_link.parse_hostport(spec, "h")


def _ipv6_loopback() -> socket.socket:
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    sock.settimeout(5.0)
    return sock


def test_an_ipv6_daemon_gets_an_ipv6_socket() -> None:
    """-d [::1]:7770 subscribes and queries over IPv6 and reads the reply (it used to be v4)."""
    with _ipv6_loopback() as fake_daemon:
        link = client_link.Link(("::1", fake_daemon.getsockname()[1]), None)
        try:
            assert link.sock.family == socket.AF_INET6
            link.maintain(100.0, want_announce=True)
            got = {}
            for _ in range(2):
                data, src = fake_daemon.recvfrom(65535)
                msg = OscPacket(data).messages[0].message
                got[msg.address] = msg.params
            assert got[path("subscribe")] == [link.port] and path("query") in got
            fake_daemon.sendto(message("models", "x", "y"), src)
            state = client_frames.MonitorState()
            wait_for(lambda: link.receive(state) or state.models, 5, "the reply over IPv6")
            assert state.models == ["x", "y"]
            assert "[::1]:" in link.describe()
        finally:
            link.close()


def test_listen_mode_follows_an_ipv6_daemons_family() -> None:
    with _ipv6_loopback() as fake_daemon:
        daemon = ("::1", fake_daemon.getsockname()[1])
        link = client_link.Link(daemon, ("0.0.0.0", 0))  # the --listen default host: "any"
        try:
            assert link.sock.family == socket.AF_INET6
            link.maintain(100.0, want_announce=True)
            data, _ = fake_daemon.recvfrom(65535)
            assert OscPacket(data).messages[0].message.address == path("query")
        finally:
            link.close()
        with pytest.raises(OSError, match="both IPv4 or both IPv6"):
            client_link.Link(daemon, ("127.0.0.1", 0))


def test_once_help_says_what_the_exit_status_is() -> None:
    """--once exits 0 on status alone (test_once_shows_a_paused_daemon); 1 only on nothing."""
    import typer.main

    from charmix.daemon.cli import app

    command = typer.main.get_command(app).commands["monitor"]  # type: ignore[attr-defined]
    (once,) = [p for p in command.params if p.name == "once"]
    assert "exit 0" in once.help and "exit 1 if nothing arrived at all" in once.help
