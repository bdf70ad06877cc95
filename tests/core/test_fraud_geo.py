"""core.fraud_geo: the fraud page's counts per country and per provider network, scoped like core.fraud, read
from the rollup plus its tail in a constant number of statements whatever the number of sources.

Traffic is written as the endpoint and the registrar write it (access_log, security_event rows), then folded by
core.rollup.roll_up as serve does; some rows are left in the tail on purpose."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, event, func, insert, select

from core import fraud, fraud_geo, geo, rollup
from core.db import transaction
from core.errors import NotFound, ValidationError
from core.models import AccessLog, FraudRollup, RollupCursor, SecurityEvent

NOW = datetime(2026, 11, 26, 12, 30, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)  # every row has settled by then
NL, NL2, CH, AU = "193.0.6.139", "193.0.10.1", "195.186.1.1", "1.128.0.1"
LAN, LOOP, DOC = "192.168.1.10", "127.0.0.1", "198.51.100.7"  # private, loopback, public without a country
WEEK = fraud.period(7, NOW)
DAY = fraud.period(1, NOW)


@pytest.fixture
def devices(engine, seed, provider):
    """One desk phone on each of the seed's lines: a1, a2 (acme), b1 (globex)."""
    from core import devices as dev

    with transaction(engine) as s:
        made = [dev.add_device(s, provider, line, "yealink-t46u", mac=f"805EC0{i:06X}", label=f"d{i}")
                for i, line in enumerate([seed.line_a1, seed.line_a2, seed.line_b1])]  # fmt: skip
    return {"a1": made[0]["id"], "a2": made[1]["id"], "b1": made[2]["id"]}


def downloads(engine, device_id: int, *sources: tuple[str, int], hours_ago: float = 1.0) -> None:
    rows = [{"at": NOW - timedelta(hours=hours_ago, seconds=i), "source_ip": ip, "path": "/k.cfg", "status": 200,
             "reason": "", "device_id": device_id} for ip, n in sources for i in range(n)]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(AccessLog), rows)


def probes(engine, *sources: tuple[str, int]) -> None:
    rows = [{"at": NOW - timedelta(hours=2, seconds=i), "source_ip": ip, "path": "/x.cfg", "status": 404,
             "reason": "unknown_key", "device_id": None} for ip, n in sources for i in range(n)]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(AccessLog), rows)


def sip_failures(engine, line_id: int | None, *sources: tuple[str, int]) -> None:
    rows = [{"at": NOW - timedelta(hours=3, seconds=i), "kind": "sip_auth_failed", "source_ip": ip,
             "line_id": line_id} for ip, n in sources for i in range(n)]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(SecurityEvent), rows)


@pytest.fixture
def traffic(engine, seed, devices):
    """Alice's phone (acme a1) from NL (two addresses), CH, AU, its LAN and loopback; Carol's (globex b1) from
    CH only; a scanner in AU; SIP failures against Bob (acme a2) from NL and from AU against no line.
    Most of it rolled up, some left in the tail."""
    downloads(engine, devices["a1"], (NL, 5), (NL2, 1), (CH, 3), (AU, 2), (LAN, 4), (LOOP, 1), (DOC, 1))
    downloads(engine, devices["b1"], (CH, 7))
    probes(engine, (AU, 30))
    sip_failures(engine, seed.line_a2, (NL, 10))
    sip_failures(engine, None, (AU, 6))
    rollup.roll_up(engine, now=LATER)
    downloads(engine, devices["a1"], (NL, 2), (AU, 1), hours_ago=0.4)  # the tail: not rolled up yet
    return devices


def by_code(rows: list[dict]) -> dict[str, dict]:
    return {r["country"]: r for r in rows}


def test_countries_come_from_the_public_addresses_and_private_ones_are_labelled(engine, provider, traffic):
    with transaction(engine) as s:
        rows = fraud_geo.sources_by_country(s, provider, WEEK, "download")
    got = by_code(rows)
    assert {code: (r["count"], r["addresses"]) for code, r in got.items()} == {
        "NL": (8, 2), "CH": (10, 1), "AU": (3, 1), "private": (4, 1), "loopback": (1, 1), "": (1, 1)}  # fmt: skip
    assert [r["country"] for r in rows] == ["CH", "NL", "private", "AU", "", "loopback"]  # busiest first
    assert (got["NL"]["lat"], got["NL"]["lon"]) == (52.5, 5.75)  # data/country_centroids.csv
    assert got["CH"]["lat"] == 47.0 and got["AU"]["lon"] == 133.0
    assert got["private"]["lat"] is None and got[""]["lon"] is None  # never looked up / unknown: no place
    assert got["NL"]["top_addresses"] == [{"source_ip": NL, "count": 7}, {"source_ip": NL2, "count": 1}]


def test_each_kind_is_counted_apart(engine, provider, traffic):
    with transaction(engine) as s:
        probed = fraud_geo.sources_by_country(s, provider, WEEK, "probe")
        assert {r["country"]: r["count"] for r in probed} == {"AU": 30}
        failed = fraud_geo.sources_by_country(s, provider, WEEK, "sip_failed")
        assert {r["country"]: r["count"] for r in failed} == {"NL": 10, "AU": 6}
        with pytest.raises(ValidationError) as refused:
            fraud_geo.sources_by_country(s, provider, WEEK, "bogus")
    assert refused.value.code == "one_of"


def test_a_vpbx_admin_sees_only_its_vpbx_sources(engine, seed, traffic):
    with transaction(engine) as s:
        acme = by_code(fraud_geo.sources_by_country(s, seed.admin_a, WEEK, "download"))
        globex = by_code(fraud_geo.sources_by_country(s, seed.admin_b, WEEK, "download"))
        assert acme["CH"]["count"] == 3 and set(acme) == {"NL", "CH", "AU", "private", "loopback", ""}
        assert {c: r["count"] for c, r in globex.items()} == {"CH": 7}  # Carol's phone only
        # Probes and SIP failures tied to no line are the provider's: an admin gets none of them.
        assert fraud_geo.sources_by_country(s, seed.admin_a, WEEK, "probe") == []
        failed = fraud_geo.sources_by_country(s, seed.admin_a, WEEK, "sip_failed")
        assert {r["country"]: r["count"] for r in failed} == {"NL": 10}
        assert fraud_geo.sources_by_country(s, seed.admin_b, WEEK, "sip_failed") == []
        assert fraud_geo.series_by_country(s, seed.admin_b, WEEK, "download")["keys"] == ["CH"]
        assert fraud_geo.series_by_network(s, seed.admin_b, WEEK, "download")["keys"] == ["195.186.0.0/16"]
        # A user: their own line's traffic only (Bob's line had the failures, not Alice's).
        assert fraud_geo.sources_by_country(s, seed.user_a1, WEEK, "sip_failed") == []
        assert sum(r["count"] for r in fraud_geo.sources_by_country(s, seed.user_a1, WEEK, "download")) == 20


def test_series_per_bucket_keep_the_top_and_sum_the_rest_as_other(engine, provider, traffic):
    with transaction(engine) as s:
        day = fraud_geo.series_by_country(s, provider, DAY, "download", top=2)
        week = fraud_geo.series_by_country(s, provider, WEEK, "download")
    assert day["buckets"] == list(DAY.buckets) and len(day["buckets"]) == 24  # by the hour, the whole period
    assert day["keys"] == ["CH", "NL", fraud_geo.OTHER]
    hour_ago, half_hour_ago = "2026-11-26 11:00", "2026-11-26 12:00"
    assert {(r["bucket"], r["key"]): r["count"] for r in day["rows"]} == {
        (hour_ago, "CH"): 10, (hour_ago, "NL"): 6, (hour_ago, fraud_geo.OTHER): 2 + 4 + 1 + 1,  # AU, LAN, lo, DOC
        (half_hour_ago, "NL"): 2, (half_hour_ago, fraud_geo.OTHER): 1,  # the tail, in its own hour
    }  # fmt: skip
    assert week["buckets"] == list(WEEK.buckets) and len(week["buckets"]) == 7  # by the day
    assert week["keys"] == ["CH", "NL", "private", "AU", "", "loopback"]  # six countries: no "other"
    assert sum(r["count"] for r in week["rows"]) == 27


def test_series_by_network_use_the_provider_sized_block(engine, provider, traffic):
    with transaction(engine) as s:
        got = fraud_geo.series_by_network(s, provider, WEEK, "download")
    # NL and NL2 are one /16; a private address keeps its /24, loopback too.
    assert got["keys"] == ["195.186.0.0/16", "193.0.0.0/16", "192.168.1.0/24", "1.128.0.0/16", "127.0.0.0/24",
                           "198.51.0.0/16"]  # fmt: skip
    totals = {k: sum(r["count"] for r in got["rows"] if r["key"] == k) for k in got["keys"]}
    assert totals["193.0.0.0/16"] == 8 and totals["195.186.0.0/16"] == 10


def test_one_line_or_one_device_and_not_found_for_what_the_actor_may_not_see(engine, seed, provider, traffic):
    with transaction(engine) as s:
        line = by_code(fraud_geo.sources_by_country(s, provider, WEEK, "download", line_id=seed.line_b1))
        assert {c: r["count"] for c, r in line.items()} == {"CH": 7}
        device = fraud_geo.sources_by_country(s, seed.admin_a, WEEK, "download", device_id=traffic["a1"])
        assert sum(r["count"] for r in device) == 20
        both = fraud_geo.sources_by_country(s, provider, WEEK, "download", line_id=seed.line_a1,
                                            device_id=traffic["a1"])  # fmt: skip
        assert both == device
        assert fraud_geo.sources_by_country(s, provider, WEEK, "download", device_id=traffic["a2"]) == []
        failed = fraud_geo.series_by_country(s, seed.admin_a, WEEK, "sip_failed", line_id=seed.line_a2)
        assert failed["keys"] == ["NL"]
        for call, kwargs in (
            (fraud_geo.sources_by_country, {"line_id": seed.line_b1}),
            (fraud_geo.series_by_country, {"device_id": traffic["b1"]}),
            (fraud_geo.series_by_network, {"line_id": seed.line_a1, "device_id": traffic["b1"]}),
            (fraud_geo.report, {"device_id": traffic["b1"]}),
        ):
            with pytest.raises(NotFound):  # another vPBX's line or device: the same answer as a missing one
                call(s, seed.admin_a, WEEK, "download", **kwargs)
        with pytest.raises(NotFound):
            fraud_geo.sources_by_country(s, seed.user_a1, WEEK, "download", line_id=seed.line_a2)
        with pytest.raises(NotFound):
            fraud_geo.sources_by_country(s, provider, WEEK, "download", device_id=999_999)


def test_report_is_the_three_at_once(engine, seed, provider, traffic):
    with transaction(engine) as s:
        for who in (provider, seed.admin_a):
            got = fraud_geo.report(s, who, WEEK, "download", top=3)
            assert got == {
                "countries": fraud_geo.sources_by_country(s, who, WEEK, "download"),
                "by_country": fraud_geo.series_by_country(s, who, WEEK, "download", top=3),
                "by_network": fraud_geo.series_by_network(s, who, WEEK, "download", top=3),
            }


def _per_address(s, who, p, kind: str) -> dict:
    """The series as computed for one line or one device (per address, grouped in Python), for the whole."""
    counts = fraud_geo._counts(s, who, p, kind, True, None, None)
    per_ip = fraud_geo._per_ip(counts)
    return {"by_country": fraud_geo._series(p, counts, per_ip, geo.country, 3),
            "by_network": fraud_geo._series(p, counts, per_ip, geo.provider_network, 3)}  # fmt: skip


def test_the_series_read_the_geo_grains_and_a_database_rolled_up_before_them_is_folded(engine, seed, provider,
                                                                                        traffic):  # fmt: skip
    """The whole of what a provider or a vPBX admin sees: per country and network from the rollup's own grains
    (plus the tail per address), the same as per address. A database rolled up before those grains existed (no
    geo rows, no geo cursor) reads its whole log as the tail until the next pass folds it."""
    cases = [(who, p, kind) for who in (provider, seed.admin_a) for p in (DAY, WEEK)
             for kind in fraud.visible_kinds(who)]  # fmt: skip

    with transaction(engine) as s:  # core.fraud's rankings read the narrow per-address rows of the same pass
        tables = {(who.name, p.days): fraud.sources(s, who, p) for who, p, _ in cases}

    def check() -> None:
        with transaction(engine) as s:
            for who, p, kind in cases:
                assert fraud_geo.series(s, who, p, kind, top=3) == _per_address(s, who, p, kind), (who.name, p, kind)
                assert fraud.sources(s, who, p) == tables[(who.name, p.days)]

    check()
    with engine.begin() as conn:
        assert conn.scalar(select(func.count()).select_from(FraudRollup).where(FraudRollup.grain == "dcc")) > 0
        conn.execute(delete(FraudRollup).where(FraudRollup.grain.in_(("hip", "dip", "hcc", "dcc", "hnet", "dnet"))))
        conn.execute(delete(RollupCursor).where(RollupCursor.source.like("%:geo")))
    check()
    rollup.roll_up(engine, now=LATER)
    with engine.connect() as conn:
        cursors = dict(conn.execute(select(RollupCursor.source, RollupCursor.last_id)).all())
    assert cursors["access_log:geo"] == cursors["access_log"] > 0
    check()


def _statements(engine, call) -> int:
    seen: list[str] = []

    def count(conn, cursor, statement, *args) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        with transaction(engine) as s:
            call(s)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen)


@pytest.mark.parametrize("sources", [10, 2000])
def test_the_statements_do_not_grow_with_the_sources(engine, seed, provider, devices, sources):
    """10 or 2,000 distinct addresses (in the rollup and in its tail), several countries and networks: the same
    statements for every call. The counts for 10 are written down; 2,000 must give the same."""
    addresses = [f"{(1, 193, 195)[i % 3]}.{128 + i // 256 % 64}.{i % 256}.1" for i in range(sources)]
    downloads(engine, devices["a1"], *((ip, 1) for ip in addresses))
    sip_failures(engine, seed.line_a2, *((ip, 2) for ip in addresses))
    rollup.roll_up(engine, now=LATER)
    downloads(engine, devices["a1"], *((ip, 1) for ip in addresses[: sources // 2]), hours_ago=0.5)
    calls = {
        "sources_by_country": lambda s: fraud_geo.sources_by_country(s, provider, WEEK, "download"),
        "series_by_country": lambda s: fraud_geo.series_by_country(s, provider, DAY, "download"),
        "series_by_network": lambda s: fraud_geo.series_by_network(s, provider, WEEK, "sip_failed"),
        "report": lambda s: fraud_geo.report(s, seed.admin_a, WEEK, "download"),
        "series": lambda s: fraud_geo.series(s, provider, WEEK, "download"),
        "report, one device": lambda s: fraud_geo.report(s, seed.admin_a, WEEK, "download", device_id=devices["a1"]),
        "report, one line": lambda s: fraud_geo.report(s, provider, DAY, "sip_failed", line_id=seed.line_a2),
    }
    # The cursors (read once per session by core.fraud) + the one grouped statement; + the line or device. The whole
    # report: the series from the geo grains and the countries per address, two statements.
    expected = {"sources_by_country": 2, "series_by_country": 2, "series_by_network": 2, "report": 3, "series": 2,
                "report, one device": 3, "report, one line": 3}  # fmt: skip
    assert {name: _statements(engine, call) for name, call in calls.items()} == expected
    with transaction(engine) as s:
        got = fraud_geo.report(s, provider, WEEK, "download")
    assert sum(r["addresses"] for r in got["countries"]) == sources
    assert sum(r["count"] for r in got["countries"]) == sources + sources // 2
