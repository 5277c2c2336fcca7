"""The control router: one datagram in, the address table's handlers applied; it opens no socket.

Why apart from the transport (python-osc's pattern: the dispatcher opens no socket, servers only
call it): control arrives two ways — the UDP port (live/reader.py) and binary frames on the
OSCQuery WebSocket (oscquery/server.py) — and both must meet the same allowlist, the same
validation and the same counters. The composition root (runtime/daemon.py) builds one Dispatcher
and hands it to both; each calls `Dispatcher.dispatch(data, sender)` with a whole datagram and
who sent it. Being socket-free, it is also driven directly by tests and the in-process fuzz.

Decoding: python-osc parses (protocol/oscread: OscBundle / OscMessage, nested bundles too), and
timetags are ignored: every message is applied the moment it arrives, in the order it was packed.
python-osc's own Dispatcher would sleep until a bundle's timetag.

The dispatch table is built by walking protocol.INPUT: each input address is looked up in
`Dispatcher.handlers()`, an explicit map from the address's short path
('model/{name}/temperature') to what it does — a missing handler is an error at start, a handler
without an address fails the tests. Per-model addresses are expanded for the loaded model names,
and voice k's (--voices) under /charmix/voice/k/…. A message must fit the address's type pattern
(`Address.accepts`) and every value must pass the table's typed check (`Address.check`: type,
range, enumeration, length) before its handler sees it; handlers only call the validated setters
of Controls, so no message can leave the daemon in an invalid state.

Answers (/charmix/query, and the announcement a new /charmix/subscribe gets) go out through the
Broadcaster's sending sockets to the (host, port) the message names, the sender's by default —
and only to hosts inside --allow, so an allowed controller cannot aim frames at a third party.

Every packet that is refused — from a sender outside `--allow` (rx_denied), or malformed, of the
wrong types or arity, out of range, addressed to an unknown address or model (rx_bad) — is counted
and reported by a rate-limited warning: one line per second per kind of problem (per address for
wrong types and bad values, so one misconfigured fader does not hide another), with the number
suppressed. `dispatch` never raises and takes only the controls' and broadcaster's short locks:
nothing a sender does can stop the reader thread or slow the clock.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

from pythonosc.osc_message import OscMessage
from pythonosc.parsing import osc_types

from charmix.daemon import protocol
from charmix.daemon.live.broadcast import Broadcaster, destination
from charmix.daemon.live.conductor import Conductor
from charmix.daemon.live.controls import ControlError, Controls
from charmix.daemon.live.counters import Throttle
from charmix.daemon.protocol import oscread
from charmix.daemon.protocol.endpoint import IPNetwork

LOG_MAX = 240  # characters of one "ignored: …" line
ALLOW_CACHE_MAX = 4096  # hosts whose --allow verdict is remembered

Sender = tuple[str, int]
# Where a datagram came from, as a socket reports it: (host, port) or, IPv6, (host, port, flow,
# scope); only host and port are used.
Peer = tuple[str, int] | tuple[str, int, int, int]
# A handler gets the checked values, the sender (host, port) and the model name (per-model only).
Handler = Callable[[list[Any], Sender, "str | None"], None]
# The addresses that are a performer's hand on a voice setting (live/scenes.py's keys): after
# their setter succeeds, Controls.touch — a morph lets go of it, a score is punched in.
TOUCHES = {
    "weights": "weights", "weight/{name}": "weights", "temperature": "temperature",
    "model/{name}/temperature": "model_temperature", "mode": "mode", "beta": "beta",
    "topk": "topk", "topp": "topp", "slew": "slew",
}


class _Refused(Exception):  # noqa: N818  (control flow, not an error)
    """A handler refused a message and counted it itself (rx_denied)."""


def parse(data: bytes) -> list[OscMessage]:
    """All messages in a datagram, nested bundles flattened in order (at most
    oscread.MAX_DEPTH deep); raises on malformed data."""
    return oscread.messages(data)


def type_tags(message: OscMessage) -> str:
    """The message's type tags without the comma ('' when it has none)."""
    dgram = message.dgram
    _, index = osc_types.get_string(dgram, 0)
    if index >= len(dgram):
        return ""
    tags, _ = osc_types.get_string(dgram, index)
    return tags[1:]


class Dispatcher:
    """Applies control datagrams to every voice's Controls; the transports call `dispatch`."""

    def __init__(
        self,
        controls: Controls,
        broadcaster: Broadcaster,
        allow: Sequence[IPNetwork],
        log: logging.Logger,
        voices: Sequence[Controls] = (),
        conductor: Conductor | None = None,
    ) -> None:
        """`voices`: every voice's Controls (voice 0's is `controls`) for --voices K;
        `broadcaster` sends the answers to /charmix/query and keeps the subscribers;
        `conductor`: scenes and the score (a fresh one, with no scenes, by default)."""
        self.controls = controls
        self.voices = list(voices) or [controls]
        self.conductor = conductor or Conductor(self.voices, broadcaster, log=log)
        self.counters = controls.counters
        self.broadcaster = broadcaster
        self.allow = list(allow)
        self.log = log
        self.throttle = Throttle(log)  # the control input's warnings, the reader's included
        self._allowed_cache: dict[str, bool] = {}
        self._routes: dict[str, tuple[protocol.Address, Handler, str | None]] = {}
        self._templates: list[re.Pattern[str]] = []
        self._build_routes()

    # -------------------------------------------------------------------------- routing
    def handlers(self, c: Controls | None = None) -> dict[str, Handler]:
        """What each input address does, keyed by its short path in the table; `c`: the
        Controls of the voice the addresses belong to (default voice 0)."""
        c, b = c or self.controls, self.broadcaster

        def subscribe(args: list[Any], sender: Sender, _: str | None) -> None:
            host, port = self._target(args, sender)
            self._may_receive(host, "subscribe")
            if not b.subscribe(host, port):
                raise ControlError(f"subscriber table full; {host}:{port} not added")

        def unsubscribe(args: list[Any], sender: Sender, _: str | None) -> None:
            b.unsubscribe(*self._target(args, sender))

        def query(args: list[Any], sender: Sender, _: str | None) -> None:
            host, port = self._target(args, sender)
            self._may_receive(host, "query")
            b.send(b.announce_datagrams(), [destination(host, port)])

        voice, conductor = self.voices.index(c), self.conductor

        def touching(short: str, handler: Handler) -> Handler:
            def touched(args: list[Any], sender: Sender, name: str | None) -> None:
                handler(args, sender, name)
                c.touch(TOUCHES[short])
            return touched

        handlers: dict[str, Handler] = {
            "weights": lambda a, s, n: c.set_weights(a),
            "weight/{name}": lambda a, s, n: c.set_weight(n, a[0]),
            "temperature": lambda a, s, n: c.set_temperature(a[0]),
            "model/{name}/temperature": lambda a, s, n: c.set_model_temperature(n, a[0]),
            "mode": lambda a, s, n: c.set_mode(a[0]),
            "beta": lambda a, s, n: c.set_beta(a[0]),
            "rate": lambda a, s, n: c.set_rate(a[0]),
            "slew": lambda a, s, n: c.set_slew(a[0]),
            "pause": lambda a, s, n: c.pause(),
            "resume": lambda a, s, n: c.resume(),
            "tick": lambda a, s, n: c.tick(),
            "prime": lambda a, s, n: c.prime(a[0]),
            "reset": lambda a, s, n: c.reset(),
            "seed": lambda a, s, n: c.seed(a[0]),
            "topk": lambda a, s, n: c.set_topk(a[0]),
            "topp": lambda a, s, n: c.set_topp(a[0]),
            "record": lambda a, s, n: c.record(a[0]),
            "record/stop": lambda a, s, n: c.record_stop(),
            "blocklist/add": lambda a, s, n: c.blocklist_add(a[0]),
            "blocklist/remove": lambda a, s, n: c.blocklist_remove(a[0]),
            "charset": lambda a, s, n: c.set_charset(a[0]),
            "fold": lambda a, s, n: c.set_fold(a[0]),
            "subscribe": subscribe,
            "unsubscribe": unsubscribe,
            "query": query,
            # scenes and the score (live/conductor.py)
            "scene/save": lambda a, s, n: conductor.save(voice, a[0]),
            "scene/recall": lambda a, s, n: conductor.recall(voice, a[0],
                                                            a[1] if len(a) > 1 else 0.0),
            "scene/delete": lambda a, s, n: conductor.delete(a[0]),
            "score/play": lambda a, s, n: conductor.play(voice),
            "score/stop": lambda a, s, n: conductor.stop(voice),
            "score/cue": lambda a, s, n: conductor.cue(voice, a[0]),
        }
        for short in TOUCHES:
            handlers[short] = touching(short, handlers[short])
        return handlers

    def _build_routes(self) -> None:
        handlers = self.handlers()
        for addr in protocol.INPUT:
            handler = handlers.get(addr.short)
            if handler is None:
                raise LookupError(f"{addr.path} is in the address table but has no handler")
            if addr.per_model:
                for name in self.controls.names:
                    self._routes[addr.for_model(name)] = (addr, handler, name)
                self._templates.append(addr.template_regex())
            else:
                self._routes[addr.path] = (addr, handler, None)
        for voice, controls in enumerate(self.voices[1:], start=1):  # /charmix/voice/k/…
            handlers = self.handlers(controls)
            for addr in protocol.voice_addresses("in"):
                path = protocol.voice_path(addr.path, voice)
                if addr.per_model:
                    for name in self.controls.names:
                        self._routes[path.replace("{name}", name)] = (addr, handlers[addr.short],
                                                                      name)
                else:
                    self._routes[path] = (addr, handlers[addr.short], None)

    # ------------------------------------------------------------------------ receiving
    def dispatch(self, data: bytes, sender: Peer) -> None:
        """Apply one datagram from `sender` (host, port, ...); never raises."""
        host, port = str(sender[0]), int(sender[1])
        if not self.allowed(host):
            self.counters.add("rx_denied")
            nets = ", ".join(str(n) for n in self.allow)
            self.throttle.warn("denied", f"ignored control from {host} (allowed: {nets})")
            return
        try:
            messages = parse(data)
        except Exception as exc:  # python-osc raises ParseError, UnicodeDecodeError, IndexError...
            self._bad("malformed", f"{host}:{port}: malformed packet of {len(data)} bytes ({exc})")
            return
        if not messages:
            self._bad("malformed", f"{host}:{port}: empty bundle")
        for message in messages:
            self._apply(message, (host, port))

    def _apply(self, message: OscMessage, sender: Sender) -> None:
        path = message.address
        route = self._routes.get(path)
        if route is None:
            if path.startswith(protocol.VOICE_PREFIX):
                voice = path[len(protocol.VOICE_PREFIX):].split("/", 1)[0]
                if not voice.isdigit() or not 0 < int(voice) < len(self.voices):
                    have = len(self.voices)
                    self._bad("voice", f"{path}: no voice {voice!r} (this daemon has {have} "
                              f"voice{'s' if have != 1 else ''}: 0 – {have - 1}, --voices)")
                    return
            for pattern in self._templates:
                match = pattern.fullmatch(path)
                if match:
                    names = ", ".join(self.controls.names)
                    self._bad("model", f"{path}: unknown model {match.group(1)!r} (have: {names})")
                    return
            self._bad("address", f"{sender[0]}:{sender[1]}: unknown address {path!r}")
            return
        addr, handler, name = route
        try:
            tags = type_tags(message)
        except Exception:
            self._bad("malformed", f"{path}: unreadable type tags")
            return
        if not addr.accepts(tags):
            want = addr.types or "no arguments"
            self._bad(f"types {path}", f"{path}: expected {want!r}, got {tags or 'no arguments'!r}")
            return
        try:
            values = addr.check(message.params if addr.args else [], name)  # N, I: no value
            handler(values, sender, name)
        except _Refused:  # counted by the handler
            return
        except (ControlError, protocol.BadValue) as exc:
            self._bad(f"value {path}", f"{path}: {exc}")
            return
        except Exception as exc:  # a bug must cost one message, never the caller's thread
            self._bad("internal", f"{path}: {type(exc).__name__}: {exc}")
            return
        self.counters.add("rx_ok")

    def _bad(self, kind: str, message: str) -> None:
        self.counters.add("rx_bad")
        if len(message) > LOG_MAX:  # a 60 KB address or string must not become a log line
            message = message[: LOG_MAX - 1] + "…"
        self.throttle.warn(kind, f"ignored: {message}")

    # ------------------------------------------------------------------------ --allow
    def allowed(self, host: str) -> bool:
        """Whether `host` is inside --allow (for control, subscriptions and restored state)."""
        known = self._allowed_cache.get(host)
        if known is None:
            try:
                ip = ipaddress.ip_address(host.split("%", 1)[0])
            except ValueError:
                return False
            if ip.version == 6 and ip.ipv4_mapped is not None:
                ip = ip.ipv4_mapped
            known = any(ip in net for net in self.allow)
            if len(self._allowed_cache) > ALLOW_CACHE_MAX:
                self._allowed_cache.clear()
            self._allowed_cache[host] = known
        return known

    def _may_receive(self, host: str, what: str) -> None:
        """Subscriptions and query replies are a way out to the network: only to hosts inside
        --allow, so an allowed controller cannot aim frames at a third party. A refusal counts
        as rx_denied (not rx_ok) and is warned about, rate-limited."""
        if self.allowed(host):
            return
        self.counters.add("rx_denied")
        nets = ", ".join(str(n) for n in self.allow)
        self.throttle.warn("denied target", f"refused /charmix/{what} to {host}, outside --allow "
                           f"({nets})")
        raise _Refused

    @staticmethod
    def _target(args: list[Any], sender: Sender) -> tuple[str, int]:
        """(host, port) from checked optional [port] [host] arguments; defaults: the sender's."""
        host, port = sender
        for arg in args:
            if isinstance(arg, str):
                host = arg.strip()
            else:
                port = int(arg)
        if host == "localhost":
            host = protocol.DEFAULT_HOST
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ControlError(f"host must be a numeric IP address, got {host!r}") from None
        return host, port
