"""What every controller command shares on the command line: --to, and how a command fails.

Exit status, the same in every charmix command: 0 done, 1 a runtime failure (no daemon answered,
a device or display missing, a refused message), 2 a usage error (a bad flag or argument). Every
failure is one line on stderr starting `charmix: `.
"""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer

from charmix.daemon import protocol

USAGE, FAILURE = 2, 1

ToOpt = Annotated[
    list[str] | None,
    typer.Option("--to", metavar="HOST:PORT", help="Daemon to steer; repeat for several "
                 f"machines (default {protocol.DEFAULT_HOST}:{protocol.CONTROL_PORT})."),
]


def fail(message: str, code: int = USAGE) -> NoReturn:
    typer.echo(f"charmix: {message}", err=True)
    raise typer.Exit(code)


def targets(to: list[str] | None) -> list[tuple[str, int]]:
    """--to values as (host, port); a bad one is a usage error."""
    from charmix.controllers.sender_messages import default_target, parse_target

    try:
        return [parse_target(t) for t in to] if to else [default_target()]
    except ValueError as exc:
        fail(str(exc))
