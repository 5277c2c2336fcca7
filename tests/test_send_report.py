"""`charmix send` says what happened (issue 9 §3), against the real daemon over real UDP.

Tried as a new user would, a wrong model name, eight weights for six models and no daemon at all
each once printed nothing and exited 0. Now each is one line and exit 1; a usage error exits 2.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_udp_port
from fakes.osc_receiver import OscReceiver
from typer.testing import CliRunner

from charmix.daemon import protocol
from charmix.daemon.cli import app

runner = CliRunner()
P = protocol.PREFIX


class Daemon:
    """`charmix daemon` with the three tiny real models on free loopback ports."""

    def __init__(self, models: dict[str, Path]) -> None:
        self.target = f"127.0.0.1:{free_udp_port()}"
        self.out = OscReceiver()
        args = [sys.executable, "-m", "charmix.daemon.cli", "daemon", "--listen", self.target,
                "--send", self.out.target, "--rate", "20", "--status-every", "0", "--no-echo"]
        for model in models.values():
            args += ["--model", str(model)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        try:
            self.names = list(self.out.wait_for("models", timeout=30).params)
        except AssertionError:
            self.close()
            raise

    def close(self) -> str:
        self.proc.terminate()
        err = self.proc.communicate(timeout=10)[1]
        self.out.close()
        return err


@pytest.fixture(scope="module")
def daemon(tiny_models: dict[str, Path]) -> Iterator[Daemon]:
    d = Daemon(tiny_models)
    yield d
    err = d.close()
    assert "Traceback" not in err, err


def send(*argv: str):
    return runner.invoke(app, ["send", *argv])


def test_applied_is_one_line_and_exit_0(daemon: Daemon) -> None:
    result = send("--to", daemon.target, "weight", daemon.names[1], "0.5")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (f"{daemon.target}: {P}/weight/{daemon.names[1]} 0.5 applied")


def test_the_option_goes_before_or_after_the_verb(daemon: Daemon) -> None:
    before = send("--to", daemon.target, "temperature", "0.7")
    after = send("temperature", "0.7", "--to", daemon.target)
    assert before.exit_code == after.exit_code == 0, before.output + after.output
    assert before.output == after.output == f"{daemon.target}: {P}/temperature 0.7 applied\n"
    query = send("--to", daemon.target, "query")
    assert query.exit_code == 0 and "models: " + " ".join(daemon.names) in query.output


def test_a_short_weight_vector_says_the_rest_keep_theirs(daemon: Daemon) -> None:
    result = send("--to", daemon.target, "weights", "1")
    assert result.exit_code == 0, result.output
    rest = ", ".join(daemon.names[1:])
    assert result.output.strip().endswith(f"applied; {rest} keep their weight")


def test_a_wrong_model_name_is_refused_before_sending(daemon: Daemon) -> None:
    result = send("--to", daemon.target, "weight", "austen", "1")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert f"not sent: it has no model 'austen' (it runs {', '.join(daemon.names)})" \
        in result.output


def test_more_weights_than_models_is_refused_before_sending(daemon: Daemon) -> None:
    result = send("--to", daemon.target, "weights", *["0.1"] * 8)
    assert result.exit_code == 1
    assert f"not sent: 8 values for its {len(daemon.names)} models" in result.output


def test_a_refusal_by_the_daemon_itself_is_reported(daemon: Daemon) -> None:
    """A subscription for a host outside --allow passes every local check; the daemon says no."""
    result = send("--to", daemon.target, "subscribe", "9000", "10.9.9.9")
    assert result.exit_code == 1
    assert "the daemon refused /charmix/subscribe 9000 '10.9.9.9' (rx_denied +1" in result.output


def test_quiet_prints_nothing_on_success_and_the_line_on_failure(daemon: Daemon) -> None:
    ok = send("--quiet", "--to", daemon.target, "tick")
    assert ok.exit_code == 0 and ok.output == ""
    bad = send("weight", "austen", "1", "--to", daemon.target, "-q")
    assert bad.exit_code == 1 and "no model 'austen'" in bad.output


def test_no_daemon_is_exit_1_and_the_message_still_goes_out() -> None:
    with OscReceiver() as rx:  # a port that answers no query: nothing there to confirm it
        result = send("--to", rx.target, "--timeout", "0.2", "reset")
        assert rx.wait_for("reset").params == ()
    assert result.exit_code == 1
    assert f"{rx.target}: sent {P}/reset, but no daemon answered /charmix/query within 0.2 s" \
        in result.output


def test_a_usage_error_is_exit_2_and_sends_nothing() -> None:
    with OscReceiver() as rx:
        result = send("--to", rx.target, "temperature", "9")
        send("--to", rx.target, "--timeout", "0", "tick")  # a sentinel after it
        rx.wait_for("tick")
        assert [m.address for m in rx.messages] == [f"{P}/tick"]
    assert result.exit_code == 2
    assert result.output.strip() == \
        f"charmix: {P}/temperature: temperature must be in 0.05 – 5, got 9"
