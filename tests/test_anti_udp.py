"""Anti-experts over real UDP (issue #24): bad signed weights are refused in one line, counted,
and change nothing; good ones reach the engine (an in-process daemon on loopback)."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import helpers
import numpy as np
import pytest
from conftest import free_udp_port
from helpers import osc, wait_for

from charmix.daemon import protocol
from charmix.daemon.engine.mixer import Settings
from charmix.daemon.live.controls import ControlError, Controls
from charmix.daemon.recording.writer import settings_dict, settings_from
from charmix.daemon.runtime.daemon import Daemon

P = protocol.PREFIX
LOG = logging.getLogger("test.anti")


@pytest.fixture
def make(shipped_models: list[Path]) -> Iterator[Callable[..., Daemon]]:
    by_name = {p.stem: p for p in shipped_models}
    files = [str(by_name[n]) for n in ("shakespeare", "bible", "linux")]
    with helpers.daemons(LOG, models=files, listen="127.0.0.1:0", rate=200.0, slew=0.0,
                         send=[f"127.0.0.1:{free_udp_port()}"], status_every=0) as make_daemon:
        yield make_daemon


def send(d: Daemon, *datagrams: bytes) -> None:
    assert d.server is not None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for data in datagrams:
            s.sendto(data, d.server.address)


def _weights(*values: float) -> bytes:
    return osc(f"{P}/weights", *(("f", v) for v in values))


BAD_IN_GEOMETRIC = [
    _weights(1.0, -1.5, 0.0),  # below -1
    _weights(1.5, 0.0, 0.0),  # above 1
    _weights(-0.5, 0.0, 0.0),  # every weight <= 0: no expert to steer away from
    _weights(-0.5, -0.5, -1.0),
    _weights(1.0, float("nan"), 0.0),
    _weights(1.0, float("inf"), 0.0),
    _weights(float("-inf"), 1.0, 0.0),
    osc(f"{P}/weight/bible", ("f", -2.0)),
    osc(f"{P}/weight/shakespeare", ("f", -0.5)),  # with the others at 0: none positive left
    osc(f"{P}/beta", ("f", 1.5)),
    osc(f"{P}/beta", ("f", -0.1)),
    osc(f"{P}/beta", ("f", float("nan"))),
]


def test_bad_signed_weights_are_refused_counted_and_change_nothing(
        make: Callable[..., Daemon], caplog: pytest.LogCaptureFixture) -> None:
    d = make(mode="geometric", weights="1,0,0")
    before = d.controls.snapshot()
    with caplog.at_level(logging.WARNING, LOG.name):
        send(d, *BAD_IN_GEOMETRIC)
        wait_for(lambda: d.controls.counters.rx_bad >= len(BAD_IN_GEOMETRIC), 10,
                 "every bad message counted")
    assert d.controls.counters.rx_bad == len(BAD_IN_GEOMETRIC)
    assert d.controls.counters.rx_ok == 0
    after = d.controls.snapshot()
    assert np.array_equal(after.weights, before.weights) and after.beta == before.beta
    lines = [r.getMessage() for r in caplog.records]
    assert lines and all("\n" not in line for line in lines)
    assert any("must be in -1 – 1" in line for line in lines), lines
    assert any("needs a positive weight" in line for line in lines), lines
    # and the good ones still play
    send(d, _weights(1.0, -0.5, 0.0), osc(f"{P}/beta", ("f", 0.2)))
    wait_for(lambda: d.controls.counters.rx_ok == 2, 10, "the good messages")
    assert list(d.controls.snapshot().weights) == [1.0, -0.5, 0.0]
    assert d.controls.snapshot().beta == pytest.approx(0.2)
    wait_for(lambda: np.allclose(d.engine.weights, [1.0, -0.5, 0.0]), 10,
             "the engine playing the anti-expert")


def test_a_negative_weight_in_linear_mode_is_refused(
        make: Callable[..., Daemon], caplog: pytest.LogCaptureFixture) -> None:
    d = make(weights="1,0,0")  # linear, the default
    with caplog.at_level(logging.WARNING, LOG.name):
        send(d, _weights(1.0, -0.5, 0.0), osc(f"{P}/weight/linux", ("f", -0.1)))
        wait_for(lambda: d.controls.counters.rx_bad >= 2, 10, "both refusals counted")
    assert list(d.controls.snapshot().weights) == [1.0, 0.0, 0.0]
    assert d.controls.counters.rx_bad == 2 and d.controls.counters.rx_ok == 0
    assert any("geometric mode only" in r.getMessage() for r in caplog.records)
    # geometric first, then the same message is applied
    send(d, osc(f"{P}/mode", ("s", "geometric")))
    wait_for(lambda: d.controls.counters.rx_ok == 1, 10, "the mode")
    send(d, _weights(1.0, -0.5, 0.0))
    wait_for(lambda: d.controls.counters.rx_ok == 2, 10, "the weights")
    assert list(d.controls.snapshot().weights) == [1.0, -0.5, 0.0]


def test_state_keeps_signed_weights_and_beta(make: Callable[..., Daemon],
                                             tmp_path: Path) -> None:
    """--state: a restart plays the anti-expert again (the mode is restored before the weights,
    which would be refused in linear mode)."""
    path = tmp_path / "state.json"
    d = make(state=path)
    send(d, osc(f"{P}/mode", ("s", "geometric")), _weights(1.0, -0.5, 0.25),
         osc(f"{P}/beta", ("f", 0.2)))
    wait_for(lambda: d.controls.counters.rx_ok == 3, 10, "the settings")
    d.stop()
    saved = json.loads(path.read_text())
    assert saved["beta"] == pytest.approx(0.2) and saved["mode"] == "geometric"
    d = make(state=path)
    s = d.controls.snapshot()
    assert list(s.weights) == [1.0, -0.5, 0.25] and s.mode == "geometric"
    assert s.beta == pytest.approx(0.2)


def test_recordings_keep_beta_and_older_ones_get_the_default() -> None:
    settings = Settings(weights=np.array([1.0, -0.5]), mode="geometric", beta=0.2)
    again = settings_from(json.loads(json.dumps(settings_dict(settings))))
    assert again.beta == 0.2 and list(again.weights) == [1.0, -0.5]
    older = settings_dict(settings)
    del older["beta"]
    assert settings_from(older).beta == protocol.BETA_DEFAULT


def test_a_negative_target_left_from_geometric_mode_does_not_block_linear_faders() -> None:
    c = Controls(["shakespeare", "bible", "linux"], [1.0, -0.5, 0.0], mode="geometric")
    c.set_mode("linear")  # allowed: linear plays bible as 0
    c.set_weight("shakespeare", 0.5)  # the other faders still work
    c.set_weights([0.25])
    assert list(c.snapshot().weights) == [0.25, -0.5, 0.0]
    with pytest.raises(ControlError, match="geometric mode only"):
        c.set_weight("linux", -0.2)  # a new negative one is refused in linear mode
    with pytest.raises(ControlError, match="needs a positive weight"):
        c.set_weight("shakespeare", 0.0)  # nor may the experts all go
    assert list(c.snapshot().weights) == [0.25, -0.5, 0.0]
