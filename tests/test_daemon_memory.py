"""The daemon's main thread hands freed heap back to the system every TRIM_EVERY seconds (the
soak's RSS creep was freed memory glibc kept; benchmarks/soak.py measures it)."""

from __future__ import annotations

import os
import sys

import pytest

from charmix.daemon.runtime import daemon as runtime


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def rss_after_free_and_trim() -> tuple[float, float]:
    blocks = [bytearray(3000) for _ in range(30_000)]  # ~90 MB in small heap blocks
    keep = blocks[::500]  # a few survivors, so the heap cannot just shrink from its top
    del blocks
    grown = rss_mb()
    runtime.release_free_memory()
    trimmed = rss_mb()
    del keep
    return grown, trimmed


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_release_free_memory_gives_back_a_freed_block() -> None:
    assert runtime._libc() is not None
    grown, trimmed = rss_after_free_and_trim()
    assert trimmed < grown  # pages of the freed block went back to the system


def test_it_is_harmless_anywhere() -> None:
    runtime.release_free_memory()
    runtime.release_free_memory()
    assert runtime.TRIM_EVERY >= 10  # rare: it walks the heap
