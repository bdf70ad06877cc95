"""What a candidate access-log index costs the provisioning write path: batches of access-log rows inserted as
the endpoint's writer does (core/provisioning/log_writer.py: one executemany per 1,000 rows), with and
without the index, in one transaction rolled back afterwards (the database is left as it was).

usage: .venv/bin/python bench/diagnosis/index_cost.py DB_URL [--batches 50] [--repeat 3]

The candidates are the ones bench/diagnosis/run.py's query plans point at (docs/PERFORMANCE.md, "Diagnosis of
one device at provider size"): (device_id, reason, id) for "the device's newest row with reason X", and on
PostgreSQL (device_id, id) for "the device's newest rows" (SQLite's device_id index already ends in the rowid).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import insert, text  # noqa: E402

from core.db import make_engine  # noqa: E402
from core.models import AccessLog  # noqa: E402

BATCH = 1000
BY_REASON = "CREATE INDEX ix_bench_access_log_device_reason ON access_log (device_id, reason, id)"
BY_ID = "CREATE INDEX ix_bench_access_log_device_id_id ON access_log (device_id, id)"
VARIANTS = {"as shipped": [], "+ (device_id, reason, id)": [BY_REASON],
            "+ (device_id, reason, id) + (device_id, id)": [BY_REASON, BY_ID]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db_url")
    parser.add_argument("--batches", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    engine = make_engine(args.db_url)
    rng = random.Random(12)
    now = datetime.now(UTC)
    reasons = ("ok",) * 9 + ("unknown_key",)
    with engine.connect() as conn:
        devices = int(conn.execute(text("SELECT max(id) FROM device")).scalar_one())
    print("| indexes on access_log | ms per batch of 1,000 rows, median (every repeat's median) | index build s |")
    print("|---|---|---|")

    def batch() -> list[dict[str, Any]]:
        return [{"at": now, "source_ip": f"10.{rng.randrange(8)}.{rng.randrange(256)}.{rng.randrange(256)}",
                 "user_agent": "Yealink T54W 96.86.0.100 00:15:65:aa:bb:cc", "method": "GET", "path": "/0a1b2c….cfg",
                 "device_id": rng.randrange(1, devices + 1), "status": 200, "bytes": 4200,
                 "reason": reasons[rng.randrange(len(reasons))]} for _ in range(BATCH)]  # fmt: skip

    for name, ddl in VARIANTS.items():
        medians, build = [], 0.0
        for _ in range(args.repeat):
            # The index is made and dropped in transactions of its own (pysqlite commits DDL at once anyway);
            # the rows go in one transaction that is rolled back.
            t0 = time.perf_counter()
            with engine.begin() as conn:
                for statement in ddl:
                    conn.execute(text(statement))
            build = time.perf_counter() - t0
            try:
                with engine.connect() as conn:
                    tx = conn.begin()
                    conn.execute(insert(AccessLog), batch())  # warm-up: the index's pages into the cache
                    per_batch = []
                    for _ in range(args.batches):
                        rows = batch()
                        t0 = time.perf_counter()
                        conn.execute(insert(AccessLog), rows)
                        per_batch.append((time.perf_counter() - t0) * 1000)
                    tx.rollback()
            finally:
                with engine.begin() as conn:
                    for statement in ddl:
                        conn.execute(text(f"DROP INDEX {statement.split()[2]}"))
            medians.append(statistics.median(per_batch))
        cells = " ".join(f"{m:.1f}" for m in medians)
        print(f"| {name} | **{statistics.median(medians):.1f}** ({cells}) | {build:.1f} |")
    engine.dispose()


if __name__ == "__main__":
    main()
