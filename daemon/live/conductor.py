"""The conductor: scenes recalled with a morph, and the score, played on the clock thread.

`Conductor.step(dt)` runs at the start of every step, before the voices' settings are read
(live/performer.py), so what it writes into a voice's Controls is what that step uses — and what
a recording records, which is why `charmix replay` gives the same text with a score running.
Its time is the clock's: dt per step, so the weights at step n depend on n alone.

Per voice it keeps at most one morph (`Morph`: from a Point to a scene's Point over some
seconds; live/scenes.py does the arithmetic) and the voice's part of the score: the cue it is
at, the seconds into it, the cycle. A performer's control message (Controls.touch, called by the
dispatcher) wins: the morph lets go of that setting, and a voice playing its score is punched in
— taken out of the score at once, counted as `overrides`. With `hand_back` seconds (> 0) of
silence after that, the score takes the voice back: it morphs from wherever the performer left
it to the current cue and goes on.

The dispatcher calls save/recall/delete/play/stop/cue from the control thread; one lock, held
for microseconds, keeps them and `step` apart. While a morph or a score runs, the voice's
/charmix/scene/current (the title) and /charmix/scene/progress (0 – 1) go out, the progress at
most PROGRESS_EVERY seconds apart.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from charmix.daemon import protocol
from charmix.daemon.live import oscwire
from charmix.daemon.live.broadcast import OUTPUTS, Broadcaster, encode
from charmix.daemon.live.controls import Controls
from charmix.daemon.live.counters import Throttle
from charmix.daemon.live.scenes import (
    Point,
    Scene,
    SceneBook,
    SceneError,
    apply,
    between,
    capture,
    point_of,
    target,
)
from charmix.daemon.live.score import Cue, Part, Score, Walk

PROGRESS_EVERY = 0.1  # s of score time between /charmix/scene/progress messages
HAND_BACK_MORPH = 2.0  # s; the morph back into a cue that has none of its own
EPSILON = 1e-9  # s; time sums of dt that land this close to a cue's end have reached it
ALIGN_SLACK = 0.5  # clock periods; an aligned part further than this from the wall clock seeks


@dataclass
class Morph:
    """A voice on its way from `start` to `end`; `keys`: the settings still moving."""

    start: Point
    end: Point
    keys: set[str]
    seconds: float
    title: str
    elapsed: float = 0.0

    @property
    def progress(self) -> float:
        return 1.0 if self.seconds <= 0 else min(1.0, self.elapsed / self.seconds)


class Player:
    """One voice: its morph and its place in its part of the score."""

    def __init__(self, voice: int, part: Part | None) -> None:
        self.voice = voice
        self.part = part
        self.morph: Morph | None = None
        self.playing = False
        self.punched = False
        self.cue = 0
        self.t = 0.0  # score seconds into the cue
        self.length = 0.0  # of the cue as entered (a hand-back may lengthen its morph)
        self.cycle = 0
        self.walk: Walk | None = None
        self.title = ""
        self.sent_title = ""
        self.sent_at = -math.inf  # score time of the last progress message
        self.clock = 0.0  # score seconds since start (for PROGRESS_EVERY)
        self.punched_at = -math.inf  # monotonic time of the punch-in (a recall touches nothing)
        self.stopped = False  # /charmix/score/stop (kept by --state): start() leaves it alone


class Conductor:
    """Scenes, morphs and the score for every voice of a daemon."""

    def __init__(
        self,
        voices: Sequence[Controls],
        broadcaster: Broadcaster | None,
        book: SceneBook | None = None,
        *,
        score: Score | None = None,
        hand_back: float = 0.0,
        seed: int = 0,
        log: logging.Logger | None = None,
        wall: Callable[[], float] = time.time,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.voices = list(voices)
        self.names = list(self.voices[0].names)
        self.counters = self.voices[0].counters
        self.broadcaster = broadcaster
        self.book = book or SceneBook()
        self.score = score
        self.hand_back = hand_back
        self.seed = seed
        self.log = log or logging.getLogger("charmix.daemon")
        self.throttle = Throttle(self.log)
        self.wall, self.now = wall, now
        self._lock = threading.Lock()
        parts = {p.voice: p for p in score.parts} if score is not None else {}
        self.players = [Player(k, parts.get(k)) for k in range(len(self.voices))]
        self.on_scenes: Callable[[], None] | None = None  # the composition root saves the file
        self.book.on_change = self._scenes_changed

    # ------------------------------------------------------------- the dispatcher's side
    def save(self, voice: int, name: str) -> None:
        self.book.put(name, capture(self.voices[voice]))

    def delete(self, name: str) -> None:
        self.book.delete(name)

    def recall(self, voice: int, name: str, seconds: float = 0.0) -> None:
        """A performer's recall: a morph to the scene (at once for 0); during the score, a
        punch-in. SceneError for a scene that is not there."""
        scene = self.scene(name)
        if scene is None:
            raise self.book.missing(name)
        with self._lock:
            player = self.players[voice]
            self._punch(player)
            self._begin_morph(player, scene, seconds, name)
            if seconds <= 0:
                self._advance_morph(player, 0.0)

    def play(self, voice: int) -> None:
        with self._lock:
            player = self._part_player(voice)
            self.voices[voice].take_touched()  # what came before play is not a punch-in
            if player.playing and player.punched:  # a hand-back asked for
                self._hand_back(player)
            elif not player.playing:  # from the start of the cue it was at
                player.playing, player.punched, player.stopped = True, False, False
                self._start(player, player.cue, 0.0)

    def stop(self, voice: int) -> None:
        with self._lock:
            player = self._part_player(voice)
            player.playing, player.stopped = False, True
            player.morph = None
            player.title = ""

    def cue(self, voice: int, index: int) -> None:
        with self._lock:
            player = self._part_player(voice)
            assert player.part is not None
            if not 0 <= index < len(player.part.cues):
                raise SceneError(f"cue {index}: voice {voice}'s part has {len(player.part.cues)} "
                                 f"cues (0 – {len(player.part.cues) - 1})")
            player.playing, player.punched, player.stopped = True, False, False
            self.voices[voice].take_touched()
            self._enter(player, index, 0.0)

    def scene(self, name: str) -> Scene | None:
        """A scene of the book, else of the score (the book wins: a saved scene overrides)."""
        found = self.book.get(name)
        if found is None and self.score is not None:
            found = self.score.scenes.get(name)
        return found

    def scene_names(self) -> list[str]:
        """Every scene a recall can name: the saved ones and the score's own, sorted."""
        names = set(self.book.names())
        if self.score is not None:
            names |= set(self.score.scenes)
        return sorted(names)

    def _part_player(self, voice: int) -> Player:
        player = self.players[voice]
        if player.part is None:
            what = "no --score" if self.score is None else f"no part for voice {voice}"
            raise SceneError(f"this daemon has {what}")
        return player

    # ------------------------------------------------------------------ the clock's side
    def start(self) -> None:
        """Play every part from its start (or its wall-clock place) — before the clock runs."""
        with self._lock:
            for player in self.players:
                if player.part is not None and not player.playing and not player.stopped:
                    player.playing = True
                    self._start(player, player.cue, 0.0)

    def step(self, dt: float) -> None:
        """Before each step's settings are read (clock thread): punch-ins, the score, morphs."""
        with self._lock:
            for player, controls in zip(self.players, self.voices, strict=True):
                touched = controls.take_touched()
                if touched:
                    self._touched(player, touched)
                elif (player.punched and self.hand_back > 0 and player.playing
                      and self.now() - max(controls.touched_at, player.punched_at)
                      >= self.hand_back):
                    self._hand_back(player)
                if player.playing and not player.punched:
                    self._advance_score(player, dt)
                elif player.morph is not None:
                    self._advance_morph(player, player.morph.elapsed + dt)
                player.clock += dt
                self._report(player)

    def _touched(self, player: Player, touched: set[str]) -> None:
        """A performer's controls since the last step: one override, however many settings."""
        morph = player.morph
        took = morph is not None and bool(morph.keys & touched)
        if morph is not None:
            morph.keys -= touched
        if not self._punch(player, count=False) and not took:
            return
        self.counters.add("overrides")

    def _punch(self, player: Player, count: bool = True) -> bool:
        """A performer takes the voice: out of the score at once (counted); whether it was
        in the score."""
        if not player.playing or player.punched:
            return False
        player.punched = True
        player.punched_at = self.now()
        player.morph = None
        player.walk = None
        if count:
            self.counters.add("overrides")
        return True

    def _hand_back(self, player: Player) -> None:
        """After the silence: back into the current cue, morphing from here."""
        player.punched = False
        self.log.info("score: voice %d handed back to the score at cue %d", player.voice,
                      player.cue)
        self._enter(player, player.cue, 0.0, morph_at_least=HAND_BACK_MORPH)

    # ------------------------------------------------------------------------ the score
    def _start(self, player: Player, cue: int, t: float, rejoin: bool = False) -> None:
        """Begin playing at cue/t, or where the wall clock says for an aligned score.
        `rejoin`: a resumed place (a restart under --state)."""
        assert player.part is not None
        aligned = self._aligned(player.part)
        if aligned is not None:
            cue, t, rejoin = aligned[0], aligned[1], True
        self._enter(player, cue, t, rejoin=rejoin)

    def _aligned(self, part: Part, since: float | None = None) -> tuple[int, float] | None:
        """(cue, seconds into it) where the wall clock is (or `since` seconds after the epoch)
        in an aligned part's cycle; None when the score is not aligned."""
        score = self.score
        if score is None or score.epoch is None or not score.loop:
            return None
        at = (self.wall() - score.epoch if since is None else since) % part.length
        for i, cue in enumerate(part.cues):
            if at < cue.length - EPSILON:
                return i, at
            at -= cue.length
        return 0, 0.0

    def _enter(self, player: Player, index: int, t: float, rejoin: bool = False,
               morph_at_least: float = 0.0) -> None:
        """Into cue `index`, `t` seconds in, morphing from where the voice is. A cue rejoined
        mid-morph (a resume, an aligned start) morphs from the scene before it instead, as it
        would have had it played through — so daemons aligned to one clock agree."""
        assert player.part is not None
        cue = player.part.cues[index]
        player.cue, player.t, player.walk = index, t, None
        player.title = cue.title
        morph = cue.morph if cue.morph > 0 or morph_at_least <= 0 else morph_at_least
        player.length = morph + cue.hold
        controls = self.voices[player.voice]
        if cue.drift is not None:
            index_of = {n: i for i, n in enumerate(self.names)}
            models = [index_of[m] for m in cue.drift.models if m in index_of]
            seed = cue.drift.seed if cue.drift.seed is not None else self.seed
            sequence = np.random.SeedSequence([seed % 2**63, player.voice, index, player.cycle])
            player.walk = Walk(cue.drift, models, len(self.names), sequence)  # type: ignore[arg-type]
            player.morph = None
            return
        scene = self.scene(cue.scene)
        if scene is None:
            player.morph = None
            self.throttle.warn(f"cue {cue.scene}", f"score: cue {index} of voice {player.voice}: "
                               f"no scene {cue.scene!r}; holding where it is")
            return
        start = point_of(controls)
        if rejoin and t > 0 and cue.morph > 0:
            before = self._previous_scene(player.part, index)
            if before is not None:
                start, _ = target(before, start, self.names)
        end, keys = target(scene, start, self.names)
        player.morph = Morph(start, end, keys, morph, cue.scene, elapsed=t)
        self._advance_morph(player, t)

    def _realign(self, player: Player, part: Part, dt: float) -> bool:
        """An aligned part that fell behind the wall clock (a pause, missed deadlines) or ran
        ahead of it seeks to where the wall clock says, so daemons on several machines stay
        within a clock period of each other for weeks. Checked every step (a sum over the
        cues); on time, the clock's grid and the wall clock agree to its lateness."""
        if self.score is None or self.score.epoch is None:
            return False
        since = self.wall() - self.score.epoch
        if dt > 0:  # the grid point this step belongs to (the clock's grid is on the wall's)
            since = round(since / dt) * dt
        aligned = self._aligned(part, since)
        if aligned is None:
            return False
        length = part.length
        here = sum(c.length for c in part.cues[:player.cue]) + player.t + dt  # after this step
        there = sum(c.length for c in part.cues[:aligned[0]]) + aligned[1]
        gap = (there - here + length / 2) % length - length / 2
        if abs(gap) <= ALIGN_SLACK * dt:
            return False
        self._enter(player, aligned[0], aligned[1], rejoin=True)
        return True

    def _previous_scene(self, part: Part, index: int) -> Scene | None:
        prev: Cue = part.cues[index - 1]  # index 0: the last cue, where a loop comes from
        return None if prev.drift is not None else self.scene(prev.scene)

    def _advance_score(self, player: Player, dt: float) -> None:
        part = player.part
        assert part is not None
        if self._realign(player, part, dt):
            return
        player.t += dt
        for _ in range(len(part.cues) + 1):  # at most once round, however long the step
            if player.t < player.length - EPSILON:
                break
            over = max(0.0, player.t - player.length)
            nxt = player.cue + 1
            if nxt >= len(part.cues):
                if self.score is None or not self.score.loop:
                    player.t = player.length  # once: stay at the last cue, the score done
                    player.playing = False
                    player.title = ""
                    if player.morph is not None:
                        self._advance_morph(player, player.morph.seconds)
                    return
                player.cycle += 1
                nxt = 0
                aligned = self._aligned(part)
                if aligned is not None and aligned[1] < part.length / 2:
                    nxt, over = aligned
            self._enter(player, nxt, over)
            if player.length <= EPSILON:
                break  # a zero-length cue: applied; the next step goes on
        if player.walk is not None:
            walk = player.walk
            start = walk.at if walk.at is not None else point_of(self.voices[player.voice]).weights
            weights = walk.step(start, dt)
            apply(self.voices[player.voice], {"weights": weights})
        elif player.morph is not None:
            self._advance_morph(player, player.t)

    def _begin_morph(self, player: Player, scene: Scene, seconds: float, title: str) -> None:
        start = point_of(self.voices[player.voice])
        end, keys = target(scene, start, self.names)
        player.morph = Morph(start, end, keys, seconds, title)
        player.title = title

    def _advance_morph(self, player: Player, elapsed: float) -> None:
        morph = player.morph
        if morph is None:
            return
        morph.elapsed = elapsed
        apply(self.voices[player.voice], between(morph.start, morph.end, morph.progress,
                                                 morph.keys))
        if morph.progress >= 1.0:
            player.morph = None
            if not (player.playing and not player.punched):
                player.title = ""

    def progress(self, player: Player) -> float:
        if player.playing and not player.punched and player.length > 0:
            return min(1.0, player.t / player.length)
        return player.morph.progress if player.morph is not None else 1.0

    # ------------------------------------------------------------------------ outputs
    def _report(self, player: Player) -> None:
        if self.broadcaster is None:
            return
        title = player.title
        if title == player.sent_title and (
                not title or player.clock - player.sent_at < PROGRESS_EVERY):
            return
        voice = player.voice
        current, progress = OUTPUTS["scene/current"], OUTPUTS["scene/progress"]
        msgs = [encode(current, protocol.voice_path(current.path, voice), title)]
        if title:
            msgs.append(encode(progress, protocol.voice_path(progress.path, voice),
                               [self.progress(player)]))
        player.sent_title, player.sent_at = title, player.clock
        b = self.broadcaster
        b.send(oscwire.pack(msgs, b.limit), b.targets)

    def values(self) -> dict[str, list[Any]]:
        """OSCQuery's VALUEs of the scene outputs: the names in one string (a node holds one
        value per type letter), each voice's title and progress."""
        out: dict[str, list[Any]] = {OUTPUTS["scenes"].path: [", ".join(self.scene_names())]}
        current, progress = OUTPUTS["scene/current"], OUTPUTS["scene/progress"]
        for player in self.players:
            out[protocol.voice_path(current.path, player.voice)] = [player.title]
            out[protocol.voice_path(progress.path, player.voice)] = [self.progress(player)]
        return out

    def scenes_datagrams(self) -> list[bytes]:
        """/charmix/scenes with the names, announced with /charmix/models while there are
        any (a daemon without scenes says nothing new on the wire); on a change, always."""
        names = self.scene_names()
        return [self._scenes_message(names)] if names else []

    def _scenes_message(self, names: list[str]) -> bytes:
        addr = OUTPUTS["scenes"]
        return encode(addr, addr.path, names)

    def _scenes_changed(self) -> None:
        if self.on_scenes is not None:
            self.on_scenes()
        b = self.broadcaster
        if b is not None:
            b.send(oscwire.pack([self._scenes_message(self.scene_names())], b.limit),
                   b.targets)

    # -------------------------------------------------------------------------- state
    def position(self) -> dict[str, Any]:
        """Where each part is, for --state (JSON values)."""
        with self._lock:
            return {str(p.voice): {"cue": p.cue, "t": round(p.t, 6), "cycle": p.cycle,
                                   "playing": p.playing, "punched": p.punched,
                                   "stopped": p.stopped}
                    for p in self.players if p.part is not None}

    def resume(self, saved: Any) -> list[str]:
        """Put each part back where `position()` left it (before the clock runs); what was
        resumed. Unusable entries are skipped."""
        done: list[str] = []
        if not isinstance(saved, dict):
            return done
        with self._lock:
            for player in self.players:
                entry = saved.get(str(player.voice))
                part = player.part
                if part is None or not isinstance(entry, dict):
                    continue
                try:
                    cue, t = int(entry["cue"]), float(entry["t"])
                    cycle = int(entry.get("cycle", 0))
                except (KeyError, TypeError, ValueError):
                    continue
                if not 0 <= cue < len(part.cues) or not 0 <= t <= part.cues[cue].length + 1:
                    continue
                player.cycle = max(0, cycle)
                player.cue, player.t = cue, t
                if entry.get("stopped") is True:  # stopped by a performer: stays stopped
                    player.stopped = True
                    done.append(f"voice {player.voice} stopped at cue {player.cue}")
                    continue
                if entry.get("playing", True) is False:
                    continue  # a score played once, to its end: start() begins it again
                player.playing = True
                player.punched = bool(entry.get("punched", False))
                if not player.punched:
                    self._start(player, cue, t, rejoin=True)
                done.append(f"voice {player.voice} at cue {player.cue}")
        return done
