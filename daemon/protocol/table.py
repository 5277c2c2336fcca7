"""The OSC address table: the one source of truth for charmix's OSC protocol.

Every address carries typed fields, and everything else derives from them: the daemon's validation
(daemon/live/controls.py, daemon/live/dispatch.py — whose routes are built by walking this
table), the TOML and flag checks (daemon/runtime/config.py), `charmix send` and every bridge
(controllers/sender.py), the monitor's parsing, docs/osc.md (`python -m
charmix.daemon.protocol.docs > docs/osc.md`, `make docs`) and the OSCQuery namespace. Adding an
address, or changing a range, is one edit here.

This module is part of the protocol kernel and imports nothing heavy (no numpy, no onnxruntime):
every bridge loads it. The types live in daemon/protocol/address.py, the docs renderer in
daemon/protocol/docs.py; `from charmix.daemon import protocol` (the package) offers the table and
the types together.

The API in one screen
---------------------
``Address`` (frozen dataclass), one per OSC address and direction:

- ``path`` — e.g. ``/charmix/model/{name}/temperature``; ``{name}`` is a model-name template
  (``per_model``, ``for_model(name)``, ``template_regex()`` matches concrete paths).
- ``access`` — ``"w"`` (a write-only event: tick, reset…), ``"rw"`` (a setting the daemon keeps,
  whose current value can be read back), ``"r"`` (an output the daemon sends). ``direction`` is
  derived: ``"in"`` when writable, else ``"out"``. OSCQuery ACCESS: ``osc_access`` (1, 2, 3).
- ``args`` — a tuple of ``Arg``; ``types`` derives the tag pattern (``f+``, ``i?s?``).
- ``description``, ``example``; ``short`` ('model/{name}/temperature'), ``signature``
  ('w_1 … w_N') and ``label(name)`` (what messages call it: 'temperature of bible').
- ``accepts(tags)`` — whether incoming OSC type tags fit (``f``/``i`` take any OSC number).
- ``check(values, name=None)`` — the typed, clipped values or ``BadValue`` (one line, e.g.
  "temperature must be in 0.05 – 5, got 9"); ``tags(values)`` the concrete OSC tags to send.
- ``oscquery(models=N, vocab=V)`` — the node's OSCQuery attributes: FULL_PATH, TYPE, ACCESS,
  DESCRIPTION, and where there are arguments RANGE, CLIPMODE, UNIT (lists, one per argument;
  ``+`` runs expanded to N models or V characters). VALUE (current) is the server's to add.

``Arg`` (frozen dataclass), one argument or a run of them:

- ``name`` (in messages and as the CLI metavar), ``type`` (``"f"``, ``"i"``, ``"s"``),
  ``repeat`` (``""`` one, ``"?"`` optional, ``"+"`` one or more) and ``per`` (``"model"`` or
  ``"vocab"``: what a ``+`` run has one of).
- ``min``, ``max`` (None = unbounded), ``min_open`` (``(0, 1]``), ``special`` (values accepted
  outside min–max with a meaning of their own, e.g. 0 = clear), ``values`` (an enumeration),
  ``max_length`` (strings).
- ``clip`` — OSCQuery CLIPMODE: ``"none"`` (the daemon never clips: a value outside the range is
  refused and counted as rx_bad), ``"low"`` / ``"high"`` / ``"both"`` (values beyond that bound
  are clipped to it; for a string with ``max_length``, ``"high"`` keeps its last characters).
- ``default`` (typed; None = none or computed, see the description), ``unit`` (``"s"``,
  ``"char/s"``, ``"bit"``; ``""`` = none), ``description``.
- ``check(value, what="")``, ``span()`` (the range as text: '0.05 – 5', '(0, 1]', '>= 0'),
  ``oscquery_range()`` ({"MIN": …, "MAX": …} or {"VALS": […]} or {}), ``low``/``high``
  (the widest numeric bounds, specials included).

Look-ups: ``control("temperature")`` (the input address '/charmix/temperature'),
``output("status")``, ``address(path, direction)``; ``INPUT``, ``OUTPUT``, ``TABLE``;
``expand(models)`` (every concrete path with its Address and model name), ``expand_voices(models,
K)`` (the same with each voice's /charmix/voice/k/… copies, and the voice); ``limits(address)``;
``STATUS`` (the Args of /charmix/status, in order) and ``STATUS_FIELDS`` (their names).

Adding an input address: its entry here, and what it does in ``Dispatcher.handlers()``
(daemon/live/dispatch.py, keyed by ``Address.short``) — a Dispatcher refuses to be built with an
address that has no handler, and tests/test_server.py fails on a handler without an address.
`charmix send` gets a sub-command, the docs a row, config nothing (unless it is also a setting:
then one line in config.CHECKS, ``_control("short")``).

Wire rules: on input, ``f`` and ``i`` accept any OSC number (``i f d h``: Max and Pd send ints when
a number box holds an integer; ``i`` needs a whole number); ``s`` accepts ``s`` only (python-osc
cannot decode the ``S`` symbol tag, so a message using it is refused rather than misread). Output
always uses exactly the tags given. Vectors are flat argument lists, never OSC arrays (oscP5 and
TouchDesigner's OSC In CHOP can't read arrays), and strings never share an address with numbers
(the CHOP reads numbers only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from charmix.daemon.protocol.address import (
    PREFIX,
    Address,
    Arg,
    Direction,
)

DEFAULT_HOST = "127.0.0.1"
CONTROL_PORT = 7770  # the daemon listens here for control messages
OUTPUT_PORT = 7771  # the daemon sends frames here by default
TD_CHOP_PORT = 7772  # patches/touchdesigner: the OSC In CHOP (numbers) subscribes here
OSCQUERY_PORT = 7772  # TCP: OSCQuery (HTTP + WebSocket); no clash with the CHOP's UDP 7772
MAX_DATAGRAM = 1400  # bytes; oscP5's default receive buffer is 1,536
MAX_INPUT_DATAGRAM = 65507  # the daemon reads whole UDP datagrams (no 8 KiB truncation)
SUBSCRIBER_TTL = 30.0  # seconds a /charmix/subscribe lasts unless renewed
ANNOUNCE_EVERY = 2.0  # seconds between /charmix/models + /charmix/vocab + /charmix/status
MODES = ("linear", "geometric")
PRIME_MAX = 1024  # characters one /charmix/prime feeds (~0.4 s with six 2x256 models)
TICKS_MAX = 64  # /charmix/tick requests that may wait; beyond this ticks are dropped and counted
WS_QUEUE_MAX = 512  # OSC frames waiting for one OSCQuery WebSocket client; more: dropped, counted
FAST_TICK_GAP = 0.002  # s; ticks at least this far apart are played at once by the control thread
VOICES_MAX = 64  # --voices: independent streams in one daemon
RECORD_PATH_MAX = 255  # characters of a /charmix/record path
VOICE_PREFIX = f"{PREFIX}/voice/"  # + K + "/…": voice K's addresses (K >= 1)
SEED_MAX = 2**63 - 1  # /charmix/seed: an OSC int32, or int64 (h) for larger seeds
TEXT_MAX = 256  # characters of the current line in /charmix/text
BLOCK_TERM_MAX = 100  # characters of one blocked term (/charmix/blocklist/add, --blocklist)
CHARSET_MAX = 1024  # characters of a /charmix/charset spec
FOLDS = ("none", "upper", "lower")  # /charmix/fold
# Scenes and the score (live/scenes.py, live/conductor.py): bounds a patch can rely on.
SCENE_NAME_MAX = 64  # characters of a scene name
SCENES_MAX = 256  # scenes one daemon keeps; saving one more is refused
MORPH_MAX = 86400.0  # s; the longest morph a recall may ask for (a day)

# ------------------------------------------------------------------------------- the table
P = PREFIX
_TEMPERATURE = dict(min=0.05, max=5.0)
_PORT = dict(min=1, max=65535)
_WEIGHT = dict(min=-1.0, max=1.0)  # −1 … 0: anti-experts (geometric mode only)
BETA_DEFAULT = 0.03  # /charmix/beta: chosen by measurement (models/README.md, "Steering away")

STATUS: tuple[Arg, ...] = tuple(
    Arg(name, "f", min=0.0, unit=unit, description=meaning) for name, unit, meaning in (
        ("step", "", "characters generated since start"),
        ("chars_per_s", "char/s", "measured over the last status period"),
        ("rate", "char/s", "clock setting in chars/s (0 = external clock, /charmix/tick)"),
        ("paused", "", "1 while paused"),
        ("temperature", "", "global temperature"),
        ("mode", "", "index into the modes: 0 linear, 1 geometric"),
        ("topk", "", "0 = off"),
        ("topp", "", "1 = off"),
        ("rx_ok", "", "control messages applied"),
        ("rx_bad", "", "ignored: malformed, wrong type or arity, out of range, unknown address "
                       "or model"),
        ("rx_denied", "", "ignored: from senders outside --allow, or subscribing a host "
                          "outside it"),
        ("tx_datagrams", "", "datagrams sent"),
        ("tx_errors", "", "send failures (unreachable hosts, full buffers)"),
        ("overruns", "", "clock deadlines missed because a step took longer than the period"),
        ("subscribers", "", "live /charmix/subscribe destinations"),
        ("uptime", "s", "seconds since start"),
        ("ticks_dropped", "", f"/charmix/tick refused because {TICKS_MAX} were already waiting "
                              "(a flood)"),
        ("step_errors", "", "steps that failed (logged); the clock carried on with the next one"),
        ("ws_dropped", "", f"OSCQuery WebSocket clients dropped because they stopped reading "
                           f"({WS_QUEUE_MAX} frames waiting for one; logged)"),
        ("masked_mass", "", "probability mass the blocklists and charsets took away, summed "
                            "over characters and voices (per character: 0 – 1)"),
        ("words_blocked", "", "characters whose draw, unmasked, would have completed a blocked "
                              "term"),
        ("mask_fallbacks", "", "characters where the mask left nothing and the documented "
                               "fallback chose"),
    )
)
STATUS_FIELDS = tuple(a.name for a in STATUS)

INPUT: tuple[Address, ...] = (
    Address(f"{P}/weights", "rw",
            "Target mixture weights, one per model in /charmix/models order. Normalised by the "
            "daemon (the positive ones sum to 1; all zero = a uniform mix); the daemon slews "
            "toward them. Negative = an anti-expert, steering the text away from that model: "
            "geometric mode only (refused in linear mode; at least one weight must stay "
            "positive). Fewer values than models: the rest keep theirs; more values than models: "
            "the message is ignored (rx_bad). Default: equal, 1/N each.",
            (Arg("weight", "f", "+", "model", **_WEIGHT),),
            "oscsend localhost 7770 /charmix/weights ffffff 1 0 0 0 0 0", voice=True),
    Address(f"{P}/weight/{{name}}", "rw",
            "Target weight of one model by name (negative: geometric mode only, as for "
            "/charmix/weights).",
            (Arg("weight", "f", **_WEIGHT),),
            "oscsend localhost 7770 /charmix/weight/austen f 0.5", voice=True),
    Address(f"{P}/temperature", "rw",
            "Global sampling temperature: each p_i ∝ p_i^(1/T) before mixing.",
            (Arg("temperature", "f", **_TEMPERATURE, default=0.8),),
            "oscsend localhost 7770 /charmix/temperature f 0.6", voice=True),
    Address(f"{P}/model/{{name}}/temperature", "rw",
            "Per-model temperature override; 0 clears it (the model follows the global one).",
            (Arg("temperature", "f", **_TEMPERATURE, special=(0.0,), default=0.0),),
            "oscsend localhost 7770 /charmix/model/bible/temperature f 1.2", voice=True),
    Address(f"{P}/mode", "rw",
            "Mixing mode: linear = Σ w_i p_i (the paper), geometric = Π p_i^w_i (product of "
            "experts).",
            (Arg("mode", "s", values=MODES, default="linear"),),
            "oscsend localhost 7770 /charmix/mode s geometric", voice=True),
    Address(f"{P}/beta", "rw",
            "Plausibility with anti-experts (geometric mode, negative weights): only characters "
            "whose probability under the positive models' product is at least beta times its "
            "best may be sampled, so an anti-expert chooses only among what the experts find "
            "plausible (contrastive decoding's rule). 0 = off; no effect without negative "
            "weights.",
            (Arg("beta", "f", min=0.0, max=1.0, default=BETA_DEFAULT),),
            "oscsend localhost 7770 /charmix/beta f 0.1", voice=True),
    Address(f"{P}/rate", "rw", "Clock rate; 0 switches to the external clock (/charmix/tick).",
            (Arg("rate", "f", min=0.0, max=2000.0, default=15.0, unit="char/s"),),
            "oscsend localhost 7770 /charmix/rate f 30"),
    Address(f"{P}/slew", "rw",
            "Time for weights to move most of the way to a new target (exponential smoothing).",
            (Arg("slew", "f", min=0.0, max=10.0, default=0.05, unit="s"),),
            "oscsend localhost 7770 /charmix/slew f 0.5", voice=True),
    Address(f"{P}/pause", "w", "Stop generating (state is kept).",
            example="oscsend localhost 7770 /charmix/pause"),
    Address(f"{P}/resume", "w", "Continue after /charmix/pause.",
            example="oscsend localhost 7770 /charmix/resume"),
    Address(f"{P}/tick", "w",
            "Generate one character now (external clock; works at any rate). Ignored while paused. "
            f"Up to {TICKS_MAX} wait while the daemon is busy; more are dropped and counted "
            f"(ticks_dropped). Ticks {FAST_TICK_GAP * 1e3:g} ms apart or more get the shortest "
            "path (~0.5 ms to the character).",
            example="oscsend localhost 7770 /charmix/tick"),
    Address(f"{P}/prime", "w",
            "Feed text to every model without sending characters for it; generation continues "
            "from the current state plus this text (send /charmix/reset first for a clean "
            "start). The text joins the current line in /charmix/text. A longer text keeps its "
            f"last {PRIME_MAX} characters; while one prime is waiting another is refused (rx_bad).",
            (Arg("text", "s", max_length=PRIME_MAX, clip="high"),),
            'oscsend localhost 7770 /charmix/prime s "To be, or not"', voice=True),
    Address(f"{P}/reset", "w", "Zero every model's LSTM state and the current line.",
            example="oscsend localhost 7770 /charmix/reset", voice=True),
    Address(f"{P}/seed", "w",
            "Reseed the sampler: the same seed, state and weight timeline give the same text. "
            "Default: random.",
            (Arg("seed", "i", min=0, max=SEED_MAX),),
            "oscsend localhost 7770 /charmix/seed i 42", voice=True),
    Address(f"{P}/topk", "rw", "Keep the k most likely characters; 0 = off.",
            (Arg("topk", "i", min=0, default=0),),
            "oscsend localhost 7770 /charmix/topk i 5", voice=True),
    Address(f"{P}/topp", "rw", "Nucleus sampling: keep the smallest set with mass >= p; 1 = off.",
            (Arg("topp", "f", min=0.0, max=1.0, min_open=True, default=1.0),),
            "oscsend localhost 7770 /charmix/topp f 0.9", voice=True),
    Address(f"{P}/subscribe", "w",
            "Send frames to host:port (host defaults to the sender's address; port to the "
            "sender's port); a host must be a numeric IP address or localhost, inside --allow "
            "(else refused and counted, rx_denied). Expires after "
            f"{SUBSCRIBER_TTL:.0f} s unless renewed.",
            (Arg("port", "i", "?", **_PORT), Arg("host", "s", "?")),
            "oscsend localhost 7770 /charmix/subscribe i 9000"),
    Address(f"{P}/unsubscribe", "w", "Stop sending to host:port.",
            (Arg("port", "i", "?", **_PORT), Arg("host", "s", "?")),
            "oscsend localhost 7770 /charmix/unsubscribe i 9000"),
    Address(f"{P}/query", "w",
            "Reply with /charmix/models, /charmix/vocab and /charmix/status to the sender, or to "
            "the given port on the sender's host (from the daemon's sending socket, not 7770).",
            (Arg("port", "i", "?", **_PORT),),
            "oscsend localhost 7770 /charmix/query i 9000"),
    Address(f"{P}/record", "w",
            "Record the performance to a new file: the models (names, sha256), the exact starting "
            "state, every change of settings and every prime, reset and seed at the step it took "
            "effect, and the text with its attribution (JSON lines, flushed as it plays). The "
            "path is relative to the daemon's working directory, ends in .jsonl, has no '..' and "
            "never names an existing file; a recording in progress is stopped first. Replay it "
            "with `charmix replay`, render it with `charmix render`.",
            (Arg("path", "s", max_length=RECORD_PATH_MAX),),
            "oscsend localhost 7770 /charmix/record s take1.jsonl"),
    Address(f"{P}/record/stop", "w", "Stop recording; the file ends with an end line.",
            example="oscsend localhost 7770 /charmix/record/stop"),
    # -- constraints (issue 21: daemon/engine/constraints.py, docs/installation.md "venues")
    Address(f"{P}/blocklist/add", "w",
            "Never write this word or phrase again (case-insensitive; whole words; a leading * "
            "blocks it as a substring, inside words too). Takes effect at the next character; "
            "kept with --state. A term that would leave no character to write is refused "
            "(rx_bad).",
            (Arg("term", "s", max_length=BLOCK_TERM_MAX + 1),),
            'oscsend localhost 7770 /charmix/blocklist/add s "whore"', voice=True),
    Address(f"{P}/blocklist/remove", "w",
            "Take a term off the blocklist (as it was added: a leading * for a substring term); "
            "an unknown term is refused (rx_bad).",
            (Arg("term", "s", max_length=BLOCK_TERM_MAX + 1),),
            'oscsend localhost 7770 /charmix/blocklist/remove s "whore"', voice=True),
    Address(f"{P}/charset", "rw",
            "The characters the voice may write: characters and ranges, escapes \\n \\t \\s "
            "(space) \\\\ \\- (e.g. \"a-z .,;:!?'\\n\"); with /charmix/fold compared folded. "
            "Empty: every character. A set with no character the models have is refused (rx_bad).",
            (Arg("charset", "s", max_length=CHARSET_MAX, default=""),),
            'oscsend localhost 7770 /charmix/charset s "a-z .,\\n"', voice=True),
    Address(f"{P}/fold", "rw",
            "Case folding of what is sent (/charmix/char, /charmix/text) for a one-case display; "
            "the models still see what they wrote.",
            (Arg("fold", "s", values=FOLDS, default="none"),),
            "oscsend localhost 7770 /charmix/fold s upper", voice=True),
    # -- scenes and the score (live/scenes.py, live/conductor.py) ------------------------------
    Address(f"{P}/scene/save", "w",
            "Save this voice's settings (weights by model name, temperature, per-model "
            "temperatures, mode, top-k, top-p, slew) as a scene under a name; an existing scene "
            "of that name is replaced. Saved to --scenes FILE (kept with --state).",
            (Arg("name", "s", max_length=SCENE_NAME_MAX),),
            "oscsend localhost 7770 /charmix/scene/save s morning", voice=True),
    Address(f"{P}/scene/recall", "w",
            "Move this voice to a saved scene, over a morph time (none or 0 = at once): weights "
            "along a straight line, temperatures on a log scale, mode and top-k switch half way. "
            "A control message during a morph wins for its setting (counted: 'overrides' in the "
            "status log line). "
            "During a score it is a punch-in.",
            (Arg("name", "s", max_length=SCENE_NAME_MAX),
             Arg("morph", "f", "?", min=0.0, max=MORPH_MAX, default=0.0, unit="s")),
            "oscsend localhost 7770 /charmix/scene/recall sf evening 30", voice=True),
    Address(f"{P}/scene/delete", "w", "Forget a saved scene.",
            (Arg("name", "s", max_length=SCENE_NAME_MAX),),
            "oscsend localhost 7770 /charmix/scene/delete s morning"),
    Address(f"{P}/score/play", "w",
            "Play this voice's part of the --score (again, after a punch-in or a stop), from "
            "the cue it was at.",
            example="oscsend localhost 7770 /charmix/score/play", voice=True),
    Address(f"{P}/score/stop", "w",
            "Stop this voice's part of the score; the settings stay where they are.",
            example="oscsend localhost 7770 /charmix/score/stop", voice=True),
    Address(f"{P}/score/cue", "w",
            "Jump to cue i (from 0) of this voice's part of the score and play from there.",
            (Arg("cue", "i", min=0),),
            "oscsend localhost 7770 /charmix/score/cue i 2", voice=True),
)

_UNIT = dict(min=0.0, max=1.0)
OUTPUT: tuple[Address, ...] = (
    Address(f"{P}/char", "r", "The character just generated (UTF-8, may be \\n).",
            (Arg("c", "s", max_length=1),), voice=True),
    Address(f"{P}/index", "r", "Its index in /charmix/vocab (for number-only readers).",
            (Arg("k", "i", min=0),), voice=True),
    Address(f"{P}/step", "r", "Step number of this character (counts from 0).",
            (Arg("n", "i", min=0),), voice=True),
    Address(f"{P}/text", "r",
            "The current line: text since the last newline, up to and including this character "
            f"(last {TEXT_MAX} characters); empty right after a newline.",
            (Arg("line", "s", max_length=TEXT_MAX),), voice=True),
    Address(f"{P}/dist", "r", "p_mix in /charmix/vocab order.",
            (Arg("p", "f", "+", "vocab", **_UNIT),), voice=True),
    Address(f"{P}/weights", "r",
            "Effective (smoothed, normalised) weights in /charmix/models order: the positive ones "
            "sum to 1; a negative one (an anti-expert, geometric mode) keeps its ratio to them, "
            "at least −1. In linear mode a negative target plays, and is sent, as 0.",
            (Arg("w", "f", "+", "model", **_WEIGHT),), voice=True),
    Address(f"{P}/attribution", "r",
            "Which model wrote this character: r_i = w_i p_i(c) / Σ_j |w_j| p_j(c). With "
            "non-negative weights the shares sum to 1; an anti-expert's is negative (how loudly "
            "it spoke against c) and Σ_i |r_i| = 1 (docs/anti-experts.md).",
            (Arg("r", "f", "+", "model", **_WEIGHT),), voice=True),
    Address(f"{P}/entropy", "r", "Each model's entropy in bits (after its temperature).",
            (Arg("H", "f", "+", "model", min=0.0, unit="bit"),), voice=True),
    Address(f"{P}/model/{{name}}/dist", "r",
            "One model's p_i in /charmix/vocab order (0 where it lacks a character).",
            (Arg("p", "f", "+", "vocab", **_UNIT),), voice=True),
    Address(f"{P}/models", "r",
            "Model names in weight order; at start, on /charmix/query, and every "
            f"{ANNOUNCE_EVERY:.0f} s.",
            (Arg("name", "s", "+", "model"),)),
    Address(f"{P}/vocab", "r",
            "The vocabulary as one string, character k at index k; sent with /charmix/models.",
            (Arg("chars", "s"),)),
    # -- scenes and the score --------------------------------------------------------------
    Address(f"{P}/scenes", "r",
            "The scenes a recall can name (the saved ones and the --score's own), sorted: sent "
            "when they change (no arguments when the last "
            f"one was deleted) and, while there are any, on /charmix/query and every "
            f"{ANNOUNCE_EVERY:.0f} s. OSCQuery's VALUE: the names in one string, "
            "comma-separated.",
            (Arg("name", "s", "+"),)),
    Address(f"{P}/scene/current", "r",
            "While a morph or the score runs: the scene (or 'drift') this voice is at or "
            "moving to; '' when it stops. With /charmix/scene/progress (numbers and strings "
            "never share an address).",
            (Arg("name", "s", max_length=SCENE_NAME_MAX),), voice=True),
    Address(f"{P}/scene/progress", "r",
            "Progress of the current morph, hold or drift, 0 – 1 (at most 10 times a second).",
            (Arg("progress", "f", **_UNIT),), voice=True),
    Address(f"{P}/status", "r",
            "Counters and settings, sent with /charmix/models (fields below; only ever "
            "appended).", STATUS),
)

TABLE: tuple[Address, ...] = INPUT + OUTPUT

# Messages that belong to one step, in the order they are bundled.
FRAME_ADDRESSES = ("char", "index", "step", "text", "dist", "weights", "attribution", "entropy")


def address(path: str, direction: Direction) -> Address:
    """Look up an entry by its (template) path, e.g. address('/charmix/weights', 'in')."""
    for entry in TABLE:
        if entry.path == path and entry.direction == direction:
            return entry
    raise KeyError(f"{direction} {path}")


def control(short: str) -> Address:
    """The input address '/charmix/<short>', e.g. control('model/{name}/temperature')."""
    return address(f"{PREFIX}/{short}", "in")


def output(short: str) -> Address:
    """The output address '/charmix/<short>', e.g. output('status')."""
    return address(f"{PREFIX}/{short}", "out")


def voice_addresses(direction: Direction) -> list[Address]:
    """The addresses each voice has its own of (`voice=True`): with --voices K, voice k >= 1
    answers to / sends them under /charmix/voice/k/…; the unprefixed ones are voice 0's."""
    return [a for a in TABLE if a.voice and a.direction == direction]


def voice_path(path: str, voice: int) -> str:
    """The address of `path` for one voice: '/charmix/weights' → '/charmix/voice/2/weights'.
    Voice 0 keeps the unprefixed address, so every patch and bridge written for one voice works."""
    if voice == 0:
        return path
    return f"{VOICE_PREFIX}{voice}/{path.removeprefix(PREFIX + '/')}"


def paths(direction: Direction) -> list[str]:
    return [a.path for a in TABLE if a.direction == direction]


def expand(models: Sequence[str],
           table: Sequence[Address] = TABLE) -> list[tuple[str, Address, str | None]]:
    """Every concrete path of a running daemon: (path, its Address, model name or None).

    Per-model templates become one path per loaded model, in model order (an OSCQuery namespace
    or a browser lists these). /charmix/weights appears twice, once per direction: a namespace
    that shows one node per path merges them (ACCESS 3: written as a target, read as the
    effective weights).
    """
    out: list[tuple[str, Address, str | None]] = []
    for entry in table:
        if entry.per_model:
            out += [(entry.for_model(name), entry, name) for name in models]
        else:
            out.append((entry.path, entry, None))
    return out


def expand_voices(models: Sequence[str], voices: int, table: Sequence[Address] = TABLE
                  ) -> list[tuple[str, Address, str | None, int]]:
    """`expand` for a daemon with --voices K: (path, Address, model name or None, voice).

    Voice 0's paths are the unprefixed ones, in table order; then, for each voice k >= 1, the
    addresses with `voice` under /charmix/voice/k/… (an OSCQuery namespace lists them all)."""
    out = [(path, entry, name, 0) for path, entry, name in expand(models, table)]
    voiced = [entry for entry in table if entry.voice]
    for k in range(1, voices):
        out += [(voice_path(path, k), entry, name, k)
                for path, entry, name in expand(models, voiced)]
    return out


def limits(entry: Address) -> tuple[float, float]:
    """The widest numeric interval an address's first argument allows (for a knob's travel)."""
    if not entry.args:
        return -math.inf, math.inf
    return entry.args[0].low, entry.args[0].high

