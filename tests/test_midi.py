"""`charmix midi`: the mapping fed through a mido port (in memory, or rtmidi when ALSA exists)."""

from __future__ import annotations

import os
import threading
import tomllib
from pathlib import Path

import mido
import pytest
from fakes.osc_receiver import OscReceiver
from mido.ports import BaseIOPort
from typer.testing import CliRunner

from charmix.controllers.midi import bridge as midi
from charmix.controllers.midi.bridge import MidiBridge, MidiMapper, log_scale
from charmix.controllers.midi.layout import (
    LayoutError,
    MidiLayout,
    default_layout,
    dump_layout,
    load_layout,
    parse_layout,
)
from charmix.controllers.sender import Sender
from charmix.daemon.cli import app

MODELS = ["shakespeare", "linux", "bible"]


class MemoryPort(BaseIOPort):
    """An in-memory mido port: what is sent to it comes out of it, like a loopback cable."""

    def _send(self, msg: mido.Message) -> None:
        with self._lock:
            self._messages.append(msg)


def cc(control: int, value: int, channel: int = 0) -> mido.Message:
    return mido.Message("control_change", control=control, value=value, channel=channel)


def note(number: int, on: bool = True, velocity: int = 100) -> mido.Message:
    return mido.Message("note_on" if on else "note_off", note=number, velocity=velocity)


@pytest.fixture
def rx():
    with OscReceiver() as r:
        yield r


def play(rx: OscReceiver, messages: list[mido.Message], layout: MidiLayout | None = None,
         **kw) -> MidiBridge:
    """Send messages into a port, close it, and pump it through a bridge into the receiver."""
    port = MemoryPort("test")
    for m in messages:
        port.send(m)
    port.close()
    with Sender([("127.0.0.1", rx.port)]) as sender:
        bridge = MidiBridge(layout or default_layout(), MODELS, sender, say=lambda m: None, **kw)
        assert bridge.pump(port) == "closed"
    return bridge


def test_faders_set_each_models_weight(rx) -> None:
    bridge = play(rx, [cc(0, 127), cc(1, 64), cc(2, 0), cc(7, 100)])
    assert rx.wait_for("weight/shakespeare").params == pytest.approx((1.0,))
    assert rx.wait_for("weight/linux").params == pytest.approx((64 / 127,), abs=1e-4)
    assert rx.wait_for("weight/bible").params == (0.0,)
    assert bridge.mapper.handled == 3 and bridge.mapper.ignored == 1  # fader 8: no model 8


def test_temperature_and_rate_knobs_are_log_scaled(rx) -> None:
    play(rx, [cc(16, 0)])
    assert rx.wait_for("temperature").params == pytest.approx((0.1,))
    play(rx, [cc(16, 127), cc(17, 127)])
    rx.wait_for("temperature", lambda p: p[0] == pytest.approx(2.0))
    rx.wait_for("rate", lambda p: p[0] == pytest.approx(100.0))
    assert log_scale(64, 0.1, 2.0) == pytest.approx((0.1 * 2.0) ** 0.5, rel=0.02)  # mid = geo-mean


class Live:
    """A bridge pumping a port on a thread, as with hardware: messages arrive one by one."""

    def __init__(self, rx: OscReceiver, max_rate: float = 100.0) -> None:
        self.port = MemoryPort("live")
        self.sender = Sender([("127.0.0.1", rx.port)], max_rate=max_rate)
        self.bridge = MidiBridge(default_layout(), MODELS, self.sender, say=lambda m: None)
        self.ended: list[str] = []
        self.worker = threading.Thread(target=self._pump)
        self.worker.start()

    def _pump(self) -> None:
        self.ended.append(self.bridge.pump(self.port))

    def __enter__(self) -> Live:
        return self

    def __exit__(self, *_: object) -> None:
        self.port.close()
        self.worker.join(5)
        self.sender.close()


def test_a_held_note_solos_and_release_restores(rx) -> None:
    def weights_after(msg: mido.Message, n: int) -> tuple:
        live.port.send(msg)
        return rx.wait_count("weights", n)[n - 1].params

    with Live(rx) as live:
        live.port.send(cc(0, 127))
        live.port.send(cc(1, 32))
        rx.wait_for("weight/linux")
        assert weights_after(note(37), 1) == (0.0, 1.0, 0.0)  # note 37 solos model 2
        assert weights_after(note(36), 2) == (1.0, 0.0, 0.0)  # 36 on top: model 1
        assert weights_after(note(36, on=False), 3) == (0.0, 1.0, 0.0)  # back to held 37
        restored = weights_after(note(37, velocity=0), 4)  # all released: the faders' vector
        assert restored == pytest.approx((1.0, 32 / 127, 1.0), abs=1e-4)  # bible unmoved = full


def test_faders_moved_during_a_solo_apply_on_release(rx) -> None:
    with Live(rx) as live:
        live.port.send(cc(32, 127))  # S button 1 held…
        assert rx.wait_count("weights", 1)[0].params == (1.0, 0.0, 0.0)
        live.port.send(cc(1, 0))  # …while fader 2 goes down: remembered, not sent
        live.port.send(cc(32, 0))
        assert rx.wait_count("weights", 2)[1].params == (1.0, 0.0, 1.0)
    assert rx.of("weight/linux") == []


def test_a_fader_moved_back_after_a_solo_is_sent_again(rx) -> None:
    """The solo vectors make the fader's last sent value stale (the audit's repro)."""
    with Live(rx) as live:
        live.port.send(cc(0, 64))
        first = rx.wait_for("weight/shakespeare").params
        live.port.send(note(37))  # solo linux
        rx.wait_count("weights", 1)
        live.port.send(cc(0, 127))  # moved while soloed: applied on release
        live.port.send(note(37, on=False))
        assert rx.wait_count("weights", 2)[1].params == (1.0, 1.0, 1.0)
        live.port.send(cc(0, 64))  # back where it was before the solo: must reach the daemon
        assert rx.wait_count("weight/shakespeare", 2)[1].params == first


def test_a_tap_inside_the_rate_window_coalesces_to_where_it_ended(rx) -> None:
    """Latest-wins: a press and release inside one window reach the daemon as the release."""
    with Live(rx, max_rate=2.0) as live:  # a 0.5 s window, opened by the first send
        live.port.send(cc(0, 127))
        rx.wait_for("weight/shakespeare")
        live.port.send(note(37))
        live.port.send(note(37, on=False))
        assert rx.wait_for("weights").params == (1.0, 1.0, 1.0)
        live.port.send(cc(42, 127))  # a sentinel event: nothing else was due before it
        rx.wait_for("pause")
    assert len(rx.of("weights")) == 1


def test_transport_buttons_send_actions_once_per_press(rx) -> None:
    play(rx, [cc(42, 127), cc(42, 127), cc(42, 0), cc(41, 127), cc(41, 0), cc(42, 127)])
    assert len(rx.wait_count("pause", 2)) == 2
    assert len(rx.wait_count("resume", 1)) == 1


def test_a_program_change_recalls_the_nth_scene_with_the_morph(rx) -> None:
    program = [mido.Message("program_change", program=n) for n in (1, 0, 5)]
    bridge = play(rx, program, scenes=["evening", "morning"], morph=12.5)
    [first, second] = rx.wait_count("scene/recall", 2)
    assert first.params == ("morning", 12.5) and second.params == ("evening", 12.5)
    assert bridge.mapper.handled == 2 and bridge.mapper.ignored == 1  # no sixth scene


def test_scene_notes_recall_scenes_by_name_and_round_trip(rx) -> None:
    layout = parse_layout({"scene_notes": {"48": "morning", "49": "evening"}, "channel": 0})
    assert parse_layout(tomllib.loads(dump_layout(layout))).scene_notes == layout.scene_notes
    play(rx, [note(49), note(49, on=False), note(48)], layout, morph=3.0)
    [first, second] = rx.wait_count("scene/recall", 2)
    assert first.params == ("evening", 3.0) and second.params == ("morning", 3.0)
    for bad, why in (({"scene_notes": {"48": ""}}, "a scene is a name"),
                     ({"scene_notes": {"36": "x"}, "solo_notes": {"36": 1}}, "bound twice")):
        with pytest.raises(LayoutError, match=why):
            parse_layout(bad)


def test_other_messages_are_ignored_and_counted(rx) -> None:
    bridge = play(rx, [mido.Message("clock"), mido.Message("sysex", data=[1, 2, 3]),
                       mido.Message("pitchwheel", pitch=100), note(60), cc(99, 5), cc(0, 127)])
    rx.wait_for("weight/shakespeare")
    assert bridge.mapper.ignored == 5 and bridge.mapper.handled == 1


def test_a_layout_file_with_names_and_a_channel(rx, tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('channel = 2\ntemperature_cc = 70\n[weights]\n10 = "bible"\n11 = 1\n'
                    '[actions]\n20 = "reset"\n', encoding="utf-8")
    layout = load_layout(path)
    play(rx, [cc(10, 127, channel=0), cc(10, 127, channel=1), cc(11, 0, channel=1),
              cc(70, 127, channel=1), cc(20, 127, channel=1), cc(0, 127, channel=1)], layout)
    assert rx.wait_for("weight/bible").params == (1.0,)
    assert rx.wait_for("weight/shakespeare").params == (0.0,)
    rx.wait_for("temperature")
    rx.wait_for("reset")
    assert len(rx.of("weight/bible")) == 1  # channel 1 was ignored
    assert rx.of("weight/linux") == []  # CC 1 is not in this layout


def test_learn_binds_the_next_controls_and_saves_them(rx, tmp_path: Path) -> None:
    save = tmp_path / "learned.toml"
    said: list[str] = []
    port = MemoryPort("test")
    for m in [cc(14, 3), cc(14, 9), note(40), cc(15, 1), cc(16, 127), cc(14, 127), cc(15, 0)]:
        port.send(m)
    port.close()
    with Sender([("127.0.0.1", rx.port)]) as sender:
        bridge = MidiBridge(default_layout(), MODELS, sender, learn=True, save=save,
                            say=said.append)
        bridge.pump(port)
    learned = [line for line in said if line.startswith("learned: ")]
    assert learned == [
        "learned: CC 14 (channel 1) → weight of shakespeare (model 1 of 3)",
        "learned: CC 15 (channel 1) → weight of linux (model 2 of 3)",
        "learned: CC 16 (channel 1) → weight of bible (model 3 of 3)",
    ]
    assert any(f"saved the mapping to {save}" in line for line in said)
    rx.wait_for("weight/shakespeare", lambda p: p[0] == 1.0)  # the learned fader now plays
    rx.wait_for("weight/linux", lambda p: p[0] == 0.0)
    saved = load_layout(save)
    assert saved.weights == {14: "shakespeare", 15: "linux", 16: "bible"}
    assert saved.temperature_cc is None  # CC 16 became a fader, so it lost temperature
    assert saved.rate_cc == 17 and saved.actions == default_layout().actions


def test_the_default_layout_round_trips_through_toml() -> None:
    layout = default_layout()
    text = dump_layout(layout, MODELS)
    assert "0 = 1  # shakespeare" in text
    assert parse_layout(tomllib.loads(text)) == layout


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("volume = 3\n", "unknown key"),
        ("channel = 17\n", "channel must be"),
        ("[weights]\n128 = 1\n", "not a MIDI number"),
        ("[weights]\nx = 1\n", "not a MIDI number"),
        ("[weights]\n1 = 0\n", "a model is a number from 1"),
        ("temperature_cc = 1\n[weights]\n1 = 1\n", "CC 1 is bound twice"),
        ("[actions]\n41 = \"explode\"\n", "not one of pause, resume, tick, reset"),
        ("temperature_range = [2.0, 0.1]\n", "0 < low < high"),
        ("rate_range = [1, 5000]\n", "rate range 0 – 2000"),
        ("weights = 3\n", "must be a table"),
        ("[weights\n", "mine.toml"),
    ],
)
def test_bad_layout_files_say_what_is_wrong(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LayoutError, match=why) as info:
        load_layout(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_a_model_name_that_is_not_running_is_refused() -> None:
    layout = parse_layout({"weights": {"0": "austen"}})
    with pytest.raises(LayoutError, match="no such model .models: shakespeare, linux, bible"):
        MidiMapper(layout, MODELS)


def test_live_port_in_a_thread(rx) -> None:
    """The bridge polling a port while messages arrive, then noticing the port close."""
    with Live(rx) as live:
        live.port.send(cc(2, 127))
        rx.wait_for("weight/bible")
        live.port.send(cc(2, 0))
        rx.wait_for("weight/bible", lambda p: p[0] == 0.0)
    assert live.ended == ["closed"]


def test_list_explains_an_empty_port_list() -> None:
    result = CliRunner().invoke(app, ["midi", "--list"])
    assert result.exit_code == 0
    names, why = midi.list_ports()
    if names:
        assert result.output.splitlines() == names
    else:
        assert result.output.strip() == why and len(result.output.strip().splitlines()) == 1
        if not os.path.exists(midi.SEQ_DEVICE):
            assert "no ALSA sequencer" in why


def test_rtmidi_virtual_port(rx) -> None:
    """Hardware path: rtmidi's ALSA virtual port → the bridge → UDP. Needs a sequencer."""
    if why := midi.sequencer_missing():
        pytest.skip(why)
    out = mido.open_output("charmix-test-out", virtual=True)
    try:
        name = midi.find_port("charmix-test-out")
        assert name is not None, midi.list_ports()
        with mido.open_input(name) as port, Sender([("127.0.0.1", rx.port)]) as sender:
            bridge = MidiBridge(default_layout(), MODELS, sender, say=lambda m: None)
            stop = threading.Event()
            worker = threading.Thread(target=bridge.pump, args=(port,), kwargs={"stop": stop})
            worker.start()
            out.send(cc(1, 127))
            rx.wait_for("weight/linux", lambda p: p[0] == 1.0)
            stop.set()
            worker.join(5)
    finally:
        out.close()
