"""charmix: CHOP Execute DAT callbacks that send a control CHOP's channels to the daemon.

Point the CHOP Execute DAT at a CHOP with any of these channels (a Constant CHOP, sliders merged
together, a MIDI In CHOP renamed ...): w1 … w6 (target weights of the models in /charmix/models
order), temperature, rate. A change sends the matching message through the OSC Out DAT
`charmix_osc_out` (the daemon's control port, 7770). Weights go out together, cut to the number of
models (the daemon refuses more weights than models). A weight channel may go down to −1: an
anti-expert, steering the text away from that model, in the daemon's geometric mode (in linear
mode the daemon refuses a negative weight). Addresses follow the daemon's address table
(daemon/protocol/table.py).
"""

import math

ADDR_WEIGHTS = "/charmix/weights"
ADDR_TEMPERATURE = "/charmix/temperature"
ADDR_RATE = "/charmix/rate"

RANGES = {"temperature": (0.05, 5.0), "rate": (0.0, 2000.0)}


def weights_message(channels, n_models):
    """The weights vector from channels w1…wN (missing ones 1), cut to n_models; or None, also
    while a channel is NaN or infinite (a broken input: the daemon would refuse the vector)."""
    if n_models <= 0:
        return None
    values = []
    for k in range(1, n_models + 1):
        chan = channels.get(f"w{k}")
        if chan is not None and not math.isfinite(float(chan)):
            return None
        values.append(min(max(-1.0, float(chan)), 1.0) if chan is not None else 1.0)
    return values


def onValueChange(channel, sampleIndex, val, prev):  # noqa: N802
    out = op("charmix_osc_out")
    name = channel.name
    if name in RANGES:
        if not math.isfinite(float(val)):
            return  # NaN or inf from a broken input: send nothing rather than junk
        low, high = RANGES[name]
        address = ADDR_TEMPERATURE if name == "temperature" else ADDR_RATE
        out.sendOSC(address, [min(max(float(val), low), high)])
    elif name.startswith("w") and name[1:].isdigit():
        models = op("charmix_models")
        n_models = models.numRows - 1 if models is not None else 0
        values = {c.name: c.eval() for c in channel.owner.chans()}
        message = weights_message(values, n_models)
        if message:
            out.sendOSC(ADDR_WEIGHTS, message)
    return
