"""A line's calls (issue 16 point 3), from the call records Kamailio's acc module writes (core.models:
`acc` holds an answered INVITE, whose row time is the answer, and the BYE that ended it; `missed_calls` a call
that did not connect, with the switch's final code). Both directions: the line calling (`line_id`) and,
for a call between lines of its vPBX, the line called (`callee_line_id`).

A constant number of statements for any number of calls: the line, its answered calls, their ends, its
calls that did not connect.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, aliased

from core.lines import find_line
from core.models import AccRecord, Line, MissedCall
from core.permissions import Actor

LIMIT_MAX = 1000
# A final SIP code as the call's outcome; any other failure is "failed".
DISPOSITIONS = {
    "200": "answered",
    "486": "busy",
    "600": "busy",
    "408": "no_answer",
    "487": "no_answer",  # the caller gave up while it rang (CANCEL)
    "480": "unavailable",  # the callee has no registered phone
    "404": "not_found",
    "403": "refused",  # the switch refused it: PSTN block, blocked destination, spending limit
}


# Why the switch refused a call: the reason phrases of switch/kamailio/parts/calls.cfg.j2 (route[CALLS_PSTN]).
REFUSALS = {"PSTN blocked": "pstn_blocked", "Destination blocked": "destination_blocked", "No PSTN trunk": "no_trunk"}


def disposition(sip_code: str) -> str:
    return DISPOSITIONS.get(sip_code, "failed")


def _records(table: type[AccRecord] | type[MissedCall], line_id: int, limit: int) -> Select[Any, str, str]:
    """The table's INVITE records of calls from or to the line, newest first, with both lines' numbers."""
    caller, callee = aliased(Line), aliased(Line)
    return (
        select(table, caller.number, callee.number)
        .outerjoin(caller, caller.id == table.line_id)
        .outerjoin(callee, callee.id == table.callee_line_id)
        .where(table.method == "INVITE", or_(table.line_id == line_id, table.callee_line_id == line_id))
        .order_by(table.time.desc(), table.id.desc())
        .limit(limit)
    )


def _call(row: AccRecord | MissedCall, caller: str | None, callee: str | None, line_id: int) -> dict[str, Any]:
    answered = isinstance(row, AccRecord) and row.sip_code == "200"
    return {
        "callid": row.callid,
        "direction": "out" if row.line_id == line_id else "in",
        "kind": row.call_kind or "",
        "caller": caller or row.src_user or "",
        "callee": callee or row.dst_ouser or "",
        "dialled": row.dst_ouser or "",
        "source": f"{row.src_ip}:{row.src_port}" if row.src_ip else "",
        # The INVITE's arrival is the script's clock to the second, acc's own times finer: never after them.
        "start": min(row.start_time, row.time) if row.start_time else row.time,
        "answer": row.time if answered else None,
        "end": None,
        "duration": None,
        "disposition": "answered" if answered else disposition(row.sip_code),
        "sip_code": int(row.sip_code) if row.sip_code.isdigit() else None,
        "sip_reason": row.sip_reason,
        "refusal": REFUSALS.get(row.sip_reason, "") if not answered else "",  # our own refusals, as a code
    }


def line_calls(session: Session, actor: Actor, line_ref: int | str, limit: int = 100) -> list[dict[str, Any]]:
    """The line's newest `limit` calls (1..LIMIT_MAX), newest first: who called whom from which address, when
    it started, was answered and ended, how long it lasted (seconds) and how it ended (`disposition`)."""
    line = find_line(session, actor, line_ref)
    limit = max(1, min(int(limit), LIMIT_MAX))
    calls: dict[str, dict[str, Any]] = {}
    for row, caller, callee in session.execute(_records(AccRecord, line.id, limit)):
        calls.setdefault(row.callid, _call(row, caller, callee, line.id))
    if calls:
        ends = select(AccRecord.callid, func.min(AccRecord.time)).where(
            AccRecord.method == "BYE", AccRecord.callid.in_(list(calls))
        )
        for callid, ended in session.execute(ends.group_by(AccRecord.callid)):
            call = calls[callid]
            call["end"] = ended
            call["duration"] = max(0, int((call["end"] - call["answer"]).total_seconds()))
    for row, caller, callee in session.execute(_records(MissedCall, line.id, limit)):
        calls.setdefault(row.callid, _call(row, caller, callee, line.id))  # an answered branch wins
    ordered = sorted(calls.values(), key=lambda c: c["start"], reverse=True)
    return ordered[:limit]
