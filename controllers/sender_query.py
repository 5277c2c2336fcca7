"""Asking the daemon what it runs: /charmix/query, its reply, and the model names a bridge uses.

A reply is read by the daemon's own reader (daemon/oscread), wrapped so that it survives
anything: python-osc raises ParseError, but also UnicodeDecodeError, IndexError or struct.error on
a stray datagram, and any of those once stopped `charmix mouse/midi/leap` and `charmix send
query` at start. /charmix/status is read by position and may have more fields than this version
knows (fields are only appended, docs/osc.md).
"""

from __future__ import annotations

import select
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from charmix.controllers.sender_messages import (
    Target,
    entry,
    format_targets,
    udp_socket,
)
from charmix.daemon import protocol
from charmix.daemon.protocol import oscread
from charmix.daemon.protocol.datagram import DatagramReader
from charmix.daemon.protocol.encode import encode
from charmix.daemon.protocol.endpoint import format_address


def read_reply(data: bytes) -> list[tuple[str, list]]:
    """Every (address, arguments) in a datagram, or [] when it is not OSC we can read.

    The daemon's own reader (daemon/oscread: bundles walked iteratively, at most MAX_DEPTH
    deep, so a deeply nested bundle costs microseconds, not a recursion). It catches
    everything: python-osc raises ParseError, UnicodeDecodeError (8,091 of 200,000 random
    datagrams), IndexError, struct.error… and one stray reply must not stop a bridge.
    """
    try:
        return [(m.address, list(m.params)) for m in oscread.messages(data)]
    except Exception:
        return []


@dataclass
class DaemonInfo:
    """One daemon's answer to /charmix/query."""

    source: Target  # where the reply came from (the daemon's sending socket, not 7770)
    target: Target | None = None  # the --to target that was asked (a broadcast asks many)
    models: list[str] = field(default_factory=list)
    vocab: str | None = None
    status: dict[str, float] | None = None
    scenes: list[str] = field(default_factory=list)  # its saved scenes (none: not announced)


def query(targets: Sequence[Target], timeout: float = 0.5) -> list[DaemonInfo]:
    """Send /charmix/query to every target and collect the replies for up to `timeout` seconds.

    Returns one DaemonInfo per answering daemon (those that sent /charmix/models), in the order
    the answers came; stops early once every target has sent models, vocab and status.
    """
    with oscread.quiet_python_osc():
        return _query(targets, timeout)


def _query(targets: Sequence[Target], timeout: float) -> list[DaemonInfo]:
    msg = encode(entry("query"), ())
    paths = {s: protocol.output(s).path for s in ("models", "vocab", "status", "scenes")}
    found: dict[Target, DaemonInfo] = {}
    socks: list[socket.socket] = []
    reader = DatagramReader(protocol.MAX_INPUT_DATAGRAM)
    asked: dict[socket.socket, Target] = {}
    try:
        for target in targets:
            try:
                family, _, _, _, addr = socket.getaddrinfo(*target, type=socket.SOCK_DGRAM)[0]
                sock = udp_socket(family)  # --to 192.168.1.255:7770 asks a whole subnet
                socks.append(sock)
                sock.bind(("::" if family == socket.AF_INET6 else "0.0.0.0", 0))
                sock.sendto(msg, addr)
                asked[sock] = target
            except OSError:  # unresolvable or unreachable: that target just doesn't answer
                continue
        deadline = time.monotonic() + timeout
        while socks and (left := deadline - time.monotonic()) > 0:
            for sock in select.select(socks, [], [], left)[0]:
                try:
                    data, src = reader.recvfrom(sock)
                except OSError:
                    continue
                messages = read_reply(data)
                if not messages:
                    continue
                info = found.setdefault(src[:2], DaemonInfo(src[:2], asked.get(sock)))
                for address, params in messages:
                    _absorb(info, address, params, paths)
            complete = [i for i in found.values() if i.models and i.vocab is not None and i.status]
            if len(complete) >= len(targets):
                break
    finally:
        for sock in socks:
            sock.close()
    return [info for info in found.values() if info.models]


def _absorb(info: DaemonInfo, path: str, params: list, paths: dict[str, str]) -> None:
    """Take what a reply message says into `info`; anything malformed is ignored."""
    if path == paths["models"] and params and all(isinstance(p, str) for p in params):
        info.models = list(params)
    elif path == paths["scenes"] and all(isinstance(p, str) for p in params):
        info.scenes = list(params[:256])
    elif path == paths["vocab"] and len(params) == 1 and isinstance(params[0], str):
        info.vocab = params[0]
    elif path == paths["status"] and len(params) >= len(protocol.STATUS_FIELDS) and all(
        isinstance(p, int | float) for p in params
    ):  # a newer daemon's extra fields (only ever appended) are ignored
        known = params[: len(protocol.STATUS_FIELDS)]
        info.status = dict(zip(protocol.STATUS_FIELDS, map(float, known), strict=True))


def refusal(info: DaemonInfo, address: protocol.Address, values: Sequence[object],
            name: str | None = None) -> str | None:
    """Why this daemon would refuse the message (it runs other models), or None.

    The table's checks (types, ranges) are `encode`'s; this is what only the daemon's namespace
    knows: its model names, and how many weights it takes.
    """
    models = ", ".join(info.models)
    if name is not None and name not in info.models:
        return f"it has no model {name!r} (it runs {models})"
    if address.args and address.args[0].per == "model" and len(values) > len(info.models):
        return (f"{len(values)} values for its {len(info.models)} models ({models}); "
                "it would ignore the message")
    return None


class ModelsUnknown(Exception):
    """Neither a daemon nor --models said which models there are; str() says what to do.

    `usage`: the fault is the command line's (an empty or repeated --models), not the network's.
    """

    def __init__(self, message: str, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


def resolve_models(
    targets: Sequence[Target], models: str | None, timeout: float = 0.5,
    log: Callable[[str], None] | None = None,
) -> tuple[list[str], DaemonInfo | None]:
    """Model names in weight order: the daemon's (asked with /charmix/query), else --models.

    The daemon wins when both exist, because weights are positional and only it knows the order.
    With several daemons the first to answer sets the order; any daemon that runs other models,
    or the same in another order, is named in a warning (its /charmix/weights would be wrong).
    """
    say = log or (lambda m: print(f"charmix: {m}", file=sys.stderr, flush=True))
    given = [m.strip() for m in models.split(",") if m.strip()] if models else []
    if models is not None and not given:
        raise ModelsUnknown("--models is empty; give names like --models austen,bible,linux",
                            usage=True)
    if len(set(given)) != len(given):
        raise ModelsUnknown(f"--models lists a name twice: {models}", usage=True)
    replies = query(targets, timeout) if timeout > 0 else []
    if replies:
        info = replies[0]
        for other in replies[1:]:
            if other.models != info.models:
                one, two = format_address(info.source), format_address(other.source)
                say(f"the daemons disagree: {one} runs {','.join(info.models)} but "
                    f"{two} runs {','.join(other.models)}; weight vectors follow "
                    f"{one}'s order and will be wrong for {two}")
        if given and given != info.models:
            say(f"the daemon at {format_address(info.source)} runs {','.join(info.models)}; "
                f"using that instead of --models {','.join(given)}")
        return info.models, info
    if given:
        return given, None
    where = format_targets(*targets)
    raise ModelsUnknown(
        f"no daemon answered /charmix/query at {where} within {timeout:g} s; start "
        "`charmix daemon` first or name the models with --models a,b,c"
    )
