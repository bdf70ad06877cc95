"""Where a TopStop period starts: a day or a month in the provider's time zone (VOIPADMIN_TIMEZONE),
the one its customers' bills are cut in. Returned in UTC, as every stored time is."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime

DAY, MONTH = "day", "month"
PERIODS = (DAY, MONTH)


def period_start(period: str, now: datetime, timezone: str) -> datetime:
    """The UTC instant the `period` holding `now` began (local midnight, or midnight of the 1st)."""
    local = now.astimezone(zoneinfo.ZoneInfo(timezone))
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == MONTH:
        start = start.replace(day=1)
    elif period != DAY:
        raise ValueError(period)
    # replace() keeps the wall-clock fold of `now`; midnight is never ambiguous in the tz database's zones.
    return start.replace(tzinfo=zoneinfo.ZoneInfo(timezone)).astimezone(UTC)
