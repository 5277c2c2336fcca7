"""How charmix daemons are named on a network: mDNS service types, the TXT tag, the local ports.

Both sides read these: the daemon's advertising and OSCQuery server (daemon/oscquery/) say them,
and discovery (daemon/client/discovery.py) looks for them. Kept in the kernel so that neither side
imports the other just for a constant.
"""

from __future__ import annotations

import os

from charmix.daemon.protocol.table import OSCQUERY_PORT

OSCQUERY_LOCAL_PORTS = range(OSCQUERY_PORT, OSCQUERY_PORT + 4)  # tried in turn; probed on 127.0.0.1
OSCQUERY_SERVICE = "_oscjson._tcp.local."  # OSCQuery servers (ossia, Chataigne, vvvv browse it)
OSC_SERVICE = "_osc._udp.local."  # plain OSC receivers (TouchOSC browses it)
APP = "charmix"  # TXT app=charmix: how a charmix daemon is told from other OSC devices


def mdns_enabled() -> bool:
    """False when CHARMIX_MDNS is 0/off/false/no (the tests; a rig that wants no multicast)."""
    return os.environ.get("CHARMIX_MDNS", "1").strip().lower() not in ("0", "off", "false", "no")
