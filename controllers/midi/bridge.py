"""`charmix midi`: faders, knobs, buttons and pads → weights, temperature, rate, solo, actions.

`MidiMapper.handle(message)` is the whole mapping: a pure function of the layout, the model
names and the messages so far, returning Commands for the Sender. `MidiBridge.pump()` feeds it
from any mido input port object (rtmidi hardware, or an in-memory port in the tests: the same
code path), and `run()` finds, opens and reopens the hardware port.

A program change n recalls the daemon's n-th scene (its /charmix/scenes, sorted by name, as
the bridge found them at start) with a morph of `morph` seconds (`charmix midi --morph`).

Faders send the per-model address (`/charmix/weight/{name}`), so moving one fader changes one
model and leaves the rest where other controllers put them. A solo (held note or S button)
sends a one-hot `/charmix/weights`; releasing it restores the faders' vector, counting a fader
that has not moved yet as fully up (MIDI can't tell where a fader is until it moves).

`--bipolar` (issue #24, anti-experts): a weight fader's centre is 0, its bottom −1 (steer the
text away from that model), its top +1, with a dead zone around the centre so a knob with a
detent (or a fader left near the middle) sends exactly 0. Negative weights play in the daemon's
geometric mode; in linear mode the daemon refuses them (counted), so switch modes first.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import mido

from charmix.controllers.midi.layout import LayoutError, MidiLayout, ModelRef, dump_layout
from charmix.controllers.sender import Sender
from charmix.controllers.sender_messages import Command, entry
from charmix.daemon.common.signals import interrupt_on_signals

WEIGHT, WEIGHTS = entry("weight/{name}"), entry("weights")
TEMPERATURE, RATE = entry("temperature"), entry("rate")
RECALL = entry("scene/recall")
SEQ_DEVICE = "/dev/snd/seq"
IDLE_WAIT = 0.004  # s between polls of an idle port: ≤ 4 ms latency, ~250 wakeups/s
PRESENCE_EVERY = 2.0  # s between checks that the hardware port still exists
DEAD_ZONE = 0.05  # --bipolar: |level| up to this (CC 61 – 66) is 0; beyond, scaled to reach ±1


def log_scale(value: int, lo: float, hi: float) -> float:
    """CC 0–127 → lo…hi on a log scale (equal knob travel = equal ratio)."""
    return lo * (hi / lo) ** (min(max(value, 0), 127) / 127.0)


def bipolar(value: int, dead_zone: float = DEAD_ZONE) -> float:
    """CC 0–127 → −1 … 1 with the centre (63.5) at 0 and a dead zone around it."""
    x = (min(max(value, 0), 127) - 63.5) / 63.5
    if abs(x) <= dead_zone:
        return 0.0
    level = (abs(x) - dead_zone) / (1.0 - dead_zone)
    return round(level if x > 0 else -level, 4)


class MidiMapper:
    """Turns mido Messages into Commands according to a layout; counts what it ignored."""

    def __init__(self, layout: MidiLayout, names: list[str], scenes: list[str] | None = None,
                 morph: float = 0.0, bipolar: bool = False) -> None:
        """`scenes`: the daemon's scene names (program change n recalls the n-th) and the
        `morph` seconds each recall takes; `bipolar`: weight faders centre 0 (anti-experts)."""
        self.names = names
        self.scenes = list(scenes or [])
        self.morph = morph
        self.layout = layout
        self.bipolar = bipolar  # weight faders: centre 0, bottom −1 (anti-experts)
        self.levels: list[float | None] = [None] * len(names)  # None: fader not moved yet
        self.held: list[int] = []  # soloed models, in press order
        self.pressed: set[int] = set()  # action CCs currently down (act on the press only)
        self.handled = 0
        self.ignored = 0
        self.weights = self._resolve(layout.weights, "weights")
        self.solo_cc = self._resolve(layout.solo_cc, "solo_cc")
        self.solo_notes = self._resolve(layout.solo_notes, "solo_notes")

    def _resolve(self, table: dict[int, ModelRef], key: str) -> dict[int, int]:
        """CC/note → model index; numbers past the model count are skipped (8 faders, 3 models)."""
        out = {}
        for num, ref in table.items():
            if isinstance(ref, str):
                if ref not in self.names:
                    raise LayoutError(f"{key}: {num} = {ref!r}: no such model "
                                      f"(models: {', '.join(self.names)})")
                out[num] = self.names.index(ref)
            elif ref <= len(self.names):
                out[num] = ref - 1
        return out

    def bind_fader(self, cc: int, model: int) -> None:
        """Make `cc` the weight fader of model index `model` (what --learn does)."""
        self.weights[cc] = model

    def handle(self, msg: mido.Message) -> list[Command]:
        """The commands one message asks for ([] for messages this layout doesn't use)."""
        channel = getattr(msg, "channel", None)
        if channel is None or (self.layout.channel and channel != self.layout.channel - 1):
            self.ignored += 1
            return []
        if msg.type == "control_change":
            out = self._control(msg.control, msg.value)
        elif msg.type == "program_change" and msg.program < len(self.scenes):
            out = [Command(RECALL, (self.scenes[msg.program], float(self.morph)), event=True)]
        elif msg.type == "note_on" and msg.velocity > 0 and msg.note in self.layout.scene_notes:
            name = self.layout.scene_notes[msg.note]  # a pad → a scene, by name
            out = [Command(RECALL, (name, float(self.morph)), event=True)]
        elif msg.type in ("note_on", "note_off") and msg.note in self.solo_notes:
            out = self._solo(self.solo_notes[msg.note], msg.type == "note_on" and msg.velocity > 0)
        else:
            out = None
        if out is None:
            self.ignored += 1
            return []
        self.handled += 1
        return out

    def _control(self, cc: int, value: int) -> list[Command] | None:
        lay = self.layout
        if cc in self.weights:
            model = self.weights[cc]
            self.levels[model] = bipolar(value) if self.bipolar else round(value / 127.0, 4)
            if self.held:  # a solo is on: remember, apply on release
                return []
            return [Command(WEIGHT, (self.levels[model],), name=self.names[model])]
        if cc in self.solo_cc:
            return self._solo(self.solo_cc[cc], value >= 64)
        if cc == lay.temperature_cc:
            return [Command(TEMPERATURE, (round(log_scale(value, *lay.temperature_range), 3),))]
        if cc == lay.rate_cc:
            return [Command(RATE, (round(log_scale(value, *lay.rate_range), 2),))]
        if cc in lay.actions:
            down = value >= 64
            was_down = cc in self.pressed
            self.pressed = self.pressed | {cc} if down else self.pressed - {cc}
            return [Command(entry(lay.actions[cc]), event=True)] if down and not was_down else []
        return None

    def _solo(self, model: int, on: bool) -> list[Command]:
        if model in self.held:
            self.held.remove(model)
        if on:
            self.held.append(model)
        if self.held:
            solo = self.held[-1]
            return [Command(WEIGHTS, tuple(float(i == solo) for i in range(len(self.names))))]
        return [Command(WEIGHTS, tuple(1.0 if v is None else v for v in self.levels))]


class Learner:
    """--learn: the next moved control that isn't bound yet becomes model 1's fader, then 2's…"""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.learned: dict[int, ModelRef] = {}

    @property
    def done(self) -> bool:
        return len(self.learned) >= len(self.names)

    def offer(self, msg: mido.Message, mapper: MidiMapper) -> str | None:
        """Bind `msg`'s control if it is a new one; returns what got bound, for printing."""
        if self.done or msg.type != "control_change" or msg.control in self.learned:
            return None
        model = len(self.learned)
        self.learned[msg.control] = self.names[model]
        mapper.bind_fader(msg.control, model)
        return (f"CC {msg.control} (channel {msg.channel + 1}) → weight of {self.names[model]} "
                f"(model {model + 1} of {len(self.names)})")


def _say(msg: str) -> None:
    print(f"charmix midi: {msg}", file=sys.stderr, flush=True)


class MidiBridge:
    """A mapper (and, with --learn, a learner) feeding a Sender from whatever port it is given.

    The state lives here, not in the port: when a USB controller is unplugged and comes back,
    `run()` hands the new port to the same bridge and the faders' levels are remembered.
    """

    def __init__(
        self,
        layout: MidiLayout,
        names: list[str],
        sender: Sender,
        learn: bool = False,
        save: Path | None = None,
        say: Callable[[str], None] = _say,
        scenes: list[str] | None = None,
        morph: float = 0.0,
        bipolar: bool = False,
    ) -> None:
        self.layout, self.names, self.sender, self.save, self.say = layout, names, sender, save, say
        # LayoutError for unknown model names
        self.mapper = MidiMapper(layout, names, scenes, morph, bipolar=bipolar)
        self.learner = Learner(names) if learn else None
        if self.learner:
            self.mapper.weights.clear()  # learned faders replace the layout's
            say(f"learn: move the control for {names[0]} first, then one for each of "
                f"{', '.join(names[1:]) or 'no other model'}")

    def feed(self, msg: mido.Message) -> None:
        if self.learner is not None and (bound := self.learner.offer(msg, self.mapper)):
            self.say(f"learned: {bound}")
            if self.learner.done:
                self._learned()
        self.sender.apply(self.mapper.handle(msg))

    def _learned(self) -> None:
        assert self.learner is not None
        if self.save is None:
            self.say("learned all models (--save FILE keeps the mapping)")
            return
        final = self.layout.with_learned(self.learner.learned)
        try:
            self.save.write_text(dump_layout(final, self.names), encoding="utf-8")
            self.say(f"learned all models; saved the mapping to {self.save}")
        except OSError as exc:
            self.say(f"learned all models but could not save the mapping: {exc}")

    def pump(
        self,
        port: mido.ports.BaseInput,
        present: Callable[[], bool] | None = None,
        stop: threading.Event | None = None,
    ) -> str:
        """Feed `port` into the sender until the port closes or disappears.

        Polls rather than blocking in receive() so that an unplugged device (rtmidi just goes
        quiet) and `stop` are noticed. Returns why it ended: 'closed', 'gone' or 'stopped'.
        """
        stop = stop or threading.Event()
        next_check = time.monotonic() + PRESENCE_EVERY
        while not stop.is_set():
            got = False
            for msg in port.iter_pending():
                got = True
                self.feed(msg)
            if port.closed:
                return "closed"
            if present is not None and time.monotonic() >= next_check:
                next_check = time.monotonic() + PRESENCE_EVERY
                if not present():
                    return "gone"
            if not got:
                stop.wait(IDLE_WAIT)
        return "stopped"


class Pump(Protocol):
    """What `run` drives: MidiBridge, or midiclock.ClockBridge for --clock."""

    def pump(self, port: mido.ports.BaseInput, present: Callable[[], bool] | None = None,
             stop: threading.Event | None = None) -> str: ...


# -- hardware ports ------------------------------------------------------------------------
def sequencer_missing() -> str | None:
    """Why MIDI ports can't exist on this machine (Linux without ALSA's sequencer), or None.

    Checked before touching rtmidi, which would otherwise print ALSA errors and raise.
    """
    if sys.platform.startswith("linux") and not os.path.exists(SEQ_DEVICE):
        return (f"no MIDI input ports: there is no ALSA sequencer ({SEQ_DEVICE} is missing: no "
                "sound support in this kernel or container, or the snd-seq module is not loaded)")
    return None


def list_ports() -> tuple[list[str], str | None]:
    """MIDI input names, and when there are none, one line saying why."""
    if why := sequencer_missing():
        return [], why
    try:
        names = list(dict.fromkeys(mido.get_input_names()))
    except Exception as exc:  # rtmidi raises its own SystemError subclasses
        return [], f"no MIDI input ports: the MIDI backend failed ({exc})"
    if not names:
        return [], "no MIDI input ports (is the controller plugged in and powered?)"
    return names, None


def find_port(substring: str | None) -> str | None:
    names, _ = list_ports()
    if substring is None:
        return names[0] if names else None
    return next((n for n in names if substring.lower() in n.lower()), None)


def run(port_substring: str | None, bridge: Pump, say: Callable[[str], None] = _say) -> int:
    """Open the hardware port (waiting for it to appear), pump it, reopen it if it goes away."""
    if why := sequencer_missing():
        say(why)
        return 1  # a runtime failure: no ALSA sequencer on this machine
    waiting = False
    try:
        with interrupt_on_signals():  # SIGTERM too, and SIGINT even if started in the background
            while True:
                name = find_port(port_substring)
                if name is None:
                    if not waiting:
                        wanted = f"matching {port_substring!r} " if port_substring else ""
                        say(f"waiting for a MIDI input {wanted}(Ctrl-C stops; --list shows ports)")
                        waiting = True
                    time.sleep(1.0)
                    continue
                waiting = False
                try:
                    port = mido.open_input(name)
                except Exception as exc:  # busy, or vanished between listing and opening
                    say(f"cannot open {name!r}: {exc}; retrying")
                    time.sleep(1.0)
                    continue
                say(f"listening to {name!r}")
                with port:
                    ended = bridge.pump(port, present=lambda n=name: n in list_ports()[0])
                if ended == "gone":
                    say(f"{name!r} disappeared; the daemon keeps the last values. Waiting for it.")
    except KeyboardInterrupt:
        return 0
