"""Several machines on one LAN, as network namespaces: daemons found by name over real mDNS.

Each "machine" is a namespace of its own on a bridge (tests/netns.py); nothing touches the
machine's real interfaces, and mDNS is switched on (CHARMIX_MDNS=1) only for the processes started
inside those namespaces. Everything runs as real processes: `charmix daemon`, the Leap bridge (on
the fake `leap` module: the hardware is the only stand-in), `charmix monitor`, `charmix send`,
`charmix discover`, and a discovery client. Skipped, with the reason, where `ip netns add` is
refused (not root).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from netns import Lan, venv_bin

from charmix.controllers.mapping import PadMapping

FAKES = Path(__file__).resolve().parent / "fakes"
MDNS = {"CHARMIX_MDNS": "1", "PYTHONUNBUFFERED": "1"}
CHARMIX = venv_bin("charmix")
P = "/charmix"

# Run inside a namespace: a discovery client (the one every --to uses) looking for a name until
# it is found; prints the daemon and the seconds since the given wall-clock start.
FIND = """
import json, sys, time
from charmix.daemon.client import discovery
name, start, limit = sys.argv[1], float(sys.argv[2]), time.monotonic() + 40
while time.monotonic() < limit:
    try:
        d = discovery.resolve(name, timeout=0.3)
    except discovery.DiscoveryError:
        continue
    print(json.dumps({"seconds": time.time() - start, "host": d.host, "osc_port": d.osc_port,
                      "oscquery_port": d.oscquery_port, "models": d.models, "name": d.name}))
    break
"""
# GET OSCQuery URLs from inside a namespace; prints each one's JSON (or the HTTP status) on a
# line of its own: one interpreter start-up per poll, however many values it reads.
GET = """
import sys, urllib.request, urllib.error
for url in sys.argv[1:]:
    try:
        print(urllib.request.urlopen(url, timeout=2).read().decode().replace("\\n", " "))
    except urllib.error.HTTPError as e:
        print(e.code)
    except OSError as e:
        print("down", e)
"""

# python-oscquery's client, given the ServiceInfo that a real zeroconf browse returns.
PYTHON_OSCQUERY = """
import json, sys, time
from zeroconf import ServiceBrowser, Zeroconf
from pythonoscquery.osc_query_client import OSCQueryClient
zc, seen = Zeroconf(), []
ServiceBrowser(zc, "_oscjson._tcp.local.", handlers=[lambda **kw: seen.append(kw["name"])])
deadline = time.monotonic() + 20
while not seen and time.monotonic() < deadline:
    time.sleep(0.05)
client = OSCQueryClient(zc.get_service_info("_oscjson._tcp.local.", seen[0], timeout=3000))
host, char = client.get_host_info(), client.query_node("/charmix/char")
print(json.dumps({"service": seen[0], "name": host.name, "osc_port": host.osc_port,
                  "char": char.value, "access": char.access.value}))
zc.close()
"""


@pytest.fixture
def lan() -> Iterator[Lan]:
    reason = Lan.available()
    if reason is not None:
        pytest.skip(reason)
    with Lan() as made:
        yield made


def start_daemon(host, models: Path, name: str, *extra: str) -> subprocess.Popen:
    return host.popen(
        [CHARMIX, "daemon", "--models-dir", str(models), "--listen", "0.0.0.0:7770",
         "--allow", "10.77.0.0/24", "--name", name, "--rate", "20", "--no-echo",
         "--status-every", "0", *extra],
        env=MDNS, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def find(host, name: str, start: float) -> dict:
    done = host.run([sys.executable, "-c", FIND, name, str(start)], env=MDNS, timeout=60)
    assert done.stdout.strip(), f"{name!r} never found: {done.stderr[-2000:]}"
    return json.loads(done.stdout)


def get(host, url: str, *more: str) -> object:
    """The value at `url` (a list of values, one per URL, when given `more`)."""
    out = host.run([sys.executable, "-c", GET, url, *more], timeout=20).stdout.splitlines()
    values = []
    for line in out + [""] * (1 + len(more) - len(out)):
        try:
            values.append(json.loads(line))
        except ValueError:
            values.append(line.strip())
    return values if more else values[0]


def wait_until(check: Callable[[], object], timeout: float, what: str) -> object:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def dominant(host, daemon_ip: str, port: int, model: str) -> Callable[[], bool]:
    """Whether the daemon's effective weights (read over OSCQuery) favour `model`."""
    def check() -> bool:
        names, weights = get(host, f"http://{daemon_ip}:{port}{P}/models?VALUE",
                             f"http://{daemon_ip}:{port}{P}/weights?VALUE")
        if not isinstance(names, dict) or not isinstance(weights, dict):
            return False
        w = dict(zip(names["VALUE"], weights["VALUE"], strict=True))
        return w[model] > 0.9
    return check


def leap_bridge(host, to: str, names: list[str], model: str, tmp: Path) -> subprocess.Popen:
    """The Leap bridge, a hand held over `model`'s anchor; it re-sends its state every 0.2 s."""
    pad = PadMapping.for_models(names)
    anchor = pad.anchors[names.index(model)]
    hand = {"type": "right", "x": anchor.x * 150.0, "y": 200.0, "z": -anchor.y * 150.0}
    script = tmp / f"hand-{model}.jsonl"
    script.write_text("".join(json.dumps({"dt": 0.02, "hands": [hand]}) + "\n"
                              for _ in range(20)), encoding="utf-8")
    env = {**MDNS, "PYTHONPATH": str(FAKES), "FAKE_LEAP_SCRIPT": str(script)}
    return host.popen([CHARMIX, "leap", "--to", to, "--resend", "0.2", "--query-timeout", "2"],
                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> str:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err or ""


def test_a_bridge_and_a_monitor_find_the_daemon_by_name_steer_it_and_see_it(
    lan: Lan, tiny_model_dir: Path, tmp_path: Path
) -> None:
    a, b, c = lan.host("daemon"), lan.host("bridge"), lan.host("monitor")
    start = time.time()
    daemon = start_daemon(a, tiny_model_dir, "stage left")
    seen = find(c, "stage left", start)  # over mDNS: c shares no loopback with a
    assert seen["host"] == a.ip and seen["osc_port"] == 7770 and seen["oscquery_port"] == 7772
    names = list(seen["models"])
    assert len(names) == 3
    target = names[-1]

    bridge = leap_bridge(b, "stage left", names, target, tmp_path)
    wait_until(dominant(c, a.ip, 7772, target), 30, f"the bridge to steer toward {target}")

    browsed = c.run([sys.executable, "-c", PYTHON_OSCQUERY], env=MDNS, timeout=60)
    assert browsed.returncode == 0, browsed.stderr
    seen_by_them = json.loads(browsed.stdout)
    assert seen_by_them["service"] == "stage left._oscjson._tcp.local."
    assert seen_by_them["name"] == "stage left" and seen_by_them["osc_port"] == 7770
    assert len(seen_by_them["char"]) == 1 and seen_by_them["access"] == 1

    monitor = c.run([CHARMIX, "monitor", "--to", "stage left", "--once", "--plain",
                     "--timeout", "15"], env=MDNS, timeout=60)
    assert monitor.returncode == 0, monitor.stderr
    assert "'stage left' at 10.77.0.2:7770" in monitor.stderr  # found by name, not address
    assert target in monitor.stdout  # its view shows the daemon's models and weights
    err = stop(bridge)
    assert "'stage left' at 10.77.0.2:7770" in err
    assert "advertised on the LAN as 'stage left'" in stop(daemon)


def test_daemons_by_their_names_and_a_second_of_one_name_renamed(
    lan: Lan, tiny_model_dir: Path
) -> None:
    a, b, c, d = (lan.host(x) for x in "abcd")
    start = time.time()
    left = start_daemon(a, tiny_model_dir, "left")
    right = start_daemon(b, tiny_model_dir, "right")
    find(d, "left", start)
    twin = start_daemon(c, tiny_model_dir, "left")  # the same name, on another machine
    seen = find(d, "left-2", start)
    assert seen["host"] == c.ip

    listed = d.run([CHARMIX, "discover", "--json"], env=MDNS, timeout=30)
    assert listed.returncode == 0, listed.stderr
    daemons = {x["name"]: x for x in map(json.loads, listed.stdout.splitlines())}
    assert set(daemons) == {"left", "right", "left-2"}
    assert daemons["right"]["host"] == b.ip and len(daemons["right"]["models"]) == 3
    assert all(x["uptime"] is not None and x["uptime"] >= 0 for x in daemons.values())

    sent = d.run([CHARMIX, "send", "temperature", "0.5", "--to", "right"], env=MDNS, timeout=30)
    assert sent.returncode == 0, sent.stderr
    wait_until(lambda: get(d, f"http://{b.ip}:7772{P}/temperature?VALUE") == {"VALUE": [0.5]},
               10, "right's temperature")
    assert get(d, f"http://{a.ip}:7772{P}/temperature?VALUE") != {"VALUE": [0.5]}

    auto = d.run([CHARMIX, "send", "pause", "--to", "auto"], env=MDNS, timeout=30)
    assert auto.returncode == 1 and "3 daemons found" in auto.stderr
    assert len(auto.stderr.strip().splitlines()) == 1

    assert "another daemon on the LAN is called 'left'" in stop(twin)
    stop(left)
    stop(right)


def test_a_daemon_that_dies_is_noticed_and_one_restarted_elsewhere_is_followed(
    lan: Lan, tiny_model_dir: Path, tmp_path: Path
) -> None:
    a, b, c = lan.host("daemon"), lan.host("bridge"), lan.host("watch")
    start = time.time()
    daemon = start_daemon(a, tiny_model_dir, "rig")
    names = list(find(c, "rig", start)["models"])
    target = names[0]
    bridge = leap_bridge(b, "rig", names, target, tmp_path)
    wait_until(dominant(c, a.ip, 7772, target), 30, "the bridge to steer the first daemon")

    stop(daemon, signal.SIGKILL)  # no goodbye on the LAN: its mDNS records linger in caches
    died = time.monotonic()

    def gone() -> bool:
        listed = c.run([CHARMIX, "discover", "--json", "--timeout", "0.5"], env=MDNS, timeout=30)
        return not any(json.loads(line)["name"] == "rig" for line in listed.stdout.splitlines())

    wait_until(gone, 10, "discover to stop listing the dead daemon")
    assert time.monotonic() - died < 10

    again = start_daemon(a, tiny_model_dir, "rig", "--listen", "0.0.0.0:7780",
                         "--oscquery", "0.0.0.0:7790")
    wait_until(dominant(c, a.ip, 7790, target), 40, "the bridge to follow it to its new ports")
    assert bridge.poll() is None  # the same bridge process, never restarted
    err = stop(bridge)
    assert "'rig' stopped answering" in err and "'rig' is now at 10.77.0.2:7780" in err
    stop(again)


def test_loopback_daemons_are_found_by_name_on_their_machine_and_advertise_nothing(
    lan: Lan, tiny_model_dir: Path
) -> None:
    """Two loopback-only daemons on one machine (a namespace: its loopback is its own)."""
    a, b = lan.host("laptop"), lan.host("other")
    base = [CHARMIX, "daemon", "--models-dir", str(tiny_model_dir), "--no-echo",
            "--status-every", "0"]
    first = a.popen([*base, "--name", "first"], env=MDNS, stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE, text=True)
    second = a.popen([*base, "--name", "second", "--listen", "127.0.0.1:7780"], env=MDNS,
                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def both() -> dict:
        listed = a.run([CHARMIX, "discover", "--json", "--timeout", "0.3"], env=MDNS)
        found = {x["name"]: x for x in map(json.loads, listed.stdout.splitlines())}
        return found if len(found) == 2 else {}

    found = wait_until(both, 30, "both daemons on this machine")
    assert {x["via"] for x in found.values()} == {"local"}  # through their OSCQuery ports
    assert {found["first"]["oscquery_port"], found["second"]["oscquery_port"]} == {7772, 7773}
    assert found["second"]["osc_port"] == 7780 and found["second"]["host"] == "127.0.0.1"

    sent = a.run([CHARMIX, "send", "temperature", "0.4", "--to", "second"], env=MDNS)
    assert sent.returncode == 0, sent.stderr
    port = found["second"]["oscquery_port"]
    wait_until(lambda: get(a, f"http://127.0.0.1:{port}{P}/temperature?VALUE") == {
        "VALUE": [pytest.approx(0.4)]}, 10, "the second daemon's temperature")
    auto = a.run([CHARMIX, "send", "pause", "--to", "auto"], env=MDNS)
    assert auto.returncode == 1 and "2 daemons found" in auto.stderr

    nothing = b.run([CHARMIX, "discover", "--timeout", "2"], env=MDNS)  # over mDNS, on the LAN
    assert nothing.returncode == 1 and nothing.stdout == ""
    assert "listening on loopback only" in stop(first)
    assert "OSCQuery port 7772 is taken (another daemon?): serving on 7773" in stop(second) or \
        found["first"]["oscquery_port"] == 7773


def test_lan_is_really_isolated(lan: Lan) -> None:
    """The namespaces see only lo and their veth: no route to the machine's own network."""
    a = lan.host("a")
    links = a.run(["ip", "-o", "link"]).stdout
    assert {line.split(":")[1].strip().split("@")[0] for line in links.splitlines()} == {
        "lo", "eth0"}
    routes = a.run(["ip", "route"]).stdout
    assert "default" not in routes
    assert os.path.exists(f"/run/netns/{a.ns}")
