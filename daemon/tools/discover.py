"""`charmix discover`: the charmix daemons on this machine and the LAN, by name.

One line per daemon: name, control address, OSCQuery port, models, uptime — what a performer
needs to pick a `--to NAME`. Exit 0 when at least one daemon answers, 1 when none does (so a
script can wait for the rig: `until charmix discover -q; do sleep 1; done`).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from charmix.daemon.client import discovery
from charmix.daemon.protocol.names import mdns_enabled

HELP = (
    "List the charmix daemons on this machine and the LAN: name, address, models, uptime.\n\n"
    "Daemons that listen beyond loopback advertise themselves with mDNS (zeroconf); a "
    "loopback-only daemon on this machine is found through its OSCQuery port. Use a name with "
    "--to in every bridge, charmix send and charmix monitor: --to 'charmix on stage-left', or "
    "--to auto for the only one.\n\n"
    "[b]Examples[/b]\n\n"
    "  charmix discover\n"
    "  charmix discover --json\n"
    "  until charmix discover -q; do sleep 1; done"
)


def discover(
    timeout: Annotated[float, typer.Option(
        min=0.1, max=30.0, metavar="SECONDS", help="How long to listen for mDNS answers.",
    )] = discovery.BROWSE_TIMEOUT,
    as_json: Annotated[bool, typer.Option(
        "--json", help="One JSON object per daemon and line (name, host, osc_port, "
        "oscquery_port, models, uptime, via).",
    )] = False,
    quiet: Annotated[bool, typer.Option(
        "--quiet", "-q", help="Print nothing; exit 0 if a daemon answers, 1 if none.",
    )] = False,
) -> None:
    daemons = discovery.browse(timeout)
    if not quiet:
        for daemon in daemons:
            if as_json:
                typer.echo(json.dumps({
                    "name": daemon.name, "host": daemon.host, "osc_port": daemon.osc_port,
                    "oscquery_port": daemon.oscquery_port, "models": list(daemon.models),
                    "uptime": daemon.uptime, "via": daemon.via,
                }, ensure_ascii=False))
            else:
                typer.echo(daemon.describe())
        if not daemons:
            where = ("this machine or the LAN" if mdns_enabled()
                     else "this machine (mDNS is off: CHARMIX_MDNS=0)")
            typer.echo(f"charmix: no charmix daemon found on {where}", err=True)
    raise typer.Exit(0 if daemons else 1)


def register(app: typer.Typer) -> None:
    app.command(help=HELP, rich_help_panel="Perform")(discover)
