"""`charmix web` ships whole and stays out of the way: its page is in the package and reaches
for nothing outside the bridge (no CDN, no framework), aiohttp and segno load only when it runs,
and it prints where to open it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from charmix.controllers.web import bridge as web

STATIC = Path(web.__file__).with_name("static")
ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import json, sys
for name in sys.argv[1:]:
    __import__(name)
print(json.dumps(sorted(m for m in ("onnxruntime", "torch", "aiohttp", "segno")
                        if m in sys.modules)))
"""


def loaded(*modules: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, *modules], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.splitlines()[-1]))


def test_help_loads_no_aiohttp_and_the_bridge_no_onnxruntime() -> None:
    assert loaded("charmix.daemon.cli", "charmix.controllers.commands") <= set()
    assert loaded("charmix.controllers.web.bridge") == {"aiohttp"}


def test_the_page_ships_and_reaches_for_nothing_outside() -> None:
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    for ref in re.findall(r'(?:src|href)="([^"]+)"', html):
        if ref.startswith("/static/"):
            assert (STATIC / ref.removeprefix("/static/")).is_file(), ref
        else:
            assert ref == "data:,", ref  # the empty favicon
    for path in STATIC.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"https?://", text), f"{path.name} names a URL"
        assert not re.search(r"\b(import|require)\s*\(", text), f"{path.name} loads a module"
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"charmix.controllers.web" = ["static/*"]' in pyproject


def test_urls_and_qr_code() -> None:
    assert web.lan_urls("127.0.0.1", 7780) == ["http://127.0.0.1:7780/"]
    assert web.lan_urls("::1", 7780) == ["http://[::1]:7780/"]
    every = web.lan_urls("0.0.0.0", 7780)
    assert every[0] == "http://127.0.0.1:7780/" and all(u.endswith(":7780/") for u in every)
    qr = web.qr_text("http://192.168.1.20:7780/").splitlines()
    assert len(qr) >= 12 and len({len(line) for line in qr}) == 1  # a square of block cells
    assert any(ch in "".join(qr) for ch in "█▀▄")
