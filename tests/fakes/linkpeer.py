"""A second Ableton Link peer for tests/test_link.py: aalink itself, run inside a network namespace.

    ip netns exec NS python linkpeer.py PORT

It joins the Link session (start/stop sync on, quantum 4), listens for OSC on UDP PORT, and talks
JSON lines: commands on stdin, events on stdout.

- in: {"tempo": BPM}, {"playing": true|false}, {"report": true}, {"quit": true}
- out: {"ready": port}; {"peers": n} when the count changes; {"report": …} when asked;
  and for every datagram that arrives, {"address", "args", "beat", "tempo", "playing"}: the
  session's beat *at its arrival*, read from this peer's own timeline. The tick phase error of
  the bridge is measured against exactly that: the beat timeline of the peer that set the tempo.
"""

from __future__ import annotations

import asyncio
import json
import sys

import aalink
from pythonosc.osc_packet import OscPacket


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, default=repr) + "\n")  # blobs in a frame: their repr
    sys.stdout.flush()


class Inbox(asyncio.DatagramProtocol):
    def __init__(self, link: aalink.Link) -> None:
        self.link = link

    def datagram_received(self, data: bytes, addr: object) -> None:
        beat = self.link.beat  # first: the arrival, as close as this process can read it
        try:
            messages = [(m.message.address, list(m.message.params))
                        for m in OscPacket(data).messages]  # a message, or a daemon's frame
        except Exception:  # noqa: BLE001 - the test sees "?"
            messages = [("?", [])]
        for address, args in messages:
            emit({"address": address, "args": args, "beat": beat, "tempo": self.link.tempo,
                  "playing": self.link.playing})


async def main(port: int) -> None:
    link = aalink.Link(120.0)
    link.quantum = 4.0
    link.start_stop_sync_enabled = True
    link.enabled = True
    loop = asyncio.get_running_loop()
    await loop.create_datagram_endpoint(lambda: Inbox(link), local_addr=("0.0.0.0", port))
    link.set_num_peers_callback(lambda n: emit({"peers": n}))
    emit({"ready": port})
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        cmd = json.loads(line)
        if "tempo" in cmd:
            link.tempo = float(cmd["tempo"])
        if "playing" in cmd:
            link.playing = bool(cmd["playing"])
        if "report" in cmd:
            emit({"report": {"beat": link.beat, "tempo": link.tempo, "playing": link.playing,
                             "peers": link.num_peers}})
        if "quit" in cmd:
            break
    link.enabled = False


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
