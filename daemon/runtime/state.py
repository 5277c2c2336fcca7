"""`--state FILE`: the room's settings survive a restart (a crash, a power cut, a kill -9).

What is kept: every voice's target weights (by model name, signed: anti-experts too),
temperature, per-model temperatures, mode, beta, slew, top-k and top-p, blocklist (every term,
the live additions and removals included: the saved list wins over --blocklist), charset and
fold; the shared rate and paused; and the live subscribers with their expiry (on the wall clock,
so a subscriber whose time ran out while the daemon was down is not restored). Not kept: the
text, the LSTM states, the seed (the text after a restart is new text in the same style).

Voice 0's settings are the file's top-level keys and voices 1 … K-1 sit under "voices" by
number: a file written before there were voices is a one-voice file and loads as it is, and an
older charmix reading a newer file keeps voice 0. A daemon restarted with fewer voices restores
the ones it has, says in one line which saved voices it has not, and keeps those in the file (a
restart with the usual --voices gets them back); with more, the extra voices start from the
settings given, as on a first start.

Writes are atomic — a temporary file in the same folder, fsync, rename, fsync of the folder —
so the file is always either the previous state or the new one, never half of each. A keeper
thread looks at most every SAVE_EVERY seconds and writes only when something changed; stop()
writes a last time. So kill -9 loses at most the last second of gestures, and an idle daemon
does not write at all.

Reading is forgiving: a missing file is a first start (one info line); a corrupt, truncated or
foreign file (another program's JSON, another version) is one warning and the defaults. Values
go through the same validated setters as OSC input; a value that fails is skipped (listed in
the one warning). Weights are matched by model name: a changed model set keeps the weights of
the models that are still there, and says in one line which saved models are gone.

A failing write (the folder read-only, the disk full) is one warning, not one per second, and
never touches the music: the keeper runs on its own thread. When writing works again, one line
says so.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from charmix.daemon import protocol
from charmix.daemon.engine.constraints import Constraints
from charmix.daemon.live.broadcast import Broadcaster
from charmix.daemon.live.controls import ControlError, Controls

KIND = "charmix-state"
VERSION = 1
SAVE_EVERY = 1.0  # seconds: the most a kill -9 can lose
MAX_BYTES = 16 << 20  # a few KB, or ~15 KB per voice with the default blocklist (64 voices)
STATE_FILE = "state.json"  # under $STATE_DIRECTORY when run as a service


def default_path(env: dict[str, str] | None = None) -> Path | None:
    """The service default: $STATE_DIRECTORY/state.json (systemd sets it for StateDirectory=)."""
    env = dict(os.environ) if env is None else env
    folder = env.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(folder) / STATE_FILE if folder else None


def _voice(controls: Controls) -> dict[str, Any]:
    """One voice's own settings (the addresses with `voice` in the table), as JSON values."""
    s = controls.snapshot()
    names = controls.names
    return {
        "weights": {n: float(w) for n, w in zip(names, controls.target_weights(), strict=True)},
        "temperature": s.temperature,
        "model_temperature": {
            n: float(t) for n, t in zip(names, s.model_temperature, strict=True) if t > 0
        },
        "mode": s.mode,
        "beta": s.beta,
        "slew": s.slew,
        "topk": s.topk,
        "topp": s.topp,
        # blocklist (every term, live additions included), charset, fold; null = none
        "constraints": s.constraints.spec() if s.constraints is not None else None,
    }


def capture(voices: Controls | Sequence[Controls], broadcaster: Broadcaster | None,
            carried: dict[str, Any] | None = None) -> dict[str, Any]:
    """The settings worth keeping, as plain JSON values. Voice 0's settings are the top-level
    keys (the format of a one-voice daemon, so an older file and an older charmix still read
    each other); voices 1 … K-1 are under "voices", keyed by their number. `carried`: saved
    voices this daemon lacks, written back unchanged for a later daemon with more voices."""
    voices = _as_list(voices)
    first = voices[0]
    out: dict[str, Any] = {
        "kind": KIND,
        "version": VERSION,
        "models": list(first.names),
        **_voice(first),
        "rate": first.rate,
        "paused": first.paused,
        "n_voices": len(voices),
        "voices": {**(carried or {}),
                   **{str(k): _voice(c) for k, c in enumerate(voices[1:], start=1)}},
        "subscribers": [],
    }
    if broadcaster is not None:
        mono, wall = time.monotonic(), time.time()
        for d in list(broadcaster.targets):
            if d.expires is not None:
                out["subscribers"].append({"host": d.sockaddr[0], "port": d.sockaddr[1],
                                           "expires": round(wall + d.expires - mono)})
    return out


def _as_list(voices: Controls | Sequence[Controls]) -> list[Controls]:
    return [voices] if isinstance(voices, Controls) else list(voices)


def encode(state: dict[str, Any]) -> bytes:
    return (json.dumps(state, indent=1, sort_keys=True, allow_nan=False) + "\n").encode()


def write_atomic(path: Path, data: bytes) -> None:
    """tmp file, fsync, rename, fsync the folder; the tmp file is removed if anything fails."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    with contextlib.suppress(OSError):  # the rename itself survives a power cut
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read(path: Path, log: logging.Logger) -> dict[str, Any] | None:
    """The saved state, or None (first start, or one warning for a file that isn't one)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        log.info("state: no %s yet; starting from the settings given", path)
        return None
    except OSError as exc:
        log.warning("state: cannot read %s (%s); starting from the settings given", path,
                    exc.strerror or exc)
        return None
    why = None
    state: Any = None
    if len(data) > MAX_BYTES:
        why = "too large to be a charmix state file"
    else:
        try:
            state = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            why = f"not valid JSON, perhaps truncated ({type(exc).__name__})"
    if why is None and (not isinstance(state, dict) or state.get("kind") != KIND):
        why = "not a charmix state file"
    elif why is None and state.get("version") != VERSION:
        why = f"version {state.get('version')!r}, this charmix reads version {VERSION}"
    if why is not None:
        log.warning("state: ignoring %s: %s; starting from the settings given", path, why)
        return None
    return state


def restore(state: dict[str, Any], voices: Controls | Sequence[Controls],
            broadcaster: Broadcaster | None, log: logging.Logger,
            allowed: Callable[[str], bool] | None = None) -> list[str]:
    """Apply a saved state through the validated setters; returns what was restored. Skipped
    values, saved models that are gone and saved voices this daemon lacks are reported in one
    line each. Subscribers are restored only to hosts `allowed` accepts (the control
    allowlist, which may have changed)."""
    voices = _as_list(voices)
    controls = voices[0]
    done: list[str] = []
    skipped: list[str] = []
    gone: set[str] = set()

    def apply(key: str, setter: Any) -> None:
        if key not in state:
            return
        try:
            setter(state[key])
        except (ControlError, TypeError, ValueError):
            skipped.append(key)
        else:
            done.append(key)

    _restore_voice(state, controls, "", done, skipped, gone)
    apply("rate", controls.set_rate)
    if state.get("paused") is True:
        controls.pause()
        done.append("paused")
    extra = state.get("voices", {})
    lacking: list[int] = []
    if isinstance(extra, dict):
        for key, saved in list(extra.items())[: protocol.VOICES_MAX]:
            k = int(key) if isinstance(key, str) and key.isdigit() else 0
            if not 0 < k < protocol.VOICES_MAX or not isinstance(saved, dict):
                skipped.append(f"voice {key!r}")
            elif k >= len(voices):
                lacking.append(k)
            else:
                _restore_voice(saved, voices[k], f"voice {k} ", done, skipped, gone)
    else:
        skipped.append("voices")
    fresh = [k for k in range(1, len(voices)) if not isinstance(extra, dict) or str(k) not in extra]
    if fresh:
        log.info("state: nothing saved for voice%s %s: started from the settings given",
                 "s" if len(fresh) > 1 else "", ", ".join(map(str, fresh)))
    _restore_subscribers(state.get("subscribers"), broadcaster, allowed, done, skipped)
    if gone:
        log.warning("state: weights saved for %s not restored: no such model now (have: %s)",
                    ", ".join(sorted(gone)), ", ".join(controls.names))
    if lacking:
        have = len(voices)
        log.warning("state: settings saved for voice%s %s not restored: this daemon has %d "
                    "voice%s (--voices %d); they stay in the file for a daemon with more",
                    "s" if len(lacking) > 1 else "", ", ".join(map(str, sorted(lacking))),
                    have, "s" if have != 1 else "", have)
    if skipped:
        log.warning("state: ignored unusable saved values: %s", ", ".join(sorted(set(skipped))))
    return done


def _restore_voice(saved: dict[str, Any], controls: Controls, label: str, done: list[str],
                   skipped: list[str], gone: set[str]) -> None:
    """One voice's settings (`label`: "" for voice 0, "voice 2 " …) through its setters."""
    applied = False

    def apply(key: str, setter: Any) -> None:
        nonlocal applied
        if key not in saved:
            return
        try:
            setter(saved[key])
        except (ControlError, TypeError, ValueError):
            skipped.append(f"{label}{key}")
        else:
            applied = True
            if not label:
                done.append(key)

    apply("mode", controls.set_mode)  # first: negative weights are valid in geometric mode only
    weights = saved.get("weights")
    if isinstance(weights, dict):
        target = list(controls.target_weights())
        for name, value in weights.items():
            if name in controls.index:
                target[controls.index[name]] = value
            else:
                gone.add(str(name))
        apply("weights", lambda _: controls.set_weights(_in_range(target)))
    elif weights is not None:
        skipped.append(f"{label}weights")
    temps = saved.get("model_temperature")
    if isinstance(temps, dict):
        for name, value in temps.items():
            if name in controls.index:
                try:
                    controls.set_model_temperature(name, value)
                except (ControlError, TypeError, ValueError):
                    skipped.append(f"{label}model_temperature {name}")
    for key, setter in (("temperature", controls.set_temperature),
                        ("beta", controls.set_beta), ("slew", controls.set_slew),
                        ("topk", controls.set_topk), ("topp", controls.set_topp),
                        ("constraints", lambda v: _set_constraints(controls, v))):
        apply(key, setter)
    if label and applied:
        done.append(label.strip())


def _set_constraints(controls: Controls, spec: Any) -> None:
    """A saved voice's blocklist, charset and fold (null: none), through the checked setter."""
    if spec is None:
        controls.set_constraints(Constraints())
        return
    if not isinstance(spec, dict) or not isinstance(spec.get("blocklist", []), list):
        raise TypeError("constraints")
    controls.set_constraints(Constraints.from_spec(spec))


def _in_range(weights: list[Any]) -> list[Any]:
    """Weights from a file written before they were limited to −1 … 1 (any positive number was
    valid then): scaled into range together, which mixes the same (the daemon normalises)."""
    try:
        top = max(abs(float(w)) for w in weights)
    except (TypeError, ValueError):
        return weights  # not numbers: the setter says so
    return [float(w) / top for w in weights] if 1.0 < top < math.inf else weights


def _restore_subscribers(subscribers: Any, broadcaster: Broadcaster | None,
                         allowed: Callable[[str], bool] | None, done: list[str],
                         skipped: list[str]) -> None:
    if broadcaster is None or not isinstance(subscribers, list):
        return
    restored = 0
    wall = time.time()
    for sub in subscribers[: 64]:
        try:
            left = float(sub["expires"]) - wall
            host, port = str(sub["host"]), int(sub["port"])
            if not 1 <= port <= 65535:
                raise ValueError(port)
            if allowed is not None and not allowed(host):
                skipped.append("subscriber outside --allow")
                continue
            fresh = math.isfinite(left) and 0 < left <= protocol.SUBSCRIBER_TTL + 1
            if fresh and broadcaster.subscribe(host, port, ttl=left):
                restored += 1
        except (KeyError, TypeError, ValueError, OverflowError):
            skipped.append("subscriber")
    if restored:
        done.append(f"{restored} subscriber{'s' if restored != 1 else ''}")


def _lacking(state: dict[str, Any], have: int) -> dict[str, Any]:
    """The saved voices numbered `have` or more (a daemon restarted with fewer voices)."""
    extra = state.get("voices")
    if not isinstance(extra, dict):
        return {}
    return {k: v for k, v in list(extra.items())[: protocol.VOICES_MAX]
            if isinstance(k, str) and k.isdigit() and have <= int(k) < protocol.VOICES_MAX
            and isinstance(v, dict)}


class StateKeeper:
    """Saves the state at most every SAVE_EVERY seconds while it changes, and on stop."""

    def __init__(self, path: Path, controls: Controls | Sequence[Controls],
                 broadcaster: Broadcaster | None, log: logging.Logger, every: float = SAVE_EVERY,
                 allowed: Callable[[str], bool] | None = None) -> None:
        """`controls`: every voice's Controls, voice 0's first (or voice 0's alone)."""
        self.path = path
        self.controls = _as_list(controls)
        self.broadcaster = broadcaster
        self.log = log
        self.every = every
        self.allowed = allowed
        self.saves = 0
        self.errors = 0
        self._last: bytes | None = None
        self._carried: dict[str, Any] = {}  # saved voices beyond this daemon's, kept as read
        self._failing = False
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one save at a time (the thread's and stop()'s)
        self._thread: threading.Thread | None = None
        # Scenes and the score (runtime/daemon.py): more keys to save ("scenes", "score"),
        # and the state as read, for them to restore from.
        self.extra: Callable[[], dict[str, Any]] | None = None
        self.saved: dict[str, Any] = {}

    def load(self) -> list[str]:
        """Read and apply the saved state (before the clock starts); what was restored."""
        state = read(self.path, self.log)
        if state is None:
            return []
        self.saved = state
        done = restore(state, self.controls, self.broadcaster, self.log, self.allowed)
        self._carried = _lacking(state, len(self.controls))
        self._last = encode(self._capture())  # nothing new to save
        return done

    def _capture(self) -> dict[str, Any]:
        out = capture(self.controls, self.broadcaster, self._carried)
        if self.extra is not None:
            out.update(self.extra())
        return out

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="charmix-state", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.save()

    def save(self) -> bool:
        """Write if changed; False if the write failed (warned once until it works again)."""
        with self._lock:
            try:
                data = encode(self._capture())
            except Exception as exc:  # a bug here must not end the keeper
                self._fail(f"cannot encode the state ({type(exc).__name__}: {exc})")
                return False
            if data == self._last:
                return True
            try:
                write_atomic(self.path, data)
            except OSError as exc:
                self._fail(f"cannot write {self.path} ({exc.strerror or exc})")
                return False
            self._last = data
            self.saves += 1
            if self._failing:
                self._failing = False
                self.log.info("state: writing %s works again", self.path)
            return True

    def _fail(self, why: str) -> None:
        self.errors += 1
        if not self._failing:
            self._failing = True
            self.log.warning("state: %s; generation goes on, settings are not being saved", why)

    def stop(self) -> None:
        """A last save, then the thread ends."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None
        self.save()
