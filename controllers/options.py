"""What every controller command shares on the command line: --to, and how a command fails.

Exit status, the same in every charmix command: 0 done, 1 a runtime failure (no daemon answered,
a device or display missing, a refused message), 2 a usage error (a bad flag or argument). Every
failure is one line on stderr starting `charmix: `.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from charmix.daemon import protocol
from charmix.daemon.common.fail import FAILURE, USAGE, fail, say

if TYPE_CHECKING:
    from charmix.daemon.client.follow import Resolved


ToOpt = Annotated[
    list[str] | None,
    typer.Option("--to", metavar="NAME|HOST:PORT", help="Daemon to steer: its name (charmix "
                 "discover; followed when it restarts elsewhere), 'auto' (the only one found) or "
                 "HOST:PORT; repeat for several machines (default "
                 f"{protocol.DEFAULT_HOST}:{protocol.CONTROL_PORT})."),
]

VoiceOpt = Annotated[
    int,
    typer.Option("--voice", min=0, max=protocol.VOICES_MAX - 1,
                 help="Which voice to steer, of a daemon run with --voices K (0 = the first)."),
]


def resolved(to: list[str] | None, log: Callable[[str], None] = say) -> list[Resolved]:
    """Each --to resolved by the shared resolver (daemon/client/follow.py: names and 'auto' through
    discovery); `log` hears where each name was found. No daemon by that name is a runtime
    failure, a malformed HOST:PORT a usage error; either is one line."""
    from charmix.controllers.sender_messages import default_target
    from charmix.daemon.client.discovery import DiscoveryError
    from charmix.daemon.client.follow import Resolved, resolve_targets

    if not to:
        return [Resolved("", default_target())]
    try:
        return resolve_targets(to, log)
    except DiscoveryError as exc:
        fail(str(exc), FAILURE)
    except ValueError as exc:
        fail(str(exc), USAGE)


def targets(to: list[str] | None) -> list[tuple[str, int]]:
    """--to values as (host, port), names resolved quietly (`charmix send` says itself what it
    did, and --quiet means quiet); see resolved()."""
    return [r.target for r in resolved(to, lambda _message: None)]
