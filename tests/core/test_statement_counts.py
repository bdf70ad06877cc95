"""No list use case issues a statement per row (issue 10): the count is the same for 100 and 200 rows, and small.

Statements are counted with SQLAlchemy's `before_cursor_execute` on the test's engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, insert, select

from core import devices, lines, overview, registrations
from core.db import transaction
from core.models import Device, Line, Registration, Vpbx
from core.permissions import Actor

SMALL = 6  # statements a list may take whatever its length (joins, one handset query, scope look-ups)


@contextmanager
def counting(engine: Engine | type[Engine]) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def populate(engine: Engine, name: str, n_lines: int) -> None:
    """A vPBX with `n_lines` lines, each with a desk phone, a DECT base and a handset on it."""
    with transaction(engine) as s:
        v = Vpbx(name=name, sip_domain=f"{name}.example")
        s.add(v)
        s.flush()
        offset = 1000 * len(name)
        rows = [
            {"vpbx_id": v.id, "number": f"+4131{offset + i:07d}", "extension": str(100 + i),
             "display_name": f"User {i}", "sip_username": f"{name}{i}", "sip_password": "x" * 24}
            for i in range(n_lines)
        ]  # fmt: skip
        s.execute(insert(Line), rows)
        line_ids = s.scalars(select(Line.id).where(Line.vpbx_id == v.id).order_by(Line.id)).all()
        for line_id in line_ids:
            desk = Device(line_id=line_id, model_id="yealink-t46u", access_key=f"{name}-d-{line_id}",
                          admin_password="1", user_password="1")  # fmt: skip
            base = Device(line_id=line_id, model_id="yealink-w70b", access_key=f"{name}-b-{line_id}",
                          admin_password="1", user_password="1")  # fmt: skip
            s.add_all([desk, base])
            s.flush()
            s.add(Device(line_id=line_id, model_id="yealink-w56h", base_station_id=base.id,
                         admin_password="1", user_password="1"))  # fmt: skip
            s.add(Registration(aor=f"{name}{line_id}@{name}.example", contact=f"sip:{line_id}@10.0.0.1:5060",
                               line_id=line_id, source_ip="10.0.0.1", source_port=5060, transport="udp",
                               call_id=f"c{line_id}", cseq=1,
                               expires_at=datetime.now(UTC) + timedelta(hours=1)))  # fmt: skip


def statements_for(engine: Engine, use_case: Callable[[Any], Any]) -> tuple[int, Any]:
    with transaction(engine) as s, counting(engine) as seen:
        result = use_case(s)
    return len(seen), result


@pytest.fixture
def two_sizes(engine: Engine) -> Engine:
    populate(engine, "hundred", 100)
    populate(engine, "twohundred", 200)
    return engine


# Each runs as the admin of a vPBX of 100 lines, then of one of 200; (use case, rows expected per line).
USE_CASES: dict[str, tuple[Callable[[Any, Actor], Any], float]] = {
    "list_lines": (lambda s, actor: lines.list_lines(s, actor), 1),
    "list_devices": (lambda s, actor: devices.list_devices(s, actor), 3),
    "search_lines": (lambda s, actor: lines.search_lines(s, actor, "user", limit=100), 0),
    "vpbx_overview": (lambda s, actor: overview.vpbx_overview(s, actor), 0),
}


@pytest.mark.parametrize("name", list(USE_CASES))
def test_lists_take_a_few_statements_whatever_their_length(two_sizes, name):
    use_case, per_line = USE_CASES[name]
    counts = {}
    for vpbx_name, n in (("hundred", 100), ("twohundred", 200)):
        with transaction(two_sizes) as s:
            vpbx_id = s.scalar(select(Vpbx.id).where(Vpbx.name == vpbx_name))
        admin = Actor(f"admin-{vpbx_name}", "vpbx_admin", vpbx_id=vpbx_id)
        counts[vpbx_name], result = statements_for(two_sizes, lambda s: use_case(s, admin))  # noqa: B023
        if per_line:
            assert len(result) == per_line * n
    assert counts["hundred"] == counts["twohundred"] <= SMALL, counts


def test_all_devices_and_lines_of_the_provider(two_sizes, provider):
    count, all_devices = statements_for(two_sizes, lambda s: devices.list_devices(s, provider))
    assert len(all_devices) == 900 and count <= SMALL
    count, all_lines = statements_for(two_sizes, lambda s: lines.list_lines(s, provider))
    assert len(all_lines) == 300 and count <= SMALL


def test_views_are_unchanged_by_the_bulk_loading(two_sizes, provider):
    """The dicts equal what device_view/line_view give from the lazily loaded objects, handsets included."""
    from core.views import device_view, line_view

    with transaction(two_sizes) as s:
        listed = devices.list_devices(s, provider)
        listed_lines = lines.list_lines(s, provider, "hundred")
    with transaction(two_sizes) as s:
        lazy = [device_view(d) for d in s.scalars(select(Device).order_by(Device.id))]
        lazy_lines = [line_view(line) for line in s.scalars(select(Line).join(Line.vpbx).where(
            Vpbx.name == "hundred").order_by(Line.number))]  # fmt: skip
    assert listed == lazy
    assert any(d["handsets"] for d in listed)
    assert listed_lines == lazy_lines and all(line["devices"] == 3 for line in listed_lines)


def test_a_line_with_its_devices_and_registrations(two_sizes, provider):
    with transaction(two_sizes) as s:
        line_id = s.scalar(select(Line.id).order_by(Line.id))
    count, detail = statements_for(two_sizes, lambda s: lines.get_line(s, provider, line_id))
    assert len(detail["devices"]) == 3 and len(detail["registrations"]) == 1
    assert count <= SMALL + 2
    count, _ = statements_for(two_sizes, lambda s: registrations.registrations_for_line(s, line_id))
    assert count <= 2


def test_a_devices_keys_in_a_few_statements_whatever_their_number(two_sizes, provider):
    from core import keys

    with transaction(two_sizes) as s:
        few, many = s.scalars(select(Device.id).where(Device.model_id == "yealink-t46u").order_by(Device.id)).all()[:2]
    with transaction(two_sizes) as s:
        keys.set_key(s, provider, few, 1, "line", "1")
        for index in range(1, 28):
            keys.set_key(s, provider, many, index, "speed_dial", f"{100 + index}")
    counts = [statements_for(two_sizes, lambda s, d=d: keys.list_keys(s, provider, d)) for d in (few, many)]
    assert [len(found) for _, found in counts] == [1, 27]
    assert counts[0][0] == counts[1][0] <= 3


def test_a_diagnosis_and_the_ban_list_take_the_same_statements_whatever_the_history(two_sizes, provider):
    """load_facts reads the line's registration history in one indexed statement, however long it is; the
    ban list is one statement for the provider and for a vPBX admin (its phones' addresses a subquery)."""
    from core import bans, diagnosis
    from core import event_kinds as ek
    from core.models import AccessLog, Ban, RegistrationEvent, RetiredKey

    now = datetime.now(UTC)
    with transaction(two_sizes) as s:
        desks = s.scalars(select(Device.id).where(Device.model_id == "yealink-t46u").order_by(Device.id)).all()
        quiet, busy = desks[:2]
        busy_line = s.get(Device, busy).line_id  # type: ignore[union-attr]
        kinds = (ek.REG_START, ek.REG_CHANGE, ek.REG_AUTH_FAILED, ek.REG_EXPIRED, ek.REG_UNREGISTER)
        s.execute(insert(RegistrationEvent), [
            {"at": now - timedelta(seconds=i), "line_id": busy_line, "event": kinds[i % 5], "source_ip": "10.0.0.1"}
            for i in range(400)])  # fmt: skip
        s.execute(insert(AccessLog), [
            {"at": now - timedelta(seconds=i), "source_ip": "10.0.0.1", "path": "/<key>.cfg", "device_id": busy,
             "status": 404 if i % 2 else 200, "reason": ek.OLD_KEY if i % 2 else ek.OK}
            for i in range(200)])  # fmt: skip
        s.add_all(RetiredKey(key_hash=f"{i:064x}", device_id=busy) for i in range(15))
    counts = [statements_for(two_sizes, lambda s, d=d: diagnosis.load_facts(s, provider, d, now))[0]
              for d in (quiet, busy)]  # fmt: skip
    assert counts[0] == counts[1] <= 12

    with transaction(two_sizes) as s:
        vpbx_id = s.scalar(select(Vpbx.id).where(Vpbx.name == "hundred"))
    admin = Actor("admin-hundred", "vpbx_admin", vpbx_id=vpbx_id)
    few = [statements_for(two_sizes, lambda s, a=a: bans.list_bans(s, a))[0] for a in (provider, admin)]
    with transaction(two_sizes) as s:
        s.add_all(Ban(source_ip=f"10.0.{i // 250}.{i % 250}", expires_at=now + timedelta(hours=1)) for i in range(300))
    many = [statements_for(two_sizes, lambda s, a=a: bans.list_bans(s, a)) for a in (provider, admin)]
    assert [len(many[0][1]), len(many[1][1])] == [200, 1]  # the provider's first page; the admin's 10.0.0.1
    assert few == [count for count, _ in many] == [1, 1]
