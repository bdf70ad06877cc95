"""Call records as Kamailio's acc module writes them (migration 0011: an answered INVITE row, a BYE row), for
the TopStop tests: what core.topstop.spend reads, without a switch."""

from __future__ import annotations

import itertools
from datetime import datetime

from sqlalchemy import Column, DateTime, Engine, Integer, MetaData, Table, insert, inspect

from core.db import transaction
from core.topstop.spend import ACC, naive

_ids = itertools.count(1)


def ensure_acc(engine: Engine) -> None:
    """The `acc` table, if the models do not make it yet (before the calls part's migration is merged)."""
    if inspect(engine).has_table("acc"):
        return
    cols = [Column("id", Integer, primary_key=True)]
    for c in ACC.columns:
        if c.name != "id":
            cols.append(Column(c.name, DateTime if isinstance(c.type, DateTime) else c.type.__class__(),
                               nullable=c.name != "time"))  # fmt: skip
    Table("acc", MetaData(), *cols).create(engine)


def answered(engine: Engine, line_id: int, callee: str, at: datetime, kind: str = "pstn", callid: str = "") -> str:
    """The INVITE row acc writes at the 200 OK of a call from `line_id` to `callee`; returns its Call-ID."""
    callid = callid or f"call-{next(_ids)}@test"
    with transaction(engine) as s:
        s.execute(insert(ACC).values(method="INVITE", from_tag=f"ft-{callid}", to_tag=f"tt-{callid}", callid=callid,
                                     sip_code="200", sip_reason="OK", time=naive(at), line_id=line_id,
                                     dst_ouser=callee, call_kind=kind))  # fmt: skip
    return callid


def hung_up(engine: Engine, callid: str, at: datetime) -> None:
    """The BYE row acc writes when either side hangs up."""
    with transaction(engine) as s:
        s.execute(insert(ACC).values(method="BYE", callid=callid, sip_code="200", sip_reason="OK", time=naive(at)))
