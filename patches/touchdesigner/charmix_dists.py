"""charmix: Script CHOP callbacks that turn the OSC In CHOP's channels into distributions.

The OSC In CHOP makes one channel per argument, numbered after the address: /charmix/dist with
102 floats becomes charmix/dist1 … charmix/dist102 (some builds number from 0 or keep the leading
slash; both are handled). This Script CHOP (input 0: that OSC In CHOP) regroups them into
channels with one sample per character, ready for a CHOP to TOP, a bar-graph instancing or the
CHOP viewer:

  mix            p_mix, one sample per character of /charmix/vocab
  p_<name>       each model's p_i (name from /charmix/model/<name>/dist)
  weights        one sample per model (effective weights)
  entropy        one sample per model, in bits

Addresses follow the daemon's address table (daemon/protocol/table.py); tests/test_patches.py checks
them.
"""

import re

ADDR_DIST = "/charmix/dist"
ADDR_WEIGHTS = "/charmix/weights"
ADDR_ENTROPY = "/charmix/entropy"
ADDR_MODEL_DIST = "/charmix/model/{name}/dist"

_VECTORS = {ADDR_DIST: "mix", ADDR_WEIGHTS: "weights", ADDR_ENTROPY: "entropy"}
_MODEL = re.compile(
    "^/?" + re.escape(ADDR_MODEL_DIST.lstrip("/")).replace(re.escape("{name}"), "([^/]+)")
    + r"(\d+)$"
)


def _key(channel_name):
    """(output channel, argument number) for an OSC In CHOP channel name, or None."""
    match = _MODEL.match(channel_name)
    if match:
        return "p_" + match.group(1), int(match.group(2))
    for address, out in _VECTORS.items():
        match = re.match("^/?" + re.escape(address.lstrip("/")) + r"(\d+)$", channel_name)
        if match:
            return out, int(match.group(1))
    return None


def regroup(channels):
    """{output name: [values in argument order]} from (channel name, value) pairs."""
    groups = {}
    for name, value in channels:
        key = _key(name)
        if key is not None:
            groups.setdefault(key[0], []).append((key[1], float(value)))
    return {name: [v for _, v in sorted(pairs)] for name, pairs in groups.items()}


def onSetupParameters(scriptOp):  # noqa: N802
    return


def onCook(scriptOp):  # noqa: N802
    scriptOp.clear()
    if not scriptOp.inputs:
        return
    groups = regroup((chan.name, chan.eval()) for chan in scriptOp.inputs[0].chans())
    if not groups:
        return
    scriptOp.numSamples = max(len(values) for values in groups.values())
    for name in sorted(groups):
        values = groups[name]
        chan = scriptOp.appendChan(name)
        chan.vals = values + [0.0] * (scriptOp.numSamples - len(values))
    return
