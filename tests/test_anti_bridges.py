"""Anti-experts in the bridges and views (issue #24): `charmix send` takes negative weights,
MIDI --bipolar faders, the web page's signed sliders, the monitor's bar the other way."""

from __future__ import annotations

import re
from pathlib import Path

import mido
import pytest
from fakes.osc_receiver import OscReceiver
from typer.testing import CliRunner

from charmix.controllers.midi.bridge import MidiMapper, bipolar
from charmix.controllers.midi.layout import default_layout
from charmix.controllers.web import control as wc
from charmix.daemon.cli import app
from charmix.daemon.monitor.view import _bar
from charmix.daemon.recording.reader import Performance
from charmix.daemon.tools.render import svg_plot

NAMES = ["shakespeare", "bible", "linux"]
runner = CliRunner()


@pytest.fixture
def rx():
    with OscReceiver() as r:
        yield r


@pytest.mark.parametrize(("argv", "suffix", "params"), [
    (["weights", "1", "-0.5", "0"], "weights", (1.0, -0.5, 0.0)),
    (["weight", "bible", "-0.5"], "weight/bible", (-0.5,)),
    (["weights", "--", "1", "-1"], "weights", (1.0, -1.0)),  # '--' still works
    (["beta", "0.2"], "beta", (0.2,)),
])
def test_send_takes_negative_weights(rx: OscReceiver, argv: list[str], suffix: str,
                                     params: tuple) -> None:
    result = runner.invoke(app, ["send", "--to", rx.target, "--timeout", "0", *argv])
    assert result.exit_code == 0, result.output
    assert rx.wait_for(suffix).params == pytest.approx(params)


@pytest.mark.parametrize(("argv", "why"), [
    (["weights", "1", "-1.5"], "weight 2 must be in -1 – 1, got -1.5"),
    (["weights", "1", "--bogus"], "WEIGHT"),  # a mistyped option: still one usage line
    (["beta", "2"], "beta must be in 0 – 1"),
])
def test_send_refuses_signed_values_out_of_range(rx: OscReceiver, argv: list[str],
                                                 why: str) -> None:
    result = runner.invoke(app, ["send", "--to", rx.target, "--timeout", "0", *argv])
    assert result.exit_code == 2 and why in result.output, result.output
    assert not rx.of("weights")


def test_bipolar_levels() -> None:
    assert bipolar(0) == -1.0 and bipolar(127) == 1.0
    for centre in range(61, 67):  # the dead zone: a detent or a fader left near the middle
        assert bipolar(centre) == 0.0
    assert -0.02 < bipolar(60) < 0 < bipolar(67) < 0.02  # beyond it, from 0 on
    assert bipolar(-5) == -1.0 and bipolar(300) == 1.0
    values = [bipolar(v) for v in range(128)]
    assert values == sorted(values)  # monotonic


def _fader(mapper: MidiMapper, cc: int, value: int) -> tuple:
    (command,) = mapper.handle(mido.Message("control_change", control=cc, value=value))
    return command.name, command.args


def test_midi_bipolar_faders_send_signed_weights() -> None:
    signed = MidiMapper(default_layout(), NAMES, bipolar=True)
    assert _fader(signed, 1, 0) == ("bible", (-1.0,))
    assert _fader(signed, 1, 64) == ("bible", (0.0,))
    assert _fader(signed, 0, 127) == ("shakespeare", (1.0,))
    plain = MidiMapper(default_layout(), NAMES)  # as before: 0 … 1
    assert _fader(plain, 1, 0) == ("bible", (0.0,))
    assert _fader(plain, 1, 64) == ("bible", (round(64 / 127, 4),))


def test_web_sliders_may_go_negative() -> None:
    assert wc.parse('{"t":"weight","i":1,"v":-0.5}', 3) == wc.Weight(1, -0.5)
    assert wc.parse('{"t":"weight","i":1,"v":-7}', 3) == wc.Weight(1, -1.0)
    assert wc.parse('{"t":"weight","i":1,"v":7}', 3) == wc.Weight(1, 1.0)


def test_the_monitor_draws_an_anti_expert_the_other_way() -> None:
    assert _bar(0.5, 10) == "█████·····"
    assert _bar(-0.5, 10) == "·····▒▒▒▒▒"
    assert _bar(-3.0, 4) == "▒▒▒▒" and _bar(float("nan"), 4) == "····"


def _performance(weights: list[list[float]]) -> Performance:
    steps = [{"k": "step", "s": s, "t": s / 10, "c": ["x"], "w": [w]}
             for s, w in enumerate(weights)]
    return Performance(Path("take.jsonl"), {"models": [{"name": "shakespeare"},
                                                       {"name": "bible"}]}, steps)


def test_the_rendered_weight_plot_makes_room_below_zero() -> None:
    plain = svg_plot(_performance([[1.0, 0.0], [0.5, 0.5]]), height=180)
    assert ">-1</text>" not in plain  # as before: 0 – 1
    signed = svg_plot(_performance([[1.0, 0.0], [1.0, -0.5]]), height=180)
    assert ">-1</text>" in signed and ">0</text>" in signed
    ys = [float(y) for y in re.findall(r",(-?[0-9.]+)", signed)]
    assert ys and min(ys) >= 30 and max(ys) <= 150  # every point inside the plot area
