"""docs/ARCHITECTURE.md is the map of the house: every module of core/, dashboard/ and pages/ is on it."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAP = ROOT / "docs" / "ARCHITECTURE.md"


def _modules() -> list[Path]:
    found = []
    for top in ("core", "dashboard", "pages"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if "migrations" in path.parts or path.name in ("__init__.py", "__main__.py"):
                continue
            found.append(path.relative_to(ROOT))
    return found


def _named(module: Path, text: str) -> bool:
    """Named by its path, or (a top-level core module) by its file name at the start of a map line."""
    if str(module) in text:
        return True
    top_level = rf"^\s+(\S+\.py\s+)*{re.escape(module.name)}\b"
    return module.parent.name == "core" and re.search(top_level, text, re.M) is not None


def test_every_module_is_on_the_map():
    text = MAP.read_text()
    missing = [str(m) for m in _modules() if not _named(m, text)]
    assert not missing, f"docs/ARCHITECTURE.md does not name: {missing}"


def test_the_map_names_no_module_that_is_gone():
    text = MAP.read_text()
    named = set(re.findall(r"(?<![\w/])((?:core|dashboard|pages)/[\w/]+\.py)\b", text))
    gone = sorted(p for p in named if not (ROOT / p).exists())
    assert not gone, f"docs/ARCHITECTURE.md names modules that do not exist: {gone}"
