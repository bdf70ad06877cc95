"""core.rollup: the rollup plus its tail gives exactly the raw log's counts, whatever part is rolled up,
and two passes at once never count a row twice."""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, insert, select

from core import fraud, rollup
from core.db import transaction
from core.models import AccessLog, FraudRollup, RollupCursor, SecurityEvent

NOW = datetime(2026, 11, 26, 12, 30, tzinfo=UTC)
LATER = NOW + timedelta(hours=1)  # every row has settled by then


@pytest.fixture
def devices(engine, seed, provider):
    from core import devices as dev

    with transaction(engine) as s:
        made = [dev.add_device(s, provider, line, "yealink-t46u", mac=f"805EC0{i:06X}", label=f"d{i}")
                for i, line in enumerate([seed.line_a1, seed.line_a2, seed.line_b1] * 2)]  # fmt: skip
    return {d["id"]: d["line_id"] for d in made}


def _traffic(engine, seed, devices, n: int = 1500, rng_seed: int = 7) -> list[dict]:
    """Random downloads, probes, other misses and SIP failures over 30 days; returns the facts as dicts."""
    rng = random.Random(rng_seed)
    vpbx_of = {seed.line_a1: seed.vpbx_a, seed.line_a2: seed.vpbx_a, seed.line_b1: seed.vpbx_b}
    log, events, facts = [], [], []
    for _ in range(n):
        at = NOW - timedelta(seconds=rng.randrange(30 * 86_400))
        ip = f"192.0.2.{rng.randrange(40)}"
        pick = rng.random()
        if pick < 0.5:
            device = rng.choice(list(devices))
            log.append({"at": at, "source_ip": ip, "path": "/k.cfg", "status": 200, "device_id": device})
            facts.append({"at": at, "kind": "download", "ip": ip, "line": devices[device],
                          "vpbx": vpbx_of[devices[device]], "device": device})  # fmt: skip
        elif pick < 0.7:
            log.append({"at": at, "source_ip": ip, "path": "/x.cfg", "status": 404, "reason": "unknown_key"})
            facts.append({"at": at, "kind": "probe", "ip": ip, "line": 0, "vpbx": 0, "device": 0})
        elif pick < 0.8:  # neither a download nor a probe: never counted
            log.append({"at": at, "source_ip": ip, "path": "/k.xml", "status": 404, "reason": "unknown_file"})
        else:
            line = rng.choice([seed.line_a1, seed.line_b1, None])
            events.append({"at": at, "kind": "sip_auth_failed", "source_ip": ip, "line_id": line})
            facts.append({"at": at, "kind": "sip_failed", "ip": ip, "line": line or 0,
                          "vpbx": vpbx_of.get(line, 0), "device": 0})  # fmt: skip
    log = [{"device_id": None, "reason": "", **row} for row in log]  # one executemany: every row every key
    with engine.begin() as conn:
        conn.execute(insert(AccessLog), log)
        conn.execute(insert(SecurityEvent), events)
        conn.execute(insert(SecurityEvent), [{"at": NOW, "kind": "sip_scanner", "source_ip": "192.0.2.1"}])
    return facts


def _expected(facts: list[dict], p: fraud.Period, visible) -> Counter:
    """Per (source IP, kind) counts of the period, computed from the raw facts in Python."""
    start = p.start
    fmt = "%Y-%m-%d %H:00" if p.grain == rollup.HOUR else "%Y-%m-%d"
    return Counter((f["ip"], f["kind"]) for f in facts if f["at"].strftime(fmt) >= start and visible(f))


def _got(session, actor, p: fraud.Period) -> Counter:
    got: Counter = Counter()
    for row in fraud.sources(session, actor, p, limit=1000)["rows"]:
        for kind in rollup.KINDS:
            if row[kind]:
                got[(row["source_ip"], kind)] = row[kind]
    return got


@pytest.mark.parametrize("rolled_rows", [0, 700, None])  # nothing rolled up, part of it, everything
def test_rollup_plus_tail_gives_the_raw_counts(engine, seed, devices, provider, rolled_rows):
    facts = _traffic(engine, seed, devices)
    if rolled_rows is None:
        rollup.roll_up(engine, budget=10**6, now=LATER)
    elif rolled_rows:
        assert rollup.roll_up_source(engine, "access_log", batch=rolled_rows, now=LATER) == rolled_rows
    admin_a = seed.admin_a
    with transaction(engine) as s:
        for days in fraud.PERIODS:
            p = fraud.period(days, NOW)
            assert _got(s, provider, p) == _expected(facts, p, lambda f: True), days
            assert _got(s, admin_a, p) == _expected(facts, p, lambda f: f["vpbx"] == seed.vpbx_a), days
            series = fraud.chart(s, provider, p, rollup.DOWNLOAD)["rows"]
            assert sum(r["count"] for r in series) == sum(
                n for (_, kind), n in _expected(facts, p, lambda f: True).items() if kind == "download"
            )
            assert {r["bucket"] for r in series} <= set(p.buckets)
        per_device: dict[int, set[str]] = defaultdict(set)
        week = fraud.period(7, NOW)
        for f in facts:
            if f["kind"] == "download" and f["at"].strftime("%Y-%m-%d") >= week.start:
                per_device[f["device"]].add(f["ip"])
        shared = {r["device_id"]: r["ips"] for r in fraud.multi_ip_devices(s, provider, week)}
        assert shared == {d: len(ips) for d, ips in per_device.items() if len(ips) > 1}


def test_passes_move_the_cursor_and_the_hour_and_day_rows_agree(engine, seed, devices):
    facts = _traffic(engine, seed, devices, n=300)
    consumed = rollup.roll_up(engine, budget=10**6, now=LATER)
    with engine.connect() as conn:
        cursors = dict(conn.execute(select(RollupCursor.source, RollupCursor.last_id)).all())
        sums = select(FraudRollup.grain, func.sum(FraudRollup.n)).group_by(FraudRollup.grain)
        per_grain = dict(conn.execute(sums).all())
    with engine.connect() as conn:
        last_log = conn.scalar(select(func.max(AccessLog.id)))
        last_event = conn.scalar(select(func.max(SecurityEvent.id)))
    # The per-country and per-network grains have their own cursors, at the same place once both are up to date.
    assert cursors == {"access_log": last_log, "security_event": last_event, "access_log:geo": last_log,
                       "security_event:geo": last_event}  # fmt: skip
    assert consumed == last_log + last_event
    recent = [f for f in facts if f["at"] >= LATER - timedelta(days=rollup.HOUR_ROWS_DAYS)]
    # hour rows only where the 24-hour chart reads; the geo grains count the same rows per country and network
    assert per_grain == {"hour": len(recent), "day": len(facts), "hip": len(recent), "hcc": len(recent),
                         "hnet": len(recent), "dip": len(facts), "dcc": len(facts), "dnet": len(facts)}  # fmt: skip
    assert 0 < len(recent) < len(facts)
    assert rollup.roll_up(engine, now=LATER) == 0  # nothing new


def test_rows_younger_than_the_settle_window_wait_but_are_read_from_the_tail(engine, seed, provider):
    with engine.begin() as conn:
        conn.execute(insert(AccessLog), [
            {"at": NOW - timedelta(minutes=5), "source_ip": "192.0.2.9", "path": "/x", "status": 404,
             "reason": "unknown_key"},
            {"at": NOW - timedelta(seconds=5), "source_ip": "192.0.2.9", "path": "/x", "status": 404,
             "reason": "unknown_key"},
        ])  # fmt: skip
    assert rollup.roll_up(engine, now=NOW) == 1  # the five-second-old row waits
    with transaction(engine) as s:
        assert fraud.sources(s, provider, fraud.period(1, NOW))["rows"][0]["probe"] == 2
    assert rollup.roll_up(engine, now=NOW + timedelta(minutes=1)) == 1


def test_two_passes_at_once_never_count_a_row_twice(engine, seed, devices, provider):
    facts = _traffic(engine, seed, devices, n=2000)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(20):
                rollup.catch_up(engine, budget=97)  # small budgets: many passes race for the cursor
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    rollup.roll_up(engine, budget=10**6, now=LATER)
    with engine.connect() as conn:
        assert conn.scalar(select(func.sum(FraudRollup.n)).where(FraudRollup.grain == "day")) == len(facts)
    with transaction(engine) as s:
        p = fraud.period(30, NOW)
        assert _got(s, provider, p) == _expected(facts, p, lambda f: True)


def test_the_serve_loop_rolls_up_at_start_and_returns_when_stopped(engine, seed):
    with engine.begin() as conn:
        conn.execute(insert(AccessLog), [{"at": datetime.now(UTC) - timedelta(minutes=5), "source_ip": "192.0.2.9",
                                          "path": "/x", "status": 404, "reason": "unknown_key"}])  # fmt: skip
    stop = asyncio.Event()
    stop.set()  # already asked to stop: one pass, then no wait
    asyncio.run(asyncio.wait_for(rollup.run_rollup(engine, stop, interval=3600), 30))
    with engine.connect() as conn:
        # an hour row and a day row, per address (the full and the narrow row), per country and per network
        assert conn.scalar(select(func.sum(FraudRollup.n))) == 8
        assert conn.scalar(select(func.count()).select_from(FraudRollup)) == 8


@pytest.mark.parametrize("addresses", [10, 900])
def test_a_geo_pass_takes_the_same_statements_whatever_the_addresses(engine, seed, devices, addresses):
    """The per-country and per-network pass reads the batch grouped per address and upserts its groups in one
    executemany: as many statements for 900 distinct addresses (and countries) as for 10."""
    from tests.core.test_statement_counts import counting

    device = next(iter(devices))
    rows = [{"at": NOW - timedelta(minutes=i), "source_ip": f"{(1, 193, 195)[i % 3]}.{128 + i // 256}.{i % 256}.1",
             "path": "/k.cfg", "status": 200, "device_id": device, "reason": ""} for i in range(addresses)]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(AccessLog), rows)
    rollup.roll_up_source(engine, "access_log", now=LATER)
    with counting(engine) as seen:
        assert rollup.roll_up_geo(engine, "access_log", now=LATER) == addresses
    # the cursor read and made (its first pass), the claim (window, move), the hour and day reads and their upserts
    assert len(seen) == 8
    with engine.connect() as conn:
        sums = select(FraudRollup.grain, func.sum(FraudRollup.n)).group_by(FraudRollup.grain)
        per_grain = dict(conn.execute(sums).all())
    assert per_grain["dip"] == per_grain["dcc"] == per_grain["dnet"] == per_grain["day"] == addresses
