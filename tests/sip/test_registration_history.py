"""The registration history in the pure registrar (issue 12, point 4): what each REGISTER, purge and failed
digest appends for the flush, and that an unchanged refresh appends nothing. No sockets, time passed in."""

from __future__ import annotations

import pytest

from core import event_kinds as ek
from core.sip.credentials import Credential, CredentialTable
from core.sip.digest import NonceFactory
from core.sip.policy import Policy, PolicyConfig
from core.sip.registrar import HistoryEvent, Registrar, RegistrarConfig
from tests.sip.fakeua import FakeUA

SECRET = b"k" * 32
T0 = 1_800_000_000.0
CONTACT = "<sip:1000@127.0.0.1:5090>"


def _registrar(**config: int) -> Registrar:
    creds = [Credential.make("1000", "pbx.test", 1, "secret1000"), Credential.make("2000", "pbx.test", 2, "pw2000")]
    return Registrar(CredentialTable(creds, SECRET), NonceFactory(SECRET), Policy(PolicyConfig(rate=0)),
                     RegistrarConfig(**config))  # fmt: skip


@pytest.fixture
def reg() -> Registrar:
    return _registrar()


def kinds(reg: Registrar) -> list[str]:
    return [h.event for h in reg.drain_history()]


def test_a_first_register_is_a_start_with_where_and_what_it_came_from(reg: Registrar) -> None:
    assert FakeUA(reg, "1000", "pbx.test", "secret1000").register(T0).status == 200
    assert reg.drain_history() == [
        HistoryEvent(T0, 1, ek.REG_START, "sip:1000@127.0.0.1:5090", "127.0.0.1", 5090, "udp",
                     "FakePhone/1.0 00041345c9bf")
    ]  # fmt: skip
    assert reg.drain_history() == []  # drained


def test_a_refresh_that_changes_nothing_records_nothing(reg: Registrar) -> None:
    ua = FakeUA(reg, "1000", "pbx.test", "secret1000")
    ua.register(T0)
    reg.drain_history()
    for n in range(1, 4):
        assert ua.register(T0 + 600 * n).status == 200  # each before the binding's expiry
    assert reg.drain_history() == []
    assert len(reg.drain_changes()) == 1  # the binding itself is still written behind


def test_a_refresh_from_another_port_transport_or_user_agent_is_a_change(reg: Registrar) -> None:
    FakeUA(reg, "1000", "pbx.test", "secret1000", port=5090).register(T0, contact=CONTACT)
    moved = FakeUA(reg, "1000", "pbx.test", "secret1000", port=6000)  # the NAT gave it another port
    assert moved.register(T0 + 10, contact=CONTACT).status == 200
    upgraded = FakeUA(reg, "1000", "pbx.test", "secret1000", port=6000, ua="FakePhone/2.0 00041345c9bf")
    assert upgraded.register(T0 + 20, contact=CONTACT).status == 200
    upgraded.register(T0 + 30, contact=CONTACT)  # and then nothing new
    start, port, agent = reg.drain_history()
    assert (start.event, port.event, agent.event) == (ek.REG_START, ek.REG_CHANGE, ek.REG_CHANGE)
    assert (port.source_port, port.user_agent) == (6000, "FakePhone/1.0 00041345c9bf")
    assert (agent.source_port, agent.user_agent, agent.at) == (6000, "FakePhone/2.0 00041345c9bf", T0 + 20)


def test_expires_zero_of_a_bound_contact_is_an_unregister_and_of_an_unbound_one_nothing(reg: Registrar) -> None:
    ua = FakeUA(reg, "1000", "pbx.test", "secret1000")
    ua.register(T0)
    assert ua.register(T0 + 5, expires="0").status == 200
    assert ua.register(T0 + 6, expires="0").status == 200  # no longer bound
    start, end = reg.drain_history()
    assert (start.event, end.event, end.at, end.contact, end.line_id) == (
        ek.REG_START, ek.REG_UNREGISTER, T0 + 5, "sip:1000@127.0.0.1:5090", 1
    )  # fmt: skip


def test_contact_star_unregisters_each_bound_contact(reg: Registrar) -> None:
    FakeUA(reg, "1000", "pbx.test", "secret1000", port=5090).register(T0)
    FakeUA(reg, "1000", "pbx.test", "secret1000", port=5091).register(T0)
    reg.drain_history()
    star = FakeUA(reg, "1000", "pbx.test", "secret1000", port=5092)
    assert star.register(T0 + 1, contact="*", expires="0").status == 200
    ends = reg.drain_history()
    assert [h.event for h in ends] == [ek.REG_UNREGISTER] * 2
    assert sorted(h.contact for h in ends) == ["sip:1000@127.0.0.1:5090", "sip:1000@127.0.0.1:5091"]
    assert {h.source_port for h in ends} == {5092}  # who asked


def test_purge_records_each_expiry_at_the_moment_it_expired_once(reg: Registrar) -> None:
    FakeUA(reg, "1000", "pbx.test", "secret1000").register(T0, expires="60")
    FakeUA(reg, "2000", "pbx.test", "pw2000").register(T0, expires="600")
    reg.drain_history()
    assert reg.purge(T0 + 90) == 1
    (gone,) = reg.drain_history()
    assert (gone.event, gone.at, gone.line_id, gone.contact) == (ek.REG_EXPIRED, T0 + 60, 1, "sip:1000@127.0.0.1:5090")
    assert gone.user_agent == "FakePhone/1.0 00041345c9bf"
    assert reg.purge(T0 + 120) == 0 and reg.drain_history() == []


def test_a_register_after_an_unpurged_expiry_records_the_expiry_then_a_start(reg: Registrar) -> None:
    """The REGISTER drops the AOR's expired bindings from memory before any purge: each gets its expiry
    there, so the purge has nothing left to record and the timeline reads lost, then back."""
    ua = FakeUA(reg, "1000", "pbx.test", "secret1000")
    ua.register(T0, expires="60")
    FakeUA(reg, "1000", "pbx.test", "secret1000", port=5091).register(T0, expires="60")
    reg.drain_history()
    ua.register(T0 + 100, expires="60")
    assert [(h.event, h.at, h.source_port) for h in reg.drain_history()] == [
        (ek.REG_EXPIRED, T0 + 60, 5090), (ek.REG_EXPIRED, T0 + 60, 5091), (ek.REG_START, T0 + 100, 5090)
    ]  # fmt: skip
    reg.purge(T0 + 200)
    assert kinds(reg) == [ek.REG_EXPIRED]  # only the new binding's own expiry, later


def test_refused_registers_record_nothing(reg: Registrar) -> None:
    ua = FakeUA(reg, "1000", "pbx.test", "secret1000")
    assert ua.register(T0, expires="30").status == 423
    assert ua.register(T0, contact="<bogus>").status == 400
    for port in range(7000, 7017):  # the 17th contact is one too many
        FakeUA(reg, "1000", "pbx.test", "secret1000", port=port).register(T0)
    assert kinds(reg) == [ek.REG_START] * 16


def test_a_failed_digest_of_a_line_user_is_recorded_for_that_line_and_of_an_unknown_user_not(reg: Registrar) -> None:
    assert FakeUA(reg, "1000", "pbx.test", "secret1000", port=6001).register(T0, password="wrong-pw").status == 403
    assert FakeUA(reg, "1999", "pbx.test", "wrong-pw", port=6002).register(T0).status == 403  # not a line
    assert FakeUA(reg, "1000", "other.test", "secret1000", port=6003).register(T0).status == 403  # wrong domain
    bad_password, wrong_domain = reg.drain_history()
    assert (bad_password.event, bad_password.line_id, bad_password.source_port) == (ek.REG_AUTH_FAILED, 1, 6001)
    assert (wrong_domain.event, wrong_domain.line_id, wrong_domain.source_port) == (ek.REG_AUTH_FAILED, 1, 6003)
    assert bad_password.contact == "" and bad_password.user_agent == "FakePhone/1.0 00041345c9bf"
    assert "wrong-pw" not in repr([bad_password, wrong_domain]) and "secret1000" not in repr(bad_password)


def test_the_pending_history_is_capped_dropping_the_oldest_and_counting_them() -> None:
    reg = _registrar(max_history=3)
    for port in range(7000, 7005):
        FakeUA(reg, "1000", "pbx.test", "secret1000", port=port).register(T0)
    assert reg.history_dropped == 2
    kept = reg.drain_history()
    assert [h.source_port for h in kept] == [7002, 7003, 7004]
    FakeUA(reg, "1000", "pbx.test", "secret1000", port=7005).register(T0)
    reg.requeue_history(kept)  # a failed flush gives them back, ahead of the newer one, within the cap
    assert [h.source_port for h in reg.drain_history()] == [7003, 7004, 7005]
    assert reg.history_dropped == 3
