"""core.fraud: hourly aggregates per source IP, scoped to what the actor may see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core import fraud
from core.db import transaction
from core.models import AccessLog, SecurityEvent

NOW = datetime(2026, 11, 26, 12, 30, tzinfo=UTC)


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


def test_downloads_per_hour_and_ip_scoped_to_the_vpbx(engine, traffic, provider):
    start = NOW - timedelta(days=1)
    with transaction(engine) as s:
        everything = fraud.config_downloads(s, provider, start)
        acme = fraud.config_downloads(s, traffic.seed.admin_a, start)
    assert {"hour": "2026-11-26 12:00", "source_ip": "198.51.100.1", "count": 2} in everything
    assert {"hour": "2026-11-26 11:00", "source_ip": "203.0.113.9", "count": 1} in everything
    assert "192.0.2.7" in {r["source_ip"] for r in everything}
    assert "192.0.2.7" not in {r["source_ip"] for r in acme}  # globex's phone is not acme's business
    assert sum(r["count"] for r in acme) == 3


def test_probes_are_the_providers_alone_and_respect_the_period(engine, traffic, provider):
    with transaction(engine) as s:
        assert fraud.key_probes(s, provider, NOW - timedelta(days=1)) == [
            {"hour": "2026-11-26 12:00", "source_ip": "192.0.2.66", "count": 3}
        ]
        assert len(fraud.key_probes(s, provider, NOW - timedelta(days=7))) == 2
        assert fraud.key_probes(s, traffic.seed.admin_a, NOW - timedelta(days=7)) == []


def test_sip_failures_scoped_by_line(engine, traffic, provider):
    start = NOW - timedelta(days=1)
    with transaction(engine) as s:
        assert {r["source_ip"] for r in fraud.sip_auth_failures(s, provider, start)} == {
            "192.0.2.50", "192.0.2.51", "192.0.2.52"}  # fmt: skip
        assert {r["source_ip"] for r in fraud.sip_auth_failures(s, traffic.seed.admin_a, start)} == {"192.0.2.50"}
        assert {r["source_ip"] for r in fraud.sip_auth_failures(s, traffic.seed.user_a1, start)} == {"192.0.2.50"}


def test_devices_fetched_from_several_ips(engine, traffic, provider):
    start = NOW - timedelta(days=1)
    with transaction(engine) as s:
        shared = fraud.multi_ip_devices(s, provider, start)
        assert [(r["device_id"], r["ips"], r["requests"]) for r in shared] == [(traffic.desk_a1, 2, 3)]
        assert fraud.multi_ip_devices(s, traffic.seed.admin_b, start) == []
