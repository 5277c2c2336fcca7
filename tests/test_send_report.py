"""`charmix send` says what happened (issue 9 §3), against the real daemon over real UDP.

Tried as a new user would, a wrong model name, eight weights for six models and no daemon at all
each once printed nothing and exited 0. Now each is one line and exit 1; a usage error exits 2.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.osc_receiver import OscReceiver
from helpers import DaemonProcess
from typer.testing import CliRunner

from charmix.daemon import protocol
from charmix.daemon.cli import app

runner = CliRunner()
P = protocol.PREFIX


@pytest.fixture(scope="module")
def daemon(tiny_models: dict[str, Path]) -> Iterator[DaemonProcess]:
    with contextlib.closing(DaemonProcess(tiny_models, 20)) as d:
        yield d


def send(*argv: str):
    return runner.invoke(app, ["send", *argv])


def test_applied_is_one_line_and_exit_0(daemon: DaemonProcess) -> None:
    result = send("--to", daemon.control, "weight", daemon.names[1], "0.5")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == (f"{daemon.control}: {P}/weight/{daemon.names[1]} 0.5 applied")


def test_the_option_goes_before_or_after_the_verb(daemon: DaemonProcess) -> None:
    before = send("--to", daemon.control, "temperature", "0.7")
    after = send("temperature", "0.7", "--to", daemon.control)
    assert before.exit_code == after.exit_code == 0, before.output + after.output
    assert before.output == after.output == f"{daemon.control}: {P}/temperature 0.7 applied\n"
    query = send("--to", daemon.control, "query")
    assert query.exit_code == 0 and "models: " + " ".join(daemon.names) in query.output


def test_a_short_weight_vector_says_the_rest_keep_theirs(daemon: DaemonProcess) -> None:
    result = send("--to", daemon.control, "weights", "1")
    assert result.exit_code == 0, result.output
    rest = ", ".join(daemon.names[1:])
    assert result.output.strip().endswith(f"applied; {rest} keep their weight")


def test_a_wrong_model_name_is_refused_before_sending(daemon: DaemonProcess) -> None:
    result = send("--to", daemon.control, "weight", "austen", "1")
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert f"not sent: it has no model 'austen' (it runs {', '.join(daemon.names)})" \
        in result.output


def test_more_weights_than_models_is_refused_before_sending(daemon: DaemonProcess) -> None:
    result = send("--to", daemon.control, "weights", *["0.1"] * 8)
    assert result.exit_code == 1
    assert f"not sent: 8 values for its {len(daemon.names)} models" in result.output


def test_a_refusal_by_the_daemon_itself_is_reported(daemon: DaemonProcess) -> None:
    """A subscription for a host outside --allow passes every local check; the daemon says no."""
    result = send("--to", daemon.control, "subscribe", "9000", "10.9.9.9")
    assert result.exit_code == 1
    assert "the daemon refused /charmix/subscribe 9000 '10.9.9.9' (rx_denied +1" in result.output


def test_quiet_prints_nothing_on_success_and_the_line_on_failure(daemon: DaemonProcess) -> None:
    ok = send("--quiet", "--to", daemon.control, "tick")
    assert ok.exit_code == 0 and ok.output == ""
    bad = send("weight", "austen", "1", "--to", daemon.control, "-q")
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
