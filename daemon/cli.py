"""The `charmix` command: one typer app, each room registers its own commands.

Rooms import their heavy dependencies inside the command functions, so `charmix --help` stays fast
and the daemon never imports torch (only `charmix train` / `charmix export` do).
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="charmix",
    help="A realtime text instrument: character LSTMs write one stream of text, mixed live.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

# Each module defines register(app). Adding a room is one line here.
ROOMS = [
    "charmix.export.commands",
    "charmix.daemon.offline",
    "charmix.daemon.commands",
    "charmix.daemon.monitor",
    "charmix.daemon.discover_cmd",
    "charmix.controllers.commands",
]

for _room in ROOMS:
    importlib.import_module(_room).register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
