"""The `charmix` command: one typer app, each room registers its own commands.

Rooms import their heavy dependencies inside the command functions, so `charmix --help` stays fast
and neither the bridges nor `--help` import onnxruntime (the daemon never imports torch; only
`charmix train` / `charmix export` do).

The same habits in every command (`main()` enforces the first two for typer's own errors too):

- every failure is one line on stderr starting `charmix: ` — a usage error names the flag and
  the command's --help, never typer's multi-line box;
- exit status 0 done, 1 a runtime failure (no daemon, a missing device, display or file, a
  refused message), 2 a usage error (a bad flag, argument or combination), 130 after Ctrl-C in a
  command that does not stop cleanly on it;
- `charmix --version` prints the installed version.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from typing import Annotated

import typer
from typer._click import exceptions as click_exceptions

app = typer.Typer(
    name="charmix",
    help="A realtime text instrument: character LSTMs write one stream of text, mixed live.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("charmix")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"charmix {version()}")
        raise typer.Exit(0)


@app.callback()
def _root(
    show_version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_print_version,
        help="Print the installed version and exit.")] = False,
) -> None:
    """A realtime text instrument: character LSTMs write one stream of text, mixed live."""


# Each module defines register(app). Adding a room is one line here.
ROOMS = [
    "charmix.export.commands",
    "charmix.daemon.tools.offline",
    "charmix.daemon.runtime.command",
    "charmix.daemon.tools.replay",
    "charmix.daemon.tools.render",
    "charmix.daemon.monitor.command",
    "charmix.daemon.tools.discover",
    "charmix.daemon.tools.service",
    "charmix.controllers.commands",
]

for _room in ROOMS:
    importlib.import_module(_room).register(app)


def usage_line(error: click_exceptions.UsageError) -> str:
    """A usage error as one line: what is wrong, and where the help is."""
    message = " ".join(error.format_message().split())
    ctx = error.ctx
    where = f" (see {ctx.command_path} --help)" if ctx is not None else ""
    return f"charmix: {message.rstrip('.')}{where}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns (and, as the console script, exits with) the exit status."""
    try:
        code = app(args=list(argv) if argv is not None else None, prog_name="charmix",
                   standalone_mode=False)
    except click_exceptions.NoArgsIsHelpError as exc:  # `charmix send` alone: its help
        if exc.format_message().strip():  # typer's rich help printed itself already
            typer.echo(exc.format_message())
        code = 2
    except click_exceptions.UsageError as exc:
        typer.echo(usage_line(exc), err=True)
        code = 2
    except click_exceptions.ClickException as exc:
        typer.echo(f"charmix: {' '.join(exc.format_message().split())}", err=True)
        code = exc.exit_code
    except typer.Abort:
        typer.echo("charmix: aborted", err=True)
        code = 130
    code = code if isinstance(code, int) else 0
    if argv is None:
        sys.exit(code)
    return code


if __name__ == "__main__":
    main()
