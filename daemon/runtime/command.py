"""`charmix daemon`: the instrument itself, as a command a performer starts on stage.

Flags and rig-file keys are the same settings (charmix.daemon.runtime.config); flags win. Exit
codes: 0 after Ctrl-C / SIGTERM or a finished --burst, 2 for a bad setting, 1 when it cannot start
(missing or bad model, port in use, unresolvable address). Every failure is one line on stderr.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from charmix.daemon import protocol
from charmix.daemon.common.signals import interrupt_on_signals

if TYPE_CHECKING:
    from charmix.daemon.runtime.daemon import Daemon

Opt = typer.Option

HELP = (
    "Run the instrument: every model writes one stream of text together, mixed live.\n\n"
    "With no arguments it loads every model in the shipped models folder, listens for control on "
    f"{protocol.DEFAULT_HOST}:{protocol.CONTROL_PORT} and sends characters, distributions, "
    f"weights and attribution to {protocol.DEFAULT_HOST}:{protocol.OUTPUT_PORT}. "
    "Ctrl-C stops it.\n\n"
    "[b]Examples[/b]\n\n"
    "  charmix daemon --echo\n"
    "  charmix daemon -m shakespeare -m bible -w shakespeare=1,bible=0 -r 20\n"
    "  charmix daemon -c rig.toml --send 192.168.1.20:7771\n"
    "  charmix daemon --listen 0.0.0.0:7770 --allow 192.168.1.0/24 --name 'stage left'\n\n"
    "Steer it with charmix mouse, charmix midi, charmix send or any OSC sender (docs/osc.md)."
)

PANEL_MODELS = "Models"


def _about(short: str, text: str, note: str = "", default: str = "") -> str:
    """A flag's help with the range and default of its OSC control, from the address table."""
    arg = protocol.control(short).args[0]
    span = "" if arg.values else arg.span().replace("<= ", "at most ")
    if arg.default is not None:
        default = str(arg.default) if isinstance(arg.default, str) else protocol.show_number(
            arg.default)
    parts = ", ".join(p for p in (text, span) if p)
    return f"{parts}{'; ' + note if note else ''}{f' (default: {default})' if default else ''}."


PANEL_SOUND = "Mix and clock"
PANEL_NET = "Network"
PANEL_RUN = "Running"
PANEL_SCORE = "Scenes and score"


def daemon(
    model: Annotated[list[str] | None, Opt(
        "--model", "-m", metavar="NAME|PATH", rich_help_panel=PANEL_MODELS,
        help="Model name or .onnx path; repeat for several. Names are looked up in --models-dir, "
        "or the shipped models, then your own (`charmix models --where`) (default: the ordinary "
        "models in --models-dir: the shipped six).",
    )] = None,
    models_dir: Annotated[Path | None, Opt(
        metavar="DIR", rich_help_panel=PANEL_MODELS,
        help="Folder where model names are looked up (default: the shipped models).",
    )] = None,
    config: Annotated[Path | None, Opt(
        "--config", "-c", metavar="RIG.TOML", rich_help_panel=PANEL_MODELS,
        help="TOML rig file with any of these settings; flags override it.",
    )] = None,
    weights: Annotated[str | None, Opt(
        "--weights", "-w", metavar="WEIGHTS", rich_help_panel=PANEL_SOUND,
        help="Starting weights: '1,0,0.5' in model order, or 'shakespeare=1,bible=0.5' "
        "(unnamed models 0) (default: equal).",
    )] = None,
    temperature: Annotated[float | None, Opt(
        "--temperature", "-t", rich_help_panel=PANEL_SOUND,
        help=_about("temperature", "Sampling temperature"),
    )] = None,
    model_temperature: Annotated[str | None, Opt(
        metavar="NAME=T,…", rich_help_panel=PANEL_SOUND,
        help="Per-model temperature overrides, e.g. 'bible=1.2,linux=0.5'.",
    )] = None,
    mode: Annotated[str | None, Opt(
        rich_help_panel=PANEL_SOUND,
        help=_about("mode", "Mixing: 'linear' (weighted sum) or 'geometric' (product of experts)"),
    )] = None,
    beta: Annotated[float | None, Opt(
        rich_help_panel=PANEL_SOUND,
        help=_about("beta", "Geometric mode with negative weights (anti-experts): keep only "
                    "characters at least beta × the experts' best", "0 = off"),
    )] = None,
    style_mode: Annotated[str | None, Opt(
        rich_help_panel=PANEL_SOUND,
        help="A style-conditioned model (--model styles): 'embedding' samples from the styles "
        "blended inside the network, 'mixture' from the weighted mix of its pure styles "
        "(default: embedding).",
    )] = None,
    rate: Annotated[float | None, Opt(
        "--rate", "-r", rich_help_panel=PANEL_SOUND,
        help=_about("rate", "Characters per second", "0 = wait for /charmix/tick"),
    )] = None,
    slew: Annotated[float | None, Opt(
        rich_help_panel=PANEL_SOUND,
        help=_about("slew", "Seconds for weights to glide to a new setting"),
    )] = None,
    topk: Annotated[int | None, Opt(
        rich_help_panel=PANEL_SOUND,
        help=_about("topk", "Keep only the k likeliest characters", "0 = off"),
    )] = None,
    topp: Annotated[float | None, Opt(
        rich_help_panel=PANEL_SOUND, help=_about("topp", "Nucleus sampling mass", "1 = off"),
    )] = None,
    seed: Annotated[int | None, Opt(
        rich_help_panel=PANEL_SOUND,
        help=_about("seed", "Random seed: the same seed and gestures give the same text",
                    default="random"),
    )] = None,
    prime: Annotated[str | None, Opt(
        rich_help_panel=PANEL_SOUND,
        help=_about("prime", "Text fed to every model before the first character",
                    "a longer one keeps its end"),
    )] = None,
    blocklist: Annotated[list[str] | None, Opt(
        "--blocklist", metavar="FILE|default", rich_help_panel=PANEL_SOUND,
        help="Words and phrases never written (one a line, # comments; whole words, a leading * "
        "for a substring); 'default' is the shipped English list; repeat to add lists. Live: "
        "/charmix/blocklist/add and /remove (docs/installation.md, for venues).",
    )] = None,
    charset: Annotated[str | None, Opt(
        metavar="CHARS", rich_help_panel=PANEL_SOUND,
        help=_about("charset", "The only characters written: characters and ranges, "
                    "e.g. \"a-z .,;:!?'\\n\"", "with --fold compared folded; empty = all",
                    default="all"),
    )] = None,
    fold: Annotated[str | None, Opt(
        metavar="upper|lower|none", rich_help_panel=PANEL_SOUND,
        help=_about("fold", "Case of the text sent, for a one-case display (the models still "
                    "see what they wrote)"),
    )] = None,
    listen: Annotated[str | None, Opt(
        "--listen", "-l", metavar="HOST:PORT", rich_help_panel=PANEL_NET,
        help=f"Where control messages arrive (default: {protocol.DEFAULT_HOST}:"
        f"{protocol.CONTROL_PORT}); 0.0.0.0:PORT for a LAN rig, then add --allow for it.",
    )] = None,
    send: Annotated[list[str] | None, Opt(
        "--send", "-s", metavar="HOST:PORT", rich_help_panel=PANEL_NET,
        help="Where frames go; repeat for several; multicast and broadcast addresses work "
        f"(default: {protocol.DEFAULT_HOST}:{protocol.OUTPUT_PORT}).",
    )] = None,
    allow: Annotated[list[str] | None, Opt(
        "--allow", "-a", metavar="CIDR", rich_help_panel=PANEL_NET,
        help="Address or network allowed to send control; repeat for several "
        "(default: 127.0.0.0/8 and ::1).",
    )] = None,
    name: Annotated[str | None, Opt(
        "--name", "-n", metavar="NAME", rich_help_panel=PANEL_NET,
        help="The name this daemon is found by (charmix discover, --to NAME, OSCQuery browsers) "
        "(default: 'charmix on HOSTNAME').",
    )] = None,
    oscquery: Annotated[str | None, Opt(
        metavar="HOST:PORT", rich_help_panel=PANEL_NET,
        help=f"OSCQuery over HTTP + WebSocket, TCP (default: the --listen host, port "
        f"{protocol.OSCQUERY_PORT}); a bare PORT keeps the --listen host.",
    )] = None,
    no_oscquery: Annotated[bool, Opt(
        "--no-oscquery", rich_help_panel=PANEL_NET, help="Serve no OSCQuery (and no WebSocket).",
    )] = False,
    no_mdns: Annotated[bool, Opt(
        "--no-mdns", rich_help_panel=PANEL_NET,
        help="Do not advertise on the LAN with zeroconf (a daemon listening on loopback never "
        "does).",
    )] = False,
    max_datagram: Annotated[int | None, Opt(
        metavar="BYTES", rich_help_panel=PANEL_NET,
        help=f"Largest datagram sent (default: {protocol.MAX_DATAGRAM}, safe for oscP5).",
    )] = None,
    echo: Annotated[bool | None, Opt(
        "--echo/--no-echo", rich_help_panel=PANEL_RUN,
        help="Write the text to stdout as it is generated (default: when stdout is a terminal, "
        "and always with --burst).",
    )] = None,
    status_every: Annotated[float | None, Opt(
        metavar="SECONDS", rich_help_panel=PANEL_RUN,
        help="Seconds between status lines on stderr; 0 = none (default: 10).",
    )] = None,
    voices: Annotated[int | None, Opt(
        metavar="K", rich_help_panel=PANEL_SOUND,
        help=f"Independent streams, 1 – {protocol.VOICES_MAX}, each steered on its own under "
        "/charmix/voice/K/… (unprefixed addresses are voice 0); the models run once per "
        "character for all of them (default: 1).",
    )] = None,
    record: Annotated[Path | None, Opt(
        metavar="FILE", rich_help_panel=PANEL_RUN,
        help="Record the performance to FILE (a new file): replay it with charmix replay, "
        "render it with charmix render.",
    )] = None,
    state: Annotated[Path | None, Opt(
        metavar="FILE", rich_help_panel=PANEL_RUN,
        help="Keep the live settings (every voice's weights, temperatures, mode, slew, top-k/p; "
        "rate, pause, subscribers) in FILE, saved about once a second while they change and "
        "restored at start (default: none; $STATE_DIRECTORY/state.json when run as a systemd "
        "service).",
    )] = None,
    scenes: Annotated[Path | None, Opt(
        metavar="FILE", rich_help_panel=PANEL_SCORE,
        help="Scenes (named snapshots of a voice's settings) in a TOML file you may edit by "
        "hand; /charmix/scene/save writes it, comments kept (default: none; with --state the "
        "scenes are kept there).",
    )] = None,
    score: Annotated[str | None, Opt(
        metavar="FILE|demo", rich_help_panel=PANEL_SCORE,
        help="Play a score (TOML: cues of scene + morph + hold, and drifts) by itself; 'demo' "
        "is the shipped tour of the six models. A control message punches in (docs/"
        "installation.md) (default: none).",
    )] = None,
    hand_back: Annotated[float | None, Opt(
        metavar="SECONDS", rich_help_panel=PANEL_SCORE,
        help="After a punch-in, hand the voice back to the score after this long without "
        "control; 0 = never (default: 0).",
    )] = None,
    burst: Annotated[int | None, Opt(
        metavar="N", rich_help_panel=PANEL_RUN,
        help="Write N characters as fast as possible, then exit (an offline run).",
    )] = None,
) -> None:
    from charmix.daemon.protocol.endpoint import ConfigError
    from charmix.daemon.runtime.config import build
    from charmix.daemon.runtime.console import Console
    from charmix.daemon.runtime.daemon import Daemon
    from charmix.daemon.runtime.startup import StartupError

    cli = {
        "models": model, "models_dir": models_dir, "weights": weights,
        "temperature": temperature, "model_temperature": model_temperature, "mode": mode,
        "beta": beta, "style_mode": style_mode,
        "rate": rate, "slew": slew, "topk": topk, "topp": topp, "seed": seed, "prime": prime,
        "listen": listen, "send": send, "allow": allow, "max_datagram": max_datagram,
        "echo": echo, "status_every": status_every, "burst": burst, "state": state,
        "voices": voices, "record": record, "name": name,
        "oscquery": False if no_oscquery else oscquery, "mdns": False if no_mdns else None,
        "blocklist": blocklist, "charset": charset, "fold": fold,
        "scenes": scenes, "score": score, "hand_back": hand_back,
    }
    try:
        cfg = build(cli, config)
    except ConfigError as exc:
        typer.echo(f"charmix: {exc}", err=True)
        raise typer.Exit(2) from None

    console = Console(sys.stdout, sys.stderr)
    log = logging.getLogger("charmix.daemon")
    log.setLevel(logging.INFO)
    log.propagate = False
    handler = console.handler()
    log.addHandler(handler)
    # A burst is an offline run: its text is the point, wherever stdout goes.
    show_text = cfg.echo if cfg.echo is not None else (sys.stdout.isatty() or bool(cfg.burst))
    runner = Daemon(cfg, log, echo=console.text if show_text else None)
    # SIGINT or SIGTERM end the daemon the way Ctrl-C does — no traceback, exit 0 — at any
    # moment: while the models load, during the banner, and (run() and burst() then install
    # their own handlers, which stop the clock first) while it plays.
    try:
        with interrupt_on_signals():
            try:
                runner.start(run_clock=False)  # the clock starts after the banner, below
            except StartupError as exc:
                console.line(f"charmix: {exc}")
                raise typer.Exit(1) from None
            for line in banner(runner):
                console.line(line)
            if cfg.burst:
                seconds = runner.burst(cfg.burst)
                steps = runner.clock.steps
                if show_text:
                    console.text("\n")
                log.info("%d characters in %.2f s (%.0f chars/s)", steps, seconds,
                         steps / seconds if seconds > 0 else 0.0)
            else:
                runner.clock.start()
                runner.run()
                log.info("stopped after %d characters", runner.engine.step_count)
    except KeyboardInterrupt:  # before run() or burst() took over the signals
        runner.stop()
        engine = getattr(runner, "engine", None)  # absent while the models were still loading
        if engine is not None:  # a signal just after the clock started: say it, as run() does
            log.info("stopped after %d characters", engine.step_count)
        raise typer.Exit(0) from None
    finally:
        log.removeHandler(handler)
        console.close()


def banner(runner: Daemon) -> list[str]:
    """A few lines saying what is running and where, for the performer's terminal."""
    from charmix.daemon.protocol.endpoint import format_endpoint

    cfg, engine, controls = runner.config, runner.engine, runner.controls
    assert runner.server is not None, "banner() needs a started daemon"
    host, port = runner.server.address
    listening = format_endpoint(host, port)
    allow = ", ".join(str(n) for n in cfg.allow)
    sends = ", ".join(str(ep) for ep in cfg.send)
    clock = "external (/charmix/tick)" if controls.rate == 0 else f"{controls.rate:g} chars/s"
    lines = [
        f"charmix daemon: {len(engine.names)} model{'s' if len(engine.names) != 1 else ''} "
        f"({', '.join(engine.names)}), "
        f"{len(engine.vocab)}-character vocabulary",
        f"  control in  {listening}  (allowed: {allow})",
        f"  frames out  {sends}  (+ /charmix/subscribe)",
        f"  clock       {clock}, T {cfg.temperature:g}, {cfg.mode}, slew {cfg.slew:g} s",
        f"  models      {runner.step_cost}",
    ]
    if engine.n_voices > 1:
        lines.append(f"  voices      {engine.n_voices}: voice 0 unprefixed, voice k under "
                     f"{protocol.VOICE_PREFIX}k/… (k = 1 … {engine.n_voices - 1})")
    if cfg.record is not None:
        lines.append(f"  recording   {cfg.record} (charmix replay / charmix render)")
    if cfg.score:
        back = f"; back after {cfg.hand_back:g} s" if cfg.hand_back > 0 else ""
        lines.append(f"  score       {cfg.score}: plays by itself until a control message "
                     f"punches in{back}")
    lines += runner.services_banner()
    if cfg.listen.unspecified and all(net.is_loopback for net in cfg.allow):
        lines.append(
            f"  note: listening on all interfaces but only {allow} may control; add "
            "--allow 192.168.1.0/24 (your LAN) so other machines are not ignored"
        )
    if cfg.burst == 0:
        lines.append("  Ctrl-C stops")
    return lines


def register(app: typer.Typer) -> None:
    app.command(help=HELP, rich_help_panel="Perform", no_args_is_help=False)(daemon)
