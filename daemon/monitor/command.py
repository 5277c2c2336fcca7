"""`charmix monitor` registered with the CLI; the monitor itself is in daemon/monitor/app.py.

A module of its own so that `charmix --help` (which registers every command) loads only typer:
the monitor's reader, view and socket import numpy, rich's live view and python-osc, and those
are imported here only when the command runs.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from charmix.daemon import protocol


def register(app: typer.Typer) -> None:
    def _resolve_to(to: str):
        from charmix.daemon.client.discovery import DiscoveryError
        from charmix.daemon.client.follow import resolve_targets

        try:
            return resolve_targets([to], lambda m: print(f"charmix monitor: {m}",
                                                         file=sys.stderr))[0]
        except DiscoveryError as exc:
            print(f"charmix monitor: {exc}", file=sys.stderr)
            raise typer.Exit(1) from None
        except ValueError as exc:
            print(f"charmix monitor: {exc}", file=sys.stderr)
            raise typer.Exit(2) from None

    @app.command()
    def monitor(
        daemon: Annotated[str, typer.Option(
            "--daemon", "-d", help="The daemon's control address, [HOST:]PORT.")
        ] = f"{protocol.DEFAULT_HOST}:{protocol.CONTROL_PORT}",
        to: Annotated[str | None, typer.Option(
            "--to", metavar="NAME|HOST:PORT", help="The daemon by name (charmix discover; "
            "followed when it restarts elsewhere), 'auto' for the only one, or HOST:PORT "
            "(instead of --daemon).")] = None,
        listen: Annotated[str | None, typer.Option(
            "--listen", "-l", help="Only listen on [HOST:]PORT (e.g. the port the daemon's --send "
            "points at) instead of subscribing from a free port.")] = None,
        fps: Annotated[float | None, typer.Option(
            min=0.1, max=60, help="Refreshes per second (default 10; 1 with --plain).")] = None,
        top: Annotated[int, typer.Option(min=1, max=20, help="Characters per top list.")] = 5,
        frames: Annotated[int | None, typer.Option(
            min=1, help="Refresh this many times, then exit.")] = None,
        duration: Annotated[float | None, typer.Option(
            min=0, help="Run this many seconds, then exit.")] = None,
        once: Annotated[bool, typer.Option(
            help="Print one view as soon as a frame arrives, then exit. After --timeout without "
            "one: print what did arrive (a paused daemon's status) and exit 0, or exit 1 if "
            "nothing arrived at all.")] = False,
        timeout: Annotated[float, typer.Option(min=0.1, help="How long --once waits.")] = 5.0,
        plain: Annotated[bool, typer.Option(
            help="Print views one after another, no colour or cursor movement (the default when "
            "stdout is not a terminal).")] = False,
        voice: Annotated[int, typer.Option(
            min=0, max=protocol.VOICES_MAX - 1,
            help="Which voice to show, of a daemon run with --voices K.")] = 0,
    ) -> None:
        """Watch a running daemon: coloured text, weights, top characters, counters. q quits."""
        from rich.console import Console

        from charmix.daemon.client.link import Link, parse_hostport
        from charmix.daemon.monitor.app import RunLimits, run_monitor
        from charmix.daemon.protocol.endpoint import format_address

        resolved = _resolve_to(to) if to is not None else None
        control = resolved.target if resolved else parse_hostport(daemon, protocol.DEFAULT_HOST)
        if control[1] == 0:
            raise typer.BadParameter(f"{daemon!r}: the daemon's port cannot be 0")
        where = (parse_hostport(listen, "0.0.0.0", protocol.OUTPUT_PORT)
                 if listen is not None else None)
        tty = sys.stdout.isatty()
        plain = plain or not tty
        console = Console(no_color=plain, highlight=False)
        try:
            link = Link(control, where)
        except OSError as exc:
            what = (f"listen on {format_address(where)}" if where
                    else f"open a socket for {format_address(control)}")
            console.print(f"charmix monitor: cannot {what}: {exc.strerror or exc}")
            raise typer.Exit(2) from None
        if resolved is not None and listen is None:
            from charmix.daemon.client.follow import follow

            follow(link, [resolved], lambda message: print(f"charmix monitor: {message}",
                                                           file=sys.stderr))
        limits = RunLimits(frames, duration, once, timeout)
        state = run_monitor(console, link, limits, fps or (1.0 if plain else 10.0), top, plain,
                            keys=sys.stdin.isatty() and not plain, voice=voice)
        bounded = once or frames is not None or duration is not None
        if bounded and state.counters.datagrams == 0:
            print(f"charmix monitor: nothing received from {link.describe()}; is `charmix "
                  "daemon` running there?", file=sys.stderr)
            raise typer.Exit(1)
