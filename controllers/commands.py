"""`charmix mouse | midi | leap` and `charmix send …`: the controller commands.

`charmix send` is generated from the address table (protocol.INPUT): one sub-command per input
address, its arguments typed by the address's type pattern and checked against its range, so a
new address in the table is a new `send` command with no edit here. Heavy or display-bound
modules (tkinter, mido) are imported inside the commands, so `charmix --help` stays fast.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from charmix.daemon import protocol

Opt = typer.Option
PANEL = "Controllers"

ToOpt = Annotated[
    list[str] | None,
    Opt("--to", metavar="HOST:PORT", help="Daemon to steer; repeat for several machines "
        f"(default {protocol.DEFAULT_HOST}:{protocol.CONTROL_PORT})."),
]
ModelsOpt = Annotated[
    str | None,
    Opt(help="Model names in weight order (a,b,c), used when no daemon answers /charmix/query."),
]
MaxRateOpt = Annotated[float, Opt(min=1.0, max=1000.0, help="Most state updates sent per second.")]
ResendOpt = Annotated[
    float, Opt(min=0.0, help="Re-send the current state every N s so a restarted daemon catches "
               "up (0 = only on change).")
]
QueryTimeoutOpt = Annotated[
    float, Opt(min=0.0, help="Seconds to wait for the daemon's /charmix/models reply "
               "(0 = don't ask).")
]
AnchorOpt = Annotated[
    list[str] | None,
    Opt("--anchor", help="Move one model's anchor: NAME=X,Y in pad units ([-1, 1], y up); "
        "repeatable. Default: evenly on a circle, first model at the top."),
]
WidthOpt = Annotated[
    float, Opt(min=0.01, help="Kernel width σ in pad units: small = sharp regions, large = "
               "smooth blends.")
]


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"charmix: {message}", err=True)
    raise typer.Exit(code)


def _targets(to: list[str] | None) -> list[tuple[str, int]]:
    from charmix.controllers.sender import default_target, parse_target

    try:
        return [parse_target(t) for t in to] if to else [default_target()]
    except ValueError as exc:
        _fail(str(exc))
        raise  # unreachable; keeps type checkers happy


def _connect(
    command: str, to: list[str] | None, models: str | None, query_timeout: float,
    max_rate: float = 100.0, resend: float = 0.0,
):
    """Targets, model names (daemon first, --models second) and a started Sender."""
    from charmix.controllers.sender import ModelsUnknown, Sender, format_targets, resolve_models

    targets = _targets(to)
    try:
        names, info = resolve_models(targets, models, query_timeout)
    except ModelsUnknown as exc:
        _fail(str(exc))
        raise
    source = f"the daemon at {format_targets(info.source)}" if info else "--models"
    where = format_targets(*targets)
    typer.echo(f"charmix {command}: models {', '.join(names)} (from {source}) → {where}", err=True)
    return names, info, Sender(targets, max_rate=max_rate, resend=resend)


def _pad(names: list[str], anchor: list[str] | None, width: float):
    from charmix.controllers.mapping import PadMapping

    try:
        return PadMapping.for_models(names, anchor or (), width)
    except ValueError as exc:
        _fail(str(exc))
        raise


# -- the bridges ---------------------------------------------------------------------------
def mouse(
    to: ToOpt = None,
    models: ModelsOpt = None,
    anchor: AnchorOpt = None,
    width: WidthOpt = 0.5,
    geometry: Annotated[
        str | None, Opt(help="Window size and place, WIDTHxHEIGHT[+X+Y] (e.g. 800x800+0+0).")
    ] = None,
    fullscreen: Annotated[bool, Opt(help="Start fullscreen (f toggles).")] = False,
    max_rate: MaxRateOpt = 100.0,
    resend: ResendOpt = 0.0,
    query_timeout: QueryTimeoutOpt = 0.5,
    debug: Annotated[bool, Opt(help="Print the anchors' pixel positions on every resize.")] = False,
) -> None:
    """Steer the mix with the mouse: the pointer's place among the model anchors is the mix.

    Keys: wheel or +/- temperature, space freeze, f fullscreen, q or Esc quit.
    """
    from charmix.controllers import mouse as mouse_bridge

    names, info, sender = _connect("mouse", to, models, query_timeout, max_rate, resend)
    pad = _pad(names, anchor, width)
    temperature = info.status.get("temperature") if info and info.status else None
    try:
        code = mouse_bridge.run(pad, sender, geometry, fullscreen, temperature, debug)
    finally:
        sender.close()
    raise typer.Exit(code)


def midi(
    to: ToOpt = None,
    models: ModelsOpt = None,
    port: Annotated[
        str | None, Opt(help="Open the first MIDI input whose name contains this (default: the "
                        "first input).")
    ] = None,
    list_ports: Annotated[bool, Opt("--list", help="List MIDI input ports and exit.")] = False,
    mapping: Annotated[
        Path | None, Opt(help="TOML mapping file (see docs/controllers.md); default: the "
                         "nanoKONTROL2-style layout.")
    ] = None,
    learn: Annotated[
        bool, Opt(help="Bind the next moved control to model 1, the next to model 2, …")
    ] = False,
    save: Annotated[Path | None, Opt(help="With --learn: write the learned mapping here.")] = None,
    max_rate: MaxRateOpt = 100.0,
    resend: ResendOpt = 0.0,
    query_timeout: QueryTimeoutOpt = 0.5,
) -> None:
    """Steer the mix with MIDI faders: CC → model weights, temperature and rate; notes solo."""
    from charmix.controllers import midi as midi_bridge
    from charmix.controllers.midi_layout import LayoutError, default_layout, load_layout

    if list_ports:
        names, why = midi_bridge.list_ports()
        for name in names:
            typer.echo(name)
        if not names:
            typer.echo(why or "no MIDI input ports")
        raise typer.Exit(0)
    if save and not learn:
        _fail("--save only makes sense with --learn")
    try:
        layout = load_layout(mapping) if mapping else default_layout()
    except LayoutError as exc:
        _fail(str(exc))
    if why := midi_bridge.sequencer_missing():  # before asking the daemon anything
        _fail(why)
    names, _, sender = _connect("midi", to, models, query_timeout, max_rate, resend)
    try:
        bridge = midi_bridge.MidiBridge(layout, names, sender, learn=learn, save=save)
        code = midi_bridge.run(port, bridge)
    except LayoutError as exc:
        _fail(str(exc))
    finally:
        sender.close()
    raise typer.Exit(code)


def leap(
    to: ToOpt = None,
    models: ModelsOpt = None,
    anchor: AnchorOpt = None,
    width: WidthOpt = 0.5,
    record: Annotated[Path | None, Opt(help="Write the hand frames used as JSON lines.")] = None,
    replay: Annotated[
        Path | None, Opt(help="Play a --record file through the same mapping (no device needed).")
    ] = None,
    speed: Annotated[float, Opt(min=0.01, max=100.0, help="Replay speed factor.")] = 1.0,
    loop: Annotated[bool, Opt(help="Replay forever (installations).")] = False,
    hand: Annotated[str, Opt(help="Which hand steers: any, left or right.")] = "any",
    box: Annotated[
        float, Opt(min=10.0, help="Half-width in mm of the interaction box over the device "
                   "(palm x and z in [-BOX, BOX] span the pad).")
    ] = 150.0,
    pinch: Annotated[bool, Opt(help="Pinch strength sets the temperature.")] = True,
    t_open: Annotated[float, Opt(min=0.05, max=5.0, help="Temperature with an open hand.")] = 1.0,
    t_pinch: Annotated[float, Opt(min=0.05, max=5.0, help="Temperature at a full pinch.")] = 0.25,
    max_rate: MaxRateOpt = 100.0,
    resend: ResendOpt = 0.0,
    query_timeout: QueryTimeoutOpt = 0.5,
) -> None:
    """Steer the mix with a hand over an Ultraleap/LeapMotion: palm x/z is the pad position.

    Pinch lowers the temperature, a fist freezes the mix, no hand holds it.
    """
    from charmix.controllers import leap as leap_bridge

    if replay is not None and record is not None:
        _fail("--record writes live frames; it can't be combined with --replay")
    if record is not None and record.exists():
        _fail(f"{record} exists; --record never overwrites a take, choose another name")
    if record is not None and not os.access(record.parent, os.W_OK | os.X_OK):
        why = "does not exist" if not record.parent.is_dir() else "is not writable"
        _fail(f"cannot write --record {record}: the folder {record.parent} {why}")
    if replay is not None and (why := leap_bridge.unreadable(replay)):
        _fail(why)  # before asking the daemon anything
    if hand not in ("any", "left", "right"):
        _fail(f"--hand must be any, left or right (got {hand!r})")
    if replay is None and not leap_bridge.bindings_available():
        _fail(leap_bridge.INSTALL_HINT)
    names, _, sender = _connect("leap", to, models, query_timeout, max_rate, resend)
    pad = _pad(names, anchor, width)
    mapper = leap_bridge.LeapMapper(pad, box=box, pinch=pinch, t_open=t_open, t_pinch=t_pinch)
    try:
        if replay is not None:
            code = leap_bridge.replay(replay, mapper, sender, speed=speed, loop=loop)
        else:
            code = leap_bridge.run_live(mapper, sender, hand=hand, record=record)
    finally:
        sender.close()
    raise typer.Exit(code)


# -- charmix send, generated from the address table ---------------------------------------
send_app = typer.Typer(
    help="Send one control message to the daemon(s): a command-line controller for scripts.",
    no_args_is_help=True,
)

_PY_TYPE = {"f": float, "i": int, "s": str}
# Without PORT the daemon uses the sender's own port: for `charmix send` that is a temporary
# socket, closed as soon as the command exits, so PORT is required here.
_PORT_REQUIRED = {"subscribe", "unsubscribe"}


def command_name(address: protocol.Address) -> str:
    """'/charmix/model/{name}/temperature' → 'model-temperature'."""
    rest = address.path.removeprefix(protocol.PREFIX + "/")
    return "-".join(part for part in rest.split("/") if part != "{name}")


def _arg_help(address: protocol.Address, arg: protocol.Arg) -> str:
    """An argument's help line from its typed fields: what, range, unit, default."""
    parts = [arg.description or arg.name]
    if arg.span():
        parts.append(arg.span())
    if arg.unit:
        parts.append(f"in {arg.unit}")
    if arg.default is not None:
        parts.append(f"default {protocol.show_number(arg.default)}"
                     if not isinstance(arg.default, str) else f"default {arg.default}")
    return ", ".join(parts)


def _send_command(address: protocol.Address) -> Callable[..., None]:
    """A typer command for one input address: its arguments follow the address's typed Args."""
    params = []
    if address.per_model:
        params.append(inspect.Parameter(
            "name", inspect.Parameter.POSITIONAL_OR_KEYWORD,
            annotation=Annotated[str, typer.Argument(
                metavar="NAME", help="Model name (see `charmix send query`).",
                show_default=False)]))
    for k, arg in enumerate(address.args):
        py = _PY_TYPE[arg.type]
        word, what, repeat = arg.name, _arg_help(address, arg), arg.repeat
        if k == 0 and command_name(address) in _PORT_REQUIRED:
            repeat = ""
            what += (" (required here: without it the daemon would use this command's own "
                     "port, which closes as soon as it exits)")
        meta = typer.Argument(metavar=word.upper(), help=what, show_default=False)
        if repeat == "+":
            annotation, default = Annotated[list[py], meta], inspect.Parameter.empty
        elif repeat == "?":
            annotation, default = Annotated[py | None, meta], None
        else:
            annotation, default = Annotated[py, meta], inspect.Parameter.empty
        params.append(inspect.Parameter(f"arg{k}", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                        annotation=annotation, default=default))
    params.append(inspect.Parameter("to", inspect.Parameter.KEYWORD_ONLY, annotation=ToOpt,
                                    default=None))

    def command(**kwargs: object) -> None:
        from charmix.controllers.sender import Sender, encode

        name = kwargs.pop("name", None)
        to = kwargs.pop("to")
        args: list[object] = []
        for key in sorted(kwargs):  # arg0, arg1, … in order; optional ones may be None
            value = kwargs[key]
            if isinstance(value, list):
                args.extend(value)
            elif value is not None:
                args.append(value)
        try:
            encode(address, args, name)  # range and type errors are the user's, say them now
        except ValueError as exc:
            _fail(str(exc))
        sender = Sender(_targets(to))
        sender.event(address, *args, name=name)
        sender.close()

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__name__ = command_name(address).replace("-", "_")
    types = address.types or "no arguments"
    command.__doc__ = f"{address.description}\n\nOSC: {address.path} ({types})"
    return command


def send_query(
    to: ToOpt = None,
    timeout: Annotated[float, Opt(min=0.01, help="Seconds to wait for replies.")] = 1.0,
) -> None:
    """Ask the daemon(s) which models, vocabulary and status they have, and print the answers."""
    from charmix.controllers.sender import format_targets, query

    targets = _targets(to)
    replies = query(targets, timeout)
    if not replies:
        where = format_targets(*targets)
        typer.echo(f"charmix: no daemon answered at {where} within {timeout:g} s", err=True)
        raise typer.Exit(1)
    for info in replies:
        typer.echo(f"daemon {format_targets(info.source)}")
        typer.echo(f"  models: {' '.join(info.models)}")
        if info.vocab is not None:
            typer.echo(f"  vocab:  {len(info.vocab)} characters {info.vocab!r}")
        for key, value in (info.status or {}).items():
            typer.echo(f"  {key:<12} {value:g}")


# Addresses the CLI can't use as plain one-shot messages: a query needs to wait for its reply.
_SPECIAL = {"query": send_query}


def _build_send_app() -> None:
    for address in protocol.INPUT:
        name = command_name(address)
        send_app.command(name)(_SPECIAL.get(name) or _send_command(address))


_build_send_app()


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel=PANEL)(mouse)
    app.command(rich_help_panel=PANEL)(midi)
    app.command(rich_help_panel=PANEL)(leap)
    app.add_typer(send_app, name="send", rich_help_panel=PANEL)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(send_app())
