"""The control port's ways out and its sockets: issue 10's findings, each failing before.

- A /charmix/subscribe (or /charmix/query) naming a host outside --allow was accepted, so an
  allowed controller could aim the daemon's frames at any third party: now refused, counted as
  rx_denied.
- A control port whose bind failed leaked its wake-up socket pair (now live/reader.ControlReader).
- A step that outlived Clock.stop's join could re-create a sending socket after close().
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket

import pytest
from test_server import NAMES, P, Rig, msg, zero_status

from charmix.daemon.live.broadcast import Broadcaster, destination
from charmix.daemon.live.controls import Controls
from charmix.daemon.live.dispatch import Dispatcher
from charmix.daemon.live.reader import ControlReader, ListenError
from charmix.daemon.protocol.endpoint import Endpoint

LOG = logging.getLogger("test.server_robust")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_subscribe_or_query_to_a_host_outside_the_allowlist_is_refused_and_counted() -> None:
    rig = Rig(allow=["127.0.0.1/32"])
    try:
        rig.send(msg(f"{P}/subscribe", ("i", 9000), ("s", "10.1.2.3")))
        rig.send(msg(f"{P}/subscribe", ("i", 9000), ("s", "127.0.0.2")))  # loopback, not allowed
        rig.send(msg(f"{P}/query", ("i", 9000)))  # the sender's own host: allowed
        rig.send(msg(f"{P}/subscribe", ("i", 9001)))  # the sender's host: allowed
        rig.settle(ok=2, denied=2)
        assert [d.sockaddr for d in rig.broadcaster.targets] == [("127.0.0.1", 9001)]
    finally:
        rig.close()


def test_a_failed_bind_leaves_no_socket_open() -> None:
    controls = Controls(NAMES)
    broadcaster = Broadcaster(NAMES, list("ab"), [], controls.counters, zero_status, LOG)
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", 0))
    try:
        port = taken.getsockname()[1]
        before = open_fds()
        for _ in range(20):
            with pytest.raises(ListenError, match="in use"):
                ControlReader(Endpoint("127.0.0.1", port), Dispatcher(
                    controls, broadcaster, [ipaddress.ip_network("127.0.0.0/8")], LOG))
        assert open_fds() == before
    finally:
        taken.close()
        broadcaster.close()


def test_a_closed_broadcaster_sends_nothing_and_opens_no_socket() -> None:
    controls = Controls(NAMES)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as rx:
        rx.bind(("127.0.0.1", 0))
        dest = destination("127.0.0.1", rx.getsockname()[1])
        broadcaster = Broadcaster(NAMES, list("ab"), [dest], controls.counters, zero_status, LOG)
        broadcaster.close()
        before = open_fds()
        broadcaster.send([b"/late\x00\x00\x00,\x00\x00\x00"], [dest])  # a late step's frame
        broadcaster.announce()
        assert open_fds() == before
        assert controls.counters.tx_datagrams == 0 and controls.counters.tx_errors == 0
