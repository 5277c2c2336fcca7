"""`charmix replay`: a recorded performance, regenerated character for character.

Determinism is what makes this possible: the engine's text is a function of the models, each
voice's sampler state, the models' state and the settings and slew interval at every step. The
recording keeps the exact starting state and every change at the step where it took effect, so
a replay through the same model files restores the state and steps through the same timeline:
the same characters come out (and are checked against the recorded ones).

`--model` plays the same gestures (weights, temperatures, modes, primes, resets, seeds, at the
same steps) through other models: their state starts from a reset, primed with the text each
voice had written since its last reset, and the text is new. `--realtime` sends the regenerated
frames through the daemon's OSC output at their original timing, so visualisers show it again.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from charmix.daemon import protocol

if TYPE_CHECKING:  # the recording modules import numpy: only the command's run loads them
    from charmix.daemon.recording.reader import Performance

Opt = typer.Option


@dataclass
class Result:
    steps: int = 0
    checked: bool = True  # compared with the recorded characters (same models)
    divergence: tuple[int, int, str, str] | None = None  # step, voice, recorded, replayed
    notes: list[str] = field(default_factory=list)


def load_models(perf: Performance, specs: list[str] | None, models_dir: Path | None):
    """The recorded models (by file, else by name), or `specs` instead; plus notes on mismatches.

    Returns (models, same): same = these are the recorded files (sha256 equal), so the text can
    be checked character for character."""
    from charmix.daemon.engine.model import load_model
    from charmix.daemon.engine.modelformat import resolve_model
    from charmix.daemon.recording.reader import PerformanceError
    from charmix.daemon.recording.writer import sha256

    notes: list[str] = []
    if specs:
        if len(specs) != len(perf.names):
            raise PerformanceError(
                f"{perf.path}: recorded with {len(perf.names)} models ({', '.join(perf.names)}); "
                f"give as many --model ({len(specs)} given)"
            )
        return [load_model(resolve_model(s, models_dir)) for s in specs], False, notes
    models, same = [], True
    for entry in perf.header["models"]:
        path = Path(entry["file"]) if entry.get("file") else None
        if path is None or not path.exists() or models_dir is not None:
            path = resolve_model(entry["name"], models_dir)
        want = entry.get("sha256")
        if want and sha256(path) != want:
            same = False
            notes.append(f"{path}: not the recorded {entry['name']} (sha256 differs); "
                         "the text will differ")
        models.append(load_model(path))
    return models, same, notes


def steps(perf: Performance, models, exact: bool) -> Iterator[tuple[dict, list]]:
    """Regenerate the performance: yields (the recorded step line, the replayed frames)."""
    from charmix.daemon.engine.mixer import Engine
    from charmix.daemon.engine.priming import Primer
    from charmix.daemon.recording.writer import settings_from

    engine = Engine(models, voices=perf.voices)
    primers = [Primer(engine, k) for k in range(perf.voices)]
    state = perf.header["state"]
    if exact:
        engine.restore(state)
    else:
        engine.restore(state, models=False)
        for k, voice in enumerate(state["voices"]):
            engine.prime(voice["context"], voice=k)
    settings = [settings_from(s) for s in perf.header["settings"]]
    for event in perf.events:
        kind = event["k"]
        if kind == "set":
            v = int(event["v"])
            settings[v] = settings_from(event["settings"], settings[v])
        elif kind == "cmd":
            voice = int(event["v"])
            # A prime is fed between steps while the voice plays on (charmix.daemon.engine.priming):
            # it starts at one step and is adopted at a later one ("primed"), as recorded.
            if event["cmd"] == "prime":
                primers[voice].start(str(event.get("text", "")))
            elif event["cmd"] == "primed":
                primers[voice].feed(math.inf)
            elif event["cmd"] == "reset":
                primers[voice].cancel()
                engine.reset(voice)
            elif event["cmd"] == "seed":
                engine.reseed(int(event["seed"]), voice=voice)
        elif kind == "step":
            engine.step_count = int(event["s"])
            frames = engine.step_voices(settings, float(event["dt"]))
            engine.advance()
            yield event, frames


def replay(
    perf: Performance, models, exact: bool, emit: Callable[[dict, list], None]
) -> Result:
    result = Result(checked=exact)
    for event, frames in steps(perf, models, exact):
        result.steps += 1
        if exact and result.divergence is None:
            for v, (want, frame) in enumerate(zip(event["c"], frames, strict=False)):
                if want != frame.char:
                    result.divergence = (int(event["s"]), v, want, frame.char)
                    break
        emit(event, frames)
    return result


class Realtime:
    """Sends replayed frames at their recorded times through the daemon's broadcaster."""

    def __init__(self, perf: Performance, models, send: list[str], speed: float,
                 log: logging.Logger) -> None:
        from charmix.daemon.engine.mixer import Engine
        from charmix.daemon.live.broadcast import Broadcaster, Destination
        from charmix.daemon.live.counters import Counters
        from charmix.daemon.protocol.endpoint import parse_endpoint

        self.speed = speed
        self.counters = Counters()
        names = [m.name for m in models]
        vocab = Engine(models).vocab
        dests = []
        for text in send:
            endpoint = parse_endpoint(text, protocol.OUTPUT_PORT)
            family, sockaddr = endpoint.resolve()
            dests.append(Destination(str(endpoint), family, sockaddr))
        self.step = 0
        self.broadcaster = Broadcaster(names, vocab, dests, self.counters, self.status, log)
        self.broadcaster.announce()
        self.start = time.perf_counter()

    def status(self) -> list[float]:
        return [float(self.step) if name == "step" else 0.0 for name in protocol.STATUS_FIELDS]

    def __call__(self, event: dict, frames: list) -> None:
        due = self.start + float(event["t"]) / self.speed
        while (wait := due - time.perf_counter()) > 0:
            time.sleep(min(wait, 0.25))
            self.broadcaster.housekeeping()
        self.step = int(event["s"])
        for frame in frames:
            self.broadcaster.send_frame(frame)

    def close(self) -> None:
        self.broadcaster.close()


def replay_command(
    file: Annotated[Path, typer.Argument(help="A performance file (charmix daemon --record).")],
    model: Annotated[list[str] | None, Opt(
        "--model", "-m", metavar="NAME|PATH",
        help="Play the gestures through these models instead (as many as were recorded).",
    )] = None,
    models_dir: Annotated[Path | None, Opt(
        metavar="DIR", help="Where recorded model names are looked up (default: the recorded "
        "files, then the shipped models).",
    )] = None,
    voice: Annotated[int, Opt(min=0, help="Which voice's text goes to stdout.")] = 0,
    realtime: Annotated[bool, Opt(
        help="Send the frames over OSC at their recorded timing (visualisers show it again).",
    )] = False,
    send: Annotated[list[str] | None, Opt(
        "--send", "-s", metavar="HOST:PORT",
        help=f"With --realtime: where frames go (default {protocol.DEFAULT_HOST}:"
        f"{protocol.OUTPUT_PORT}).",
    )] = None,
    speed: Annotated[float, Opt(min=0.01, max=100.0, help="With --realtime: speed factor.")] = 1.0,
) -> None:
    """Regenerate a recorded performance character for character (to stdout, like sample)."""
    from charmix.daemon.common.fail import fail
    from charmix.daemon.engine.modelformat import ModelError
    from charmix.daemon.recording.reader import PerformanceError, read

    try:
        perf = read(file)
        if voice >= perf.voices:
            fail(f"--voice {voice}: the performance has {perf.voices} voice(s)")
        models, same, notes = load_models(perf, model, models_dir)
    except (PerformanceError, ModelError) as exc:
        fail(str(exc))
    for note in perf.notes + notes:
        typer.echo(f"charmix: {note}", err=True)
    out = sys.stdout
    sender = Realtime(perf, models, send or [f"{protocol.DEFAULT_HOST}:{protocol.OUTPUT_PORT}"],
                      speed, logging.getLogger("charmix.replay")) if realtime else None

    def emit(event: dict, frames: list) -> None:
        out.write(frames[voice].char)
        if sender is not None:
            out.flush()
            sender(event, frames)

    try:
        result = replay(perf, models, same and not model, emit)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
    finally:
        if sender is not None:
            sender.close()
    out.write("\n")
    out.flush()
    if result.divergence is not None:
        step, v, want, got = result.divergence
        fail(f"replay diverged at step {step} (voice {v}): recorded {want!r}, replayed {got!r}")
    what = "identical to the recording" if result.checked else "through other models"
    typer.echo(f"charmix: replayed {result.steps} steps, {what}", err=True)


def register(app: typer.Typer) -> None:
    app.command("replay", rich_help_panel="Perform")(replay_command)
