"""Call records as Kamailio's acc module writes them (migration 0011: an answered INVITE row, a BYE row), for
the TopStop tests: what core.topstop.spend reads, without a switch."""

from __future__ import annotations

import itertools
from datetime import datetime

from sqlalchemy import Engine, insert

from core.db import transaction
from core.models import AccRecord

_ids = itertools.count(1)


def answered(engine: Engine, line_id: int, callee: str, at: datetime, kind: str = "pstn", callid: str = "") -> str:
    """The INVITE row acc writes at the 200 OK of a call from `line_id` to `callee`; returns its Call-ID."""
    callid = callid or f"call-{next(_ids)}@test"
    with transaction(engine) as s:
        s.execute(insert(AccRecord).values(method="INVITE", from_tag=f"ft-{callid}", to_tag=f"tt-{callid}",
                                           callid=callid, sip_code="200", sip_reason="OK", time=at, line_id=line_id,
                                           dst_ouser=callee, call_kind=kind))  # fmt: skip
    return callid


def hung_up(engine: Engine, callid: str, at: datetime) -> None:
    """The BYE row acc writes when either side hangs up."""
    with transaction(engine) as s:
        s.execute(insert(AccRecord).values(method="BYE", callid=callid, sip_code="200", sip_reason="OK", time=at))
