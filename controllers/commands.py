"""`charmix mouse | midi | leap | web | link` and `charmix send …`: the controller commands.

`charmix send` is generated from the address table (protocol.INPUT): one sub-command per input
address, its arguments typed by the address's type pattern and checked against its range, so a
new address in the table is a new `send` command with no edit here. Heavy or display-bound
modules (tkinter, mido, aiohttp) are imported inside the commands, so `charmix --help` stays fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from charmix.controllers.options import ToOpt, VoiceOpt, resolved, targets
from charmix.controllers.send_cli import send_app
from charmix.daemon.common.fail import FAILURE, USAGE, fail, say

Opt = typer.Option
PANEL = "Controllers"

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


_targets = targets


def _connect(
    command: str, to: list[str] | None, models: str | None, query_timeout: float,
    max_rate: float = 100.0, resend: float = 0.0, voice: int = 0,
):
    """Targets, model names (daemon first, --models second) and a started Sender."""
    from charmix.controllers.sender import Sender
    from charmix.controllers.sender_messages import format_targets
    from charmix.controllers.sender_query import ModelsUnknown, resolve_models
    from charmix.daemon.client.follow import follow

    found = resolved(to)
    targets = [r.target for r in found]
    try:
        names, info = resolve_models(targets, models, query_timeout)
    except ModelsUnknown as exc:
        fail(str(exc), USAGE if exc.usage else FAILURE)
    source = f"the daemon at {format_targets(info.source)}" if info else "--models"
    where = format_targets(*targets)
    which = f", voice {voice}" if voice else ""
    typer.echo(f"charmix {command}: models {', '.join(names)} (from {source}) → {where}{which}",
               err=True)
    sender = Sender(targets, max_rate=max_rate, resend=resend, voice=voice)
    follow(sender, found, say)  # a named daemon that restarts elsewhere is followed
    return names, info, sender


def _pad(names: list[str], anchor: list[str] | None, width: float):
    from charmix.controllers.mapping import PadMapping

    try:
        return PadMapping.for_models(names, anchor or (), width)
    except ValueError as exc:
        fail(str(exc), USAGE)
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
    voice: VoiceOpt = 0,
    debug: Annotated[bool, Opt(help="Print the anchors' pixel positions on every resize.")] = False,
) -> None:
    """Steer the mix with the mouse: the pointer's place among the model anchors is the mix.

    Keys: wheel or +/- temperature, space freeze, f fullscreen, q or Esc quit.
    """
    from charmix.controllers import mouse as mouse_bridge

    names, info, sender = _connect("mouse", to, models, query_timeout, max_rate, resend, voice)
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
    clock: Annotated[
        bool, Opt(help="Follow MIDI clock (Start, Stop, Continue): the daemon is set to rate 0 "
                  "and gets --per-beat /charmix/tick per quarter note, spread across the beat.")
    ] = False,
    per_beat: Annotated[
        float, Opt(min=0.01, max=96.0, help="With --clock: characters per quarter note.")
    ] = 4.0,
    bipolar: Annotated[
        bool, Opt(help="Weight faders are bipolar: centre = 0 (with a dead zone), bottom = −1 "
                  "(an anti-expert: steer away from that model; the daemon's geometric mode), "
                  "top = 1.")
    ] = False,
    morph: Annotated[
        float, Opt(min=0.0, max=3600.0, help="A program change n recalls the daemon's n-th "
                   "scene (sorted by name, as found at start) over this many seconds.")
    ] = 0.0,
    max_rate: MaxRateOpt = 100.0,
    resend: ResendOpt = 0.0,
    query_timeout: QueryTimeoutOpt = 0.5,
    voice: VoiceOpt = 0,
) -> None:
    """Steer the mix with MIDI faders: CC → model weights, temperature and rate; notes solo.

    With --clock the MIDI clock on the same port becomes the daemon's clock.
    """
    from charmix.controllers.midi import bridge as midi_bridge
    from charmix.controllers.midi.layout import LayoutError, default_layout, load_layout

    if list_ports:
        names, why = midi_bridge.list_ports()
        for name in names:
            typer.echo(name)
        if not names:
            typer.echo(why or "no MIDI input ports")
        raise typer.Exit(0)
    if save and not learn:
        fail("--save only makes sense with --learn", USAGE)
    try:
        layout = load_layout(mapping) if mapping else default_layout()
    except LayoutError as exc:
        fail(str(exc), USAGE)
    if why := midi_bridge.sequencer_missing():  # before asking the daemon anything
        fail(why, FAILURE)
    names, info, sender = _connect("midi", to, models, query_timeout, max_rate, resend, voice)
    scenes = info.scenes if info is not None else []
    if scenes:
        typer.echo(f"charmix midi: program change 0 … {len(scenes) - 1} recall "
                   f"{', '.join(scenes[:8])}{' …' if len(scenes) > 8 else ''}", err=True)
    try:
        bridge = midi_bridge.MidiBridge(layout, names, sender, learn=learn, save=save,
                                        bipolar=bipolar, scenes=scenes, morph=morph)
        if clock:
            from charmix.controllers.midi.clock import ClockBridge

            bridge = ClockBridge(sender, per_beat, other=bridge.feed)  # faders still work
        code = midi_bridge.run(port, bridge)
    except LayoutError as exc:
        fail(str(exc), USAGE)
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
    voice: VoiceOpt = 0,
) -> None:
    """Steer the mix with a hand over an Ultraleap/LeapMotion: palm x/z is the pad position.

    Pinch lowers the temperature, a fist freezes the mix, no hand holds it.
    """
    from charmix.controllers import leap as leap_bridge

    if replay is not None and record is not None:
        fail("--record writes live frames; it can't be combined with --replay", USAGE)
    if record is not None and record.exists():
        fail(f"{record} exists; --record never overwrites a take, choose another name", USAGE)
    if record is not None and not os.access(record.parent, os.W_OK | os.X_OK):
        why = "does not exist" if not record.parent.is_dir() else "is not writable"
        fail(f"cannot write --record {record}: the folder {record.parent} {why}", USAGE)
    if replay is not None and (why := leap_bridge.unreadable(replay)):
        fail(why, USAGE)  # before asking the daemon anything
    if hand not in ("any", "left", "right"):
        fail(f"--hand must be any, left or right (got {hand!r})", USAGE)
    if replay is None and not leap_bridge.bindings_available():
        fail(leap_bridge.INSTALL_HINT, FAILURE)
    names, _, sender = _connect("leap", to, models, query_timeout, max_rate, resend, voice)
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


def web(
    to: ToOpt = None,
    models: ModelsOpt = None,
    listen: Annotated[
        str, Opt(metavar="HOST:PORT", help="Serve the page here; 0.0.0.0:7780 for phones on "
                 "the LAN (then a QR code of the address is printed).")
    ] = "127.0.0.1:7780",
    control: Annotated[
        str, Opt(help="With several pages: last (the newest touch wins), blend (every active "
                 "touch counts), first (the first page to touch holds the controls).")
    ] = "last",
    pin: Annotated[
        str | None, Opt(envvar="CHARMIX_WEB_PIN", help="Steering needs this code; pages "
                        "without it only watch.")
    ] = None,
    view_only: Annotated[
        bool, Opt(help="Pages only watch; nothing is sent to the daemon.")
    ] = False,
    idle: Annotated[
        float, Opt(min=0.0, help="After N s without a touch the weights glide to --rest "
                   "(0 = never).")
    ] = 0.0,
    rest: Annotated[
        str, Opt(help="The rest mix for --idle: even, w1,w2,… in model order, or NAME=W,…; "
                 "'score': hand the voice back to the daemon's --score instead of a glide.")
    ] = "even",
    glide: Annotated[float, Opt(min=0.0, help="Seconds the glide to --rest takes.")] = 4.0,
    rate_limit: Annotated[
        float, Opt(min=1.0, max=1000.0, help="Messages per second one page may send.")
    ] = 60.0,
    anchor: AnchorOpt = None,
    width: WidthOpt = 0.5,
    qr: Annotated[bool, Opt(help="Print a QR code of the LAN address.")] = True,
    wall: Annotated[
        bool, Opt(help="Print the address (and QR code) of /wall, the full-screen display "
                  "page for projectors and kiosks, instead of the phone page's.")
    ] = False,
    max_rate: MaxRateOpt = 100.0,
    resend: ResendOpt = 0.0,
    query_timeout: QueryTimeoutOpt = 0.5,
    voice: VoiceOpt = 0,
) -> None:
    """Steer and watch from a phone or browser: an XY pad, sliders and the live Figure-1 view.

    Open the printed address (or scan the QR code); several pages can share the pad.
    /wall on the same address is the display page for projectors (--wall prints it).
    """
    from charmix.controllers.web.control import CONTROL_MODES, parse_rest
    from charmix.daemon.protocol.endpoint import parse_endpoint

    if control not in CONTROL_MODES:
        fail(f"--control must be one of {', '.join(CONTROL_MODES)} (got {control!r})", USAGE)
    try:
        here = parse_endpoint(listen, 7780, "127.0.0.1", lowest=0)
    except ValueError as exc:
        fail(f"--listen {exc}", USAGE)
        raise
    try:
        from charmix.controllers.web import bridge as web_bridge
    except ImportError as exc:
        fail(f"charmix web needs aiohttp ({exc}); pip install aiohttp segno", USAGE)
        raise
    from charmix.daemon.client.link import Link

    names, _, sender = _connect("web", to, models, query_timeout, max_rate, resend, voice)
    _pad(names, anchor, width)  # bad anchors are the user's: say so before serving
    try:
        parse_rest(rest, names)
    except ValueError as exc:
        sender.close()
        fail(str(exc), USAGE)
    try:  # frames from the first daemon, as --to resolved it for the Sender
        link = Link(sender.targets[0], None)
    except OSError as exc:
        sender.close()
        fail(f"cannot open a socket for the daemon's frames: {exc.strerror or exc}", USAGE)
        raise
    feeding = [sender.targets[0]]

    def moved(old: tuple[str, int], new: tuple[str, int]) -> None:
        """A daemon followed by name moved: the frames come from its new place too."""
        if old == feeding[0]:
            feeding[0] = new
            link.retarget(old, new)

    sender.on_retarget.append(moved)
    options = web_bridge.WebOptions(control, pin or None, view_only, idle, rest, glide,
                                    rate_limit, tuple(anchor or ()), width, voice)
    bridge = web_bridge.WebBridge(link, sender, names, options)

    def ready(port: int) -> None:
        urls = [u + ("wall" if wall else "") for u in web_bridge.lan_urls(here.host, port)]
        for url in urls:
            typer.echo(f"charmix web: open {url}")
        lan = [u for u in urls if "//127." not in u and "//[::1]" not in u]
        if qr and lan:
            typer.echo(web_bridge.qr_text(lan[0]), nl=False)
        elif here.host.startswith("127."):
            typer.echo("charmix web: only this machine can open it; --listen 0.0.0.0:7780 "
                       "serves phones on the LAN")
        typer.echo(f"charmix web: frames from {link.describe()}", err=True)
        how = "view only" if view_only else "PIN needed to steer" if pin else f"control {control}"
        typer.echo(f"charmix web: {how}; Ctrl-C stops", err=True)
        sys.stdout.flush()

    try:
        code = web_bridge.run(bridge, here.host, here.port, ready)
    finally:
        sender.close()
    raise typer.Exit(code)


LINK_INSTALL = ("charmix link needs the optional Ableton Link binding (aalink, GPL-3.0+): "
                "pip install 'charmix[link]'")


def link(
    to: ToOpt = None,
    per_beat: Annotated[
        float | None, Opt(min=0.01, max=96.0, help="Characters per beat, on the beat grid "
                          "(default 4).")
    ] = None,
    per_bar: Annotated[
        float | None, Opt(min=0.01, max=384.0, help="Characters per bar (--quantum beats) "
                          "instead of per beat.")
    ] = None,
    quantum: Annotated[
        float, Opt(min=1.0, max=64.0, help="Beats per bar: the phase the session aligns (Live's "
                   "launch quantization; 4 = a bar of 4/4).")
    ] = 4.0,
    offset: Annotated[
        float, Opt(min=-500.0, max=500.0, metavar="MS", help="Shift the ticks against the beat, "
                   "in ms: negative sends them early (making up for the daemon's and the "
                   "display's latency), positive late.")
    ] = 0.0,
    tempo: Annotated[
        float, Opt(min=20.0, max=999.0, help="The session's tempo (BPM) while no other peer "
                   "is there; a peer's tempo wins.")
    ] = 120.0,
    follow_tempo: Annotated[
        bool, Opt(help="Send no ticks: the daemon's own clock follows the session's tempo "
                  "(rate = BPM / 60 × per-beat; not phase-aligned).")
    ] = False,
    start_stop: Annotated[
        bool, Opt(help="Follow the session's Start/Stop (Link's Start Stop Sync): stopped = "
                  "paused. --no-start-stop plays whatever the transport does.")
    ] = True,
    resend: ResendOpt = 2.0,
) -> None:
    """Follow an Ableton Link session: /charmix/tick on the beat grid, N characters a beat.

    Joins the Link session on the LAN (Live, TouchDesigner, phone apps); its Start/Stop pauses
    and resumes the daemon. Needs the optional extra charmix\\[link].
    """
    if per_beat is not None and per_bar is not None:
        fail("give --per-beat or --per-bar, not both", USAGE)
    beat_rate = per_bar / quantum if per_bar is not None else per_beat or 4.0
    if not 0.01 <= beat_rate <= 96.0:
        fail(f"--per-bar {per_bar:g} over --quantum {quantum:g} is {beat_rate:g} characters a "
             "beat; it must be within 0.01..96", USAGE)
    try:
        from charmix.controllers import abletonlink
    except ImportError as exc:
        fail(f"{LINK_INSTALL} ({exc})", FAILURE)
    from charmix.controllers.sender import Sender
    from charmix.controllers.sender_messages import format_targets
    from charmix.daemon.client.follow import follow

    found = resolved(to)
    sender = Sender([r.target for r in found])
    follow(sender, found, say)  # a named daemon that restarts elsewhere is followed
    options = abletonlink.LinkOptions(beat_rate, quantum, offset, tempo, follow_tempo,
                                      start_stop, resend)
    how = (f"rate = tempo × {beat_rate:g}/60" if follow_tempo
           else f"{beat_rate:g} ticks a beat, offset {offset:+g} ms")
    typer.echo(f"charmix link: joining the Link session (quantum {quantum:g}; {how}) → "
               f"{format_targets(*sender.targets)}; Ctrl-C stops", err=True)
    try:
        code = abletonlink.run(abletonlink.LinkBridge(sender, options))
    finally:
        sender.close()
    raise typer.Exit(code)


def register(app: typer.Typer) -> None:
    app.command(rich_help_panel=PANEL)(mouse)
    app.command(rich_help_panel=PANEL)(midi)
    app.command(rich_help_panel=PANEL)(leap)
    app.command(rich_help_panel=PANEL)(web)
    app.command(rich_help_panel=PANEL)(link)
    app.add_typer(send_app, name="send", rich_help_panel=PANEL)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(send_app())
