"""Issue 9 §5: change one range in the address table and everything follows.

The edit is made to the table before any other charmix module loads (in a fresh interpreter), the
way an edit of daemon/protocol/table.py would be; then every consumer is asked: the daemon's control
server over real UDP, `charmix send`'s checks, the rig-file and flag checks, the daemon's --help,
docs/osc.md as generated, and the OSCQuery attributes. A consumer with its own copy of the range
(a hard-coded 5.0 anywhere) fails here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

PROBE = textwrap.dedent(
    """
    import dataclasses, json, logging, socket, sys, time

    from charmix.daemon import protocol
    from charmix.daemon.protocol import docs as osc_docs

    # The one edit: temperature's maximum 5 -> 9 (and its default 0.8 -> 1.5).
    entry = protocol.control("temperature")
    edited = dataclasses.replace(entry.args[0], max=9.0, default=1.5)
    object.__setattr__(entry, "args", (edited,))

    from pythonosc.osc_message_builder import OscMessageBuilder
    from typer.testing import CliRunner

    from charmix.controllers.sender_messages import entry as sender_entry, limits
    from charmix.daemon.protocol.encode import encode
    from charmix.daemon.live.broadcast import Broadcaster
    from charmix.daemon.cli import app
    from charmix.daemon.runtime.config import ConfigError, Config, Endpoint, build
    from charmix.daemon.live.controls import Controls
    from charmix.daemon.live.dispatch import Dispatcher
    from charmix.daemon.live.reader import ControlReader

    out = {}

    # -- the daemon's control port (reader + dispatcher), over real UDP on loopback
    names = ["a", "b"]
    controls = Controls(names)
    out["controls_default"] = controls.snapshot().temperature
    log = logging.getLogger("probe")
    broadcaster = Broadcaster(names, list("ab"), [], controls.counters,
                              lambda: [0.0] * len(protocol.STATUS_FIELDS), log)
    import ipaddress
    server = ControlReader(Endpoint("127.0.0.1", 0), Dispatcher(
        controls, broadcaster, [ipaddress.ip_network("127.0.0.0/8")], log))
    server.start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def send(value):
        b = OscMessageBuilder("/charmix/temperature")
        b.add_arg(value, "f")
        sock.sendto(b.build().dgram, server.address)

    def settle(ok, bad):
        deadline = time.monotonic() + 5
        c = controls.counters
        while (c.rx_ok, c.rx_bad) != (ok, bad) and time.monotonic() < deadline:
            time.sleep(0.005)
        return c.rx_ok, c.rx_bad

    send(7.0)
    out["server_after_7"] = [settle(1, 0), controls.snapshot().temperature]
    send(9.5)
    out["server_after_9.5"] = [settle(1, 1), controls.snapshot().temperature]
    server.stop()
    broadcaster.close()

    # -- charmix send's checks (and a knob's travel)
    def refused(address, value):
        try:
            encode(address, (value,))
            return None
        except ValueError as exc:
            return str(exc)

    t = sender_entry("temperature")
    out["sender_7"] = refused(t, 7.0)
    out["sender_9.5"] = refused(t, 9.5)
    out["sender_limits"] = list(limits(t))
    out["send_cli_9.5"] = CliRunner().invoke(
        app, ["send", "temperature", "9.5", "--to", "127.0.0.1:9"]).output
    out["send_help"] = CliRunner().invoke(app, ["send", "temperature", "--help"]).output

    # -- rig file and flag checks, and the default a rig starts from
    out["config_default"] = Config().temperature
    out["config_7"] = build({"temperature": "7"}).temperature
    try:
        build({"temperature": "9.5"})
        out["config_9.5"] = None
    except ConfigError as exc:
        out["config_9.5"] = str(exc)
    out["daemon_help"] = CliRunner().invoke(app, ["daemon", "--help"]).output

    # -- docs/osc.md as `make docs` would write it
    out["docs_row"] = next(line for line in osc_docs.render().splitlines()
                           if line.startswith("| `/charmix/temperature`"))

    # -- OSCQuery: the node's attributes from the table
    out["oscquery"] = protocol.control("temperature").oscquery()
    # The OSCQuery server (daemon/oscquery*.py, branch `oscq`) adds its check here: start it on
    # a free port, GET /charmix/temperature and compare RANGE with the edited table.

    print(json.dumps(out))
    """
)


def test_one_edit_of_the_table_changes_the_range_everywhere() -> None:
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "COLUMNS": "200"})  # unwrapped help
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.splitlines()[-1])

    # the daemon's validation (the value the controls start from too)
    assert got["controls_default"] == 1.5
    assert got["server_after_7"] == [[1, 0], 7.0]
    assert got["server_after_9.5"] == [[1, 1], 7.0]  # refused, counted, nothing changed
    # charmix send
    assert got["sender_7"] is None
    assert "temperature must be in 0.05 – 9, got 9.5" in got["sender_9.5"]
    assert got["sender_limits"] == [0.05, 9.0]
    assert "must be in 0.05 – 9" in got["send_cli_9.5"]
    assert "0.05 – 9" in got["send_help"] and "default 1.5" in got["send_help"]
    # rig file and flags
    assert got["config_default"] == 1.5 and got["config_7"] == 7.0
    assert got["config_9.5"] == "--temperature must be in 0.05 – 9, got 9.5"
    assert "Sampling temperature, 0.05 – 9 (default: 1.5)" in got["daemon_help"]
    # docs
    assert "| 0.05 – 9 | 1.5 |" in got["docs_row"]
    # OSCQuery attributes
    assert got["oscquery"]["RANGE"] == [{"MIN": 0.05, "MAX": 9.0}]
    assert got["oscquery"]["TYPE"] == "f" and got["oscquery"]["ACCESS"] == 3


def test_the_edit_is_not_in_the_shipped_table() -> None:
    """The probe's edit stays in its interpreter: here the table still says 0.05 – 5."""
    from charmix.daemon import protocol

    arg = protocol.control("temperature").args[0]
    assert (arg.min, arg.max, arg.default) == (0.05, 5.0, 0.8)
