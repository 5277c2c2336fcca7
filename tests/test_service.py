"""`charmix service`: the generated unit asks systemd for what weeks unattended need, passes
`systemd-analyze verify`, and its ExecStart really starts this installation's daemon."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import free_udp_port

from charmix.daemon.tools.service import unit

CLI = [sys.executable, "-m", "charmix.daemon.cli"]


def keys(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out.setdefault(k, []).append(v)
    return out


def test_the_system_unit_supervises_sandboxes_and_keeps_state() -> None:
    k = keys(unit(["--send", "192.168.1.20:7771", "--allow", "192.168.1.0/24"]))
    assert k["Type"] == ["notify"] and k["Restart"] == ["always"] and k["WatchdogSec"] == ["10"]
    assert k["DynamicUser"] == ["yes"] and k["StateDirectory"] == ["charmix"]
    for hardening in ("ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
                      "PrivateDevices=yes", "ProtectHome=read-only", "CapabilityBoundingSet="):
        name, value = hardening.split("=", 1)
        assert k[name] == [value], name
    families = k["RestrictAddressFamilies"][0].split()
    assert {"AF_INET", "AF_INET6", "AF_UNIX"} <= set(families)  # network and notify socket
    assert "PrivateNetwork" not in k and "IPAddressDeny" not in k  # it must reach the LAN
    argv = shlex.split(k["ExecStart"][0])
    assert argv[:4] == [sys.executable, "-m", "charmix.daemon.cli", "daemon"]
    assert argv[argv.index("--state") + 1] == "%S/charmix/state.json"
    assert argv[-4:] == ["--send", "192.168.1.20:7771", "--allow", "192.168.1.0/24"]


def test_run_as_a_named_user_and_a_user_unit() -> None:
    assert keys(unit([], run_as="charmix"))["User"] == ["charmix"]
    u = keys(unit([], user_unit=True))
    assert "User" not in u and "DynamicUser" not in u and u["Type"] == ["notify"]
    assert u["WantedBy"] == ["default.target"]


def test_specifiers_in_arguments_are_escaped() -> None:
    argv = shlex.split(keys(unit(["--prime", "100% $HOME"]))["ExecStart"][0])
    assert argv[-1] == "100%% $$HOME"  # systemd turns %% and $$ back into % and $


@pytest.mark.parametrize("user_unit", [False, True])
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path, user_unit: bool) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed (apt-get install systemd)")
    path = tmp_path / "charmix.service"
    path.write_text(unit(["--send", "127.0.0.1:7771"], user_unit=user_unit))
    cmd = [analyze, "verify", *(["--user"] if user_unit else []), str(path)]
    runtime = tmp_path / "run"  # a user manager's runtime folder (no login session here)
    runtime.mkdir(mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert "charmix.service" not in result.stderr, result.stderr  # no warning about our unit


def test_exec_start_starts_this_installations_daemon(tmp_path: Path, tiny_model_dir: Path) -> None:
    line = keys(unit(["--models-dir", str(tiny_model_dir)]))["ExecStart"][0]
    argv = [a.replace("%S", str(tmp_path)) for a in shlex.split(line)]
    (tmp_path / "charmix").mkdir()  # what StateDirectory= creates
    argv += ["--listen", f"127.0.0.1:{free_udp_port()}", "--send",
             f"127.0.0.1:{free_udp_port()}", "--burst", "20"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "charmix" / "state.json").exists()


def test_install_writes_the_unit_and_says_what_next(tmp_path: Path) -> None:
    result = subprocess.run([*CLI, "service", "--install", "--user", "--unit-dir", str(tmp_path),
                             "--", "--rate", "20"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "charmix.service").read_text()
    assert "--rate 20" in text and "systemctl --user daemon-reload" in result.stdout
    bad = subprocess.run([*CLI, "service", "--install"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2 and "--user or --system" in bad.stderr
