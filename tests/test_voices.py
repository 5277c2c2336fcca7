"""Voices in the engine: K independent streams, one model call per model per step (real models).

What makes the voices independent is checked by what each writes: a voice's text must not depend
on what the other voices are told (their weights, primes, resets, seeds), and voices given the
same seed and settings must write the same text.
"""

from __future__ import annotations

import numpy as np
import pytest

from charmix.daemon.engine.mixer import Engine, Settings
from charmix.daemon.engine.model import load_model


class CountingModel:
    """Wraps a real model and counts its runs and the batch size of each."""

    def __init__(self, model) -> None:
        self.model, self.name, self.vocab = model, model.name, model.vocab
        self.batches: list[int] = []

    @property
    def h(self):
        return self.model.h

    @property
    def c(self):
        return self.model.c

    def reset(self, batch: int = 1) -> None:
        self.model.reset(batch)

    def reset_voice(self, voice: int) -> None:
        self.model.reset_voice(voice)

    def step(self, tokens):
        self.batches.append(len(tokens))
        return self.model.step(tokens)

    def step_voice(self, tokens, voice):
        self.batches.append(len(tokens))
        return self.model.step_voice(tokens, voice)


def engine(tiny_models, voices: int, seed: int = 7, counting: bool = False) -> Engine:
    models = [load_model(p) for p in tiny_models.values()]
    if counting:
        models = [CountingModel(m) for m in models]
    return Engine(models, seed=seed, voices=voices)


def run(e: Engine, settings: list[Settings], n: int, before=None) -> list[str]:
    texts = [""] * e.n_voices
    for k in range(n):
        if before is not None:
            before(e, k)
        for f in e.step_voices(settings, 0.05):
            texts[f.voice] += f.char
        e.advance()
    return texts


def test_one_model_call_per_model_per_step_with_batch_k(tiny_models) -> None:
    e = engine(tiny_models, 4, counting=True)
    s = Settings(weights=np.ones(3), slew=0.0)
    frames = e.step_voices([s] * 4, 0.05)
    e.advance()
    assert [f.voice for f in frames] == [0, 1, 2, 3]
    assert {f.step for f in frames} == {0}
    for m in e.models:
        assert m.batches == [4, 4]  # the first character, then the models running ahead


def test_voices_with_the_same_seed_and_settings_write_the_same_text(tiny_models) -> None:
    e = engine(tiny_models, 3)
    for v in e.voices:
        v.reseed(11)
    texts = run(e, [Settings(weights=np.array([1.0, 0.3, 0.0]), slew=0.0)] * 3, 120)
    assert texts[0] == texts[1] == texts[2]
    assert len(set(texts[0])) > 5


def test_a_voice_is_unaffected_by_what_the_others_are_told(tiny_models) -> None:
    base = [Settings(weights=np.ones(3), slew=0.1) for _ in range(3)]

    def quiet(e, k):
        pass

    def busy(e, k):  # everything that could leak from voices 1 and 2 into voice 0
        if k == 20:
            e.prime("static int main(void) {\n", voice=1)
        if k == 40:
            e.reset(2)
        if k == 60:
            e.reseed(99, voice=1)

    others = [base[0], Settings(weights=np.array([0.0, 1.0, 0.0]), temperature=1.5,
                                mode="geometric", topk=4, slew=0.0),
              Settings(weights=np.array([0.0, 0.0, 1.0]), topp=0.5, slew=0.0)]
    calm = run(engine(tiny_models, 3), base, 100, quiet)
    stirred = run(engine(tiny_models, 3), others, 100, busy)
    assert stirred[0] == calm[0]
    assert stirred[1] != calm[1] and stirred[2] != calm[2]


def test_priming_and_resetting_one_voice_moves_only_its_row(tiny_models) -> None:
    e = engine(tiny_models, 2)
    s = [Settings(weights=np.ones(3), slew=0.0)] * 2
    run(e, s, 10)
    before = [m.h.copy() for m in e.models]
    e.prime("KING HENRY:", voice=1)
    for m, h in zip(e.models, before, strict=True):
        np.testing.assert_array_equal(m.h[:, 0], h[:, 0])
        assert not np.array_equal(m.h[:, 1], h[:, 1])
    assert e.voices[1].line.endswith("KING HENRY:") and "KING" not in e.voices[0].line
    e.reset(1)
    for m in e.models:
        assert np.any(m.h[:, 0] != 0)
    assert e.voices[1].line == "" and e.ready


def test_state_and_restore_continue_exactly(tiny_models) -> None:
    s = [Settings(weights=np.array([1.0, 0.5, 0.2]), slew=0.3), Settings(weights=np.ones(3))]
    a = engine(tiny_models, 2, seed=3)
    run(a, s, 30)
    state = a.state()
    rest = run(a, s, 80)
    b = engine(tiny_models, 2, seed=1234)
    b.restore(state)
    assert run(b, s, 80) == rest
    with pytest.raises(ValueError, match="voices"):
        engine(tiny_models, 3).restore(state)


def test_a_daemons_voices_over_udp_each_read_by_the_monitor(tiny_model_dir) -> None:
    """Frames of voice k > 0 arrive under /charmix/voice/k/…; the monitor shows the voice it is
    told to, and counts the others' frames as neither unknown nor bad."""
    import socket
    import time

    from charmix.daemon.client.frames import MonitorState
    from charmix.daemon.runtime.config import build
    from charmix.daemon.runtime.daemon import Daemon

    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 21)  # the burst's ~100 datagrams
    sink.bind(("127.0.0.1", 0))
    sink.settimeout(5)
    d = Daemon(build({"models_dir": tiny_model_dir, "listen": "127.0.0.1:0", "rate": 0.0,
                      "voices": 2, "seed": 4, "send": [f"127.0.0.1:{sink.getsockname()[1]}"]}))
    d.start(run_clock=False)
    try:
        d.voice_controls[1].set_weights([0.0, 0.0, 1.0])
        d.clock.burst(20)
        states = [MonitorState(voice=v) for v in (0, 1)]
        deadline = time.monotonic() + 10
        while min(len(s.text) for s in states) < 20 and time.monotonic() < deadline:
            data = sink.recv(65535)
            for s in states:
                s.feed(data, time.monotonic())
    finally:
        d.stop()
        sink.close()
    texts = ["".join(entry[0] for entry in s.text) for s in states]
    assert texts[0] != texts[1] and all(len(t) == 20 for t in texts)
    for s in states:
        assert s.counters.unknown == 0 and s.counters.bad_args == 0 and s.models
    assert states[1].weights == pytest.approx([0.0, 0.0, 1.0], abs=1e-6)


def test_voice_addresses_steer_one_voice_each_over_udp(tiny_model_dir, tmp_path,
                                                       monkeypatch) -> None:
    """liblo's oscsend (an OSC peer not written here) steers voice 1 under /charmix/voice/1/…;
    unprefixed messages stay voice 0's; a voice the daemon lacks is refused and counted; a
    recording asked for over OSC is written and stopped."""
    import shutil
    import subprocess
    import time

    from charmix.daemon.recording.reader import read
    from charmix.daemon.runtime.config import build
    from charmix.daemon.runtime.daemon import Daemon

    if shutil.which("oscsend") is None:
        pytest.skip("liblo-tools (oscsend) not installed")
    monkeypatch.chdir(tmp_path)
    d = Daemon(build({"models_dir": tiny_model_dir, "listen": "127.0.0.1:0", "rate": 100.0,
                      "voices": 2, "send": ["127.0.0.1:9"]}))
    d.start()
    try:
        assert d.server is not None
        port = str(d.server.address[1])

        def oscsend(path: str, types: str = "", *args: str) -> None:
            subprocess.run(["oscsend", "127.0.0.1", port, path, types, *args], check=True,
                           timeout=10)

        oscsend("/charmix/voice/1/weights", "fff", "0", "1", "0")
        oscsend("/charmix/voice/1/temperature", "f", "1.7")
        oscsend("/charmix/voice/1/weight/bible", "f", "0.5")
        oscsend("/charmix/voice/1/mode", "s", "geometric")
        oscsend("/charmix/temperature", "f", "0.3")
        oscsend("/charmix/voice/1/seed", "i", "9")
        oscsend("/charmix/voice/7/weights", "fff", "1", "1", "1")  # no voice 7: refused
        oscsend("/charmix/record", "s", "take.jsonl")
        deadline = time.monotonic() + 10
        while d.controls.counters.rx_ok + d.controls.counters.rx_bad < 8:
            assert time.monotonic() < deadline, "the messages did not arrive"
            time.sleep(0.01)
        one, zero = d.voice_controls[1].snapshot(), d.controls.snapshot()
        # the models, in order: bible, linux, shakespeare
        assert list(one.weights) == [0.5, 1.0, 0.0] and one.temperature == pytest.approx(1.7)
        assert one.mode == "geometric" and zero.mode == "linear"
        assert zero.temperature == pytest.approx(0.3) and list(zero.weights) == [1 / 3] * 3
        assert d.controls.counters.rx_bad == 1
        steps = d.engine.step_count
        while d.engine.step_count < steps + 30:
            time.sleep(0.01)
        oscsend("/charmix/record/stop")
        while (tmp_path / "take.jsonl").exists() and not read(tmp_path / "take.jsonl").ended:
            assert time.monotonic() < deadline + 10
            time.sleep(0.02)
    finally:
        d.stop()
    perf = read(tmp_path / "take.jsonl")
    assert perf.ended and perf.voices == 2 and len(perf.steps) >= 20
    assert d.engine.voices[1].seed == 9


def test_bridges_and_send_take_a_voice() -> None:
    """`charmix send … --voice 2` and a Sender(voice=2) address voice 2; addresses every voice
    shares (rate, tick) have no --voice and keep their one address."""
    from fakes.osc_receiver import OscReceiver
    from typer.testing import CliRunner

    from charmix.controllers.sender import Sender
    from charmix.controllers.sender_messages import entry
    from charmix.daemon.cli import app

    with OscReceiver() as rx:
        runner = CliRunner()
        done = runner.invoke(app, ["send", "weights", "1", "0", "0", "--voice", "2",
                                   "--to", rx.target])
        assert done.exit_code == 0, done.output
        assert rx.wait_for("voice/2/weights").params == (1.0, 0.0, 0.0)
        refused = runner.invoke(app, ["send", "rate", "3", "--voice", "1", "--to", rx.target])
        assert refused.exit_code != 0  # no such option: the clock is shared
        with Sender([("127.0.0.1", rx.port)], voice=1) as sender:
            sender.set(entry("weight/{name}"), 0.5, name="bible")
            sender.event(entry("tick"))
        assert rx.wait_for("voice/1/weight/bible").params == (0.5,)
        assert rx.wait_for("tick").params == ()
