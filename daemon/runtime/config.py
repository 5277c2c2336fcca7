"""Daemon configuration: every setting as a CLI flag and as a key in a TOML rig file.

A rig file (`charmix daemon --config rig.toml`) holds a whole setup so an installation restarts
the same way every morning; flags given on the command line override its keys. Example:

    models = ["shakespeare", "bible", "../mine/poems.onnx"]   # names or paths
    weights = { shakespeare = 1.0, bible = 0.5 }              # or a list in model order
    temperature = 0.7
    mode = "linear"            # or "geometric" (negative weights: anti-experts)
    beta = 0.03                # plausibility with anti-experts; 0 = off
    rate = 20                  # chars/s; 0 = external clock (/charmix/tick)
    slew = 0.1                 # seconds
    listen = "0.0.0.0:7770"    # all interfaces: explicit, and then --allow must admit the LAN
    allow = ["127.0.0.0/8", "192.168.1.0/24"]
    send = ["127.0.0.1:7771", "239.10.10.10:7771"]   # unicast, multicast or broadcast
    status_every = 10          # seconds between status log lines; 0 = off
    name = "stage left"        # what `charmix discover` and --to NAME see
    oscquery = "0.0.0.0:7772"  # OSCQuery HTTP + WebSocket (TCP); false = off
    mdns = true                # advertise on the LAN (only when listening beyond loopback)
    blocklist = ["default", "venue.txt"]   # words never written (docs/installation.md)
    charset = "a-z .,;:!?'\\n"            # characters a display can show; "" = all
    fold = "upper"             # or "lower", "none": the case of what is sent
    scenes = "scenes.toml"     # saved scenes (written on /charmix/scene/save)
    score = "gallery.toml"     # or "demo": a score played by itself until a control punches in
    hand_back = 120            # seconds without control before the score takes the voice back

    [model_temperature]
    bible = 1.2

Relative paths in a rig file are relative to the file. Any problem — an unknown key, a wrong type,
a value out of range, an unreadable file — is a ConfigError whose message is one line naming the
key (``rig.toml: 'rate' must be a number, got "fast"``); the CLI prints it and exits 2.

Every key that is also an OSC control (temperature, mode, beta, rate, slew, topk, topp, seed,
prime, weights, model_temperature) is checked by the address table's typed argument
(daemon/protocol/table.py), so a range changed there changes the flag, the rig file and the OSC
input together. This module imports nothing heavy: bridges and `--help` may load it.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from charmix.daemon import protocol
from charmix.daemon.protocol.endpoint import (
    LOOPBACK,
    ConfigError,
    Endpoint,
    IPNetwork,
    parse_endpoint,
)


@dataclass
class Config:
    """Everything `charmix daemon` needs to start; field names are the rig-file keys."""

    models: list[str] = field(default_factory=list)  # names or paths; [] = all in models_dir
    models_dir: Path | None = None  # where names are looked up; None = the shipped models
    weights: list[float] | dict[str, float] | None = None  # None = equal
    model_temperature: dict[str, float] = field(default_factory=dict)
    temperature: float = protocol.control("temperature").args[0].default  # type: ignore[assignment]
    mode: str = protocol.control("mode").args[0].default  # type: ignore[assignment]
    beta: float = protocol.control("beta").args[0].default  # type: ignore[assignment]
    style_mode: str = "embedding"  # a style-conditioned model: blend in the network or mix rows
    rate: float = protocol.control("rate").args[0].default  # type: ignore[assignment]
    slew: float = protocol.control("slew").args[0].default  # type: ignore[assignment]
    topk: int = protocol.control("topk").args[0].default  # type: ignore[assignment]
    topp: float = protocol.control("topp").args[0].default  # type: ignore[assignment]
    seed: int | None = None
    prime: str = ""
    listen: Endpoint = field(
        default_factory=lambda: Endpoint(protocol.DEFAULT_HOST, protocol.CONTROL_PORT)
    )
    send: list[Endpoint] = field(
        default_factory=lambda: [Endpoint(protocol.DEFAULT_HOST, protocol.OUTPUT_PORT)]
    )
    allow: list[IPNetwork] = field(
        default_factory=lambda: [ipaddress.ip_network(n) for n in LOOPBACK]
    )
    status_every: float = 10.0  # seconds between status log lines; 0 = off
    echo: bool | None = None  # write the text to stdout; None = when stdout is a terminal
    burst: int = 0  # > 0: write this many characters as fast as possible, then exit
    max_datagram: int = protocol.MAX_DATAGRAM
    state: Path | None = None  # --state FILE: settings kept across restarts (runtime/state.py)
    voices: int = 1  # independent streams, stepped together (one model call per model)
    record: Path | None = None  # a performance file to write (charmix.daemon.recording.writer)
    name: str = ""  # the name browsers and `--to NAME` see; "" = "charmix on HOSTNAME"
    # OSCQuery (HTTP + WebSocket, TCP): True = the control host, port 7772; False = off.
    oscquery: Endpoint | bool = True
    mdns: bool = True  # advertise with zeroconf (only when listening beyond loopback)
    # Constraints (daemon/engine/constraints.py): blocklist files or "default", the charset
    # spec ("" = every character), the output's case folding; every voice starts with them.
    blocklist: list[str] = field(default_factory=list)
    charset: str = protocol.control("charset").args[0].default  # type: ignore[assignment]
    fold: str = protocol.control("fold").args[0].default  # type: ignore[assignment]
    # Scenes and the score (live/conductor.py, runtime/scenefile.py)
    scenes: Path | None = None  # --scenes FILE: the saved scenes (TOML, written on change)
    score: str | None = None  # --score FILE, or "demo": what the daemon plays by itself
    hand_back: float = 0.0  # s without control after a punch-in before the score goes on; 0 off


# ------------------------------------------------------------------------- value checkers
# Each takes the raw value (from TOML or from a CLI flag) and returns the typed value, or raises
# ValueError with a message that completes "'key' ...".


def _from_text(arg: protocol.Arg, value: Any) -> Any:
    """A CLI flag's text as the argument's kind ('0.5' → 0.5, '7' → 7); other values as they are."""
    if not isinstance(value, str) or arg.type == "s":
        return value
    text = value.strip()
    try:
        return int(text) if arg.type == "i" and text.lstrip("-").isdigit() else float(text)
    except ValueError:
        return value  # the table's check says what is wrong with it


def _checker(arg: protocol.Arg) -> Callable[[Any], Any]:
    """A key's check from a typed argument (flag text converted first)."""

    def check(value: Any) -> Any:
        try:
            return arg.check(_from_text(arg, value))
        except protocol.BadValue as exc:
            raise ValueError(str(exc)) from None

    return check


def _control(short: str) -> Callable[[Any], Any]:
    """The check of a setting that is also an OSC control: the address table's, nothing else."""
    return _checker(protocol.control(short).args[0])


def _number(low: float, high: float) -> Callable[[Any], float]:
    """A number setting of the daemon's own (not an OSC control), checked the same way."""
    return _checker(protocol.Arg("value", "f", min=low, max=high))


def _integer(low: int, high: int | None = None) -> Callable[[Any], int]:
    return _checker(protocol.Arg("value", "i", min=low, max=high))


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {value!r}")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"must be true or false, got {value!r}")
    return value


def _string_list(value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"must be a list of strings, got {value!r}")
    return list(value)


def _path(value: Any) -> Path:
    return (value if isinstance(value, Path) else Path(_string(value))).expanduser()


_WEIGHT = protocol.control("weight/{name}").args[0]
_MODEL_TEMPERATURE = protocol.control("model/{name}/temperature").args[0]


def _weight(value: Any, what: str) -> float:
    try:
        return _WEIGHT.check(_from_text(_WEIGHT, value), what)  # type: ignore[return-value]
    except protocol.BadValue as exc:
        raise ValueError(str(exc)) from None


def _weights(value: Any) -> list[float] | dict[str, float]:
    """A list in model order, a name → weight table, or a CLI string '1,0,0' / 'a=1,b=0.5'."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if parts and all("=" in p for p in parts):
            value = dict(p.split("=", 1) for p in parts)
            value = {k.strip(): v for k, v in value.items()}
        else:
            value = parts
    if isinstance(value, dict):
        if not value:
            raise ValueError("is an empty table")
        return {str(k): _weight(v, f"weight of {k}") for k, v in value.items()}
    if isinstance(value, list | tuple) and value:
        return [_weight(v, f"weight {i + 1}") for i, v in enumerate(value)]
    raise ValueError(f"must be a list of numbers or a table of name = number, got {value!r}")


def _model_temperature(value: Any) -> dict[str, float]:
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not all("=" in p for p in parts):
            raise ValueError(f"must be NAME=T pairs, got {value!r}")
        value = {k.strip(): v for k, v in (p.split("=", 1) for p in parts)}
    if not isinstance(value, dict):
        raise ValueError(f"must be a table of name = temperature, got {value!r}")
    out = {}
    for name, t in value.items():
        arg = _MODEL_TEMPERATURE
        try:
            out[str(name)] = arg.check(_from_text(arg, t), f"for {name}")
        except protocol.BadValue as exc:
            raise ValueError(str(exc)) from None
    return out  # type: ignore[return-value]


def _listen(value: Any) -> Endpoint:
    if isinstance(value, Endpoint):
        return value
    return parse_endpoint(_string(value), protocol.CONTROL_PORT, lowest=0)


def _endpoints(value: Any) -> list[Endpoint]:
    items = _string_list(value)
    if not items:
        raise ValueError("is empty (give at least one HOST:PORT)")
    return [parse_endpoint(v, protocol.OUTPUT_PORT) for v in items]


def _oscquery(value: Any) -> Endpoint | bool:
    """HOST:PORT, PORT (on the control port's host), true (the default) or false/"off"."""
    if isinstance(value, bool | Endpoint):
        return value
    text = _string(value).strip()
    if text.lower() in ("off", "no", "none", "false"):
        return False
    if text.isdigit():
        return parse_endpoint(text, protocol.OSCQUERY_PORT, default_host="", lowest=0)
    return parse_endpoint(text, protocol.OSCQUERY_PORT, lowest=0)


def _name(value: Any) -> str:
    text = " ".join(_string(value).split())
    if not text:
        raise ValueError("is empty")
    if len(text.encode("utf-8")) > 63:
        raise ValueError(f"is {len(text.encode('utf-8'))} bytes; a name has at most 63")
    return text


def _networks(value: Any) -> list[IPNetwork]:
    out = []
    for item in _string_list(value):
        try:
            out.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an address or CIDR network") from None
    return out


def _choice(*allowed: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}, got {value!r}")
        return value

    return check


CHECKS: dict[str, Callable[[Any], Any]] = {
    "models": _string_list,
    "models_dir": _path,
    "weights": _weights,
    "model_temperature": _model_temperature,
    "temperature": _control("temperature"),
    "mode": _control("mode"),
    "beta": _control("beta"),
    "style_mode": _choice("embedding", "mixture"),
    "rate": _control("rate"),
    "slew": _control("slew"),
    "topk": _control("topk"),
    "topp": _control("topp"),
    "seed": _control("seed"),
    "prime": _control("prime"),
    "listen": _listen,
    "send": _endpoints,
    "allow": _networks,
    "status_every": _number(0.0, 86400.0),
    "echo": _boolean,
    "burst": _integer(0),
    "max_datagram": _integer(64, protocol.MAX_INPUT_DATAGRAM),
    "state": _path,
    "voices": _integer(1, protocol.VOICES_MAX),
    "record": _path,
    "name": _name,
    "oscquery": _oscquery,
    "mdns": _boolean,
    "blocklist": _string_list,
    "charset": _control("charset"),
    "fold": _control("fold"),
    "scenes": _path,
    "score": _string,
    "hand_back": _number(0.0, 86400.0),
}
assert set(CHECKS) == {f.name for f in fields(Config)}, "every Config field needs a checker"


def flag(key: str) -> str:
    """The CLI flag of a config key: models_dir → --models-dir."""
    return "--" + key.replace("_", "-")


def read_rig(path: Path) -> dict[str, Any]:
    """A rig file's keys, checked and typed; relative paths made relative to the file."""
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    out = {}
    for key, value in raw.items():
        if key not in CHECKS:
            known = ", ".join(sorted(CHECKS))
            raise ConfigError(f"{path}: unknown key '{key}' (known keys: {known})")
        try:
            out[key] = CHECKS[key](value)
        except ValueError as exc:
            raise ConfigError(f"{path}: '{key}' {exc}") from None
    base = path.parent
    for key in ("models_dir", "state", "record", "scenes"):
        if key in out and not out[key].is_absolute():
            out[key] = base / out[key]
    if "score" in out and out["score"] != "demo" and not Path(out["score"]).is_absolute():
        out["score"] = str(base / Path(out["score"]).expanduser())
    if "models" in out:
        out["models"] = [_relative_model(spec, base) for spec in out["models"]]
    if "blocklist" in out:  # files relative to the rig file; "default" is the shipped list
        out["blocklist"] = [spec if spec == "default" or Path(spec).expanduser().is_absolute()
                            else str(base / spec) for spec in out["blocklist"]]
    return out


def _relative_model(spec: str, base: Path) -> str:
    """A model given as a relative path in a rig file is relative to the file; names stay."""
    path = Path(spec).expanduser()
    looks_like_path = path.suffix == ".onnx" or "/" in spec
    if looks_like_path and not path.is_absolute():
        return str(base / path)
    return spec


def build(cli: dict[str, Any], rig: Path | None = None) -> Config:
    """Config from an optional rig file and CLI values (None = flag not given); CLI wins."""
    values: dict[str, Any] = read_rig(rig) if rig is not None else {}
    for key, value in cli.items():
        if key not in CHECKS:
            raise ConfigError(f"internal: unknown option {key!r}")
        if value is None or (isinstance(value, list | tuple) and not value):
            continue
        try:
            values[key] = CHECKS[key](value)
        except ValueError as exc:
            raise ConfigError(f"{flag(key)} {exc}") from None
    return Config(**values)
