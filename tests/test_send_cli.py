"""`charmix send …`: generated from the address table, typed, range-checked, over real UDP."""

from __future__ import annotations

import subprocess
import sys

import pytest
from fakes.osc_receiver import OscReceiver
from typer.testing import CliRunner

from charmix.controllers.send_cli import command_name, send_app
from charmix.daemon import protocol
from charmix.daemon.cli import app

runner = CliRunner()


@pytest.fixture
def rx():
    with OscReceiver() as r:
        yield r


def send(rx: OscReceiver, command: str, *args: str):
    """A plain receiver answers no /charmix/query: --timeout 0 sends unchecked (exit 0)."""
    return runner.invoke(app, ["send", command, "--to", rx.target, "--timeout", "0", *args])


def test_every_input_address_has_a_send_command() -> None:
    """The sub-commands are the table: nothing missing, nothing invented."""
    names = {c.name for c in send_app.registered_commands}
    assert names == {command_name(a) for a in protocol.INPUT}
    for wanted in ("weights", "weight", "temperature", "mode", "rate", "prime", "reset", "pause",
                   "resume", "tick", "seed", "topk", "topp", "query", "model-temperature"):
        assert wanted in names


@pytest.mark.parametrize(
    ("argv", "suffix", "params"),
    [
        (["weights", "0.2", "0.8", "0"], "weights", (0.2, 0.8, 0.0)),
        (["weight", "bible", "0.5"], "weight/bible", (0.5,)),
        (["temperature", "0.7"], "temperature", (0.7,)),
        (["model-temperature", "bible", "1.2"], "model/bible/temperature", (1.2,)),
        (["mode", "geometric"], "mode", ("geometric",)),
        (["rate", "30"], "rate", (30.0,)),
        (["slew", "0.5"], "slew", (0.5,)),
        (["prime", "To be, or not"], "prime", ("To be, or not",)),
        (["reset"], "reset", ()),
        (["pause"], "pause", ()),
        (["resume"], "resume", ()),
        (["tick"], "tick", ()),
        (["seed", "42"], "seed", (42,)),
        (["seed", "99999999999"], "seed", (99999999999,)),  # sent as int64
        (["topk", "5"], "topk", (5,)),
        (["topp", "0.9"], "topp", (0.9,)),
        (["subscribe", "9000"], "subscribe", (9000,)),
        (["unsubscribe", "9000", "10.0.0.5"], "unsubscribe", (9000, "10.0.0.5")),
    ],
)
def test_send_command_reaches_a_udp_receiver(rx, argv, suffix, params) -> None:
    result = send(rx, *argv)
    assert result.exit_code == 0, result.output
    got = rx.wait_for(suffix)
    assert got.params == pytest.approx(params)
    assert [type(p) for p in got.params] == [type(p) for p in params]  # f stays f, i stays i


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (["temperature", "9"], "temperature must be in 0.05 – 5, got 9"),
        (["weights", "0.5", "-1.5"], "weight 2 must be in -1 – 1"),  # signed: no '--' needed
        (["weights", "nan"], "must be finite"),
        (["mode", "loud"], "must be one of linear, geometric"),
        (["topp", "0"], "must be in (0, 1]"),
        (["seed", "99999999999999999999"], "must be in 0 – 2^63−1"),
        (["topk", "99999999999999999999"], "64-bit"),
        (["seed", "--", "-1"], "must be in 0 – 2^63−1"),
    ],
)
def test_out_of_range_is_an_error_and_sends_nothing(rx, argv, why) -> None:
    result = send(rx, *argv)
    assert result.exit_code == 2
    assert why in result.output
    send(rx, "tick")  # a sentinel: once it arrives, anything sent before it would have too
    rx.wait_for("tick")
    assert [m.address for m in rx.messages] == [protocol.PREFIX + "/tick"]


def test_several_targets_all_receive(rx) -> None:
    with OscReceiver() as rx2:
        result = runner.invoke(app, ["send", "temperature", "0.6", "--to", rx.target,
                                     "--to", rx2.target, "--timeout", "0"])
        assert result.exit_code == 0, result.output
        for r in (rx, rx2):
            assert r.wait_for("temperature").params == pytest.approx((0.6,))


def test_bad_target_is_a_clear_error() -> None:
    result = runner.invoke(app, ["send", "tick", "--to", "localhost:"])
    assert result.exit_code == 2
    assert "missing port" in result.output


def test_query_prints_models_vocab_and_status() -> None:
    with OscReceiver(answer_models=["austen", "bible"]) as daemon:
        result = runner.invoke(app, ["send", "query", "--to", daemon.target, "--timeout", "5"])
    assert result.exit_code == 0, result.output
    assert "models: austen bible" in result.output
    assert "vocab:  3 characters 'abc'" in result.output
    assert "temperature" in result.output and "uptime" in result.output


def test_query_without_a_daemon_says_so(rx) -> None:
    result = runner.invoke(app, ["send", "query", "--to", rx.target, "--timeout", "0.2"])
    assert result.exit_code == 1
    assert "no daemon answered" in result.output


def test_the_installed_command_line_works(rx) -> None:
    """The real entry point in a subprocess: what a shell script would run."""
    proc = subprocess.run(
        [sys.executable, "-m", "charmix.daemon.cli", "send", "weights", "1", "0", "0",
         "--to", rx.target, "--timeout", "0"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert rx.wait_for("weights").params == pytest.approx((1.0, 0.0, 0.0))


@pytest.mark.parametrize("command", ["subscribe", "unsubscribe"])
def test_subscribe_needs_a_port_from_the_command_line(rx, command: str) -> None:
    """Without PORT the daemon would use the CLI's own port, closed once the command exits."""
    result = send(rx, command)
    assert result.exit_code == 2
    assert "Missing argument 'PORT'" in result.output
    send(rx, "tick")  # a sentinel: once it arrives, anything sent before it would have too
    rx.wait_for("tick")
    assert [m.address for m in rx.messages] == [protocol.PREFIX + "/tick"]
