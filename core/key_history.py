"""Retired access keys: a hash of each key a "Nouveau clé" replaced, so a request with an old key is told
apart from random probing (issue 12: `old_key_used`). Never the key itself."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core.models import Device


def retire(session: Session, device: Device, old_key: str) -> None:
    """Remember that `old_key` was `device`'s until now (implemented with the diagnosis work)."""
