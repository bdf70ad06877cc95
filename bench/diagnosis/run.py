"""Diagnosis of one device at provider size (issue 12 point 5): `core.diagnosis.diagnose_device` as the provider,
timed per device case and per database, with its statements and their query plans.

usage: .venv/bin/python bench/diagnosis/run.py [--runs 30] [--warmup 5] [--only sqlite|postgresql]
                                               [--sqlite-url URL] [--pg-url URL] [--work /tmp/bench-diag]
                                               [--scale 1.0] [--keep-pg] [--plans] [--json FILE]

Without a URL each database is kept under --work so a rerun reuses it: SQLite in WORK/full.sqlite3, PostgreSQL
by scripts/pg-start.sh in WORK/pg on $PGPORT (default 54381), stopped afterwards unless --keep-pg. An empty
or missing database is seeded first by bench/dashboard/seed.py (provider size: 2,000 lines, 10,000 devices,
1,000,000 access-log rows, 1,000,000 registration-history rows; a few minutes each).

The cases are found in the data (one-off queries, not timed): a typical desk phone (the middle Yealink T54W by
id), the device with the most access-log rows, the one with the most refusals, a device on the line with the
most registration-history rows, the line with the most failed SIP authentications in the last 24 h, a DECT
handset (the middle W56H) and a desk phone that never fetched its file.

Each timing is one transaction as the dashboard opens it (core.db.transaction) around one
`diagnose_device(session, provider, id, now)`; beside it, measured the same way in the same run, the
reference `lines.get_line` of the same line (what Téléphones and État load). A fresh `sip` heartbeat is
written before each run (not timed): the built-in registrar is up, as in production, so no case stops at
registrar_not_running. Warm-up runs first, then
--runs runs alternating diagnosis and reference; median and max in milliseconds. Statements are counted
and timed per statement by before/after_cursor_execute; --plans prints EXPLAIN QUERY PLAN (SQLite) or
EXPLAIN (ANALYZE, BUFFERS) (PostgreSQL) of every statement load_facts issued, for every case.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Engine, event, func, select  # noqa: E402
from sqlalchemy.exc import SQLAlchemyError  # noqa: E402

from bench.dashboard.seed import PROVIDER, seed  # noqa: E402
from core import event_kinds, heartbeat, lines  # noqa: E402
from core.db import make_engine, transaction  # noqa: E402
from core.diagnosis import diagnose_device  # noqa: E402
from core.models import AccessLog, Device, Line, Registration, RegistrationEvent, SecurityEvent, Vpbx  # noqa: E402
from core.permissions import Actor  # noqa: E402

PASSWORD = "bench-password-10"  # bench/dashboard/run.py's default: the same databases serve both benchmarks
ACTOR = Actor(name=PROVIDER, role="provider")  # what the dashboard builds for bench-provider
SLOW_MS = 20.0  # a statement slower than this (median) is named in the report


@dataclass
class Case:
    name: str
    device_id: int
    line_id: int
    facts: dict[str, int] = field(default_factory=dict)  # row counts that make it this case


@dataclass
class Result:
    case: Case
    diagnosis_ms: list[float]
    reference_ms: list[float]
    statements: list[str]  # of one diagnosis, in order (SQL text)
    params: list[Any]
    statement_ms: list[list[float]]  # per statement position: every run's execute time, inside the diagnosis
    raw_ms: list[list[float]]  # per statement position: alone, execute + fetchall, every run's time
    verdict: str
    findings: list[str]
    plans: list[str] = field(default_factory=list)


class Recorder:
    """Every statement an engine runs while `on`, with its parameters and execute time."""

    def __init__(self, engine: Engine) -> None:
        self.on = False
        self.rows: list[tuple[str, Any, float]] = []
        self._t0 = 0.0
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        self._t0 = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if self.on:
            self.rows.append((statement, parameters, (time.perf_counter() - self._t0) * 1000))

    @contextmanager
    def recording(self) -> Iterator[list[tuple[str, Any, float]]]:
        self.rows, self.on = [], True
        try:
            yield self.rows
        finally:
            self.on = False


def table_of(statement: str) -> str:
    m = re.search(r"\bFROM\s+\"?(\w+)", statement, re.I)
    return m.group(1) if m else statement.split()[0]


def find_cases(engine: Engine) -> list[Case]:
    now = datetime.now(UTC)
    with transaction(engine) as s:

        def middle(*where: Any) -> Device:
            ids = s.scalars(select(Device.id).where(*where).order_by(Device.id)).all()
            if not ids:
                raise SystemExit("run.py: a case is missing from the database: not seeded by bench/dashboard/seed.py?")
            device = s.get(Device, ids[len(ids) // 2])
            assert device is not None
            return device

        def first_on_line(line_id: int) -> Device:
            return s.scalars(
                select(Device).where(Device.line_id == line_id, Device.access_key.is_not(None)).order_by(Device.id)
            ).first()  # type: ignore[return-value]  # every seeded line has a device with a URL

        def busiest(column: Any, *where: Any) -> tuple[Any, int]:
            row = s.execute(
                select(column, func.count()).where(column.is_not(None), *where).group_by(column)
                .order_by(func.count().desc()).limit(1)
            ).one()  # fmt: skip
            return row[0], int(row[1])

        found: list[tuple[str, Device]] = [("typical desk phone", middle(Device.model_id == "yealink-t54w"))]
        dev_id, _ = busiest(AccessLog.device_id)
        found.append(("most access-log rows", s.get(Device, dev_id)))  # type: ignore[arg-type]
        dev_id, _ = busiest(AccessLog.device_id, AccessLog.reason != event_kinds.OK)
        found.append(("most refusals (cloned key)", s.get(Device, dev_id)))  # type: ignore[arg-type]
        line_id, _ = busiest(RegistrationEvent.line_id)
        found.append(("line with most registration history", first_on_line(line_id)))
        user, _ = busiest(SecurityEvent.username, SecurityEvent.kind == event_kinds.SIP_AUTH_FAILED,
                          SecurityEvent.at >= now - timedelta(hours=24))  # fmt: skip
        line_id = s.scalars(select(Line.id).where(Line.sip_username == user)).one()
        found.append(("line with most failed SIP auth (24 h)", first_on_line(line_id)))
        found.append(("DECT handset", middle(Device.model_id == "yealink-w56h")))
        found.append(("never fetched", middle(Device.mac.is_not(None), Device.last_access_at.is_(None))))

        cases = []
        for name, d in found:
            cases.append(Case(name, d.id, d.line_id, {
                "access_log": s.scalar(select(func.count()).where(AccessLog.device_id == d.id)) or 0,
                "refusals": s.scalar(select(func.count()).where(AccessLog.device_id == d.id,
                                                                AccessLog.reason != event_kinds.OK)) or 0,
                "line_history": s.scalar(select(func.count()).where(RegistrationEvent.line_id == d.line_id)) or 0,
                "line_bindings": s.scalar(select(func.count()).where(Registration.line_id == d.line_id)) or 0,
                "line_devices": s.scalar(select(func.count()).where(Device.line_id == d.line_id)) or 0,
            }))  # fmt: skip
    return cases


def timed(engine: Engine, action: Callable[[Any], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    with transaction(engine) as s:
        got = action(s)
    return (time.perf_counter() - t0) * 1000, got


def explain(engine: Engine, statement: str, params: Any) -> str:
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        if engine.dialect.name == "sqlite":
            cur.execute("EXPLAIN QUERY PLAN " + statement, params)
            rows = cur.fetchall()
            depth: dict[int, int] = {0: 0}
            out = []
            for node, parent, _, detail in rows:
                depth[node] = depth.get(parent, 0) + 1
                out.append("  " * (depth[node] - 1) + detail)
            return "\n".join(out)
        cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, params)
        return "\n".join(r[0] for r in cur.fetchall())
    finally:
        raw.rollback()
        raw.close()


def raw_times(engine: Engine, statements: list[str], params: list[Any], runs: int) -> list[list[float]]:
    """Each statement alone on the DBAPI connection, execute + fetchall (SQLite's execute steps only to the
    first row, so the ORM's timing hides the rest of a scan): the database's own cost, without the ORM."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        out: list[list[float]] = [[] for _ in statements]
        for _ in range(runs):
            for i, (statement, p) in enumerate(zip(statements, params, strict=True)):
                t0 = time.perf_counter()
                cur.execute(statement, p)
                cur.fetchall()
                out[i].append((time.perf_counter() - t0) * 1000)
        return out
    finally:
        raw.rollback()
        raw.close()


def measure(engine: Engine, case: Case, runs: int, warmup: int, plans: bool) -> Result:
    recorder = Recorder(engine)

    def diagnosis(s: Any) -> Any:
        return diagnose_device(s, ACTOR, case.device_id, datetime.now(UTC))

    def reference(s: Any) -> Any:
        return lines.get_line(s, ACTOR, case.line_id)

    for _ in range(warmup):
        heartbeat.beat(engine, "sip", "bench/diagnosis")
        timed(engine, diagnosis)
        timed(engine, reference)
    diag_ms, ref_ms, per_statement = [], [], []
    statements: list[str] = []
    params: list[Any] = []
    got = None
    for _ in range(runs):
        heartbeat.beat(engine, "sip", "bench/diagnosis")  # the registrar is up, as in production (not timed)
        with recorder.recording() as rows:
            ms, got = timed(engine, diagnosis)
        diag_ms.append(ms)
        ref_ms.append(timed(engine, reference)[0])
        if not statements:
            statements, params = [r[0] for r in rows], [r[1] for r in rows]
            per_statement = [[] for _ in rows]
        if [r[0] for r in rows] == statements:  # the same statements every run (bans may be skipped)
            for i, r in enumerate(rows):
                per_statement[i].append(r[2])
    event.remove(engine, "before_cursor_execute", recorder._before)
    event.remove(engine, "after_cursor_execute", recorder._after)
    raw = raw_times(engine, statements, params, runs)
    result = Result(case, diag_ms, ref_ms, statements, params, per_statement, raw, got.verdict,
                    [f.code for f in got.findings])  # fmt: skip
    if plans:
        for statement, p in zip(statements, params, strict=True):
            try:
                result.plans.append(explain(engine, statement, p))
            except Exception as e:  # noqa: BLE001 - the DBAPI's own errors: printed rather than losing the run
                result.plans.append(f"(EXPLAIN failed: {e})")
    return result


def is_seeded(engine: Engine) -> bool:
    try:
        with transaction(engine) as s:
            return bool(s.scalar(select(func.count()).select_from(Vpbx)))
    except SQLAlchemyError:
        return False


def ensure_seeded(url: str, scale: float) -> None:
    engine = make_engine(url)
    seeded = is_seeded(engine)
    engine.dispose()
    if not seeded:
        print(f"seeding {url} (scale {scale}) ...", file=sys.stderr)
        got = seed(url, scale, PASSWORD)
        print(f"  seeded in {got['seconds']} s", file=sys.stderr)


@contextmanager
def postgres(work: Path, keep: bool) -> Iterator[str]:
    env = dict(os.environ, PGPORT=os.environ.get("PGPORT", "54381"))
    if (work / "pg" / "postmaster.pid").exists():  # left running by --keep-pg: use it, leave it running
        keep = True
        url = f"postgresql+psycopg://postgres@127.0.0.1:{env['PGPORT']}/voipadmin_test"
    else:
        url = subprocess.run(["bash", "scripts/pg-start.sh", str(work / "pg")], cwd=ROOT, env=env, check=True,
                             capture_output=True, text=True).stdout.strip()  # fmt: skip
    try:
        yield url
    finally:
        if not keep:
            subprocess.run(["bash", "scripts/pg-stop.sh", str(work / "pg")], cwd=ROOT, env=env, check=False)


def ms(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} / {max(values):.1f}" if values else "—"


def report(db: str, results: list[Result], load: tuple[float, float]) -> str:
    out = [f"### {db} (load average {load[0]:.2f} before, {load[1]:.2f} after)", "",
           "| case | device | access-log rows (refusals) | line's history rows | statements | diagnosis ms "
           "median / max | get_line ms median / max | ratio (medians) | verdict: findings |",
           "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in results:
        f = r.case.facts
        ratio = statistics.median(r.diagnosis_ms) / statistics.median(r.reference_ms)
        out.append(f"| {r.case.name} | {r.case.device_id} | {f['access_log']:,} ({f['refusals']:,}) | "
                   f"{f['line_history']:,} | {len(r.statements)} | **{ms(r.diagnosis_ms)}** | {ms(r.reference_ms)} | "
                   f"{ratio:.2f} | {r.verdict}: {', '.join(r.findings) or '—'} |")  # fmt: skip
    out += ["", "Per statement, alone on the connection (execute + fetchall, no ORM), median / max ms, by case:", ""]
    names = [f"{i + 1}. {table_of(s)}" for i, s in enumerate(results[0].statements)]
    out.append("| statement | " + " | ".join(r.case.name for r in results) + " |")
    out.append("|---|" + "---|" * len(results))
    sums = [statistics.median([sum(run) for run in zip(*r.raw_ms, strict=True)]) for r in results]
    out.append("| all statements, sum | " + " | ".join(f"{v:.1f}" for v in sums) + " |")
    for i, name in enumerate(names):
        cells = []
        for r in results:
            same = i < len(r.statements) and r.statements[i] == results[0].statements[i]
            cells.append(ms(r.raw_ms[i]) if same else "(other)")
        out.append(f"| {name} | " + " | ".join(cells) + " |")
    slow = [(r.case.name, table_of(r.statements[i]), statistics.median(t))
            for r in results for i, t in enumerate(r.raw_ms) if t and statistics.median(t) > SLOW_MS]  # fmt: skip
    out.append("")
    out.append("Slow statements (> 20 ms median): " + ("; ".join(f"{c}: {t} {m:.1f} ms" for c, t, m in slow) or "none"))
    return "\n".join(out)


def plans_text(db: str, results: list[Result]) -> str:
    out = [f"===== {db}: the statements of one diagnosis and their plans ====="]
    for r in results:
        out.append(f"--- {r.case.name} (device {r.case.device_id}, line {r.case.line_id}) ---")
        for i, (statement, plan) in enumerate(zip(r.statements, r.plans, strict=True)):
            out.append(f"[{i + 1}] {' '.join(statement.split())}")
            out.append(f"    params: {r.params[i]}")
            out.append("    " + plan.replace("\n", "\n    "))
    return "\n".join(out)


def run_db(db: str, url: str, args: argparse.Namespace) -> tuple[str, list[Result]]:
    engine = make_engine(url)
    load0 = os.getloadavg()[0]
    cases = find_cases(engine)
    results = []
    for case in cases:
        results.append(measure(engine, case, args.runs, args.warmup, args.plans))
        print(f"  {db}: {case.name}: {ms(results[-1].diagnosis_ms)} ms", file=sys.stderr)
    heartbeat.stop(engine, "sip")
    engine.dispose()
    text = report(db, results, (load0, os.getloadavg()[0]))
    if args.plans:
        text += "\n\n" + plans_text(db, results)
    return text, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--sqlite-url")
    parser.add_argument("--pg-url")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-diag"))
    parser.add_argument("--scale", type=float, default=1.0, help="for seeding here (1.0 = provider size)")
    parser.add_argument("--keep-pg", action="store_true", help="leave the PostgreSQL of --work running")
    parser.add_argument("--plans", action="store_true", help="print every statement's query plan")
    parser.add_argument("--json", type=Path, help="also write the raw timings here")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    texts, raw = [], {}

    def one(db: str, url: str, seed_here: bool) -> None:
        if seed_here:
            ensure_seeded(url, args.scale)
        text, results = run_db(db, url, args)
        texts.append(text)
        raw[db] = [{"case": r.case.name, "device": r.case.device_id, "facts": r.case.facts,
                    "diagnosis_ms": r.diagnosis_ms, "reference_ms": r.reference_ms,
                    "statements": [" ".join(s.split()) for s in r.statements], "statement_ms": r.statement_ms,
                    "raw_ms": r.raw_ms,
                    "verdict": r.verdict, "findings": r.findings} for r in results]  # fmt: skip

    if args.only != "postgresql":
        one("SQLite", args.sqlite_url or f"sqlite:///{args.work / 'full.sqlite3'}", args.sqlite_url is None)
    if args.only != "sqlite":
        if args.pg_url:
            one("PostgreSQL", args.pg_url, False)
        else:
            with postgres(args.work, args.keep_pg) as url:
                one("PostgreSQL", url, True)
    print("\n\n".join(texts))
    if args.json:
        args.json.write_text(json.dumps(raw, indent=1))


if __name__ == "__main__":
    main()
