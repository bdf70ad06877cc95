"""Bulk import at support-staff size (issue 14.6): 10,000 rows checked (dry run) and applied.

    python bench/device_import/run.py [--rows 10000] [--repeat 3] [--db-url URL]

Seeds one vPBX with ROWS/2 lines on a throwaway SQLite file (or the given database), writes a CSV of
ROWS devices (desk phones with an expansion module and three keys, DECT bases and their handsets
referenced by MAC), then times `core.device_import.import_devices` as a vPBX admin: the dry run REPEAT
times (median), then one apply, and prints the statements each took. Target: the dry run < 10 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import event, insert

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core import device_import  # noqa: E402
from core.db import make_engine, transaction  # noqa: E402
from core.models import Base, Line, Vpbx  # noqa: E402
from core.permissions import Actor  # noqa: E402

HEADER = "line,model,mac,label,username,provisioning_mac,admin_password,user_password,base,expansion,keys\n"


def csv_text(rows: int) -> str:
    out = [HEADER]
    for i in range(rows):
        number = f"+4131{i // 2:07d}"
        if i % 4 == 0:
            out.append(f"{number},yealink-w70b,805EC1{i:06X},Base {i},,,,,,,\n")
        elif i % 4 == 1:
            out.append(f"{number},yealink-w56h,,Handset {i},,,,,805EC1{i - 1:06X},,\n")
        else:
            out.append(f"{number},yealink-t46u,805EC2{i:06X},Desk {i},user{i},,1234,,,yealink-exp43:1,"
                       f"1:line;2:blf:{100 + i % 900}:Team;1.1:speed_dial:*97\n")  # fmt: skip
    return "".join(out)


def seed(url: str, lines: int) -> Actor:
    engine = make_engine(url)
    Base.metadata.create_all(engine)
    with transaction(engine) as s:
        v = Vpbx(name="bench", sip_domain="bench.example")
        s.add(v)
        s.flush()
        s.execute(insert(Line), [{"vpbx_id": v.id, "number": f"+4131{i:07d}", "extension": str(1000 + i),
                                  "display_name": "", "sip_username": f"b{i}", "sip_password": "x" * 24}
                                 for i in range(lines)])  # fmt: skip
        actor = Actor("bench-admin", "vpbx_admin", vpbx_id=v.id)
    engine.dispose()
    return actor


def timed(url: str, actor: Actor, text: str, dry_run: bool) -> tuple[float, int, device_import.ImportReport]:
    engine = make_engine(url)
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    start = time.perf_counter()
    with transaction(engine) as s:
        report = device_import.import_devices(s, actor, text, dry_run=dry_run)
        if dry_run:
            s.rollback()
    elapsed = time.perf_counter() - start
    engine.dispose()
    return elapsed, len(seen), report


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--db-url")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db_url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
        actor = seed(url, (args.rows + 1) // 2)
        text = csv_text(args.rows)
        runs = [timed(url, actor, text, dry_run=True) for _ in range(args.repeat)]
        assert all(r.ok for _, _, r in runs), runs[0][2].errors[:3]
        median = statistics.median(t for t, _, _ in runs)
        print(f"dry run: {args.rows} rows, median {median:.2f} s of {args.repeat} "
              f"({', '.join(f'{t:.2f}' for t, _, _ in runs)}), {runs[0][1]} statements")  # fmt: skip
        took, statements, report = timed(url, actor, text, dry_run=False)
        assert report.ok and report.created == args.rows
        print(f"apply:   {args.rows} rows, {took:.2f} s, {statements} statements")


if __name__ == "__main__":
    main()
