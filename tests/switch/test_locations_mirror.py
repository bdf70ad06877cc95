"""serve's mirror of Kamailio's `location` into `registration` (core/switch/locations.py), on rows written as
Kamailio writes them, without Kamailio: what is mirrored, what the history says, and a binding past its end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, select

from core.db import transaction
from core.models import KamailioLocation, Line, Registration, RegistrationEvent
from core.switch import locations
from tests.conftest import Seed

NOW = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)


def _binding(username: str, contact: str, expires: datetime, **more: object) -> dict[str, object]:
    naive = expires.astimezone(UTC).replace(tzinfo=None)  # Kamailio writes naive UTC times
    return {"ruid": f"ulcx-{contact}", "username": username, "domain": None, "contact": contact,
            "received": "sip:198.51.100.7:5062", "expires": naive, "last_modified": naive - timedelta(seconds=300),
            "callid": f"call-{contact}", "cseq": 2, "user_agent": "Yealink SIP-T46U", "socket": "udp:10.0.0.1:5060",
            **more}  # fmt: skip


def _events(engine: Engine, line_id: int) -> list[str]:
    with transaction(engine) as s:
        return list(s.scalars(select(RegistrationEvent.event).where(RegistrationEvent.line_id == line_id)
                              .order_by(RegistrationEvent.id)))  # fmt: skip


def test_a_binding_is_mirrored_with_its_source_and_its_end_is_history(seed: Seed, engine: Engine) -> None:
    with transaction(engine) as s:
        user = s.scalars(select(Line.sip_username).where(Line.id == seed.line_a1)).one()
        s.execute(insert(KamailioLocation), [_binding(user, "sip:a1@10.1.1.5:5062", NOW + timedelta(seconds=200))])
    assert locations.mirror(engine, NOW) == 1
    assert locations.mirror(engine, NOW) == 0  # nothing changed: nothing written
    with transaction(engine) as s:
        reg = s.scalars(select(Registration)).one()
    assert (reg.line_id, reg.source_ip, reg.source_port, reg.transport) == (seed.line_a1, "198.51.100.7", 5062, "udp")
    assert reg.aor == f"{user}@acme.voip.example" and reg.user_agent == "Yealink SIP-T46U"
    with transaction(engine) as s:
        s.query(KamailioLocation).delete()
    locations.mirror(engine, NOW + timedelta(seconds=10))
    assert _events(engine, seed.line_a1) == ["start", "unregister"]  # gone before its end: unregistered


def test_a_binding_left_past_its_end_is_not_shown(seed: Seed, engine: Engine) -> None:
    """Written back (SQLite), a removal usrloc's timer could not write leaves the row in `location` after its
    end: État must not show it as registered."""
    with transaction(engine) as s:
        user = s.scalars(select(Line.sip_username).where(Line.id == seed.line_a2)).one()
        s.execute(insert(KamailioLocation), [_binding(user, "sip:a2@10.1.1.6:5060", NOW + timedelta(seconds=30))])
    locations.mirror(engine, NOW)
    assert locations.mirror(engine, NOW + timedelta(seconds=31)) == 1  # the row is still there, past its end
    with transaction(engine) as s:
        assert s.scalars(select(Registration)).all() == []
    assert _events(engine, seed.line_a2) == ["start", "expired"]
