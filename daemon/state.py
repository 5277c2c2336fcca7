"""`--state FILE`: the room's settings survive a restart (a crash, a power cut, a kill -9).

What is kept: target weights (by model name), temperature, per-model temperatures, mode, rate,
slew, top-k, top-p, paused, and the live subscribers with their expiry (on the wall clock, so a
subscriber whose time ran out while the daemon was down is not restored). Not kept: the text,
the LSTM states, the seed (the text after a restart is new text in the same style).

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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from charmix.daemon import protocol
from charmix.daemon.broadcast import Broadcaster
from charmix.daemon.controls import ControlError, Controls

KIND = "charmix-state"
VERSION = 1
SAVE_EVERY = 1.0  # seconds: the most a kill -9 can lose
MAX_BYTES = 1 << 20  # a state file is a few KB; anything far bigger is not ours
STATE_FILE = "state.json"  # under $STATE_DIRECTORY when run as a service


def default_path(env: dict[str, str] | None = None) -> Path | None:
    """The service default: $STATE_DIRECTORY/state.json (systemd sets it for StateDirectory=)."""
    env = dict(os.environ) if env is None else env
    folder = env.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(folder) / STATE_FILE if folder else None


def capture(controls: Controls, broadcaster: Broadcaster | None) -> dict[str, Any]:
    """The settings worth keeping, as plain JSON values."""
    s = controls.snapshot()
    names = controls.names
    out: dict[str, Any] = {
        "kind": KIND,
        "version": VERSION,
        "models": list(names),
        "weights": {n: float(w) for n, w in zip(names, controls.target_weights(), strict=True)},
        "temperature": s.temperature,
        "model_temperature": {
            n: float(t) for n, t in zip(names, s.model_temperature, strict=True) if t > 0
        },
        "mode": s.mode,
        "rate": controls.rate,
        "slew": s.slew,
        "topk": s.topk,
        "topp": s.topp,
        "paused": controls.paused,
        "subscribers": [],
    }
    if broadcaster is not None:
        mono, wall = time.monotonic(), time.time()
        for d in list(broadcaster.targets):
            if d.expires is not None:
                out["subscribers"].append({"host": d.sockaddr[0], "port": d.sockaddr[1],
                                           "expires": round(wall + d.expires - mono)})
    return out


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


def restore(state: dict[str, Any], controls: Controls, broadcaster: Broadcaster | None,
            log: logging.Logger, allowed: Callable[[str], bool] | None = None) -> list[str]:
    """Apply a saved state through the validated setters; returns what was restored. Skipped
    values and saved models that are gone are reported in one line each. Subscribers are
    restored only to hosts `allowed` accepts (the control allowlist, which may have changed)."""
    done: list[str] = []
    skipped: list[str] = []

    def apply(key: str, setter: Any) -> None:
        if key not in state:
            return
        try:
            setter(state[key])
        except (ControlError, TypeError, ValueError):
            skipped.append(key)
        else:
            done.append(key)

    names = controls.names
    weights = state.get("weights")
    gone: list[str] = []
    if isinstance(weights, dict):
        target = list(controls.target_weights())
        for name, value in weights.items():
            if name in controls.index:
                target[controls.index[name]] = value
            else:
                gone.append(str(name))
        apply("weights", lambda _: controls.set_weights(target))
    elif weights is not None:
        skipped.append("weights")
    temps = state.get("model_temperature")
    if isinstance(temps, dict):
        for name, value in temps.items():
            if name in controls.index:
                try:
                    controls.set_model_temperature(name, value)
                except (ControlError, TypeError, ValueError):
                    skipped.append(f"model_temperature {name}")
    apply("temperature", controls.set_temperature)
    apply("mode", controls.set_mode)
    apply("rate", controls.set_rate)
    apply("slew", controls.set_slew)
    apply("topk", controls.set_topk)
    apply("topp", controls.set_topp)
    if state.get("paused") is True:
        controls.pause()
        done.append("paused")
    subscribers = state.get("subscribers")
    if broadcaster is not None and isinstance(subscribers, list):
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
    if gone:
        log.warning("state: weights saved for %s not restored: no such model now (have: %s)",
                    ", ".join(gone), ", ".join(names))
    if skipped:
        log.warning("state: ignored unusable saved values: %s", ", ".join(sorted(set(skipped))))
    return done


class StateKeeper:
    """Saves the state at most every SAVE_EVERY seconds while it changes, and on stop."""

    def __init__(self, path: Path, controls: Controls, broadcaster: Broadcaster | None,
                 log: logging.Logger, every: float = SAVE_EVERY,
                 allowed: Callable[[str], bool] | None = None) -> None:
        self.path = path
        self.controls = controls
        self.broadcaster = broadcaster
        self.log = log
        self.every = every
        self.allowed = allowed
        self.saves = 0
        self.errors = 0
        self._last: bytes | None = None
        self._failing = False
        self._stop = threading.Event()
        self._lock = threading.Lock()  # one save at a time (the thread's and stop()'s)
        self._thread: threading.Thread | None = None

    def load(self) -> list[str]:
        """Read and apply the saved state (before the clock starts); what was restored."""
        state = read(self.path, self.log)
        if state is None:
            return []
        done = restore(state, self.controls, self.broadcaster, self.log, self.allowed)
        self._last = encode(capture(self.controls, self.broadcaster))  # nothing new to save
        return done

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
                data = encode(capture(self.controls, self.broadcaster))
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
