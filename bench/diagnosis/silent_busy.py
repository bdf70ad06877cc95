"""The case bench/diagnosis/run.py cannot find in the seeded data: a busy phone that went silent. The device
with the most access-log rows loses its last DAYS days of rows inside one transaction that is rolled back at
the end; in that transaction `diagnose_device` runs warm-up + RUNS times, median / max ms, with the count and
the slowest of its statements. The deleted rows are still dead tuples there, so PostgreSQL's numbers are an
upper bound of what a vacuumed table gives.

usage: .venv/bin/python bench/diagnosis/silent_busy.py DB_URL [--days 10] [--runs 30] [--warmup 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import delete, event, func, select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from bench.diagnosis.run import ACTOR  # noqa: E402
from core import heartbeat  # noqa: E402
from core.db import make_engine  # noqa: E402
from core.diagnosis import diagnose_device  # noqa: E402
from core.models import AccessLog  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("--days", type=float, default=10)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    args = ap.parse_args()
    engine = make_engine(args.url)
    heartbeat.beat(engine, "sip", "bench/diagnosis")
    times: list[tuple[str, float]] = []

    def before(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        conn.info["t0"] = time.perf_counter()

    def after(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        times.append((statement.split(" FROM ", 1)[-1][:40], (time.perf_counter() - conn.info["t0"]) * 1000))

    with engine.connect() as conn, Session(bind=conn) as s:
        device_id, rows = s.execute(
            select(AccessLog.device_id, func.count()).where(AccessLog.device_id.is_not(None))
            .group_by(AccessLog.device_id).order_by(func.count().desc()).limit(1)
        ).one()  # fmt: skip
        since = datetime.now(UTC) - timedelta(days=args.days)
        gone = s.execute(delete(AccessLog).where(AccessLog.device_id == device_id, AccessLog.at > since))
        print(f"device {device_id}: {rows:,} access-log rows, the last {args.days:g} days' {gone.rowcount:,} deleted")
        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        ms, slowest = [], []
        for i in range(args.warmup + args.runs):
            times.clear()
            t0 = time.perf_counter()
            got = diagnose_device(s, ACTOR, device_id, datetime.now(UTC))
            if i >= args.warmup:
                ms.append((time.perf_counter() - t0) * 1000)
                slowest.append(max(times, key=lambda t: t[1]))
        conn.rollback()
    top = max(slowest, key=lambda t: t[1])
    print(f"diagnosis ms median / max: {statistics.median(ms):.1f} / {max(ms):.1f}; {len(times)} statements;"
          f" slowest statement {top[1]:.1f} ms ({top[0]}…); verdict {got.verdict}: "
          f"{', '.join(f.code for f in got.findings) or '—'}")  # fmt: skip


if __name__ == "__main__":
    main()
