"""serve's TopStop pass (every second): price the calls that ended, compare each limit with its period's
spend (finished calls plus the live ones as they stand), block what reached its limit, raise the
`topstop_reached` alert, and end the ongoing PSTN calls of every blocked line or vPBX.

Why core and not Kamailio's cnxcc: one rating (this package's, from data/rates.yaml) for the spend shown
and the spend enforced; a vPBX's limit holds across its lines' concurrent calls and across several
Kamailio instances sharing the database (cnxcc keeps one credit per call in one instance's memory, and is
not in the Debian packages installed with the switch). The cost: a limit is enforced within one pass
(INTERVAL) plus the RPC round trip, so a call can overrun its limit by about a second of its rate.

A pass costs a constant number of statements whatever the number of limits, lines and calls.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, or_, select
from sqlalchemy.orm import Session

from core import audit
from core.alert_rules import BY_CODE
from core.db import transaction
from core.models import Alert, Line, TopstopBlock, TopstopLimit, Vpbx, utcnow
from core.permissions import Actor
from core.processes.periodic import every
from core.settings import Settings
from core.topstop import rates as rate_file
from core.topstop.periods import period_start
from core.topstop.rates import RateTable
from core.topstop.spend import LiveCall, Spend, live_calls, price_finished, record_ended, spend_since

log = logging.getLogger(__name__)

INTERVAL = 1.0  # seconds between passes in serve
RULE = "topstop_reached"
TOPSTOP = Actor(name="system:topstop", role="provider")  # what the audit log names for an automatic block

EndCall = Callable[[LiveCall], bool]  # ends one live call through the switch; True when it is gone


@dataclass
class PassResult:
    blocked: list[dict[str, Any]] = field(default_factory=list)  # the blocks this pass made
    ended: list[str] = field(default_factory=list)  # Call-IDs of the calls it ended


def subject_of(vpbx_id: int, line_id: int | None) -> str:
    return f"line:{line_id}" if line_id is not None else f"vpbx:{vpbx_id}"


def _raise_alert(session: Session, block: TopstopBlock, detail: dict[str, Any], settings: Settings | None) -> None:
    """One live alert per subject: a repeat (after an unblock, the next period) counts into it."""
    rule = BY_CODE[RULE]
    subject = subject_of(block.vpbx_id, block.line_id)
    live = session.scalar(select(Alert).where(Alert.rule == RULE, Alert.subject == subject, Alert.state != "resolved"))
    if live is not None:
        live.count += 1
        live.last_seen, live.detail = block.blocked_at, json.dumps(detail, default=str)
        return
    alert = Alert(rule=RULE, severity=rule.severity, subject=subject, state="open", vpbx_id=block.vpbx_id,
                  line_id=block.line_id, source_ip="", detail=json.dumps(detail, default=str),
                  first_seen=block.blocked_at, last_seen=block.blocked_at, count=1, acted_by="", note="")  # fmt: skip
    session.add(alert)
    if settings is not None:
        from core import alert_notify  # rows only: the notifier sends them

        alert_notify.enqueue(session, alert, settings)


def _names(session: Session, vpbx_ids: set[int], line_ids: set[int]) -> tuple[dict[int, str], dict[int, str]]:
    vpbx = dict(session.execute(select(Vpbx.id, Vpbx.name).where(Vpbx.id.in_(vpbx_ids))).tuples().all())
    lines = dict(session.execute(select(Line.id, Line.number).where(Line.id.in_(line_ids))).tuples().all())
    return vpbx, lines


def _check(session: Session, table: RateTable, tz: str, now: datetime, settings: Settings | None,
           result: PassResult) -> list[LiveCall]:  # fmt: skip
    """Block what reached its limit; returns the live calls of every blocked subject (to be ended)."""
    limits = session.scalars(select(TopstopLimit)).all()
    blocks = session.scalars(select(TopstopBlock).where(TopstopBlock.lifted_at.is_(None))).all()
    vpbx_ids = {x.vpbx_id for x in limits} | {b.vpbx_id for b in blocks}
    if not vpbx_ids:
        return []
    live = live_calls(session, table, now, vpbx_ids)
    starts = {p: period_start(p, now, tz) for p in {x.period for x in limits}}
    spends: dict[str, Spend] = {p: spend_since(session, start, vpbx_ids, live) for p, start in starts.items()}
    handled = {
        (b.vpbx_id, b.line_id, b.period, b.period_start, b.limit_cents)
        for b in session.scalars(select(TopstopBlock).where(
            or_(*[(TopstopBlock.period == p) & (TopstopBlock.period_start == s) for p, s in starts.items()])))
    } if starts else set()  # fmt: skip
    reached = [
        (lim, spent)
        for lim in limits
        if (spent := spends[lim.period].of(lim.vpbx_id, lim.line_id)) >= lim.amount_cents
        and (lim.vpbx_id, lim.line_id, lim.period, starts[lim.period], lim.amount_cents) not in handled
    ]
    if reached:
        names, numbers = _names(session, {lim.vpbx_id for lim, _ in reached},
                                {lim.line_id for lim, _ in reached if lim.line_id is not None})  # fmt: skip
        for lim, spent in reached:
            block = TopstopBlock(vpbx_id=lim.vpbx_id, line_id=lim.line_id, period=lim.period,
                                 period_start=starts[lim.period], limit_cents=lim.amount_cents, spent_cents=spent,
                                 blocked_at=now, calls_ended=0, lifted_by="", note="")  # fmt: skip
            session.add(block)
            detail = {"scope": "line" if lim.line_id is not None else "vpbx", "vpbx": names.get(lim.vpbx_id, ""),
                      "number": numbers.get(lim.line_id or 0, ""), "period": lim.period,
                      "period_start": starts[lim.period].isoformat(timespec="seconds"),
                      "limit": cents_text(lim.amount_cents), "spent": cents_text(spent),
                      "currency": table.currency}  # fmt: skip
            _raise_alert(session, block, detail, settings)
            target = ("line", lim.line_id) if lim.line_id is not None else ("vpbx", lim.vpbx_id)
            audit.record(session, TOPSTOP, "topstop.block", target[0], target[1], **detail)
            result.blocked.append({"subject": subject_of(lim.vpbx_id, lim.line_id), **detail})
        session.flush()
        blocks = [*blocks, *session.scalars(select(TopstopBlock).where(TopstopBlock.blocked_at == now,
                                                                        TopstopBlock.lifted_at.is_(None)))]  # fmt: skip
    blocked_lines = {b.line_id for b in blocks if b.line_id is not None}
    blocked_vpbx = {b.vpbx_id for b in blocks if b.line_id is None}
    return [c for c in live if c.line_id in blocked_lines or c.vpbx_id in blocked_vpbx]


def cents_text(cents: int) -> str:
    """12345 -> "123.45": amounts as the CLI, the audit log and the alert show them."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def run_pass(engine: Engine, settings: Settings, end_call: EndCall | None = None, now: datetime | None = None,
             table: RateTable | None = None) -> PassResult:  # fmt: skip
    """One TopStop pass; `end_call` ends a live call through the switch (None: no switch handles calls)."""
    now = now or utcnow()
    table = table or rate_file.current(settings.rates_file)
    result = PassResult()
    with transaction(engine) as s:
        price_finished(s, table, now)
    with transaction(engine) as s:
        to_end = _check(s, table, settings.timezone, now, settings, result)
    if not to_end or end_call is None:
        return result
    ended = []
    for call in to_end:
        try:
            if end_call(call):
                ended.append(call)
        except Exception:  # the switch away: the next pass tries again, the block stands meanwhile
            log.exception("TopStop could not end call %s", call.callid)
    if ended:
        with transaction(engine) as s:
            record_ended(s, ended, now)
            _count_ended(s, ended)
        result.ended = [c.callid for c in ended]
    return result


def _count_ended(session: Session, ended: Sequence[LiveCall]) -> None:
    blocks = session.scalars(select(TopstopBlock).where(TopstopBlock.lifted_at.is_(None))).all()
    for b in blocks:
        b.calls_ended += sum(1 for c in ended if (c.line_id == b.line_id if b.line_id is not None
                                                   else c.vpbx_id == b.vpbx_id))  # fmt: skip


def switch_end_call(settings: Settings) -> EndCall | None:
    """How this installation ends a live call: through its Kamailio, or not at all (the built-in registrar
    handles no call)."""
    if settings.switch != "kamailio":
        return None
    from core.switch.kamailio_config import context_for
    from core.topstop.live import KamailioCalls

    return KamailioCalls([context_for(settings).rpc_socket])


async def run_topstop(settings: Settings, engine: Engine, stop: asyncio.Event, end_call: EndCall | None = None,
                      interval: float = INTERVAL) -> None:  # fmt: skip
    """TopStop now, then every `interval` seconds until `stop` (run by the serve process)."""
    end_call = end_call or switch_end_call(settings)

    def one_pass() -> None:
        run_pass(engine, settings, end_call)

    await every(interval, stop, one_pass, log, "topstop")
