"""Config: rig files, CLI overrides, and one clear line naming the key for every mistake."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from charmix.daemon import protocol
from charmix.daemon.protocol.endpoint import ConfigError, Endpoint, parse_endpoint
from charmix.daemon.runtime.config import CHECKS, Config, build

RIG = """
models = ["shakespeare", "sub/mine.onnx"]
models_dir = "models"
weights = { shakespeare = 1.0, mine = 0.5 }
temperature = 0.7
mode = "geometric"
rate = 20
slew = 0.1
topk = 5
topp = 0.9
seed = 42
prime = "Once"
listen = "0.0.0.0:7000"
send = ["127.0.0.1:9000", "239.10.10.10:7771", "[::1]:9001"]
allow = ["127.0.0.0/8", "192.168.1.0/24"]
status_every = 5
echo = false
max_datagram = 1200

[model_temperature]
mine = 1.2
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rig.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_come_from_the_protocol() -> None:
    cfg = build({})
    assert cfg.listen == Endpoint(protocol.DEFAULT_HOST, protocol.CONTROL_PORT)
    assert cfg.send == [Endpoint(protocol.DEFAULT_HOST, protocol.OUTPUT_PORT)]
    assert [str(n) for n in cfg.allow] == ["127.0.0.0/8", "::1/128"]
    assert cfg.max_datagram == protocol.MAX_DATAGRAM
    assert cfg.models == [] and cfg.weights is None and cfg.echo is None


def test_a_full_rig_file(tmp_path: Path) -> None:
    cfg = build({}, write(tmp_path, RIG))
    assert cfg.models == ["shakespeare", str(tmp_path / "sub/mine.onnx")]  # relative to the file
    assert cfg.models_dir == tmp_path / "models"
    assert cfg.weights == {"shakespeare": 1.0, "mine": 0.5}
    assert cfg.model_temperature == {"mine": 1.2}
    assert (cfg.temperature, cfg.mode, cfg.rate, cfg.slew) == (0.7, "geometric", 20.0, 0.1)
    assert (cfg.topk, cfg.topp, cfg.seed, cfg.prime) == (5, 0.9, 42, "Once")
    assert cfg.listen == Endpoint("0.0.0.0", 7000) and cfg.listen.unspecified
    assert cfg.send == [
        Endpoint("127.0.0.1", 9000), Endpoint("239.10.10.10", 7771), Endpoint("::1", 9001)
    ]
    assert cfg.allow[1] == ipaddress.ip_network("192.168.1.0/24")
    assert (cfg.status_every, cfg.echo, cfg.max_datagram) == (5.0, False, 1200)


def test_cli_flags_override_the_file(tmp_path: Path) -> None:
    cli = {
        "rate": 0.0, "weights": "1,0", "send": ["7777"], "models": None, "allow": [],
        "listen": "127.0.0.1:7001", "echo": True,
    }
    cfg = build(cli, write(tmp_path, RIG))
    assert cfg.rate == 0.0
    assert cfg.weights == [1.0, 0.0]
    assert cfg.send == [Endpoint(protocol.DEFAULT_HOST, 7777)]
    assert cfg.models[0] == "shakespeare"  # None / [] = flag not given: the file's value stays
    assert cfg.allow[1] == ipaddress.ip_network("192.168.1.0/24")
    assert cfg.listen == Endpoint("127.0.0.1", 7001) and cfg.echo is True


def test_cli_weights_by_name_and_model_temperatures() -> None:
    cfg = build({"weights": "shakespeare=1, bible=0.25", "model_temperature": "bible=1.5"})
    assert cfg.weights == {"shakespeare": 1.0, "bible": 0.25}
    assert cfg.model_temperature == {"bible": 1.5}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("7000", Endpoint("127.0.0.1", 7000)),
        ("host.local:7000", Endpoint("host.local", 7000)),
        ("host.local", Endpoint("host.local", 7771)),
        (":7000", Endpoint("127.0.0.1", 7000)),
        ("[::1]:7000", Endpoint("::1", 7000)),
        ("[::1]", Endpoint("::1", 7771)),
        ("fe80::1", Endpoint("fe80::1", 7771)),
        ("255.255.255.255:7771", Endpoint("255.255.255.255", 7771)),
    ],
)
def test_parse_endpoint(text: str, expected: Endpoint) -> None:
    assert parse_endpoint(text, 7771) == expected


@pytest.mark.parametrize("text", ["", "host:0", "host:65536", "host:port", "[::1", "[::1]x"])
def test_parse_endpoint_errors(text: str) -> None:
    with pytest.raises(ValueError):
        parse_endpoint(text, 7771)


def test_endpoint_str_and_resolve() -> None:
    assert str(Endpoint("::1", 7000)) == "[::1]:7000"
    family, sockaddr = Endpoint("127.0.0.1", 7000).resolve()
    assert sockaddr[:2] == ("127.0.0.1", 7000)
    with pytest.raises(ConfigError, match="cannot resolve host 'no-such-host.invalid'"):
        Endpoint("no-such-host.invalid", 7000).resolve()


@pytest.mark.parametrize(
    "text, message",
    [
        ('tempo = 3', "unknown key 'tempo'"),
        ('rate = "fast"', "'rate' must be a number, got 'fast'"),
        ("rate = 5000", "'rate' must be in 0 – 2000, got 5000"),
        ("temperature = 0", "'temperature' must be in 0.05 – 5"),
        ("topp = 0", "'topp' must be in (0, 1], got 0"),
        ('mode = "loud"', "'mode' must be one of linear, geometric"),
        ("topk = 1.5", "'topk' must be a whole number"),
        ("topk = -1", "'topk' must be >= 0, got -1"),
        ("seed = true", "'seed' must be a whole number"),
        ("models = [1, 2]", "'models' must be a list of strings"),
        ("weights = [1, -2]", "'weights' weight 2 must be in -1 – 1, got -2"),
        ("weights = {}", "'weights' is an empty table"),
        ("weights = 3", "'weights' must be a list of numbers"),
        ('send = ["host:99999"]', "'send' 'host:99999': port must be 1 – 65535"),
        ("send = []", "'send' is empty"),
        ('allow = ["192.168.1.0/33"]', "'allow' '192.168.1.0/33' is not an address"),
        ('listen = 7770', "'listen' must be a string"),
        ('echo = "yes"', "'echo' must be true or false"),
        ("max_datagram = 10", "'max_datagram' must be in 64"),
        ("[model_temperature]\nbible = 0.01", "'model_temperature' for bible must be 0 or"),
        ("rate = ", "not valid TOML"),
    ],
)
def test_rig_file_errors_are_one_line_naming_the_key(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        build({}, path)
    line = str(info.value)
    assert "\n" not in line
    assert line.startswith(str(path))
    assert message in line


def test_missing_rig_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        build({}, tmp_path / "nope.toml")


@pytest.mark.parametrize(
    "cli, message",
    [
        ({"rate": -1.0}, "--rate must be in 0 – 2000"),
        ({"send": ["localhost:x"]}, "--send 'localhost:x': port"),
        ({"allow": ["nonsense"]}, "--allow 'nonsense' is not an address"),
        ({"weights": "1,x"}, "--weights weight 2 must be a number"),
        ({"model_temperature": "bible"}, "--model-temperature must be NAME=T pairs"),
        ({"max_datagram": 100000}, "--max-datagram must be in 64"),
    ],
)
def test_cli_errors_name_the_flag(cli: dict, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        build(cli)
    assert message in str(info.value)


def test_every_config_field_has_a_checker_and_a_default() -> None:
    assert set(CHECKS) == set(Config.__dataclass_fields__)
    Config()  # constructible with defaults alone
