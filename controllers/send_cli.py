"""`charmix send …`: one control message from a script, generated from the address table.

One sub-command per input address (protocol.INPUT), its arguments typed and range-checked by the
address's typed Args, so a new address in the table is a new `send` command with no edit here.

It says what happened, in one line, because a silent exit 0 hid every mistake (a wrong model
name, eight weights for six models, no daemon at all). Unless `--timeout 0`:

1. it asks each target's daemon for its namespace (/charmix/query: models, vocabulary, status),
   and refuses a message that daemon would refuse (an unknown model, more weights than models);
2. it sends the message (UDP, to every target that did not refuse it);
3. it asks again and compares the daemon's counters: rx_bad or rx_denied grew → refused;
   otherwise applied.

Exit status: 0 when every target applied it (or `--timeout 0`: sent, unchecked); 1 when a daemon
did not answer (the message is still sent: it may be there and unable to reply) or refused it;
2 for a usage error (a value outside the table's range, a bad --to). `--quiet` prints only
failures. --to, --quiet and --timeout go before or after the verb: `charmix send --to X tick`
and `charmix send tick --to X` are the same.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from charmix.controllers.options import ToOpt, VoiceOpt, targets
from charmix.daemon import protocol
from charmix.daemon.common.fail import FAILURE, USAGE, fail

send_app = typer.Typer(
    help="Send one control message to the daemon(s), check it against what they run, and say "
    "what happened: a command-line controller for scripts.",
    no_args_is_help=True,
)

QuietOpt = Annotated[bool | None, typer.Option(
    "--quiet", "-q", help="Print nothing when it worked (failures still get their line).")]
TimeoutOpt = Annotated[float | None, typer.Option(
    "--timeout", min=0.0, help="Seconds to wait for each daemon's reply to /charmix/query "
    "(default 0.5; 0 = don't ask, just send).")]
DEFAULT_TIMEOUT = 0.5

_PY_TYPE = {"f": float, "i": int, "s": str}
# Without PORT the daemon uses the sender's own port: for `charmix send` that is a temporary
# socket, closed as soon as the command exits, so PORT is required here.
_PORT_REQUIRED = {"subscribe", "unsubscribe"}


@dataclass
class SendOptions:
    """--to / --quiet / --timeout, given before the verb (`charmix send --to X tick`)."""

    to: list[str] = field(default_factory=list)
    quiet: bool = False
    timeout: float | None = None


@send_app.callback()
def _options(ctx: typer.Context, to: ToOpt = None, quiet: QuietOpt = None,
             timeout: TimeoutOpt = None) -> None:
    ctx.obj = SendOptions(list(to or []), bool(quiet), timeout)


def _merged(ctx: typer.Context, to: list[str] | None, quiet: bool | None,
            timeout: float | None) -> SendOptions:
    """The options given before the verb and after it (targets add up; after wins otherwise)."""
    before = ctx.obj if isinstance(ctx.obj, SendOptions) else SendOptions()
    return SendOptions(
        before.to + list(to or []),
        before.quiet if quiet is None else quiet,
        timeout if timeout is not None else before.timeout,
    )


def command_name(address: protocol.Address) -> str:
    """'/charmix/model/{name}/temperature' → 'model-temperature'."""
    return "-".join(part for part in address.short.split("/") if part != "{name}")


def _arg_help(arg: protocol.Arg) -> str:
    """An argument's help line from its typed fields: what, range, unit, default."""
    parts = [arg.description or arg.name]
    if arg.span():
        parts.append(arg.span())
    if arg.unit:
        parts.append(f"in {arg.unit}")
    if arg.default is not None:
        shown = arg.default if isinstance(arg.default, str) else protocol.show_number(arg.default)
        parts.append(f"default {shown}")
    return ", ".join(parts)


def _shown(path: str, values: Sequence[object]) -> str:
    """'/charmix/weights 1 0 0' as a person would type it (long text shortened)."""
    parts = [protocol.show_number(v) if not isinstance(v, str) else repr(v) for v in values]
    text = " ".join([path, *parts])
    return text if len(text) <= 72 else text[:71] + "…"


# -- what happened ---------------------------------------------------------------------------
def deliver(address: protocol.Address, args: Sequence[object], name: str | None,
            to: Sequence[tuple[str, int]], timeout: float,
            voice: int = 0) -> tuple[int, list[str], list[str]]:
    """Check, send and confirm one message; (exit code, lines for stdout, lines for stderr).
    `voice` > 0: to that voice of a --voices daemon; /charmix/status shows voice 0's settings,
    so such a message is sent but not confirmed."""
    from charmix.controllers.sender import Sender
    from charmix.controllers.sender_messages import format_targets
    from charmix.controllers.sender_query import query, refusal
    from charmix.daemon.protocol.encode import encode

    encode(address, args, name)  # the table's checks: ValueError (a usage error) before anything
    values = address.check(list(args), name)
    path = address.for_model(name) if name is not None else address.path
    if voice and address.voice:
        path = protocol.voice_path(path, voice)
        with Sender(list(to), voice=voice) as sender:
            sender.event(address, *args, name=name)
        shown = _shown(path, values)
        return 0, [f"{format_targets(t)}: sent {shown} (voice {voice}: not checked, "
                   "/charmix/status shows voice 0)" for t in to], []
    what = _shown(path, values)
    notes = []
    if address.short == "prime" and len(values[0]) < len(args[0]):  # type: ignore[arg-type]
        notes.append(f"kept the last {len(values[0])} of {len(args[0])} characters")  # type: ignore[arg-type]
    out: list[str] = []
    err: list[str] = []
    before = {i.target: i for i in query(to, timeout)} if timeout > 0 else {}
    accepted = []
    for target in to:
        info = before.get(target)
        why = refusal(info, address, values, name) if info is not None else None
        if why:
            err.append(f"charmix: {format_targets(target)}: not sent: {why}")
        else:
            accepted.append(target)
    if accepted:
        with Sender(accepted) as sender:
            sender.event(address, *args, name=name)
    if timeout <= 0:
        out += [f"{format_targets(t)}: sent {what} (not checked: --timeout 0)" for t in accepted]
        return (FAILURE if err else 0), out, err
    answered = [t for t in accepted if t in before]
    after = {i.target: i for i in query(answered, timeout)} if answered else {}
    for target in accepted:
        where = format_targets(target)
        was, now = before.get(target), after.get(target)
        if was is None:
            err.append(f"charmix: {where}: sent {what}, but no daemon answered /charmix/query "
                       f"within {timeout:g} s (not running, another port, or this machine is "
                       "outside its --allow)")
        elif now is None or now.status is None or was.status is None:
            err.append(f"charmix: {where}: sent {what}; the daemon did not answer afterwards, "
                       "so it is not confirmed")
        elif (grew := _grew(was.status, now.status)):
            err.append(f"charmix: {where}: the daemon refused {what} ({grew}; its log says why)")
        else:
            extra = _partial_note(address, values, was)
            line = f"{where}: {what} applied"
            out.append(line + "".join(f"; {n}" for n in [*notes, *extra]))
    return (FAILURE if err else 0), out, err


def _grew(before: dict[str, float], after: dict[str, float]) -> str:
    """'rx_bad +1' when the daemon counted a refusal between the two replies, else ''."""
    grown = [f"{k} +{after[k] - before[k]:g}" for k in ("rx_bad", "rx_denied")
             if after.get(k, 0) > before.get(k, 0)]
    return ", ".join(grown)


def _partial_note(address: protocol.Address, values: Sequence[object], info: Any) -> list[str]:
    """A weights vector shorter than the models: say that the rest keep theirs."""
    if address.args and address.args[0].per == "model" and len(values) < len(info.models):
        rest = info.models[len(values):]
        return [f"{', '.join(rest)} keep{'s' if len(rest) == 1 else ''} "
                f"{'its' if len(rest) == 1 else 'their'} weight"]
    return []


def _run(address: protocol.Address, args: list[object], name: str | None,
         opts: SendOptions, voice: int = 0) -> None:
    to = targets(opts.to)
    timeout = DEFAULT_TIMEOUT if opts.timeout is None else opts.timeout
    try:
        code, out, err = deliver(address, args, name, to, timeout, voice)
    except ValueError as exc:  # the table refused a value: the command line's mistake
        fail(str(exc), USAGE)
    if not opts.quiet:
        for line in out:
            typer.echo(line)
    for line in err:
        typer.echo(line, err=True)
    raise typer.Exit(code)


# -- the generated commands -------------------------------------------------------------------
def _option_params() -> list[inspect.Parameter]:
    kw = inspect.Parameter.KEYWORD_ONLY
    return [inspect.Parameter("to", kw, annotation=ToOpt, default=None),
            inspect.Parameter("quiet", kw, annotation=QuietOpt, default=None),
            inspect.Parameter("timeout", kw, annotation=TimeoutOpt, default=None)]


def _send_command(address: protocol.Address) -> Callable[..., None]:
    """A typer command for one input address: its arguments follow the address's typed Args."""
    params = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                annotation=typer.Context)]
    if address.per_model:
        params.append(inspect.Parameter(
            "name", inspect.Parameter.POSITIONAL_OR_KEYWORD,
            annotation=Annotated[str, typer.Argument(
                metavar="NAME", help="Model name (see `charmix send query`).",
                show_default=False)]))
    for k, arg in enumerate(address.args):
        py = _PY_TYPE[arg.type]
        what, repeat = _arg_help(arg), arg.repeat
        if k == 0 and command_name(address) in _PORT_REQUIRED:
            repeat = ""
            what += (" (required here: without it the daemon would use this command's own "
                     "port, which closes as soon as it exits)")
        meta = typer.Argument(metavar=arg.name.upper(), help=what, show_default=False)
        if repeat == "+":
            annotation, default = Annotated[list[py], meta], inspect.Parameter.empty
        elif repeat == "?":
            annotation, default = Annotated[py | None, meta], None
        else:
            annotation, default = Annotated[py, meta], inspect.Parameter.empty
        params.append(inspect.Parameter(f"arg{k}", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                        annotation=annotation, default=default))
    params += _option_params()
    if address.voice:
        params.append(inspect.Parameter("voice", inspect.Parameter.KEYWORD_ONLY,
                                        annotation=VoiceOpt, default=0))

    def command(ctx: typer.Context, **kwargs: object) -> None:
        name = kwargs.pop("name", None)
        voice = int(kwargs.pop("voice", 0))  # type: ignore[call-overload]
        opts = _merged(ctx, kwargs.pop("to"), kwargs.pop("quiet"),  # type: ignore[arg-type]
                       kwargs.pop("timeout"))  # type: ignore[arg-type]
        args: list[object] = []
        for key in sorted(kwargs):  # arg0, arg1, … in order; optional ones may be None
            value = kwargs[key]
            if isinstance(value, list):
                args.extend(value)
            elif value is not None:
                args.append(value)
        _run(address, args, name, opts, voice)  # type: ignore[arg-type]

    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__name__ = command_name(address).replace("-", "_")
    types = address.types or "no arguments"
    command.__doc__ = f"{address.description}\n\nOSC: {address.path} ({types})"
    return command


def send_query(
    ctx: typer.Context,
    to: ToOpt = None,
    timeout: Annotated[float | None, typer.Option(
        min=0.01, help="Seconds to wait for replies (default 1).")] = None,
) -> None:
    """Ask the daemon(s) which models, vocabulary and status they have, and print the answers."""
    from charmix.controllers.sender_messages import format_targets
    from charmix.controllers.sender_query import query

    opts = _merged(ctx, to, None, timeout)
    wait = 1.0 if opts.timeout is None or opts.timeout <= 0 else opts.timeout
    asked = targets(opts.to)
    replies = query(asked, wait)
    if not replies:
        fail(f"no daemon answered at {format_targets(*asked)} within {wait:g} s", FAILURE)
    for info in replies:
        typer.echo(f"daemon {format_targets(info.source)}")
        typer.echo(f"  models: {' '.join(info.models)}")
        if info.vocab is not None:
            typer.echo(f"  vocab:  {len(info.vocab)} characters {info.vocab!r}")
        for key, value in (info.status or {}).items():
            typer.echo(f"  {key:<12} {value:g}")


# Addresses the CLI can't use as plain one-shot messages: a query needs to wait for its reply.
_SPECIAL = {"query": send_query}


def _context(address: protocol.Address) -> dict[str, Any]:
    """A signed argument (weights: anti-experts) takes negative numbers: `weights 1 -0.5 0`.
    Click reads '-0.5' as an option unless unknown options are passed on as arguments; a
    mistyped option then fails as a value that is not a number, still one usage line."""
    signed = any(arg.low < 0 for arg in address.args if arg.type in "fi")
    return {"ignore_unknown_options": True} if signed else {}


for _address in protocol.INPUT:
    _name = command_name(_address)
    send_app.command(_name, context_settings=_context(_address))(
        _SPECIAL.get(_name) or _send_command(_address))
