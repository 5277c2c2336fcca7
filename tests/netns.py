"""A small LAN made of Linux network namespaces, for multi-host tests (root; `ip` from iproute2).

    with Lan() as lan:               # or the `lan` fixture in tests/test_netns_discovery.py
        a = lan.host("a")            # a namespace with one veth, 10.77.0.2/24, on the LAN bridge
        proc = a.popen(["charmix", "daemon", ...])

Layout: one "switch" namespace holds a bridge; every host namespace gets a veth pair whose other
end is plugged into that bridge. Nothing is created in the machine's own (root) namespace — no
bridge, no veth, no route — so no test packet, mDNS included, can reach the machine's real
interfaces: a host namespace has only `lo` and its veth. Names carry the test process's pid so
concurrent runs do not collide; `close()` deletes every namespace (which deletes the veths and the
bridge with them), and runs on failure too (context manager, fixture finaliser, atexit).

`Lan.available()` says why not where `ip netns add` is refused (not root, no CAP_SYS_ADMIN, no
iproute2): the tests skip with that reason.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

SUBNET = "10.77.0"  # /24; addresses of our own inside our own namespaces only
_counter = itertools.count()


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=10)


@dataclass
class Host:
    """One namespace on the LAN: `ns` (its name) and `ip` (its address)."""

    lan: Lan
    ns: str
    ip: str
    procs: list[subprocess.Popen] = field(default_factory=list)

    def argv(self, args: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns, *args]

    def popen(self, args: Sequence[str], env: dict[str, str] | None = None,
              **kwargs: object) -> subprocess.Popen:
        """Start a process inside this namespace (stopped by Lan.close if still running)."""
        full_env = {**os.environ, **(env or {})}
        proc = subprocess.Popen(self.argv(args), env=full_env, **kwargs)  # type: ignore[arg-type]
        self.procs.append(proc)
        return proc

    def run(self, args: Sequence[str], env: dict[str, str] | None = None,
            timeout: float = 30, **kwargs: object) -> subprocess.CompletedProcess[str]:
        full_env = {**os.environ, **(env or {})}
        return subprocess.run(self.argv(args), env=full_env, capture_output=True, text=True,
                              timeout=timeout, **kwargs)  # type: ignore[call-overload]


class Lan:
    """Namespaces joined by a bridge in a namespace of its own; see the module docstring."""

    def __init__(self) -> None:
        tag = f"{os.getpid()}x{next(_counter)}"
        self.prefix = f"cmx{tag}"
        self.switch = f"{self.prefix}sw"
        self.hosts: list[Host] = []
        self._namespaces: list[str] = []
        self._closed = False
        atexit.register(self.close)

    @staticmethod
    def available() -> str | None:
        """None if namespaces can be made here, else the reason they cannot."""
        if sys.platform != "linux":
            return "network namespaces need Linux"
        if shutil.which("ip") is None:
            return "no `ip` command (iproute2; `make sysdeps` installs it)"
        probe = f"cmxprobe{os.getpid()}"
        result = _ip("netns", "add", probe, check=False)
        if result.returncode != 0:
            return f"`ip netns add` refused: {result.stderr.strip() or result.returncode}"
        _ip("netns", "del", probe, check=False)
        _remove_stale()
        return None

    def __enter__(self) -> Lan:
        self._add_namespace(self.switch)
        self._exec(self.switch, "ip", "link", "add", "br0", "type", "bridge")
        # Multicast snooping would hold back mDNS until an IGMP querier exists: off.
        self._exec(self.switch, "ip", "link", "set", "br0", "type", "bridge",
                   "mcast_snooping", "0")
        self._exec(self.switch, "ip", "link", "set", "br0", "up")
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _add_namespace(self, name: str) -> None:
        _ip("netns", "add", name)
        self._namespaces.append(name)
        self._exec(name, "ip", "link", "set", "lo", "up")

    @staticmethod
    def _exec(ns: str, *args: str) -> None:
        subprocess.run(["ip", "netns", "exec", ns, *args], check=True, capture_output=True,
                       timeout=10)

    def host(self, label: str) -> Host:
        """A new namespace with address SUBNET.(n+2)/24 on the bridge."""
        n = len(self.hosts)
        ns = f"{self.prefix}{label}"
        ip = f"{SUBNET}.{n + 2}"
        self._add_namespace(ns)
        outer, inner = f"v{self.prefix[-6:]}{n}", "eth0"
        _ip("link", "add", outer, "netns", self.switch, "type", "veth", "peer", "name", inner,
            "netns", ns)
        self._exec(self.switch, "ip", "link", "set", outer, "master", "br0")
        self._exec(self.switch, "ip", "link", "set", outer, "up")
        self._exec(ns, "ip", "addr", "add", f"{ip}/24", "dev", inner)
        self._exec(ns, "ip", "link", "set", inner, "up", "multicast", "on")
        # mDNS goes out of eth0 (the only interface besides lo), never anywhere else.
        self._exec(ns, "ip", "route", "add", "224.0.0.0/4", "dev", inner)
        host = Host(self, ns, ip)
        self.hosts.append(host)
        return host

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for host in self.hosts:
            for proc in host.procs:
                if proc.poll() is None:
                    proc.kill()
                with contextlib.suppress(Exception):
                    proc.wait(5)
        for name in reversed(self._namespaces):
            _ip("netns", "del", name, check=False)
        with contextlib.suppress(Exception):
            atexit.unregister(self.close)


def _remove_stale() -> None:
    """Namespaces left by a test run that was killed (SIGKILL skips every finaliser): ours are
    named cmx<pid>x…, so those whose process is gone are deleted; nothing else is touched."""
    listed = _ip("netns", "list", check=False).stdout.split()
    for name in listed:
        match = re.fullmatch(r"cmx(\d+)x\d+\w*", name)
        if match is None or int(match[1]) == os.getpid():
            continue
        if not Path(f"/proc/{match[1]}").exists():
            _ip("netns", "del", name, check=False)


def venv_bin(name: str) -> str:
    """A console script of the interpreter running the tests (the project's .venv)."""
    return str(Path(sys.executable).with_name(name))
