"""Access-log and registration-history retention: old rows go in batches, recent ones stay, 0 days keeps
everything."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert, select

from core.models import AccessLog, RegistrationEvent
from core.retention import prune_access_log, prune_registration_events, run_retention
from core.settings import Settings, SettingsError

pytestmark = pytest.mark.db

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _rows(engine, ages_in_days: list[float], now: datetime = NOW) -> None:
    with engine.begin() as conn:
        conn.execute(
            insert(AccessLog),
            [
                {"at": now - timedelta(days=age), "source_ip": "192.0.2.1", "path": f"/p{i}", "status": 200}
                for i, age in enumerate(ages_in_days)
            ],
        )


def _kept(engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.scalars(select(AccessLog.path)))


def test_rows_older_than_the_retention_go_in_batches_and_the_rest_stay(engine):
    _rows(engine, [100] * 7 + [90.01, 89.99, 1, 0])
    assert prune_access_log(engine, 90, now=NOW, batch=3) == 8  # three full batches, the last one short
    assert _kept(engine) == ["/p10", "/p8", "/p9"]
    assert prune_access_log(engine, 90, now=NOW, batch=3) == 0


def test_zero_days_keeps_everything(engine):
    _rows(engine, [10_000, 1])
    assert prune_access_log(engine, 0, now=NOW) == 0
    assert len(_kept(engine)) == 2


def _history(engine, ages_in_days: list[float], now: datetime = NOW) -> None:
    from core.models import Line, Vpbx

    with engine.begin() as conn:
        vpbx = conn.execute(insert(Vpbx).values(name="t", sip_domain="t.test")).inserted_primary_key[0]
        line = conn.execute(
            insert(Line).values(vpbx_id=vpbx, number="+41215550000", sip_username="u", sip_password="p" * 12)
        ).inserted_primary_key[0]
        conn.execute(
            insert(RegistrationEvent),
            [
                {"at": now - timedelta(days=age), "line_id": line, "event": "start", "contact": f"sip:u@h{i}"}
                for i, age in enumerate(ages_in_days)
            ],
        )


def _history_kept(engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.scalars(select(RegistrationEvent.contact)))


def test_the_registration_history_goes_with_the_access_log_in_batches(engine):
    _history(engine, [100] * 5 + [90.01, 89.99, 0])
    assert prune_registration_events(engine, 90, now=NOW, batch=2) == 6  # three full batches, then an empty one
    assert _history_kept(engine) == ["sip:u@h6", "sip:u@h7"]
    assert prune_registration_events(engine, 0, now=NOW + timedelta(days=1000)) == 0  # 0 days keeps everything
    assert len(_history_kept(engine)) == 2


def test_the_serve_loop_prunes_once_at_start_and_returns_when_stopped(engine, settings):
    _rows(engine, [settings.access_log_days + 1, 0], now=datetime.now(UTC))  # the loop uses the real clock
    _history(engine, [settings.access_log_days + 1, 0], now=datetime.now(UTC))
    stop = asyncio.Event()
    stop.set()  # already asked to stop: one pass, then no hour-long wait
    asyncio.run(asyncio.wait_for(run_retention(settings, engine, stop, interval=3600), 10))
    assert _kept(engine) == ["/p1"]
    assert _history_kept(engine) == ["sip:u@h1"]


@pytest.mark.parametrize("raw", ["-1", "ninety", "40000"])
def test_the_setting_refuses_nonsense(raw):
    with pytest.raises(SettingsError, match="VOIPADMIN_ACCESS_LOG_DAYS"):
        Settings.from_env({"VOIPADMIN_ACCESS_LOG_DAYS": raw})


def test_the_setting_defaults_to_90_days():
    assert Settings.from_env({}).access_log_days == 90
    assert Settings.from_env({"VOIPADMIN_ACCESS_LOG_DAYS": "0"}).access_log_days == 0


def test_the_fraud_rollup_goes_with_the_log_hour_rows_after_two_days(engine):
    from core.models import FraudRollup
    from core.retention import prune_rollup

    def row(grain: str, bucket: str) -> dict:
        return {"grain": grain, "bucket": bucket, "kind": "probe", "source_ip": "192.0.2.1", "n": 1,
                "first_at": NOW, "last_at": NOW}  # fmt: skip

    with engine.begin() as conn:
        conn.execute(insert(FraudRollup), [
            row("hour", "2026-11-24 11:00"), row("hour", "2026-11-24 12:00"), row("hour", "2026-11-26 11:00"),
            row("day", "2026-08-27"), row("day", "2026-08-28"), row("day", "2026-11-26"),
            # the same per country and per network (core.rollup.COUNTRY / NETWORK) go with them
            row("hcc", "2026-11-24 11:00"), row("hnet", "2026-11-24 11:00"), row("hcc", "2026-11-26 11:00"),
            row("dcc", "2026-08-27"), row("dnet", "2026-08-27"), row("dnet", "2026-08-28"),
            row("hip", "2026-11-24 11:00"), row("dip", "2026-08-27"),
        ])  # fmt: skip
    assert prune_rollup(engine, 90, now=NOW) == 8  # the hours before the two days, the days before the 90
    with engine.connect() as conn:
        kept = sorted(conn.execute(select(FraudRollup.grain, FraudRollup.bucket)).all())
    assert kept == [("day", "2026-08-28"), ("day", "2026-11-26"), ("dnet", "2026-08-28"), ("hcc", "2026-11-26 11:00"),
                    ("hour", "2026-11-24 12:00"), ("hour", "2026-11-26 11:00")]  # fmt: skip
    assert prune_rollup(engine, 0, now=NOW) == 0  # 0 days keeps the day rows (the log is kept too)
