"""Discovery's small rules: what `--to` means, the config keys, and what stays unimported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from charmix.daemon.client import discovery
from charmix.daemon.oscquery.advertise import advertised_addresses, host_label, instance_name
from charmix.daemon.protocol.endpoint import ConfigError, Endpoint
from charmix.daemon.runtime.config import build


@pytest.mark.parametrize("text", ["127.0.0.1:7770", "7770", ":7770", "[::1]:7770", "::1",
                                  "10.0.0.5", "localhost:", "stage-pc:7000"])
def test_addresses_are_addresses(text: str) -> None:
    assert discovery.is_address(text)


@pytest.mark.parametrize("text", ["stage left", "auto", "charmix on studio", "studio-pc",
                                  "stage: left"])
def test_everything_else_is_a_name(text: str) -> None:
    assert not discovery.is_address(text)


def test_names_fit_dns_sd() -> None:
    assert instance_name("stage.left  one") == "stage left one"
    assert len(instance_name("é" * 80).encode()) <= 63
    label = host_label(["10.0.0.2"])
    assert label.endswith(".local.") and label != host_label(["10.0.0.3"])  # cloned machines


def test_loopback_and_nowhere_advertise_nothing() -> None:
    assert advertised_addresses("127.0.0.1") == []
    assert advertised_addresses("localhost") == []
    assert advertised_addresses("no-such-host.invalid") == []
    assert advertised_addresses("10.1.2.3") == ["10.1.2.3"]


def test_config_keys_and_flags() -> None:
    assert build({}).oscquery is True and build({}).mdns is True and build({}).name == ""
    assert build({"oscquery": "0.0.0.0:7800"}).oscquery == Endpoint("0.0.0.0", 7800)
    assert build({"oscquery": "7800"}).oscquery == Endpoint("", 7800)  # the --listen host
    assert build({"oscquery": False}).oscquery is False
    assert build({"oscquery": "off"}).oscquery is False
    assert build({"name": "  stage   left "}).name == "stage left"
    with pytest.raises(ConfigError, match="^--name is 70 bytes; a name has at most 63$"):
        build({"name": "x" * 70})
    with pytest.raises(ConfigError, match="^--oscquery "):
        build({"oscquery": "host:99999"})


def test_rig_file_keys(tmp_path: Path) -> None:
    rig = tmp_path / "rig.toml"
    rig.write_text('name = "stage left"\noscquery = "127.0.0.1:7800"\nmdns = false\n')
    cfg = build({}, rig)
    assert (cfg.name, cfg.oscquery, cfg.mdns) == ("stage left", Endpoint("127.0.0.1", 7800),
                                                  False)
    rig.write_text("oscquery = 7800\n")
    with pytest.raises(ConfigError, match="'oscquery' must be a string"):
        build({}, rig)


def test_a_name_nobody_has_is_one_line_and_no_mdns_here(monkeypatch) -> None:
    monkeypatch.setattr(discovery, "OSCQUERY_LOCAL_PORTS", range(0))  # no daemon of another test
    with pytest.raises(discovery.DiscoveryError) as caught:
        discovery.resolve("nobody here", timeout=0.1)
    assert str(caught.value) == ("--to 'nobody here': no daemon of that name on this machine "
                                 "(mDNS is off) (found: none)")


def test_help_and_bridges_import_no_web_or_mdns_stack() -> None:
    code = ("import sys; from typer.testing import CliRunner; import charmix.daemon.cli as c; "
            "CliRunner().invoke(c.app, ['--help']); import charmix.controllers.commands, "
            "charmix.controllers.sender, charmix.daemon.client.follow, "
            "charmix.daemon.client.discovery; "
            "print(sorted(m for m in ('aiohttp', 'zeroconf', 'onnxruntime') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_sender_retargeted_sends_its_state_to_the_new_place_and_tells_its_hooks() -> None:
    """What a Follower does when a named daemon moves: the new place gets the state at once."""
    from fakes.osc_receiver import OscReceiver

    from charmix.controllers.sender import Sender
    from charmix.controllers.sender_messages import entry

    with OscReceiver() as old, OscReceiver() as new:
        old_target, new_target = ("127.0.0.1", old.port), ("127.0.0.1", new.port)
        heard: list[tuple] = []
        sender = Sender([old_target])
        sender.on_retarget.append(lambda a, b: heard.append((a, b)))
        try:
            sender.set(entry("temperature"), 0.7)
            old.wait_for("temperature")
            sender.retarget(old_target, new_target)
            assert new.wait_for("temperature").params == pytest.approx((0.7,))  # no new gesture
            assert sender.targets == [new_target] and heard == [(old_target, new_target)]
        finally:
            sender.close()
