"""The `subscriber` table Kamailio authenticates against, kept by voipadmin from `line` (docs/SWITCH.md).

One row per line and realm a phone may be challenged with (Kamailio challenges with the From domain): the
line's vPBX domain and our own host names, as the built-in registrar accepts them. HA1 hashes only: the
password never reaches a table Kamailio reads. serve applies the difference every second, so a new line
registers at once and "new SIP credentials" refuse the old password within a second.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine, delete, insert, select, tuple_

from core.db import transaction
from core.models import KamailioSubscriber, Line, Vpbx
from core.sip.digest import ha1

Row = tuple[str, str]  # (username, domain)


def wanted(engine: Engine, realms: Iterable[str]) -> dict[Row, tuple[str, str, int]]:
    """(username, domain) -> (ha1, ha1b, line_id) for every line and realm."""
    extra = [r.lower() for r in realms if r]
    out: dict[Row, tuple[str, str, int]] = {}
    with transaction(engine) as s:
        rows = s.execute(
            select(Line.id, Line.sip_username, Line.sip_password, Vpbx.sip_domain).join(Vpbx, Line.vpbx_id == Vpbx.id)
        ).all()
    for line_id, user, password, domain in rows:
        for realm in dict.fromkeys([domain.lower(), *extra]):
            # ha1b: Kamailio's hash for user names given as user@domain
            out[(user, realm)] = (
                ha1("MD5", user, realm, password),
                ha1("MD5", f"{user}@{realm}", realm, password),
                line_id,
            )
    return out


def sync(engine: Engine, realms: Iterable[str]) -> int:
    """Make the table what `wanted` says; the number of rows written or deleted."""
    want = wanted(engine, realms)
    with transaction(engine) as s:
        have = {
            (u, d): (h, hb, lid)
            for u, d, h, hb, lid in s.execute(
                select(
                    KamailioSubscriber.username,
                    KamailioSubscriber.domain,
                    KamailioSubscriber.ha1,
                    KamailioSubscriber.ha1b,
                    KamailioSubscriber.line_id,
                )
            )
        }
        gone = [k for k, v in have.items() if want.get(k) != v]
        new = [k for k, v in want.items() if have.get(k) != v]
        for i in range(0, len(gone), 400):
            part = gone[i : i + 400]
            account = tuple_(KamailioSubscriber.username, KamailioSubscriber.domain)
            s.execute(delete(KamailioSubscriber).where(account.in_(part)))
        rows = []
        for u, d in new:
            h, hb, line_id = want[(u, d)]
            rows.append({"username": u, "domain": d, "ha1": h, "ha1b": hb, "line_id": line_id})
        for i in range(0, len(rows), 400):
            s.execute(insert(KamailioSubscriber), rows[i : i + 400])
    return len(gone) + len(new)
