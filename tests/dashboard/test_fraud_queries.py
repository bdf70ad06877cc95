"""core.fraud: counts per bucket and source from the rollup plus its tail, scoped to what the actor may see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core import fraud, rollup
from core.db import transaction
from core.models import AccessLog, SecurityEvent

NOW = datetime(2026, 11, 26, 12, 30, tzinfo=UTC)
DAY = fraud.period(1, NOW)
WEEK = fraud.period(7, NOW)


@pytest.fixture
def traffic(engine, world):
    """Line a1's desk phone fetched from two IPs, Carol's (globex) from one; probes; SIP failures."""
    rows = []
    for minutes, ip, device in ((5, "198.51.100.1", world.desk_a1), (10, "198.51.100.1", world.desk_a1),
                                (70, "203.0.113.9", world.desk_a1), (20, "192.0.2.7", world.desk_b1)):  # fmt: skip
        rows.append(AccessLog(at=NOW - timedelta(minutes=minutes), source_ip=ip, path="/****.cfg", status=200,
                              device_id=device))  # fmt: skip
    for i in range(3):
        rows.append(AccessLog(at=NOW - timedelta(minutes=i), source_ip="192.0.2.66", path="/****.cfg", status=404,
                              reason="unknown_key"))  # fmt: skip
    rows.append(
        AccessLog(at=NOW - timedelta(days=3), source_ip="192.0.2.99", path="/x", status=404, reason="unknown_key")
    )
    rows.append(SecurityEvent(at=NOW, kind="sip_auth_failed", source_ip="192.0.2.50", line_id=world.seed.line_a1))
    rows.append(SecurityEvent(at=NOW, kind="sip_auth_failed", source_ip="192.0.2.51", line_id=world.seed.line_b1))
    rows.append(SecurityEvent(at=NOW, kind="sip_auth_failed", source_ip="192.0.2.52"))
    with transaction(engine) as s:
        s.add_all(rows)
    return world


@pytest.fixture(params=["raw tail", "rolled up"])
def rolled(request, engine, traffic):
    """Every query must give the same answer before the rollup ran (all tail) and after (all rollup)."""
    if request.param == "rolled up":
        assert rollup.roll_up(engine, now=NOW + timedelta(hours=1)) == 11  # 8 log rows, 3 events
    return traffic


def test_the_period_is_whole_buckets_ending_now():
    assert DAY.buckets[0] == "2026-11-25 13:00" and DAY.buckets[-1] == "2026-11-26 12:00" and len(DAY.buckets) == 24
    assert WEEK.buckets == tuple(f"2026-11-{d}" for d in range(20, 27))
    assert len(fraud.period(30, NOW).buckets) == 30
    with pytest.raises(ValueError, match="period"):
        fraud.period(3, NOW)


def test_downloads_per_hour_and_ip_scoped_to_the_vpbx(engine, rolled, provider):
    with transaction(engine) as s:
        everything = fraud.chart(s, provider, DAY, rollup.DOWNLOAD)
        acme = fraud.chart(s, rolled.seed.admin_a, DAY, rollup.DOWNLOAD)
    assert {"bucket": "2026-11-26 12:00", "source_ip": "198.51.100.1", "count": 2} in everything["rows"]
    assert {"bucket": "2026-11-26 11:00", "source_ip": "203.0.113.9", "count": 1} in everything["rows"]
    assert everything["sources"] == ["198.51.100.1", "192.0.2.7", "203.0.113.9"]
    assert "192.0.2.7" not in acme["sources"]  # globex's phone is not acme's business
    assert sum(r["count"] for r in acme["rows"]) == 3
    assert everything["buckets"] == list(DAY.buckets)


def test_beyond_the_top_sources_the_rest_is_others(engine, world, provider):
    with transaction(engine) as s:
        s.add_all([AccessLog(at=NOW - timedelta(minutes=1), source_ip=f"192.0.2.{i}", path="/x", status=404,
                             reason="unknown_key") for i in range(1, 13) for _ in range(i)])  # fmt: skip
    with transaction(engine) as s:
        result = fraud.chart(s, provider, DAY, rollup.PROBE)
    assert result["sources"] == [f"192.0.2.{i}" for i in range(12, 12 - fraud.TOP_SOURCES, -1)]
    others = [r for r in result["rows"] if r["source_ip"] is None]
    assert others == [{"bucket": "2026-11-26 12:00", "source_ip": None, "count": 1 + 2 + 3 + 4}]


def test_probes_are_the_providers_alone_and_respect_the_period(engine, rolled, provider):
    with transaction(engine) as s:
        assert fraud.chart(s, provider, DAY, rollup.PROBE)["rows"] == [
            {"bucket": "2026-11-26 12:00", "source_ip": "192.0.2.66", "count": 3}
        ]
        assert fraud.chart(s, provider, WEEK, rollup.PROBE)["sources"] == ["192.0.2.66", "192.0.2.99"]
        assert fraud.chart(s, rolled.seed.admin_a, WEEK, rollup.PROBE)["rows"] == []


def test_sip_failures_scoped_by_line(engine, rolled, provider):
    with transaction(engine) as s:
        assert set(fraud.chart(s, provider, DAY, rollup.SIP_FAILED)["sources"]) == {
            "192.0.2.50", "192.0.2.51", "192.0.2.52"}  # fmt: skip
        assert fraud.chart(s, rolled.seed.admin_a, DAY, rollup.SIP_FAILED)["sources"] == ["192.0.2.50"]
        assert fraud.chart(s, rolled.seed.user_a1, DAY, rollup.SIP_FAILED)["sources"] == ["192.0.2.50"]


def test_devices_fetched_from_several_ips(engine, rolled, provider):
    with transaction(engine) as s:
        shared = fraud.multi_ip_devices(s, provider, DAY)
        assert [(r["device_id"], r["ips"], r["requests"]) for r in shared] == [(rolled.desk_a1, 2, 3)]
        assert fraud.multi_ip_devices(s, rolled.seed.admin_b, DAY) == []


def test_sources_table_counts_first_last_and_what_each_touched(engine, rolled, provider):
    with transaction(engine) as s:
        table = fraud.sources(s, provider, WEEK)
        acme = fraud.sources(s, rolled.seed.admin_a, WEEK)
    by_ip = {r["source_ip"]: r for r in table["rows"]}
    assert table["total"] == 8 and len(by_ip) == 8
    assert by_ip["192.0.2.66"]["probe"] == 3 and by_ip["192.0.2.66"]["lines"] == []
    alice = by_ip["198.51.100.1"]
    assert (alice["download"], alice["first"], alice["last"]) == (2, "2026-11-26 12:20", "2026-11-26 12:25")
    assert alice["lines"] == [{"id": rolled.seed.line_a1, "number": "+41215550101"}]
    assert [d["id"] for d in alice["devices"]] == [rolled.desk_a1]
    assert by_ip["192.0.2.50"]["sip_failed"] == 1 and by_ip["192.0.2.50"]["lines"][0]["id"] == rolled.seed.line_a1
    assert {r["source_ip"] for r in acme["rows"]} == {"198.51.100.1", "203.0.113.9", "192.0.2.50"}


def test_search_finds_lines_and_devices_the_actor_may_see(engine, world, provider):
    with transaction(engine) as s:
        assert [d["id"] for d in fraud.search(s, provider, "bureau")["devices"]] == [world.desk_a1, world.desk_a2]
        assert [d["id"] for d in fraud.search(s, provider, "80:5e:c0:99")["devices"]] == [world.desk_b1]
        assert fraud.search(s, world.seed.admin_a, "80:5e:c0:99") == {"lines": [], "devices": []}
        found = fraud.search(s, world.seed.admin_a, "5550")["lines"]
        assert {line["vpbx"] for line in found} == {"acme"} and len(found) >= 2
        assert fraud.search(s, provider, "  ") == {"lines": [], "devices": []}
        assert fraud.lines_by_id(s, world.seed.admin_a, [world.seed.line_b1, world.seed.line_a1])[0]["id"] == (
            world.seed.line_a1)  # fmt: skip


def _many(engine, n: int, first: int) -> None:
    """n lines with one desk phone each, each fetched from two IPs and hit by a SIP failure."""
    from core.models import Device, Line, Vpbx

    with transaction(engine) as s:
        v = Vpbx(name=f"bulk{first}", sip_domain=f"bulk{first}.example")
        s.add(v)
        s.flush()
        for i in range(first, first + n):
            line = Line(vpbx_id=v.id, number=f"+4122{i:07d}", extension=str(1000 + i), sip_username=f"u{i}",
                        sip_password="x" * 16)  # fmt: skip
            device = Device(line=line, model_id="yealink-t46u", access_key=f"k{i:047d}", admin_password="1",
                            user_password="1", label=f"desk {i}")  # fmt: skip
            s.add_all([line, device])
            s.flush()
            for ip in (f"10.0.{i // 250}.{i % 250}", f"10.9.{i // 250}.{i % 250}"):
                s.add(AccessLog(at=NOW - timedelta(minutes=5), source_ip=ip, path="/k.cfg", status=200,
                                device_id=device.id))  # fmt: skip
            s.add(SecurityEvent(at=NOW, kind="sip_auth_failed", source_ip="192.0.2.200", line_id=line.id))


def _statements(engine, provider) -> dict[str, int]:
    """SQL statements per fraud use case, the page's whole read path."""
    from sqlalchemy import event

    counts: dict[str, int] = {}
    current = [""]

    def count(*_args) -> None:
        counts[current[0]] = counts.get(current[0], 0) + 1

    event.listen(engine, "before_cursor_execute", count)
    try:
        p = fraud.period(1, NOW)
        with transaction(engine) as s:
            for name, run in (
                ("charts", lambda: [fraud.chart(s, provider, p, k) for k in rollup.KINDS]),
                ("sources", lambda: fraud.sources(s, provider, p)),
                ("multi_ip", lambda: fraud.multi_ip_devices(s, provider, p)),
                ("search", lambda: fraud.search(s, provider, "desk")),
                (
                    "by_id",
                    lambda: (
                        fraud.lines_by_id(s, provider, list(range(1, 200))),
                        fraud.devices_by_id(s, provider, list(range(1, 200))),
                    ),
                ),  # fmt: skip
            ):
                current[0] = name
                assert run()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return counts


@pytest.mark.parametrize("rolled_up", [False, True])
def test_a_fixed_number_of_statements_whatever_the_number_of_lines(engine, world, provider, rolled_up):
    _many(engine, 10, 0)
    if rolled_up:
        rollup.roll_up(engine, now=NOW + timedelta(hours=1))
    small = _statements(engine, provider)
    _many(engine, 110, 10)  # 120 lines, 120 devices, 240 sources
    if rolled_up:
        rollup.roll_up(engine, now=NOW + timedelta(hours=1))
    big = _statements(engine, provider)
    # charts: the cursors once per session, 3 each for downloads and SIP failures, 1 for probes (none here)
    assert big == small == {"charts": 8, "sources": 2, "multi_ip": 1, "search": 2, "by_id": 2}
    with transaction(engine) as s:  # and the big dataset really was read
        assert len(fraud.multi_ip_devices(s, provider, fraud.period(1, NOW))) == 100  # SOURCES_SHOWN
        assert fraud.sources(s, provider, fraud.period(1, NOW))["total"] == 241
