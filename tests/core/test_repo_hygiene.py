"""Rules of the tree that no single module's test would catch."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from core.settings import ROOT


def _python_sources() -> list[Path]:
    return [*(ROOT / "core").rglob("*.py"), *(ROOT / "dashboard").rglob("*.py"), *(ROOT / "pages").rglob("*.py"),
            ROOT / "app.py"]  # fmt: skip


def test_loggers_are_named_after_their_module():
    """One naming scheme: `logging.getLogger(__name__)`, so a logger's name says where a line came from."""
    named = {
        str(p.relative_to(ROOT)): calls
        for p in _python_sources()
        if (calls := [c for c in re.findall(r"getLogger\(([^)]*)\)", p.read_text()) if c != "__name__"])
    }
    assert named == {}


def test_importing_a_provisioning_module_does_not_load_the_app():
    """core/provisioning/__init__.py is light: a submodule (here the path rules) comes alone."""
    code = "import sys, core.provisioning.paths; print('core.provisioning.app' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# The notes the project started from live outside the repository; the repository must explain itself.
OUTSIDE_NOTES = re.compile(r"\.\./shared/|/work/shared|\b(?:DESIGN|VENDORS|STYLE)\.md\b|SIP-NOTES|STREAMLIT-NOTES")


def test_no_tracked_file_cites_the_notes_outside_the_repository():
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    this = str(Path(__file__).resolve().relative_to(ROOT))
    citing = []
    for name in (f.decode() for f in files if f):
        path = ROOT / name
        if name == this or not path.is_file():
            continue
        for n, line in enumerate(path.read_bytes().decode("utf-8", "replace").splitlines(), 1):
            if OUTSIDE_NOTES.search(line):
                citing.append(f"{name}:{n}: {line.strip()[:100]}")
    assert len(files) > 100 and citing == []


def test_every_type_ignore_in_core_says_why():
    """mypy runs on core/ (scripts/test.sh): an ignore names its error code and a reason after it."""
    bare = []
    for path in sorted((ROOT / "core").rglob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            if "type: ignore" in line and not re.search(r"type: ignore\[[a-z-]+(, [a-z-]+)*\]  # \S", line):
                bare.append(f"{path.relative_to(ROOT)}:{n}")
    assert bare == []
