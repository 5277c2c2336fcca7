"""The live controls: what OSC handlers write and the clock thread reads, with validation first.

Threads: the OSC server thread calls the setters; the clock thread calls `snapshot()`,
`take_commands()` and `take_tick()` between steps. One lock guards the values and is held for
microseconds (never during a step). A setter validates completely before it changes anything, so a
bad message leaves the state exactly as it was and raises ControlError (one line saying why); the
server counts it. Values are replaced, never queued: the newest weights always win, and a flood of
weight messages costs the clock nothing. Only engine *commands* (prime, reset, seed) are queued,
because each of them must happen once, in order, between two steps.

The counters in /charmix/status and `Throttle` live in live/counters.py (no numpy, no engine), so
that OSCQuery can count and throttle without loading the models' stack.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import numpy as np

from charmix.daemon import protocol
from charmix.daemon.engine.constraints import ConstraintError, Constraints, parse_term
from charmix.daemon.engine.mixer import Settings
from charmix.daemon.live.counters import Counters

_C = protocol.control
WEIGHTS, WEIGHT = _C("weights"), _C("weight/{name}")
TEMPERATURE, MODEL_TEMPERATURE = _C("temperature"), _C("model/{name}/temperature")
MODE, RATE, SLEW, TOPK, TOPP = _C("mode"), _C("rate"), _C("slew"), _C("topk"), _C("topp")
BETA = _C("beta")
PRIME, SEED = _C("prime"), _C("seed")
BLOCK_ADD, BLOCK_REMOVE = _C("blocklist/add"), _C("blocklist/remove")
CHARSET, FOLD = _C("charset"), _C("fold")
# Kept for callers that read the bounds; the table is where they are set.
TEMPERATURE_RANGE = (TEMPERATURE.args[0].min, TEMPERATURE.args[0].max)
RATE_MAX = RATE.args[0].max
SLEW_MAX = SLEW.args[0].max
COMMANDS_MAX = 256  # queued prime/reset/seed requests; beyond this new ones are refused
TICKS_MAX = protocol.TICKS_MAX  # pending ticks; beyond this they are dropped, not queued


class ControlError(ValueError):
    """A control value that was refused; str() is one line saying what and why."""


def _check(address: protocol.Address, value: object, name: str | None = None) -> Any:
    """One value checked by the address table's typed argument; ControlError says why not."""
    try:
        return address.check([value], name)[0]
    except protocol.BadValue as exc:
        raise ControlError(str(exc)) from None


@dataclass(frozen=True)
class Command:
    """An engine request applied by the clock thread between steps: prime, reset or seed."""

    kind: str  # "prime" | "reset" | "seed" | "record" | "record_stop"
    text: str = ""
    seed: int = 0


class Controls:
    """Validated, thread-safe live settings; the single place OSC input changes the daemon."""

    def __init__(
        self,
        names: Sequence[str],
        weights: Sequence[float] | None = None,
        *,
        temperature: float = TEMPERATURE.args[0].default,  # type: ignore[assignment]
        mode: str = MODE.args[0].default,  # type: ignore[assignment]
        topk: int = TOPK.args[0].default,  # type: ignore[assignment]
        topp: float = TOPP.args[0].default,  # type: ignore[assignment]
        slew: float = SLEW.args[0].default,  # type: ignore[assignment]
        rate: float = RATE.args[0].default,  # type: ignore[assignment]
        beta: float = BETA.args[0].default,  # type: ignore[assignment]
        model_temperature: dict[str, float] | None = None,
        counters: Counters | None = None,
        wake: threading.Event | None = None,
        constraints: Constraints | None = None,
        vocab: Sequence[str] | None = None,
    ) -> None:
        """`counters` and `wake`: shared with voice 0's Controls for the other voices.
        `constraints`: the voice's blocklist, charset and fold at start; `vocab`: the engine's,
        to check (and pre-build) a constraint change here rather than on the clock thread."""
        self.names = list(names)
        self.index = {name: i for i, name in enumerate(self.names)}
        self.counters = counters or Counters()
        self._lock = threading.Lock()
        self._commands: deque[Command] = deque()
        self._ticks = 0
        self._paused = False
        self._weights = np.full(len(self.names), 1.0 / max(1, len(self.names)))
        self._model_temperature = np.zeros(len(self.names))
        self._temperature = 0.8
        self._mode = "linear"
        self._topk = 0
        self._topp = 1.0
        self._slew = 0.05
        self._rate = 15.0
        self._vocab = list(vocab) if vocab is not None else None
        self._constraints: Constraints | None = None
        self._constraints_change = threading.Lock()  # one read-modify-write at a time
        self._beta = protocol.BETA_DEFAULT
        # Set whenever something the clock waits for changes (rate, pause, tick, command), so a
        # clock sleeping toward a far deadline or waiting for ticks reacts at once.
        self.wake = wake or threading.Event()
        # Settings a performer's control message changed since the conductor last looked
        # (`touch`, `take_touched`): a morph or a score lets go of them (live/conductor.py).
        self._touched: set[str] = set()
        self.touched_at = -math.inf  # time.monotonic() of the latest touch
        # Plays a tick at once on the calling thread if the clock is idle (Clock.try_tick);
        # returns False when the tick must be queued. None: always queue.
        self.play_tick: Callable[[], bool] | None = None
        # The initial values go through the same validation as live ones; the mode first,
        # because negative weights are valid in geometric mode only.
        self.set_mode(mode)
        if weights is not None:
            self.set_weights(weights)
        self.set_temperature(temperature)
        self.set_beta(beta)
        self.set_topk(topk)
        self.set_topp(topp)
        self.set_slew(slew)
        self.set_rate(rate)
        for name, value in (model_temperature or {}).items():
            self.set_model_temperature(name, value)
        if constraints is not None:
            self.set_constraints(constraints)

    # ----------------------------------------------------------------- setters (any thread)
    def set_weights(self, values: Sequence[object]) -> None:
        """Target weights in model order; fewer values than models leave the rest unchanged."""
        if len(values) == 0:
            raise ControlError("weights: no values")
        if len(values) > len(self.names):
            raise ControlError(f"weights: got {len(values)} values for {len(self.names)} models")
        try:
            checked = WEIGHTS.check(list(values))
        except protocol.BadValue as exc:
            raise ControlError(str(exc)) from None
        with self._lock:
            new = self._weights.copy()
            new[: len(checked)] = checked
            self._weights = self._signed(new, np.asarray(checked, np.float64), "weights")

    def set_weight(self, name: str, value: object) -> None:
        i = self._model(name)
        checked = _check(WEIGHT, value, name)
        with self._lock:
            new = self._weights.copy()
            new[i] = checked
            self._weights = self._signed(new, np.array([checked], np.float64),
                                         f"weight of {name}")

    def _signed(self, weights: np.ndarray, given: np.ndarray, what: str) -> np.ndarray:
        """(under the lock) New target weights, unless their signs are refused: a negative
        weight (an anti-expert) can be set in geometric mode only, and needs a positive one
        beside it to steer away from (all zero stays valid: a uniform mix). `given`: the values
        of this message — in linear mode only they are judged, so a negative target left from
        geometric mode (linear plays it as 0) does not block the other faders."""
        negative = np.flatnonzero(weights < 0)
        if negative.size == 0:
            return weights
        first = f"{self.names[negative[0]]} at {weights[negative[0]]:g}"
        if self._mode != "geometric" and (given < 0).any():
            raise ControlError(f"{what}: a negative weight ({given[given < 0][0]:g}) is an "
                               "anti-expert and plays in geometric mode only "
                               "(/charmix/mode geometric)")
        if not (weights > 0).any():
            raise ControlError(f"{what}: every weight would be <= 0 ({first}); an anti-expert "
                               "needs a positive weight to steer away from")
        return weights

    def set_temperature(self, value: object) -> None:
        checked = _check(TEMPERATURE, value)
        with self._lock:
            self._temperature = checked

    def set_model_temperature(self, name: str, value: object) -> None:
        """Per-model override; 0 clears it (the model follows the global temperature)."""
        i = self._model(name)
        checked = _check(MODEL_TEMPERATURE, value, name)
        with self._lock:
            new = self._model_temperature.copy()
            new[i] = checked
            self._model_temperature = new

    def set_mode(self, value: object) -> None:
        checked = _check(MODE, value)
        with self._lock:
            self._mode = checked

    def set_beta(self, value: object) -> None:
        """Plausibility with anti-experts (arithmetic.plausible): 0 = off."""
        checked = _check(BETA, value)
        with self._lock:
            self._beta = checked

    def set_topk(self, value: object) -> None:
        checked = _check(TOPK, value)
        with self._lock:
            self._topk = checked

    def set_topp(self, value: object) -> None:
        checked = _check(TOPP, value)
        with self._lock:
            self._topp = checked

    def set_slew(self, value: object) -> None:
        checked = _check(SLEW, value)
        with self._lock:
            self._slew = checked

    def set_rate(self, value: object) -> None:
        """Characters per second; 0 = external clock (each /charmix/tick makes one)."""
        checked = _check(RATE, value)
        with self._lock:
            self._rate = checked
        self.wake.set()

    # -- constraints (daemon/engine/constraints.py): built and checked here, so that the clock
    # thread only swaps a reference; a refused change leaves the voice's constraints as they were
    def set_constraints(self, constraints: Constraints) -> None:
        if self._vocab is not None:
            try:
                constraints.compiled(self._vocab)
            except ConstraintError as exc:
                raise ControlError(str(exc)) from None
        with self._lock:
            self._constraints = None if constraints.empty and not constraints.fold else constraints

    def _changed(self, change: Callable[[Constraints], Constraints]) -> None:
        with self._constraints_change:
            with self._lock:
                current = self._constraints or Constraints()
            try:
                self.set_constraints(change(current))
            except ConstraintError as exc:
                raise ControlError(str(exc)) from None

    def blocklist_add(self, text: object) -> None:
        checked = _check(BLOCK_ADD, text)
        try:
            term = parse_term(checked)
        except ConstraintError as exc:
            raise ControlError(f"blocklist/add: {exc}") from None
        self._changed(lambda c: c.with_terms((*c.terms, term)))

    def blocklist_remove(self, text: object) -> None:
        checked = _check(BLOCK_REMOVE, text)
        try:
            term = parse_term(checked)
        except ConstraintError as exc:
            raise ControlError(f"blocklist/remove: {exc}") from None

        def remove(c: Constraints) -> Constraints:
            if term not in c.terms:
                raise ControlError(f"blocklist/remove: {term.line()!r} is not on the blocklist")
            return c.with_terms(t for t in c.terms if t != term)

        self._changed(remove)

    def set_charset(self, spec: object) -> None:
        checked = _check(CHARSET, spec)
        self._changed(lambda c: c.with_charset(checked))

    def set_fold(self, fold: object) -> None:
        checked = _check(FOLD, fold)
        self._changed(lambda c: c.with_fold(checked))

    @property
    def constraints(self) -> Constraints | None:
        return self._constraints

    def pause(self) -> None:
        with self._lock:
            self._paused = True
            self._ticks = 0
        self.wake.set()

    def resume(self) -> None:
        with self._lock:
            self._paused = False
        self.wake.set()

    def tick(self) -> None:
        """Ask for one character now. Ignored while paused; played at once by `play_tick` when
        the clock is idle and nothing is queued; otherwise queued, at most TICKS_MAX pending."""
        with self._lock:
            if self._paused:
                return
            queued = self._ticks > 0
        # Outside the lock: playing takes a snapshot of these controls.
        if not queued and self.play_tick is not None and self.play_tick():
            return
        with self._lock:
            if self._ticks >= TICKS_MAX:
                self.counters.add("ticks_dropped")
                return
            self._ticks += 1
        self.wake.set()

    def prime(self, text: object) -> None:
        """Queue text to feed the models; its last PRIME_MAX characters count (an LSTM's state
        remembers the recent past). One prime at a time: priming runs on the clock thread
        between steps (~0.4 ms per character with six models), so a flood of primes must not
        queue up minutes of silence."""
        checked = _check(PRIME, text)  # the table clips it to its last PRIME_MAX characters
        self._command(Command("prime", text=checked), alone=True)

    def reset(self) -> None:
        self._command(Command("reset"))

    def seed(self, value: object) -> None:
        checked = _check(SEED, value)
        self._command(Command("seed", seed=checked))

    def record(self, path: object) -> None:
        """Ask for a recording to a new file (protocol /charmix/record): relative to the
        daemon's working directory, ending in .jsonl, no '..', so a controller on the LAN can
        neither write outside it nor name a file that means something else (a dotfile)."""
        if not isinstance(path, str) or not path.strip():
            raise ControlError("record needs a file name")
        parts = PurePath(path).parts
        if PurePath(path).is_absolute() or ".." in parts or not path.endswith(".jsonl"):
            raise ControlError(f"record: {path!r} must be a relative path ending in .jsonl, "
                               "without '..' (it is created in the daemon's working directory)")
        self._command(Command("record", text=path))

    def record_stop(self) -> None:
        self._command(Command("record_stop"))

    # ------------------------------------------------------- a performer's hand (scenes)
    def touch(self, setting: str) -> None:
        """A performer's control message changed `setting` (a key of live/scenes.py's Scene:
        "weights", "temperature", …). The dispatcher calls it after a setter succeeded; the
        conductor's own writes and a restored state do not, so only a person (or a bridge)
        takes a setting from a morph or a voice from its score."""
        with self._lock:
            self._touched.add(setting)
            self.touched_at = time.monotonic()

    def take_touched(self) -> set[str]:
        """The settings touched since the last call (the conductor's, on the clock thread)."""
        with self._lock:
            taken, self._touched = self._touched, set()
        return taken

    # ---------------------------------------------------------------- clock-thread side
    def snapshot(self) -> Settings:
        """The current settings as one consistent Settings (arrays are private copies)."""
        with self._lock:
            return Settings(
                weights=self._weights.copy(),
                temperature=self._temperature,
                model_temperature=self._model_temperature.copy(),
                mode=self._mode,
                topk=self._topk,
                topp=self._topp,
                slew=self._slew,
                constraints=self._constraints,
                beta=self._beta,
            )

    def take_commands(self) -> list[Command]:
        """Queued prime/reset/seed requests, oldest first; the queue is emptied."""
        with self._lock:
            taken = list(self._commands)
            self._commands.clear()
        return taken

    def take_tick(self) -> bool:
        """Consume one pending tick; False if there is none."""
        with self._lock:
            if self._ticks == 0:
                return False
            self._ticks -= 1
            return True

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def pending(self) -> bool:
        """Whether ticks or commands are waiting for the clock thread."""
        return bool(self._ticks or self._commands)

    def target_weights(self) -> np.ndarray:
        return self._weights.copy()

    # ------------------------------------------------------------------------ helpers
    def _model(self, name: object) -> int:
        if not isinstance(name, str) or name not in self.index:
            raise ControlError(f"unknown model {name!r} (have: {', '.join(self.names)})")
        return self.index[name]

    def _command(self, command: Command, alone: bool = False) -> None:
        """Queue a command; `alone`: refused while another of its kind is still waiting."""
        with self._lock:
            if alone and any(c.kind == command.kind for c in self._commands):
                raise ControlError(f"{command.kind}: another {command.kind} is still waiting")
            if len(self._commands) >= COMMANDS_MAX:
                raise ControlError(f"{command.kind}: {COMMANDS_MAX} commands already waiting")
            self._commands.append(command)
        self.wake.set()
