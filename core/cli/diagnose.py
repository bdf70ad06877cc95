"""`device diagnose ID [--json]`: why a phone does not work, as the device view says it (core/diagnosis.py)."""

from __future__ import annotations

from core.cli import Commands


def register(commands: Commands) -> None:
    """Filled in with the diagnosis work (issue 12)."""
