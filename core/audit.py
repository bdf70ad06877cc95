"""Audit trail: who did what, when. Secrets are stripped here, once, before anything is stored."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from core.models import AuditEvent, utcnow
from core.permissions import Actor

SECRET_FIELDS = frozenset(
    {"password", "admin_password", "user_password", "sip_password", "access_key", "key", "url", "secret"}
)


def redact(detail: dict[str, Any]) -> dict[str, Any]:
    """Secret-bearing fields are replaced by a marker saying only whether they changed."""
    out: dict[str, Any] = {}
    for k, v in detail.items():
        if k in SECRET_FIELDS or k.endswith("_password"):
            out[k] = "(generated)" if v in ("", None) else "(set)"
        else:
            out[k] = v
    return out


def record(
    session: Session, actor: Actor, action: str, target_type: str = "", target_id: object = "", **detail: Any
) -> None:
    session.add(
        AuditEvent(
            actor=actor.name,
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            detail=json.dumps(redact(detail), default=str, sort_keys=True) if detail else "",
        )
    )


def record_many(
    session: Session, actor: Actor, action: str, target_type: str, rows: list[tuple[object, dict[str, Any]]]
) -> None:
    """`record` for many targets at once (a bulk import): one executemany, not a statement per row."""
    if rows:
        now = utcnow()
        session.execute(
            insert(AuditEvent),
            [{"at": now, "actor": actor.name, "action": action, "target_type": target_type,
              "target_id": str(target_id), "detail": json.dumps(redact(detail), default=str, sort_keys=True)}
             for target_id, detail in rows],
        )  # fmt: skip
