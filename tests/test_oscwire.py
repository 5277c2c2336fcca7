"""oscwire against python-osc: the same bytes as its builders, and bundles within the size limit."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from charmix.daemon import protocol
from charmix.daemon.live import oscwire


def built(address: str, *args: tuple[str, object]) -> bytes:
    builder = OscMessageBuilder(address)
    for tag, value in args:
        builder.add_arg(value, tag)
    return builder.build().dgram


@pytest.mark.parametrize("n", [1, 2, 3, 6, 98, 102, 300])
def test_floats_match_python_osc_byte_for_byte(n: int) -> None:
    values = np.random.default_rng(n).random(n).astype(np.float32)
    expected = built("/charmix/dist", *[("f", float(v)) for v in values])
    assert oscwire.floats("/charmix/dist", values) == expected


def test_floats_accept_float64_and_lists_and_special_values() -> None:
    values = [0.0, -1.5, 1e-30, 3.4e38, float("inf"), float("-inf")]
    expected = built("/charmix/weights", *[("f", v) for v in values])
    assert oscwire.floats("/charmix/weights", np.array(values, dtype=np.float64)) == expected
    assert oscwire.floats("/charmix/weights", values) == expected


@pytest.mark.parametrize(
    "text",
    ["", "a", "ab", "abc", "abcd", "abcde", "\n", "é", "äåæéë", "To be, or not to be" * 13, "\t"],
)
def test_strings_match_python_osc(text: str) -> None:
    assert oscwire.string("/charmix/char", text) == built("/charmix/char", ("s", text))


@pytest.mark.parametrize("value", [0, 1, -1, 2**31 - 1, -(2**31), 123456])
def test_int32_matches_python_osc(value: int) -> None:
    assert oscwire.int32("/charmix/step", value) == built("/charmix/step", ("i", value))


def test_int32_out_of_range_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="int32"):
        oscwire.int32("/charmix/step", 2**31)


def test_several_strings_and_no_arguments_match_python_osc() -> None:
    names = ["shakespeare", "linux", "bible", "a", "abcd"]
    assert oscwire.strings("/charmix/models", names) == built(
        "/charmix/models", *[("s", n) for n in names]
    )
    assert oscwire.empty("/charmix/tick") == built("/charmix/tick")


def test_bundle_matches_python_osc_bundle_builder() -> None:
    msgs = [
        oscwire.string("/charmix/char", "x"),
        oscwire.int32("/charmix/index", 7),
        oscwire.floats("/charmix/dist", np.linspace(0, 1, 102)),
    ]
    builder = OscBundleBuilder(IMMEDIATELY)
    for m in msgs:
        builder.add_content(OscMessage(m))
    assert oscwire.bundle(msgs) == builder.build().dgram


def parse_all(datagrams: list[bytes]) -> list[OscMessage]:
    out = []
    for d in datagrams:
        b = OscBundle(d)
        assert b.timestamp == 0  # python-osc reads the "immediately" timetag as 0
        out.extend(b)
    return out


def frame_like_messages(v: int, n: int) -> list[bytes]:
    rng = np.random.default_rng(0)
    msgs = [
        oscwire.string("/charmix/char", "a"),
        oscwire.int32("/charmix/index", 3),
        oscwire.int32("/charmix/step", 99),
        oscwire.string("/charmix/text", "the line so far " * 10),
        oscwire.floats("/charmix/dist", rng.random(v)),
    ]
    msgs += [oscwire.floats(f"/charmix/model/m{i}/dist", rng.random(v)) for i in range(n)]
    return msgs


def test_pack_respects_the_limit_and_keeps_order() -> None:
    msgs = frame_like_messages(102, 6)
    datagrams = oscwire.pack(msgs, protocol.MAX_DATAGRAM)
    assert len(datagrams) > 1
    assert all(len(d) <= protocol.MAX_DATAGRAM for d in datagrams)
    assert [m.dgram for m in parse_all(datagrams)] == msgs
    # Greedy: no two neighbouring datagrams could have been merged.
    for a, b in zip(datagrams, datagrams[1:], strict=False):
        assert len(a) + len(b) - oscwire.BUNDLE_OVERHEAD > protocol.MAX_DATAGRAM


def test_a_message_larger_than_the_limit_travels_alone() -> None:
    big = oscwire.floats("/charmix/dist", np.zeros(2000))  # a 2,000-character vocabulary
    small = oscwire.string("/charmix/char", "a")
    datagrams = oscwire.pack([small, big, small], protocol.MAX_DATAGRAM)
    assert len(datagrams) == 3
    assert [len(list(OscBundle(d))) for d in datagrams] == [1, 1, 1]
    assert list(OscBundle(datagrams[1]))[0].dgram == big
    assert len(datagrams[0]) <= protocol.MAX_DATAGRAM
    assert len(datagrams[2]) <= protocol.MAX_DATAGRAM


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 500), min_size=1, max_size=30),
    limit=st.integers(64, 2000),
)
def test_pack_property(sizes: list[int], limit: int) -> None:
    msgs = [oscwire.floats(f"/m{i}", np.full(n, i, np.float32)) for i, n in enumerate(sizes)]
    datagrams = oscwire.pack(msgs, limit)
    assert [m.dgram for m in parse_all(datagrams)] == msgs
    for d in datagrams:
        contents = list(OscBundle(d))
        assert len(d) <= limit or len(contents) == 1
