"""How every charmix command fails: one line on stderr, `charmix: …`, and an exit status.

The statuses are the same in every command (daemon/cli.py says them): 0 done, 1 a runtime
failure (no daemon, a missing device, display or file, a refused message), 2 a usage error (a bad
flag, argument or combination). A command states which one; a runtime failure is the default.
"""

from __future__ import annotations

from typing import NoReturn

import typer

FAILURE = 1  # the world said no: no daemon answered, a file is missing or bad
USAGE = 2  # the command line is wrong: a flag, an argument, a combination


def say(message: str) -> None:
    """A line for the user on stderr (`charmix: …`), e.g. where a named daemon was found."""
    typer.echo(f"charmix: {message}", err=True)


def fail(message: str, code: int = FAILURE) -> NoReturn:
    """Say `message` and exit with `code` (FAILURE or USAGE)."""
    say(message)
    raise typer.Exit(code)
