"""The OSCQuery namespace: the address table and the loaded models as OSCQuery JSON nodes.

Everything a node says comes from `daemon/protocol/table.py`'s typed fields (types, ranges, units,
access, clip mode, description) and from the models the daemon loaded (their names, vocabulary
size, descriptions): `{name}` addresses become one node per model, vector addresses (`f+`) one
value per model or per vocabulary character. Nothing here restates a range or a type, so one
edit in the table changes docs/osc.md, the server's checks and this namespace together.

With --voices K every voice is listed: voice 0 under the unprefixed addresses, voice k >= 1 under
/charmix/voice/k/… (`protocol.expand_voices`), each with the VALUEs of its own controls and its
own newest frame; what the voices share (rate, tick, models, status…) is listed once.

An address that is both an input and an output (`/charmix/weights`: targets in, effective weights
out) is one node with ACCESS 3 whose VALUE is what the daemon uses now and whose LISTEN stream is
the output. Values are filled per request: the inputs' from one snapshot of the controls, the
outputs' from the newest Frames (`latest`, one per voice, set by the clock thread; a reference
swap) and the status callback. A node without a readable value has no VALUE key (the server
answers 204).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from charmix.daemon import protocol
from charmix.daemon.live import oscwire
from charmix.daemon.live.broadcast import FRAME_FIELDS, OUTPUTS, encode, short_name

# The attributes of the proposal; a query for any other is a 400.
ATTRIBUTES = frozenset({
    "FULL_PATH", "CONTENTS", "TYPE", "ACCESS", "VALUE", "RANGE", "DESCRIPTION", "TAGS",
    "EXTENDED_TYPE", "UNIT", "CRITICAL", "CLIPMODE", "OVERLOADS", "HTML",
})
# True only for what this server implements.
EXTENSIONS = {
    "ACCESS": True, "VALUE": True, "RANGE": True, "DESCRIPTION": True, "UNIT": True,
    "CLIPMODE": True, "TYPE": True, "LISTEN": True, "TAGS": False, "EXTENDED_TYPE": False,
    "CRITICAL": False, "OVERLOADS": False, "HTML": False, "ECHO": False, "PATH_CHANGED": False,
    "PATH_RENAMED": False, "PATH_ADDED": False, "PATH_REMOVED": False,
}
READ = protocol.OSC_ACCESS["r"]

Values = Callable[[], dict[str, list[Any]]]


class Namespace:
    """The JSON tree, the HOST_INFO and the LISTEN encoders for one running daemon."""

    def __init__(
        self,
        name: str,
        names: Sequence[str],
        vocab: Sequence[str],
        *,
        values: Values,
        status: Callable[[], Sequence[float]],
        descriptions: dict[str, str] | None = None,
        osc_host: str | None = None,
        osc_port: int = protocol.CONTROL_PORT,
        voices: int = 1,
    ) -> None:
        """`values`: every readable input's current value by concrete path, all voices';
        `voices`: the daemon's --voices."""
        self.name = name  # the advertised name: updated if mDNS renames us
        self.names = list(names)
        self.vocab = list(vocab)
        self.values = values
        self.status = status
        self.osc_host = osc_host  # None: the client uses the address it reached us on
        self.osc_port = osc_port
        self.ws_port: int | None = None  # set by the server once bound
        self.announce_every = protocol.ANNOUNCE_EVERY
        self.voices = voices
        self.latest: Sequence[Any] = ()  # the newest engine Frame of each voice
        self._leaves: dict[str, dict[str, Any]] = {}
        # path → (its output Address, the voice it carries, its model name or None)
        self._outputs: dict[str, tuple[protocol.Address, int, str | None]] = {}
        inputs = protocol.expand_voices(self.names, voices, protocol.INPUT)
        for path, addr, _, voice in inputs:
            self._leaves[path] = self._leaf(addr, path, voice)
        for path, addr, name, voice in protocol.expand_voices(self.names, voices,
                                                               protocol.OUTPUT):
            self._outputs[path] = (addr, voice, name)
            if path in self._leaves:
                self._merge_output(self._leaves[path], addr)
            else:
                self._leaves[path] = self._leaf(addr, path, voice)
        # Settings the daemon keeps (ACCESS 3) and sends no stream of its own: a LISTEN on one
        # gets its value whenever it changes (another controller moved it), see settings_messages.
        self._settings = {path: addr for path, addr, _, _ in inputs
                          if "r" in addr.access and path not in self._outputs}
        self.listenable = frozenset(self._outputs) | frozenset(self._settings)
        self._root = self._tree(descriptions or {})

    # --------------------------------------------------------------------- building
    def _leaf(self, addr: protocol.Address, path: str, voice: int = 0) -> dict[str, Any]:
        """The table's own OSCQuery attributes for this address, vectors sized to the models
        and the vocabulary loaded; a method without arguments is TYPE "N" (a trigger)."""
        node = addr.oscquery(models=len(self.names), vocab=len(self.vocab))
        node["FULL_PATH"] = path
        node.setdefault("TYPE", "N")
        if voice:
            node["DESCRIPTION"] = f"Voice {voice}: {node['DESCRIPTION']}"
        return node

    def _merge_output(self, node: dict[str, Any], addr: protocol.Address) -> None:
        node["ACCESS"] |= addr.osc_access
        node["DESCRIPTION"] = f"{node['DESCRIPTION']} Read or LISTEN: {addr.description}"

    def _tree(self, descriptions: dict[str, str]) -> dict[str, Any]:
        root: dict[str, Any] = {"FULL_PATH": "/", "ACCESS": 0, "CONTENTS": {},
                                "DESCRIPTION": f"charmix daemon {self.name!r}"}
        # A path can be a method and a container at once (/charmix/record and
        # /charmix/record/stop): OSC allows it, and so does OSCQuery — the node keeps its
        # method's attributes and gains CONTENTS, whichever of the two the table lists first.
        for path, leaf in self._leaves.items():
            parts = path.strip("/").split("/")
            node = root
            for depth, part in enumerate(parts[:-1]):
                child = node["CONTENTS"].get(part)
                if child is None:
                    full = "/" + "/".join(parts[: depth + 1])
                    child = {"FULL_PATH": full, "ACCESS": 0, "CONTENTS": {}}
                elif "CONTENTS" not in child:
                    child = dict(child, CONTENTS={})
                node["CONTENTS"][part] = child
                node = child
            existing = node["CONTENTS"].get(parts[-1])
            if existing is not None and "CONTENTS" in existing:
                leaf = dict(leaf, CONTENTS=existing["CONTENTS"])
            node["CONTENTS"][parts[-1]] = leaf
        models = root["CONTENTS"].get(protocol.PREFIX.strip("/"), {}).get("CONTENTS", {})
        for name, node in models.get("model", {}).get("CONTENTS", {}).items():
            if descriptions.get(name):
                node["DESCRIPTION"] = descriptions[name]
        for key, node in models.get("voice", {}).get("CONTENTS", {}).items():
            node["DESCRIPTION"] = (f"voice {key} of {self.voices} (charmix daemon --voices); "
                                   f"voice 0 is the unprefixed {protocol.PREFIX}/…")
        return root

    # ---------------------------------------------------------------------- reading
    def _find(self, path: str) -> dict[str, Any] | None:
        node = self._root
        for part in [p for p in path.strip("/").split("/") if p]:
            contents = node.get("CONTENTS")
            if contents is None or part not in contents:
                return None
            node = contents[part]
        return node

    def node(self, path: str) -> dict[str, Any] | None:
        """The node at `path` with its current values (a fresh copy), or None."""
        found = self._find(path)
        if found is None:
            return None
        return _with_values(found, self.current())

    def current(self) -> dict[str, list[Any]]:
        """Every readable value now: inputs from the controls, outputs from the newest frame."""
        values = dict(self.values())
        values[OUTPUTS["models"].path] = list(self.names)
        values[OUTPUTS["vocab"].path] = ["".join(self.vocab)]
        values[OUTPUTS["status"].path] = [float(v) for v in self.status()]
        frames = self.latest
        for path, (addr, voice, name) in self._outputs.items():
            if voice < len(frames):
                value = _frame_value(addr, name, frames[voice], self.names)
                if value is not None:
                    values[path] = value
        return values

    def host_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"NAME": self.name, "EXTENSIONS": dict(EXTENSIONS),
                                "OSC_PORT": self.osc_port, "OSC_TRANSPORT": "UDP"}
        if self.osc_host:
            info["OSC_IP"] = self.osc_host
        if self.ws_port is not None:
            if self.osc_host:
                info["WS_IP"] = self.osc_host
            info["WS_PORT"] = self.ws_port
        return info

    # -------------------------------------------------------------------- streaming
    def frame_messages(self, frames: Sequence[Any], wanted: set[str]) -> dict[str, bytes]:
        """The OSC messages of one step (a Frame per voice) for the LISTENed paths among
        `wanted`."""
        out = {}
        for path in wanted:
            output = self._outputs.get(path)
            if output is None:
                continue
            addr, voice, name = output
            if short_name(addr) not in FRAME_FIELDS and not addr.per_model or voice >= len(frames):
                continue
            frame = frames[voice]
            value = _frame_value(addr, name, frame, self.names)
            if value is None:
                continue
            if addr.per_model:
                out[path] = oscwire.floats(path, value)
            else:
                out[path] = encode(addr, path, getattr(frame, FRAME_FIELDS[short_name(addr)]))
        return out

    def settings_messages(self, wanted: set[str]) -> dict[str, bytes]:
        """The current value of each LISTENed setting as an OSC message (one snapshot)."""
        paths = wanted & self._settings.keys()
        if not paths:
            return {}
        values = self.values()
        out = {}
        for path in paths:
            value = values.get(path)
            if not value:
                continue
            types = self._settings[path].types
            if types == "s":
                out[path] = oscwire.string(path, str(value[0]))
            elif types == "i":
                out[path] = oscwire.int32(path, int(value[0]))
            else:
                out[path] = oscwire.floats(path, value)
        return out

    def announce_messages(self, wanted: set[str]) -> dict[str, bytes]:
        """/charmix/models, /charmix/vocab and /charmix/status, for those LISTENed."""
        out = {}
        for key, value in (("models", self.names), ("vocab", "".join(self.vocab)),
                           ("status", None)):
            addr = OUTPUTS[key]
            if addr.path in wanted:
                out[addr.path] = encode(addr, addr.path,
                                        list(self.status()) if value is None else value)
        return out


def _with_values(node: dict[str, Any], current: dict[str, list[Any]]) -> dict[str, Any]:
    """A copy of `node` (its dicts only: the attribute lists are never changed, so they are
    shared) with each readable leaf's VALUE from `current`. A deepcopy took ~10x as long."""
    out = dict(node)
    if "CONTENTS" in node:
        out["CONTENTS"] = {k: _with_values(v, current) for k, v in node["CONTENTS"].items()}
    if node["ACCESS"] & READ and node["FULL_PATH"] in current:
        out["VALUE"] = current[node["FULL_PATH"]]
    return out


def _frame_value(addr: protocol.Address, name: str | None, frame: Any,
                 names: Sequence[str]) -> list[Any] | None:
    short = short_name(addr)
    if addr.per_model and short.endswith("dist") and name is not None:
        return [float(x) for x in frame.p_models[names.index(name)]]
    field = FRAME_FIELDS.get(short)
    if field is None:
        return None
    value = getattr(frame, field)
    if isinstance(value, str):
        return [value]
    if isinstance(value, int):
        return [value]
    return [float(x) for x in value]
