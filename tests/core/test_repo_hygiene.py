"""Rules of the tree that no single module's test would catch."""

from __future__ import annotations

import re
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
    import subprocess
    import sys

    code = "import sys, core.provisioning.paths; print('core.provisioning.app' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
