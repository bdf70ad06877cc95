"""Retention: provisioning access-log rows and the registration history (registration_event) older
than `Settings.access_log_days` are deleted.

The serve process runs `run_retention` beside the endpoint: once at start, then every hour. Rows
go in batches of `BATCH`, each its own short transaction, so the endpoint's log writer and the
registrar's flush never wait long for the database. The cut-off uses each table's `at` index.
Security events are kept: they are the fraud page's evidence and far fewer. The fraud rollup
(core.rollup) goes with the log: its day rows after the same number of days, its hour rows after
`HOUR_ROWS_DAYS` (only the 24-hour chart reads them).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, select

from core.models import AccessLog, FraudRollup, RegistrationEvent
from core.processes.periodic import every
from core.rollup import ADDRESS, COUNTRY, DAY, HOUR, HOUR_ROWS_DAYS, NETWORK, bucket_of
from core.settings import Settings

log = logging.getLogger(__name__)

BATCH = 10_000
INTERVAL = 3600.0  # seconds between passes


def prune_access_log(engine: Engine, days: int, now: datetime | None = None, batch: int = BATCH) -> int:
    """Delete access-log rows older than `days` (0: keep everything); returns how many went."""
    return _prune(engine, AccessLog, days, now, batch)


def prune_registration_events(engine: Engine, days: int, now: datetime | None = None, batch: int = BATCH) -> int:
    """Delete registration-history rows older than `days` (0: keep everything), as the access log."""
    return _prune(engine, RegistrationEvent, days, now, batch)


def _prune(
    engine: Engine, table: type[AccessLog] | type[RegistrationEvent], days: int, now: datetime | None, batch: int
) -> int:
    if days <= 0:
        return 0
    cutoff = (now or datetime.now(UTC)) - timedelta(days=days)
    oldest = select(table.id).where(table.at < cutoff).order_by(table.id).limit(batch)
    total = 0
    while True:
        with engine.begin() as conn:
            # A subquery, not DELETE ... LIMIT: PostgreSQL has no LIMIT on DELETE.
            removed = conn.execute(delete(table).where(table.id.in_(oldest.scalar_subquery()))).rowcount
        total += removed
        if removed < batch:
            return total


def prune_rollup(engine: Engine, days: int, now: datetime | None = None) -> int:
    """Delete rollup hour rows older than HOUR_ROWS_DAYS and day rows older than `days` (0: keep day rows)."""
    now = now or datetime.now(UTC)
    cutoffs = [(HOUR, bucket_of(HOUR, now - timedelta(days=HOUR_ROWS_DAYS)))]
    if days > 0:
        cutoffs.append((DAY, bucket_of(DAY, now - timedelta(days=days))))
    total = 0
    with engine.begin() as conn:  # an hourly pass finds an hour's or a day's rows: one statement per grain
        for grain, cutoff in cutoffs:
            total += conn.execute(
                delete(FraudRollup).where(  # the grain's rows, and its narrower ones
                    FraudRollup.grain.in_((grain, ADDRESS[grain], COUNTRY[grain], NETWORK[grain])),
                    FraudRollup.bucket < cutoff,
                )
            ).rowcount
    return total


async def run_retention(settings: Settings, engine: Engine, stop: asyncio.Event, interval: float = INTERVAL) -> None:
    """Prune now, then every `interval` seconds until `stop` is set (started by the serve process)."""

    def one_pass() -> None:
        removed = prune_access_log(engine, settings.access_log_days)
        if removed:
            log.info("access log: %d rows older than %d days deleted", removed, settings.access_log_days)
        removed = prune_registration_events(engine, settings.access_log_days)
        if removed:
            log.info("registration history: %d rows older than %d days deleted", removed, settings.access_log_days)
        prune_rollup(engine, settings.access_log_days)

    await every(interval, stop, one_pass, log, "access-log retention")
