"""Fuzz the TouchDesigner callbacks' Python (patches/touchdesigner/*.py) with a fake `op`.

TouchDesigner parses OSC itself and calls the OSC In DAT's onReceiveOSC with (address, args) per
message, and the OSC In CHOP makes one channel per numeric argument; so 100,000 hostile datagrams
are decoded (charmix.daemon.protocol.oscread, python-osc underneath) and every message that decodes
is delivered the way TouchDesigner would: to charmix_osc_in.onReceiveOSC, and its numbers as
channels to charmix_dists' Script CHOP onCook. The control callbacks (charmix_controls) get channel
values including NaN and ±inf. Pass: no callback raises, nothing grows without bound, and no
non-finite number is ever sent to the daemon."""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from types import SimpleNamespace

from oscfuzz import Fuzzer
from test_patches import FakeDAT, td_module

from charmix.daemon import protocol
from charmix.daemon.protocol import oscread

SEED = 20261203
N = 100_000
OUTPUTS = [(a.path, a.types) for a in protocol.OUTPUT]


class Chan(SimpleNamespace):
    def eval(self) -> float:
        return self.value


def test_fuzz_the_touchdesigner_callbacks() -> None:
    dats: dict[str, FakeDAT] = defaultdict(FakeDAT)
    osc_in = td_module("charmix_osc_in.py", op=lambda name: dats[name])
    dists = td_module("charmix_dists.py")
    me = FakeDAT()
    made: dict[str, SimpleNamespace] = {}
    channels: list[Chan] = []
    script = SimpleNamespace(inputs=[SimpleNamespace(chans=lambda: channels)], numSamples=0,
                             clear=made.clear,
                             appendChan=lambda name: made.setdefault(name, SimpleNamespace()))
    delivered = 0
    started = time.monotonic()
    for i, data in enumerate(Fuzzer(SEED, OUTPUTS, ["a", "b"]).stream(N)):
        try:
            messages = oscread.messages(data)
        except Exception:
            continue  # TouchDesigner drops what it cannot parse; no callback runs
        for m in messages:
            osc_in.onReceiveOSC(me, 0, "", data, 0.0, m.address, list(m.params), "127.0.0.1")
            delivered += 1
            numbers = [p for p in m.params if isinstance(p, int | float)
                       and not isinstance(p, bool)]
            channels[:] = [Chan(name=f"{m.address.lstrip('/')}{k + 1}", value=float(v))
                           for k, v in enumerate(numbers[:2000])]
            if channels and i % 7 == 0:
                dists.onCook(script)
        assert time.monotonic() - started < 200, f"too slow: {i} datagrams"
    state = me.fetch("charmix_text_state")
    assert delivered > N // 2
    assert state is not None and len(state.chars) <= 8192
    assert len(dats) <= 6 + 5  # the DATs the network has, nothing made up from the input


def test_fuzz_the_touchdesigner_controls() -> None:
    sent: list[tuple[str, list]] = []
    models = FakeDAT()
    models.rows = [["index", "name"], [0, "a"], [1, "b"], [2, "c"]]
    ops = {"charmix_osc_out": SimpleNamespace(sendOSC=lambda a, v: sent.append((a, v))),
           "charmix_models": models}
    mod = td_module("charmix_controls.py", op=ops.get)
    r = random.Random(SEED)
    owner = SimpleNamespace()
    values = [math.nan, math.inf, -math.inf, -1.0, 0.0, 0.5, 1e308, -1e308, 3.0]
    for _ in range(20_000):
        chans = [Chan(name=n, value=r.choice(values), owner=owner)
                 for n in ("w1", "w2", "w3", "temperature", "rate")]
        owner.chans = lambda chans=chans: chans
        chan = r.choice(chans)
        mod.onValueChange(chan, 0, chan.value, 0.0)
    assert sent
    for address, args in sent:
        assert all(math.isfinite(a) for a in args), (address, args)
