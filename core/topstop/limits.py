"""TopStop's use cases: show a line's or a vPBX's spend against its limits, set a limit, unblock.

Rights (core.permissions): everyone sees the TopStop of what they see (an end user: their line, and
whether their vPBX is blocked); a line's limits are set by its vPBX administrator or the provider; a
vPBX's limits by the provider only (they protect the provider's bill); unblocking a line or a vPBX is a
recorded act (audit: who, when, note) of the provider or that vPBX's administrator. Unblocking lets the
subject spend past the limit it reached for the rest of that period: the same limit does not block it
again before the next period, a changed limit does as soon as it is reached.

A "per account" limit has no subject in this model: an account is a dashboard login (provider, vPBX
administrator, end user of one line), not a billing account; an end user's spend is their line's.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from core import audit, lines, vpbx
from core.alerts import clean_note
from core.errors import NotFound, ValidationError
from core.models import Line, TopstopBlock, TopstopLimit, Vpbx, utcnow
from core.permissions import (
    TOPSTOP_UNBLOCK_ROLES,
    Actor,
    require_line_admin,
    require_role,
)
from core.settings import Settings
from core.topstop import rates as rate_file
from core.topstop.enforce import cents_text
from core.topstop.periods import PERIODS, period_start
from core.topstop.spend import live_calls, price_finished, spend_since

MAX_CENTS = 100_000_000  # 1,000,000.00: a limit above this is a typo
_AMOUNT = re.compile(r"\d{1,9}(?:[.,]\d{1,2})?")
NO_LIMIT = ("none", "off", "-", "aucune")


def parse_amount(raw: str | None) -> int | None:
    """An amount as typed ("20", "20.5", "20,50") -> cents; "none" / "off" -> None (no limit)."""
    text = (raw or "").strip().lower()
    if text in NO_LIMIT:
        return None
    if not _AMOUNT.fullmatch(text):
        raise ValidationError("topstop_amount", "amount", value=raw or "")
    try:
        cents = int(Decimal(text.replace(",", ".")) * 100)
    except InvalidOperation:  # unreachable after the pattern, kept for the type checker's sake
        raise ValidationError("topstop_amount", "amount", value=raw or "") from None
    if not 0 < cents <= MAX_CENTS:
        raise ValidationError("topstop_amount_range", "amount", max=cents_text(MAX_CENTS))
    return cents


def _period(period: str) -> str:
    if period not in PERIODS:
        raise ValidationError("one_of", "period", choices=", ".join(PERIODS))
    return period


def _subject(
    session: Session, actor: Actor, vpbx_name: str | None, line_ref: int | str | None
) -> tuple[Vpbx, Line | None]:
    if (vpbx_name is None) == (line_ref is None):
        raise ValidationError("topstop_subject", "line")
    if line_ref is not None:
        line = lines.find_line(session, actor, line_ref)
        return line.vpbx, line
    if actor.role == "user":  # a vPBX's spend is its administrator's business, not one line's user's
        raise NotFound("vpbx_unknown", "vpbx", name=vpbx_name or "")
    return vpbx.find_vpbx(session, actor, vpbx_name or ""), None


def _limit_rows(session: Session, vpbx_id: int, line_id: int | None) -> list[TopstopLimit]:
    stmt = select(TopstopLimit).where(TopstopLimit.vpbx_id == vpbx_id)
    stmt = stmt.where(TopstopLimit.line_id == line_id if line_id is not None else TopstopLimit.line_id.is_(None))
    return list(session.scalars(stmt))


def _live_blocks(session: Session, vpbx_id: int, line_id: int | None) -> list[TopstopBlock]:
    """The live blocks that stop this subject's PSTN calls: a line's own and its vPBX's."""
    b = TopstopBlock
    mine = and_(b.vpbx_id == vpbx_id, b.line_id.is_(None))
    if line_id is not None:
        mine = or_(b.line_id == line_id, mine)
    return list(session.scalars(select(b).where(b.lifted_at.is_(None), mine).order_by(b.id)))


def block_view(b: TopstopBlock) -> dict[str, Any]:
    return {
        "id": b.id, "scope": "line" if b.line_id is not None else "vpbx", "vpbx_id": b.vpbx_id, "line_id": b.line_id,
        "period": b.period, "period_start": b.period_start.isoformat(timespec="seconds"),
        "limit": cents_text(b.limit_cents), "spent": cents_text(b.spent_cents),
        "blocked_at": b.blocked_at.isoformat(timespec="seconds"), "calls_ended": b.calls_ended,
        "lifted_at": b.lifted_at.isoformat(timespec="seconds") if b.lifted_at else None, "lifted_by": b.lifted_by,
        "note": b.note,
    }  # fmt: skip


def show(session: Session, actor: Actor, settings: Settings, vpbx_name: str | None = None,
         line_ref: int | str | None = None, now: datetime | None = None) -> dict[str, Any]:  # fmt: skip
    """One line's or vPBX's TopStop: each period's limit, spend and what is left, whether PSTN calls are
    blocked and by which block. A constant number of statements."""
    v, line = _subject(session, actor, vpbx_name, line_ref)
    now = now or utcnow()
    table = rate_file.current(settings.rates_file)
    price_finished(session, table, now)  # calls that ended since serve's last pass count at once
    live = live_calls(session, table, now, [v.id])
    rows = {lim.period: lim for lim in _limit_rows(session, v.id, line.id if line else None)}
    periods = []
    for period in PERIODS:
        start = period_start(period, now, settings.timezone)
        spent = spend_since(session, start, [v.id], live).of(v.id, line.id if line else None)
        lim = rows.get(period)
        periods.append({
            "period": period, "since": start.isoformat(timespec="seconds"), "spent": cents_text(spent),
            "spent_cents": spent, "limit": cents_text(lim.amount_cents) if lim else None,
            "limit_cents": lim.amount_cents if lim else None,
            "left": cents_text(max(0, lim.amount_cents - spent)) if lim else None,
            "percent": min(100, round(100 * spent / lim.amount_cents)) if lim else None,
            "set_by": lim.set_by if lim else "", "set_at": lim.set_at.isoformat(timespec="seconds") if lim else None,
        })  # fmt: skip
    blocks = _live_blocks(session, v.id, line.id if line else None)
    mine = [live_call for live_call in live if line is None or live_call.line_id == line.id]
    return {
        "scope": "line" if line else "vpbx", "vpbx": v.name, "vpbx_id": v.id,
        "line_id": line.id if line else None, "number": line.number if line else None,
        "currency": table.currency, "periods": periods, "blocked": bool(blocks),
        "blocks": [block_view(b) for b in blocks], "live_calls": len(mine),
        "may_set": _may_set(actor, line), "may_unblock": actor.role in TOPSTOP_UNBLOCK_ROLES,
    }  # fmt: skip


def _may_set(actor: Actor, line: Line | None) -> bool:
    return actor.is_provider or (line is not None and actor.role == "vpbx_admin")


def set_limit(session: Session, actor: Actor, period: str, amount: str | None, vpbx_name: str | None = None,
              line_ref: int | str | None = None) -> dict[str, Any]:  # fmt: skip
    """Set (or with "none" remove) a line's or a vPBX's limit for a period, audited with the previous one."""
    if line_ref is not None:
        require_line_admin(actor, doing="set_topstop")
    else:
        require_role(actor, "provider", doing="set_vpbx_topstop")
    period = _period(period)
    cents = parse_amount(amount)
    v, line = _subject(session, actor, vpbx_name, line_ref)
    current = {lim.period: lim for lim in _limit_rows(session, v.id, line.id if line else None)}.get(period)
    before = current.amount_cents if current else None
    if cents is None:
        if current is not None:
            session.delete(current)
    elif current is None:
        session.add(TopstopLimit(vpbx_id=v.id, line_id=line.id if line else None, period=period, amount_cents=cents,
                                 set_by=actor.name, set_at=utcnow()))  # fmt: skip
    else:
        current.amount_cents, current.set_by, current.set_at = cents, actor.name, utcnow()
    target = ("line", line.id) if line else ("vpbx", v.id)
    audit.record(session, actor, "topstop.limit", target[0], target[1], period=period,
                 amount=cents_text(cents) if cents is not None else None,
                 previous=cents_text(before) if before is not None else None)  # fmt: skip
    session.flush()
    return {"scope": target[0], "vpbx": v.name, "number": line.number if line else None, "period": period,
            "limit": cents_text(cents) if cents is not None else None,
            "previous": cents_text(before) if before is not None else None}  # fmt: skip


def unblock(session: Session, actor: Actor, note: str | None = None, vpbx_name: str | None = None,
            line_ref: int | str | None = None, now: datetime | None = None) -> dict[str, Any]:  # fmt: skip
    """Lift the live TopStop block of a line or a vPBX (its own, not its vPBX's for a line), recorded."""
    if actor.role == "user":
        require_line_admin(actor, doing="unblock_topstop")  # an end user is told whom to ask
    require_role(actor, *TOPSTOP_UNBLOCK_ROLES, doing="unblock_topstop")
    text = clean_note(note)
    v, line = _subject(session, actor, vpbx_name, line_ref)
    b = TopstopBlock
    own = b.line_id == line.id if line else and_(b.vpbx_id == v.id, b.line_id.is_(None))
    blocks = list(session.scalars(select(b).where(b.lifted_at.is_(None), own)))
    if not blocks:
        raise NotFound("topstop_not_blocked", "line" if line else "vpbx")
    at = now or utcnow()
    for block in blocks:
        block.lifted_at, block.lifted_by, block.note = at, actor.name, text
    target = ("line", line.id) if line else ("vpbx", v.id)
    audit.record(session, actor, "topstop.unblock", target[0], target[1], note=text,
                 periods=sorted(x.period for x in blocks),
                 spent=[cents_text(x.spent_cents) for x in blocks])  # fmt: skip
    session.flush()
    return {"scope": target[0], "vpbx": v.name, "number": line.number if line else None,
            "lifted": [block_view(x) for x in blocks]}  # fmt: skip


def overview(session: Session, actor: Actor) -> list[dict[str, Any]]:
    """Every limit and live block the actor may see, one row per subject and period (two statements). An end
    user: their line's limits and blocks, and their vPBX's block (its limits are the provider's business)."""
    lim, blk = TopstopLimit, TopstopBlock
    limits = select(lim, Vpbx.name, Line.number).join(Vpbx, Vpbx.id == lim.vpbx_id)
    limits = limits.outerjoin(Line, Line.id == lim.line_id)
    blocks = select(blk, Vpbx.name, Line.number).join(Vpbx, Vpbx.id == blk.vpbx_id)
    blocks = blocks.outerjoin(Line, Line.id == blk.line_id).where(blk.lifted_at.is_(None))
    if actor.role == "vpbx_admin":
        limits = limits.where(Vpbx.id == (actor.vpbx_id or -1))
        blocks = blocks.where(Vpbx.id == (actor.vpbx_id or -1))
    elif actor.role == "user":
        limits = limits.where(lim.line_id == (actor.line_id or -1))
        vpbx_block = and_(blk.line_id.is_(None), blk.vpbx_id == (actor.vpbx_id or -1))
        blocks = blocks.where(or_(blk.line_id == (actor.line_id or -1), vpbx_block))
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for limit, name, number in session.execute(limits).tuples():
        rows[(name, number or "", limit.period)] = {
            "vpbx": name, "number": number, "period": limit.period, "limit": cents_text(limit.amount_cents),
            "blocked": False,
        }  # fmt: skip
    for block, name, number in session.execute(blocks).tuples():
        entry = rows.setdefault(
            (name, number or "", block.period), {"vpbx": name, "number": number, "period": block.period, "limit": None}
        )
        entry["blocked"] = True
    return [rows[k] for k in sorted(rows)]
