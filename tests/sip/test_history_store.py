"""The registration history's DB side: the flush writes it in its batch, and the expiry purge writes the
expiries no registrar held in memory (exactly one row per expired binding, whichever side saw it)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from core import event_kinds as ek
from core.db import transaction
from core.models import Registration, RegistrationEvent
from core.sip import store
from core.sip.credentials import Credential, CredentialTable
from core.sip.digest import NonceFactory
from core.sip.policy import Policy, PolicyConfig
from core.sip.registrar import Binding, HistoryEvent, Registrar, Source
from tests.sip.conftest import DOMAIN, Users
from tests.sip.fakeua import FakeUA

pytestmark = pytest.mark.db
T0 = 1_800_000_000.0


def history(engine: Engine) -> list[tuple[str, int, str, float]]:
    with transaction(engine) as s:
        rows = s.scalars(select(RegistrationEvent).order_by(RegistrationEvent.id)).all()
        return [(r.event, r.line_id, r.contact, r.at.timestamp()) for r in rows]


def binding(line_id: int, user: str, port: int, expires_at: float) -> Binding:
    return Binding(f"{user}@{DOMAIN}", f"sip:{user}@127.0.0.1:{port}", line_id, Source("127.0.0.1", port, "udp"),
                   "FakePhone/1.0", f"call-{port}", 1, expires_at, expires_at - 60)  # fmt: skip


def test_the_flush_writes_the_history_in_its_batch_in_order(engine: Engine, users: Users) -> None:
    line = users.lines["1000"]
    events = [
        HistoryEvent(T0, line, ek.REG_START, "sip:1000@127.0.0.1:5090", "127.0.0.1", 5090, "udp", "FakePhone/1.0"),
        HistoryEvent(T0 + 1, line, ek.REG_AUTH_FAILED, "", "192.0.2.7", 5070, "tcp", "x" * 300),
        *(HistoryEvent(T0 + 2, line, ek.REG_CHANGE, f"sip:1000@10.0.0.1:{p}", "10.0.0.1", p) for p in range(900)),
    ]  # more rows than one insert statement takes (store.CHUNK)
    stats = store.flush(engine, {}, [], [], events)
    assert stats.history == 902
    rows = history(engine)
    assert len(rows) == 902 and rows[0] == (ek.REG_START, line, "sip:1000@127.0.0.1:5090", T0)
    assert rows[-1][2] == "sip:1000@10.0.0.1:899"
    with transaction(engine) as s:
        failed = s.scalars(select(RegistrationEvent).where(RegistrationEvent.event == ek.REG_AUTH_FAILED)).one()
        assert (failed.source_ip, failed.source_port, failed.transport) == ("192.0.2.7", 5070, "tcp")
        assert failed.user_agent == "x" * 255


def test_the_db_purge_records_only_what_expired_before_the_registrar_started(engine: Engine, users: Users) -> None:
    """Expired while no registrar ran (not read back at start): the purge writes its REG_EXPIRED, at its
    expiry. Expired since the start: the registrar held it and recorded it itself; the purge only deletes."""
    a, b = users.lines["1000"], users.lines["1001"]
    store.flush(engine, {(x.aor, x.contact): x for x in (binding(a, "1000", 5090, T0 - 100),
                                                         binding(b, "1001", 5091, T0 + 50))}, [], [])  # fmt: skip
    started = T0
    assert store.purge_expired(engine, T0 + 100, unheld_before=started) == 2
    assert history(engine) == [(ek.REG_EXPIRED, a, "sip:1000@127.0.0.1:5090", T0 - 100)]
    with transaction(engine) as s:
        assert s.scalars(select(Registration)).all() == []
        expired = s.scalars(select(RegistrationEvent)).one()
        assert (expired.source_port, expired.transport, expired.user_agent) == (5090, "udp", "FakePhone/1.0")


def test_registrar_and_db_purge_together_write_one_expiry_per_binding(engine: Engine, users: Users) -> None:
    """A restart: one binding expired while down, one read back live that expires later. The service's purge
    (memory, then the DB) writes each expiry once, however many passes run."""
    a, b = users.lines["1000"], users.lines["1001"]
    down, live = binding(a, "1000", 5090, T0 - 10), binding(b, "1001", 5091, T0 + 60)
    store.flush(engine, {(x.aor, x.contact): x for x in (down, live)}, [], [])
    reg = Registrar(
        CredentialTable([Credential.make("1001", DOMAIN, b, "secret1001")], b"k" * 32),
        NonceFactory(b"k" * 32),
        Policy(PolicyConfig(rate=0)),
    )
    reg.load(store.load_bindings(engine, T0))  # the start: only the live one comes back
    for now in (T0 + 30, T0 + 90, T0 + 120):  # three purge passes, as service._purge_tick runs them
        reg.purge(now)
        store.flush(engine, reg.drain_changes(), [], [], reg.drain_history())
        store.purge_expired(engine, now, unheld_before=T0)
    assert sorted(history(engine)) == [(ek.REG_EXPIRED, a, down.contact, T0 - 10), (ek.REG_EXPIRED, b, live.contact,
                                                                                   T0 + 60)]  # fmt: skip


def test_a_register_then_flush_lands_as_rows(engine: Engine, users: Users) -> None:
    line = users.lines["1000"]
    reg = Registrar(CredentialTable([Credential.make("1000", DOMAIN, line, "secret1000")], b"k" * 32),
                    NonceFactory(b"k" * 32), Policy(PolicyConfig(rate=0)))  # fmt: skip
    ua = FakeUA(reg, "1000", DOMAIN, "secret1000")
    ua.register(T0)
    ua.register(T0 + 1, password="nope")
    ua.register(T0 + 2, expires="0")
    store.flush(engine, reg.drain_changes(), *reg.policy.drain(), reg.drain_history())
    assert [(e, lid) for e, lid, _c, _t in history(engine)] == [
        (ek.REG_START, line), (ek.REG_AUTH_FAILED, line), (ek.REG_UNREGISTER, line)
    ]  # fmt: skip
