"""Issue 9 §4: the same habits in every command, through the real entry point in a subprocess.

One line for every usage error (never typer's box), exit 2 for usage and 1 for runtime failures,
`charmix --version`, and the daemon's status line on a line of its own when the text and the log
share a pipe (`make run 2>&1 | tee log`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import free_udp_port

from charmix.daemon.runtime.console import Console

CLI = [sys.executable, "-m", "charmix.daemon.cli"]


def charmix(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["daemon", "--rate", "fast"], "Invalid value for '--rate'"),
        (["daemon", "--bogus"], "No such option: --bogus"),
        (["send", "tick", "--bogus"], "No such option: --bogus"),
        (["send", "subscribe"], "Missing argument 'PORT'"),
        (["nosuch"], "No such command 'nosuch'"),
        (["send", "temperature", "9"], "temperature must be in 0.05 – 5, got 9"),
        (["send", "tick", "--to", "localhost:"], "missing port"),
        (["daemon", "--mode", "loud"], "--mode must be one of linear, geometric"),
        (["monitor", "--listen", "localhost:x"], "monitor"),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2(args: list[str], says: str) -> None:
    proc = charmix(*args)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("charmix: ") and says in lines[0], lines[0]
    assert not re.search("[╭│╰]", proc.stderr)  # typer's box


def test_a_usage_error_names_the_help_to_read() -> None:
    line = charmix("daemon", "--rate", "fast").stderr.strip()
    assert line.endswith("(see charmix daemon --help)")


def test_a_runtime_failure_is_one_line_and_exit_1() -> None:
    """No daemon at the address: the message went out, but nothing confirmed it."""
    proc = charmix("send", "tick", "--to", f"127.0.0.1:{free_udp_port()}", "--timeout", "0.2")
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1 and "no daemon answered" in proc.stderr


def test_version() -> None:
    proc = charmix("--version")
    assert proc.returncode == 0
    assert re.fullmatch(r"charmix \d+\.\d+\.\d+\S*\n", proc.stdout)


def test_help_exits_0_and_no_command_shows_help_with_2() -> None:
    assert charmix("--help").returncode == 0
    bare = charmix("send")
    assert bare.returncode == 2 and bare.stdout.count("Usage: charmix send") == 1


# -- the status line on a line of its own ----------------------------------------------------
def test_console_breaks_the_line_for_a_log_line_in_a_shared_pipe() -> None:
    r, w = os.pipe()
    out, err = os.fdopen(w, "w"), os.fdopen(os.dup(w), "w")  # `2>&1 | tee`: one pipe
    console = Console(out, err)
    console.text("Once upon")
    console.line("charmix: 120 chars  15.0 chars/s")
    console.text(" a time\n")
    console.line("charmix: stopped")
    console.close(timeout=2)
    out.close()
    err.close()
    with os.fdopen(r) as reader:
        got = reader.read()
    assert got == "Once upon\ncharmix: 120 chars  15.0 chars/s\n a time\ncharmix: stopped\n"


def test_console_never_alters_the_text_when_it_goes_elsewhere(tmp_path: Path) -> None:
    """`charmix daemon --echo > text.txt 2> log.txt`: the text file is exactly the text."""
    text, log = tmp_path / "text.txt", tmp_path / "log.txt"
    with open(text, "w") as out, open(log, "w") as err:
        console = Console(out, err)
        console.text("Once upon")
        console.line("charmix: status")
        console.text(" a time")
        console.close(timeout=2)
    assert text.read_text() == "Once upon a time"
    assert log.read_text() == "charmix: status\n"


def test_the_daemons_status_lines_start_on_their_own_line(tiny_model_dir: Path) -> None:
    """The real daemon, stdout and stderr into one pipe, a status line every 0.3 s."""
    proc = subprocess.Popen(
        [*CLI, "daemon", "--models-dir", str(tiny_model_dir), "--echo", "--rate", "200",
         "--status-every", "0.3", "--listen", "127.0.0.1:0",
         "--send", f"127.0.0.1:{free_udp_port()}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()

    def status() -> list[str]:
        return [line for line in list(lines) if re.search(r"\d chars +[\d.]+ chars/s", line)]

    deadline = time.monotonic() + 40  # model loading is slow on a busy machine
    try:
        while len(status()) < 4 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        reader.join(5)
    found = status()
    assert len(found) >= 4, "".join(lines)[-2000:]
    assert all(line.startswith("charmix: ") for line in found), found
