"""charmix: Execute DAT callbacks that keep TouchDesigner subscribed to the daemon.

The daemon sends frames to its --send address (default 127.0.0.1:7771, where the OSC In DAT
listens) and to every subscriber. The OSC In CHOP needs its own port (CHOP_PORT), so this asks the
daemon for a copy there with /charmix/subscribe, renews it every RENEW seconds (the daemon forgets
a subscriber after 30 s) and asks for the model names at once with /charmix/query. Messages go
out through the OSC Out DAT `charmix_osc_out` (Network Address DAEMON_HOST, port DAEMON_PORT).
Addresses and ports follow the daemon's address table (daemon/protocol/table.py).
"""

DAEMON_HOST = "127.0.0.1"
DAEMON_PORT = 7770  # the daemon's control port
LISTEN_PORT = 7771  # the OSC In DAT (strings): the daemon's default --send
CHOP_PORT = 7772  # the OSC In CHOP (numbers): subscribed here (protocol.TD_CHOP_PORT)
RENEW = 10.0  # seconds

ADDR_SUBSCRIBE = "/charmix/subscribe"
ADDR_UNSUBSCRIBE = "/charmix/unsubscribe"
ADDR_QUERY = "/charmix/query"


def _out():
    return op("charmix_osc_out")


def subscribe():
    _out().sendOSC(ADDR_SUBSCRIBE, [CHOP_PORT])
    _out().sendOSC(ADDR_QUERY, [LISTEN_PORT])


def onStart():  # noqa: N802
    subscribe()
    me.store("charmix_renewed", absTime.seconds)
    return


def onFrameStart(frame):  # noqa: N802
    if absTime.seconds - me.fetch("charmix_renewed", -RENEW, search=False) >= RENEW:
        me.store("charmix_renewed", absTime.seconds)
        subscribe()
    return


def onExit():  # noqa: N802
    _out().sendOSC(ADDR_UNSUBSCRIBE, [CHOP_PORT])
    return
