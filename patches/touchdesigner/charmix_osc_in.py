"""charmix: OSC In DAT callbacks (the strings) for TouchDesigner.

Put this in the OSC In DAT's Callbacks DAT (`charmix_osc_in_callbacks`). The OSC In DAT listens on
the daemon's output port (7771); this file turns its messages into DATs the network draws:

  charmix_models   Table DAT, one row per model: index, name, r, g, b (its colour)
  charmix_line     Text DAT, the current line (/charmix/text)
  charmix_char     Text DAT, the last character
  charmix_text     Text DAT, the last LINES lines of text
  charmix_text0 … charmix_text5
                   Text DATs, the same lines with only model k's characters (the argmax of
                   /charmix/attribution for that step); every other character is a space, so six
                   Text TOPs in a monospaced font, one colour each, laid Over one another, draw
                   the text coloured by the model that wrote it
  charmix_status   Table DAT, field / value (/charmix/status)

The number vectors (p_mix, p_i, weights, entropy) go through the OSC In CHOP and the Script CHOP
in charmix_dists.py; /charmix/attribution is read here as well, for the colours. Addresses follow
the daemon's address table (daemon/protocol/table.py); tests/test_patches.py checks them.
"""

import math

PREFIX = "/charmix"
ADDR_CHAR = "/charmix/char"
ADDR_TEXT = "/charmix/text"
ADDR_MODELS = "/charmix/models"
ADDR_ATTRIBUTION = "/charmix/attribution"
ADDR_STATUS = "/charmix/status"

STATUS_FIELDS = (
    "step", "chars_per_s", "rate", "paused", "temperature", "mode", "topk", "topp", "rx_ok",
    "rx_bad", "rx_denied", "tx_datagrams", "tx_errors", "overruns", "subscribers", "uptime",
    "ticks_dropped", "step_errors", "ws_dropped", "masked_mass", "words_blocked", "mask_fallbacks",
)
SLOTS = 6  # charmix_text0 … charmix_text5
LINES = 12  # lines of text kept for the view
# Model colours (r, g, b in 0-1): charmix's one palette, daemon/protocol/palette.py (a test keeps
# this copy equal). The shipped models keep theirs by name; any other takes EXTRA[its index].
NAMED = {
    "shakespeare": (0.949, 0.757, 0.306),
    "austen": (0.937, 0.435, 0.612),
    "nietzsche": (0.663, 0.545, 0.961),
    "bible": (0.31, 0.765, 0.969),
    "linux": (0.482, 0.851, 0.42),
    "latex": (1.0, 0.541, 0.239),
}
EXTRA = (
    (0.878, 0.878, 0.878),
    (0.302, 0.714, 0.675),
    (0.831, 0.882, 0.341),
    (0.624, 0.659, 0.855),
    (0.898, 0.451, 0.451),
    (0.788, 0.635, 0.494),
)


def model_colour(name, index):
    return NAMED.get(name) or EXTRA[index % len(EXTRA)]


class TextState:
    """The text so far, one writer per character; no TouchDesigner in here, so it is testable."""

    def __init__(self, lines=LINES):
        self.lines = lines
        self.chars = []  # [character, model index or None]
        self.pending = None  # the last character, until its attribution arrives
        self.models = []

    def add_char(self, char):
        self.pending = [char, None]
        self.chars.append(self.pending)
        if len(self.chars) > 8192:  # keep memory flat over weeks; the view needs far less
            del self.chars[:4096]

    def attribute(self, values):
        if self.pending is not None and values:
            self.pending[1] = max(range(len(values)), key=lambda i: values[i])
            self.pending = None

    def _tail(self):
        """The characters of the last `lines` lines (a newline ends a line)."""
        count, start = 0, 0
        for i in range(len(self.chars) - 1, -1, -1):
            if self.chars[i][0] == "\n":
                count += 1
                if count == self.lines:
                    start = i + 1
                    break
        return self.chars[start:]

    def text(self, only=None):
        """The visible text; with `only`, other models' characters become spaces."""
        out = []
        for char, model in self._tail():
            if char == "\n" or only is None or model == only:
                out.append(" " if char == "\t" else char)
            else:
                out.append(" ")
        return "".join(out)


def _state(dat):
    state = dat.fetch("charmix_text_state", None, search=False)
    if state is None:
        state = TextState()
        dat.store("charmix_text_state", state)
    return state


def _redraw_text(state):
    op("charmix_text").text = state.text()
    for k in range(SLOTS):
        op(f"charmix_text{k}").text = state.text(only=k)


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value):
    """A number a view can use: junk (strings, blobs, NaN, inf) is ignored, never raised on."""
    return _number(value) and math.isfinite(value)


def onReceiveOSC(dat, rowIndex, message, bytes, timeStamp, address, args, peer):  # noqa: N802
    """Called by the OSC In DAT for every message (bundles are unpacked by TouchDesigner)."""
    state = _state(dat)
    if address == ADDR_CHAR and len(args) == 1 and isinstance(args[0], str) and args[0]:
        state.add_char(args[0][0])
        op("charmix_char").text = args[0]
    elif address == ADDR_ATTRIBUTION and args and all(_finite(a) for a in args):
        state.attribute([float(a) for a in args])
        _redraw_text(state)
    elif address == ADDR_TEXT and len(args) == 1 and isinstance(args[0], str):
        op("charmix_line").text = args[0]
    elif (address == ADDR_MODELS and args and all(isinstance(a, str) for a in args)
          and list(args) != state.models):
        state.models = [str(a) for a in args]
        table = op("charmix_models")
        table.clear()
        table.appendRow(["index", "name", "r", "g", "b"])
        for i, name in enumerate(state.models):
            table.appendRow([i, name, *model_colour(name, i)])
    elif (address == ADDR_STATUS and len(args) >= len(STATUS_FIELDS)
          and all(_number(a) for a in args)):
        # Fields are only ever appended: a newer daemon may send more than this script knows.
        table = op("charmix_status")
        table.clear()
        for name, value in zip(STATUS_FIELDS, args):
            table.appendRow([name, value])
    # the number vectors (and /charmix/step, /charmix/index): see charmix_dists.py
    return
