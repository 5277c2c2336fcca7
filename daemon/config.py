"""Daemon configuration: every setting as a CLI flag and as a key in a TOML rig file.

A rig file (`charmix daemon --config rig.toml`) holds a whole setup so an installation restarts
the same way every morning; flags given on the command line override its keys. Example:

    models = ["shakespeare", "bible", "../mine/poems.onnx"]   # names or paths
    weights = { shakespeare = 1.0, bible = 0.5 }              # or a list in model order
    temperature = 0.7
    mode = "linear"            # or "geometric"
    rate = 20                  # chars/s; 0 = external clock (/charmix/tick)
    slew = 0.1                 # seconds
    listen = "0.0.0.0:7770"    # all interfaces: explicit, and then --allow must admit the LAN
    allow = ["127.0.0.0/8", "192.168.1.0/24"]
    send = ["127.0.0.1:7771", "239.10.10.10:7771"]   # unicast, multicast or broadcast
    status_every = 10          # seconds between status log lines; 0 = off

    [model_temperature]
    bible = 1.2

Relative paths in a rig file are relative to the file. Any problem — an unknown key, a wrong type,
a value out of range, an unreadable file — is a ConfigError whose message is one line naming the
key (``rig.toml: 'rate' must be a number, got "fast"``); the CLI prints it and exits non-zero.
"""

from __future__ import annotations

import ipaddress
import math
import socket
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from charmix.daemon import protocol
from charmix.daemon.controls import RATE_MAX, SLEW_MAX, TEMPERATURE_RANGE

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK = ("127.0.0.0/8", "::1")


class ConfigError(ValueError):
    """A bad setting; str() is one line naming where it came from and the key."""


def format_endpoint(host: str, port: int) -> str:
    """'host:port', or '[v6addr]:port' for an IPv6 address: how charmix shows every endpoint."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class Endpoint:
    """A UDP host and port as the user wrote them (resolved at startup, not per packet)."""

    host: str
    port: int

    def __str__(self) -> str:
        return format_endpoint(self.host, self.port)

    def resolve(self) -> tuple[int, tuple]:
        """(address family, sockaddr); ConfigError if the host does not resolve."""
        try:
            infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
        except (OSError, UnicodeError) as exc:
            raise ConfigError(f"{self}: cannot resolve host {self.host!r} ({exc})") from None
        infos.sort(key=lambda info: info[0] != socket.AF_INET)  # prefer IPv4 for names
        family, _, _, _, sockaddr = infos[0]
        return family, sockaddr

    @property
    def unspecified(self) -> bool:
        """Whether this is a bind-to-every-interface address (0.0.0.0 or ::)."""
        try:
            return ipaddress.ip_address(self.host).is_unspecified
        except ValueError:
            return False


def parse_endpoint(
    text: str, default_port: int, default_host: str = protocol.DEFAULT_HOST, lowest: int = 1
) -> Endpoint:
    """'HOST:PORT', '[IPv6]:PORT', 'PORT' or 'HOST' → Endpoint; ValueError says what is wrong.

    `lowest=0` admits port 0 (the system picks a free port: for --listen in tests and scripts).
    """
    text = text.strip()
    if not text:
        raise ValueError("empty address")
    host, port_text = default_host, ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"{text!r}: missing ']'")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"{text!r}: expected ':PORT' after ']'")
            port_text = rest[1:]
    elif text.isdigit():
        port_text = text
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        host = host or default_host
        if not port_text:
            raise ValueError(f"{text!r}: missing port after ':'")
    elif ":" in text:  # a bare IPv6 address
        host = text
    else:
        host = text
    port = default_port
    if port_text:
        if not port_text.isdigit() or not lowest <= int(port_text) <= 65535:
            raise ValueError(f"{text!r}: port must be {lowest} – 65535")
        port = int(port_text)
    return Endpoint(host, port)


@dataclass
class Config:
    """Everything `charmix daemon` needs to start; field names are the rig-file keys."""

    models: list[str] = field(default_factory=list)  # names or paths; [] = all in models_dir
    models_dir: Path | None = None  # where names are looked up; None = the shipped models
    weights: list[float] | dict[str, float] | None = None  # None = equal
    model_temperature: dict[str, float] = field(default_factory=dict)
    temperature: float = 0.8
    mode: str = "linear"
    style_mode: str = "embedding"  # a style-conditioned model: blend in the network or mix rows
    rate: float = 15.0
    slew: float = 0.05
    topk: int = 0
    topp: float = 1.0
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


# ------------------------------------------------------------------------- value checkers
# Each takes the raw value (from TOML or from a CLI flag) and returns the typed value, or raises
# ValueError with a message that completes "'key' ...".


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(low: float, high: float, *, low_open: bool = False) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise ValueError(f"must be a number, got {value!r}") from None
        if not _is_number(value) or not math.isfinite(value):
            raise ValueError(f"must be a number, got {value!r}")
        if value < low or value > high or (low_open and value == low):
            span = f"({low:g}, {high:g}]" if low_open else f"{low:g} – {high:g}"
            raise ValueError(f"must be in {span}, got {value:g}")
        return float(value)

    return check


def _integer(low: int | None = None, high: int | None = None) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"must be a whole number, got {value!r}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError(f"must be in {low} – {high if high is not None else '∞'}, got {value}")
        return value

    return check


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"must be a string, got {value!r}")
    return value


def _prime(value: Any) -> str:
    text = _string(value)
    if len(text) > protocol.PRIME_MAX:
        raise ValueError(f"must be at most {protocol.PRIME_MAX} characters, got {len(text)}")
    return text


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


def _mode(value: Any) -> str:
    if value not in protocol.MODES:
        raise ValueError(f"must be one of {', '.join(protocol.MODES)}, got {value!r}")
    return value


def _choice(*allowed: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}, got {value!r}")
        return value

    return check


def _weight(value: Any, what: str) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ValueError(f"{what} must be a number, got {value!r}") from None
    if not _is_number(value) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")
    return float(value)


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
        t = _number(0.0, TEMPERATURE_RANGE[1])(t)
        if t != 0 and t < TEMPERATURE_RANGE[0]:
            raise ValueError(f"for {name} must be 0 or {TEMPERATURE_RANGE[0]:g} – 5, got {t:g}")
        out[str(name)] = t
    return out


def _listen(value: Any) -> Endpoint:
    if isinstance(value, Endpoint):
        return value
    return parse_endpoint(_string(value), protocol.CONTROL_PORT, lowest=0)


def _endpoints(value: Any) -> list[Endpoint]:
    items = _string_list(value)
    if not items:
        raise ValueError("is empty (give at least one HOST:PORT)")
    return [parse_endpoint(v, protocol.OUTPUT_PORT) for v in items]


def _networks(value: Any) -> list[IPNetwork]:
    out = []
    for item in _string_list(value):
        try:
            out.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an address or CIDR network") from None
    return out


CHECKS: dict[str, Callable[[Any], Any]] = {
    "models": _string_list,
    "models_dir": _path,
    "weights": _weights,
    "model_temperature": _model_temperature,
    "temperature": _number(*TEMPERATURE_RANGE),
    "mode": _mode,
    "style_mode": _choice("embedding", "mixture"),
    "rate": _number(0.0, RATE_MAX),
    "slew": _number(0.0, SLEW_MAX),
    "topk": _integer(0),
    "topp": _number(0.0, 1.0, low_open=True),
    "seed": _integer(0, protocol.SEED_MAX),
    "prime": _prime,
    "listen": _listen,
    "send": _endpoints,
    "allow": _networks,
    "status_every": _number(0.0, 86400.0),
    "echo": _boolean,
    "burst": _integer(0),
    "max_datagram": _integer(64, protocol.MAX_INPUT_DATAGRAM),
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
    if "models_dir" in out and not out["models_dir"].is_absolute():
        out["models_dir"] = base / out["models_dir"]
    if "models" in out:
        out["models"] = [_relative_model(spec, base) for spec in out["models"]]
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
