"""Fraud-alert lag under load (issue 13 point 5): `serve` as it ships, ~2,000 HTTPS fetches/s and ~2,000 REGISTER/s.

usage: lag.py [--db-url URL] [--duration 40] [--warmup 8] [--http-rate 2000] [--sip-rate 1800]
              [--sip-moving-rate 200] [--bad-rate 20] [--profile] [--tree HEAD|.] [--work DIR]

0. The code measured is a commit (--tree, default HEAD), exported with `git archive` into the work
   directory: this script re-executes itself from there, so edits in progress in the working tree are not
   measured (--tree . measures the working tree as it is).
1. A provider-size database (bench/dashboard/seed.py: 2,000 lines, 10,000 devices, 1,000,000 access-log
   rows, 1,000,000 registration-history rows, 60,000 security events), seeded once into a seed copy
   (SQLite: `<run file>.seed.sqlite3` beside the run file; PostgreSQL: database `<name>_seed`) and copied
   fresh for every run. The alert cursors are then moved to the newest row of each table, as a `serve`
   that had been running would have them (this measures keeping up, not a first start's replay), and the
   bindings the seed left expired are dropped (their "expired" rows would be dated hours back).
2. `python -m core serve` on it with default settings but one, stated: VOIPADMIN_SIP_RATE=0 (the
   per-source rate limit off, as in bench/registrar: every REGISTER of sipp comes from one address).
3. Prewarm: wrk unpaced in 5 s rounds until the endpoint answers at 3x --http-rate (both HTTPS workers
   have rendered every device: a render is ~3.5 ms of CPU) or --prewarm s; then until the write-behind
   queues are empty and the alerts have read everything.
4. Load for WARMUP + DURATION seconds (the report covers the last DURATION):
   - wrk (bench/alerts/paced.lua, paced to --http-rate, keep-alive) over every device key of the
     database with the device's own User-Agent (its MAC), plus 3 % unknown keys (scanner User-Agents),
     0.2 % keys shown with another MAC, and MAC-named bootstraps of 0.5 % of the devices whose
     Provisioning MAC is done, each sent once (--done-mac-repeat: every round of the list; a repeat while
     its alert is live makes every alert pass fail, see docs/PERFORMANCE.md). All from 127.0.0.1, so the
     endpoint throttles the unknown keys after 30 misses (429, reason throttled) and the place rules see
     loopback only;
   - sipp at --sip-rate with every line's real credentials (bench/alerts/register.xml, a fixed Contact
     per line): after each line's first REGISTER (a start), refreshes, which are not history rows;
   - a second sipp at --sip-moving-rate from another local port with the same Contacts: the same phone
     from another source port, so its REGISTER and the next one of the first sipp are each a "change";
   - --bad-rate REGISTERs/s with a wrong password against 10 real lines, each from its own loopback
     address (127.1.x.y) used 4 times against one line, under the ban threshold (5); one source in 10 says
     "friendly-scanner" and is used once: sip_auth_failed and sip_scanner events, auth_failed history.
5. Meanwhile every 0.1 s the cursors (`rollup_cursor` "alerts.<table>": each move is a pass's commit for
   that table), every 0.5 s the lag: for each table, now - `at` of the oldest row after its cursor (0 when
   none), how old the rows that landed since the last sample were when they landed, and on SQLite how
   long a `BEGIN IMMEDIATE` waits for the database's one write lock; after the load, sampling goes on
   until every table is caught up (or --drain s). CPU seconds per process (/proc) over the window.
6. A report (report.json in the run's directory, with every sample and commit; a summary on stdout): per
   table the rows/s landed and what they were, the lag's max (window and drain) and p95 (window), the read
   age of each commit (its time - `at` of the oldest row it read), batch sizes, the alerts raised, whether
   serve logged "alerts pass failed". Exit 1 if a lag of 5 s or more was seen (sampled or read age).
   --profile then replays, with serve stopped, one pass of each table at the largest batch seen under
   load (cursor moved back, timed plain then under cProfile; the alerts it touches get counted twice).
"""

from __future__ import annotations

import argparse
import cProfile
import importlib.util
import io
import json
import os
import pstats
import random
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# The code measured: a commit exported by export_tree (main re-executes this script with it), or the working tree.
CORE_TREE = Path(os.environ.get("BENCH_ALERTS_TREE") or ROOT).resolve()
sys.path.insert(0, str(CORE_TREE))

from sqlalchemy import create_engine, func, select, text  # noqa: E402
from sqlalchemy.engine import Connection, Engine, make_url  # noqa: E402

from core import alerts  # noqa: E402
from core.db import make_engine  # noqa: E402
from core.models import (  # noqa: E402
    AccessLog,
    Alert,
    Device,
    Line,
    Registration,
    RegistrationEvent,
    RollupCursor,
    SecurityEvent,
    Vpbx,
)
from core.settings import Settings  # noqa: E402
from core.sip.digest import authorization, parse_auth_params  # noqa: E402

HERE = Path(__file__).resolve().parent
PY = sys.executable
TABLES = {"access_log": AccessLog, "security_event": SecurityEvent, "registration_event": RegistrationEvent}
WHAT = {
    "access_log": AccessLog.reason,
    "security_event": SecurityEvent.kind,
    "registration_event": RegistrationEvent.event,
}
TARGET = 5.0  # seconds: issue 13 point 5
CONTACT = "127.0.0.1:5062"  # every line's Contact host:port in register.xml (a phone's binding)
BAD_TARGETS = 10  # lines the wrong passwords are tried against (each from several sources)
BAD_PER_SOURCE = 4  # under the registrar's ban threshold (5 failures in 10 minutes)
SCANNER_UAS = ("curl/8.5.0", "python-requests/2.31", "Mozilla/5.0 zgrab/0.x", "Go-http-client/1.1")
PASSWORD = "benchbench01"  # the seeded accounts' password (bench data)


def _load_seeder() -> Any:
    spec = importlib.util.spec_from_file_location("dashboard_seed", CORE_TREE / "bench" / "dashboard" / "seed.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def log(msg: str) -> None:
    print(f"[{datetime.now().strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- the database: seeded once, copied fresh for each run -----------------------------------------------------


def _seeded(url: str) -> bool:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return bool(conn.scalar(select(func.count()).select_from(Vpbx)))
    except Exception:
        return False
    finally:
        engine.dispose()


def _seed(url: str) -> None:
    log(f"seeding {make_url(url).render_as_string(hide_password=True)} (bench/dashboard/seed.py, a few minutes)")
    t0 = time.monotonic()
    subprocess.run([PY, str(CORE_TREE / "bench/dashboard/seed.py"), url, "--password", PASSWORD], check=True, cwd=ROOT)
    log(f"seeded in {time.monotonic() - t0:.0f} s")


def prepare_db(url: str) -> dict[str, Any]:
    """A fresh copy of the seeded database at `url`; returns what was done."""
    u = make_url(url)
    t0 = time.monotonic()
    if u.get_backend_name() == "sqlite":
        run = Path(u.database or "")
        seed = run.with_name(run.stem + ".seed" + run.suffix)
        seed_url = f"sqlite:///{seed}"
        if not seed.exists() or not _seeded(seed_url):
            for p in (seed, Path(f"{seed}-wal"), Path(f"{seed}-shm")):
                p.unlink(missing_ok=True)
            _seed(seed_url)
        for p in (run, Path(f"{run}-wal"), Path(f"{run}-shm")):
            p.unlink(missing_ok=True)
        src, dst = sqlite3.connect(seed), sqlite3.connect(run)
        src.backup(dst)
        src.close()
        dst.close()
        os.chmod(run, 0o600)
        origin = str(seed)
    else:
        name = u.database or "bench_alerts"
        seed_name = f"{name}_seed"
        admin = create_engine(u.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            exists = conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": seed_name})
        seed_url = u.set(database=seed_name).render_as_string(hide_password=False)
        if not exists or not _seeded(seed_url):
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{seed_name}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{seed_name}"'))
            _seed(seed_url)
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{seed_name}"'))
        admin.dispose()
        origin = seed_name
    engine = make_engine(url)
    with engine.begin() as conn:  # history already read: serve keeps up from here
        # Bindings the seed left expired (or expiring within the run) would be purged with an "expired" row
        # dated at their expiry, hours back: a running serve would have done that long ago.
        soon = datetime.now(UTC) + timedelta(minutes=15)
        stale = conn.execute(Registration.__table__.delete().where(Registration.expires_at < soon)).rowcount
        cursors = {}
        for table, model in TABLES.items():
            newest = conn.scalar(select(func.coalesce(func.max(model.id), 0)))
            source = f"alerts.{table}"
            conn.execute(RollupCursor.__table__.delete().where(RollupCursor.source == source))
            conn.execute(RollupCursor.__table__.insert().values(source=source, last_id=newest))
            cursors[table] = newest
    engine.dispose()
    return {"copied_from": origin, "copy_seconds": round(time.monotonic() - t0, 1), "history_rows": cursors,
            "expired_bindings_dropped": stale}  # fmt: skip


# --- the load's material, from the database ---------------------------------------------------------------------


def load_material(url: str, work: Path, rng: random.Random, done_mac_repeat: bool) -> dict[str, Any]:
    ua_for = _load_seeder().ua_for
    engine = make_engine(url)
    with engine.connect() as conn:
        devices = conn.execute(
            select(Device.id, Device.access_key, Device.model_id, Device.mac, Device.provisioning_mac)
            .where(Device.access_key.is_not(None))
            .order_by(Device.id)
        ).all()
        lines = conn.execute(
            select(Line.id, Line.sip_username, Line.sip_password, Vpbx.sip_domain)
            .join(Vpbx, Vpbx.id == Line.vpbx_id)
            .order_by(Line.id)
        ).all()
    engine.dispose()
    reqs = [(f"/{d.access_key}.cfg", ua_for(d.model_id, d.mac), 0) for d in devices]
    n = len(reqs)
    n_unknown, n_mac, n_mismatch = round(n * 0.03), round(n * 0.005), round(n * 0.002)
    for k in range(n_unknown):
        reqs.append((f"/{secrets.token_hex(24)}.cfg", SCANNER_UAS[k % len(SCANNER_UAS)], 0))
    done = [d for d in devices if d.mac and d.provisioning_mac == "done"]
    for d in rng.sample(done, min(n_mac, len(done))):
        # Once each by default: a repeat while its alert is live fails every pass (see docs/PERFORMANCE.md).
        reqs.append((f"/{d.mac.lower()}.cfg", ua_for(d.model_id, d.mac), 0 if done_mac_repeat else 1))
    with_mac = [d for d in devices if d.mac]
    for d in rng.sample(with_mac, min(n_mismatch, len(with_mac))):
        reqs.append((f"/{d.access_key}.cfg", ua_for(d.model_id, "0015DEADBEEF"), 0))
    rng.shuffle(reqs)
    requests_file = work / "requests.tsv"
    requests_file.write_text("".join(f"{p}\t{ua}\t{once}\n" for p, ua, once in reqs))
    users = work / "users.csv"
    users.write_text(
        "SEQUENTIAL\n"
        + "".join(
            f"{ln.sip_username};[authentication username={ln.sip_username} password={ln.sip_password}];"
            f"{ln.sip_domain};{CONTACT}\n"
            for ln in lines
        )
    )
    targets = [(ln.sip_username, ln.sip_domain) for ln in rng.sample(list(lines), BAD_TARGETS)]
    return {
        "requests_file": requests_file,
        "users_file": users,
        "bad_targets": targets,
        "first_key": devices[0].access_key,
        "mix": {"device_keys": n, "unknown_keys": n_unknown, "done_mac_bootstraps": min(n_mac, len(done)),
                "other_mac": min(n_mismatch, len(with_mac)), "lines": len(lines)},
    }  # fmt: skip


# --- serve ---------------------------------------------------------------------------------------------------------


def _free(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def pick_ports(base: int) -> dict[str, int]:
    for shift in range(0, 200, 10):
        ports = {
            "https": base + shift,
            "sip": base + shift + 1,
            "sipp": base + shift + 2,
            "sipp_moving": base + shift + 4,
        }
        if all(_free(p) for p in ports.values()):
            return ports
    raise SystemExit(f"no free ports near {base}")


def export_tree(rev: str, work: Path) -> tuple[Path, str]:
    """The committed tree `rev` as files (git archive: nothing of the working tree's edits in progress), or the
    working tree itself for "."; returns (directory, description)."""
    if rev == ".":
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "core"], capture_output=True,
                               text=True).stdout.split()  # fmt: skip
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
        return ROOT, f"working tree at {head.stdout.strip()}" + (f", core/ modified: {dirty[1::2]}" if dirty else "")
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", rev], capture_output=True, text=True,
                            check=True).stdout.strip()  # fmt: skip
    tree = work / f"tree-{commit}"
    if not (tree / "core").is_dir():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree, f"commit {commit} (git archive)"


def start_serve(
    url: str, work: Path, ports: dict[str, int], tree: Path
) -> tuple[subprocess.Popen[bytes], dict[str, str], Path]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(tree),
        VOIPADMIN_DB_URL=url,
        VOIPADMIN_DATA_DIR=str(work / "serve-data"),
        VOIPADMIN_PUBLIC_URL=f"https://127.0.0.1:{ports['https']}",
        VOIPADMIN_SIP_RATE="0",  # stated: sipp sends every REGISTER from one address
    )
    for name in list(env):  # default settings: nothing else of ours leaks in
        if name.startswith("VOIPADMIN_") and name not in (
            "VOIPADMIN_DB_URL", "VOIPADMIN_DATA_DIR", "VOIPADMIN_PUBLIC_URL", "VOIPADMIN_SIP_RATE"
        ):  # fmt: skip
            del env[name]
    errors = work / "serve.log"
    proc = subprocess.Popen(
        [PY, "-m", "core", "serve", "--host", "127.0.0.1", "--https-port", str(ports["https"]),
         "--sip-port", str(ports["sip"])],
        cwd=tree, env=env, stdout=errors.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    return proc, env, errors


def wait_ready(proc: subprocess.Popen[bytes], ports: dict[str, int], key: str, logfile: Path) -> None:
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    deadline = time.monotonic() + 90
    https = sip = False
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"serve exited with {proc.returncode}: see {logfile}")
        if not https:
            try:
                with urllib.request.urlopen(f"https://127.0.0.1:{ports['https']}/{key}.cfg", context=ctx, timeout=2):
                    https = True
            except Exception:
                pass
        if not sip:
            sip = _options(ports["sip"])
        if https and sip:
            return
        time.sleep(0.3)
    raise SystemExit(f"serve not ready after 90 s: see {logfile}")


def _options(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        msg = (f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKready;rport\r\n"
               "From: <sip:ready@127.0.0.1>;tag=r\r\nTo: <sip:127.0.0.1>\r\nCall-ID: ready\r\nCSeq: 1 OPTIONS\r\n"
               "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()  # fmt: skip
        s.sendto(msg, ("127.0.0.1", port))
        try:
            s.recvfrom(65535)
            return True
        except OSError:
            return False


def stop_serve(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # serve stops Granian (its workers write their queued rows), then itself
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


# --- wrong passwords from many loopback addresses ------------------------------------------------------------------


@dataclass
class BadStats:
    sent: int = 0
    refused: int = 0  # 403: the failure was recorded
    no_answer: int = 0
    other: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _sip_request(
    user: str, domain: str, ip: str, port: int, call_id: str, cseq: int, ua: str, extra: str = ""
) -> bytes:
    return (
        f"REGISTER sip:{domain} SIP/2.0\r\nVia: SIP/2.0/UDP {ip}:{port};branch=z9hG4bK{secrets.token_hex(6)};rport\r\n"
        f"From: <sip:{user}@{domain}>;tag={call_id[:8]}\r\nTo: <sip:{user}@{domain}>\r\nCall-ID: {call_id}\r\n"
        f"CSeq: {cseq} REGISTER\r\nContact: <sip:{user}@{ip}:{port}>\r\nMax-Forwards: 70\r\nExpires: 3600\r\n"
        f"User-Agent: {ua}\r\n{extra}Content-Length: 0\r\n\r\n"
    ).encode()


def _final(sock: socket.socket) -> tuple[int, str]:
    while True:
        data = sock.recv(65535).decode("utf-8", "replace")
        code = int(data.split(" ", 2)[1])
        if code >= 200:
            return code, data


def bad_passwords(server: tuple[str, int], targets: list[tuple[str, str]], rate: float, until: float,
                  first_source: int, step: int, stats: BadStats) -> None:  # fmt: skip
    """One thread: `rate` wrong-password REGISTERs/s until `until` (monotonic), sources first_source, +step..."""
    n, attempt, next_at = first_source, 0, time.monotonic()
    sock: socket.socket | None = None
    while time.monotonic() < until:
        if sock is None or attempt >= (1 if n % 10 == 0 else BAD_PER_SOURCE):
            if sock is not None:
                sock.close()
                n += step
            attempt = 0
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.bind((f"127.1.{(n >> 8) & 255}.{n & 255}", 0))
            sock.settimeout(2.0)
        ip, port = sock.getsockname()
        user, domain = targets[n % len(targets)]  # one source, one line: a password guesser
        ua = "friendly-scanner" if n % 10 == 0 else "Yealink SIP-T46U 108.86.0.45"
        call_id = secrets.token_hex(8)
        attempt += 1
        try:
            sock.sendto(_sip_request(user, domain, ip, port, call_id, 1, ua), server)
            code, data = _final(sock)
            if code == 401:
                header = next(h for h in data.split("\r\n") if h.lower().startswith("www-authenticate:"))
                challenge = parse_auth_params(header.split(":", 1)[1]) or {}
                auth = authorization(challenge, user, "wrong-" + secrets.token_hex(4), "REGISTER", f"sip:{domain}",
                                     secrets.token_hex(4))  # fmt: skip
                sock.sendto(_sip_request(user, domain, ip, port, call_id, 2, ua, f"Authorization: {auth}\r\n"), server)
                code, _ = _final(sock)
            with stats.lock:
                stats.sent += 1
                if code == 403:
                    stats.refused += 1
                else:
                    stats.other += 1
        except (TimeoutError, OSError):
            with stats.lock:
                stats.sent += 1
                stats.no_answer += 1
        next_at += 1.0 / rate
        pause = next_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        elif pause < -1.0:
            next_at = time.monotonic()
    if sock is not None:
        sock.close()


# --- sampling --------------------------------------------------------------------------------------------------------


class Sampler(threading.Thread):
    """Cursors every 0.1 s (each move: one pass's commit for a table), lag and newest ids every 0.5 s."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.engine = make_engine(url)
        self.stop = threading.Event()
        self.moves: list[tuple[float, str, int, int]] = []  # (wall time, table, old cursor, new cursor)
        self.samples: list[dict[str, Any]] = []  # {"t": wall, "lag": {table: s}, "cursor": {...}, "newest": {...}}
        self.errors: list[str] = []
        self._newest: dict[str, int] = {}
        u = make_url(url)
        self._lock_probe = (
            sqlite3.connect(u.database or "", timeout=60, isolation_level=None, check_same_thread=False)
            if u.get_backend_name() == "sqlite"
            else None
        )

    def _cursors(self, conn: Connection) -> dict[str, int]:
        rows = conn.execute(
            select(RollupCursor.source, RollupCursor.last_id).where(
                RollupCursor.source.in_([f"alerts.{t}" for t in TABLES])
            )
        ).all()
        return {source.removeprefix("alerts."): last for source, last in rows}

    def lag_sample(self, conn: Connection, cursors: dict[str, int]) -> dict[str, Any]:
        now = time.time()
        lag, newest, landed = {}, {}, {}
        for table, model in TABLES.items():
            c = cursors.get(table, 0)
            oldest_unread = conn.scalar(select(model.at).where(model.id > c).order_by(model.id).limit(1))
            lag[table] = round(max(0.0, now - oldest_unread.timestamp()), 3) if oldest_unread is not None else 0.0
            newest[table] = int(conn.scalar(select(func.coalesce(func.max(model.id), 0))) or 0)
            before = self._newest.get(table)
            if before is not None and newest[table] > before:  # how old the rows were when they landed
                oldest_new = conn.scalar(select(func.min(model.at)).where(model.id > before, model.id <= newest[table]))
                landed[table] = round(now - oldest_new.timestamp(), 3) if oldest_new is not None else 0.0
        self._newest = newest
        sample = {"t": now, "lag": lag, "cursor": dict(cursors), "newest": newest, "landed_age": landed}
        if self._lock_probe is not None:  # SQLite: how long a writer waits for the database's one write lock
            t0 = time.perf_counter()
            self._lock_probe.execute("BEGIN IMMEDIATE")
            sample["write_wait"] = round(time.perf_counter() - t0, 3)
            self._lock_probe.execute("ROLLBACK")
        return sample

    def run(self) -> None:
        last: dict[str, int] = {}
        tick = 0
        next_at = time.monotonic()
        with self.engine.connect() as conn:
            while not self.stop.is_set():
                try:
                    cursors = self._cursors(conn)
                    now = time.time()
                    for table, value in cursors.items():
                        if table in last and value != last[table]:
                            self.moves.append((now, table, last[table], value))
                    last = cursors
                    if tick % 5 == 0:
                        self.samples.append(self.lag_sample(conn, cursors))
                    conn.rollback()  # a fresh snapshot next time
                except Exception as exc:  # a busy database: noted, sampling goes on
                    self.errors.append(repr(exc)[:200])
                    conn.rollback()
                tick += 1
                next_at += 0.1
                time.sleep(max(0.0, next_at - time.monotonic()))
        self.engine.dispose()


# --- the report ------------------------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def newest_ids(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: int(conn.scalar(select(func.coalesce(func.max(m.id), 0))) or 0) for t, m in TABLES.items()}


def breakdown(engine: Engine, lo: dict[str, int], hi: dict[str, int]) -> dict[str, dict[str, int]]:
    out = {}
    with engine.connect() as conn:
        for table, model in TABLES.items():
            col = WHAT[table]
            rows = conn.execute(
                select(col, func.count()).where(model.id > lo[table], model.id <= hi[table]).group_by(col)
            ).all()
            out[table] = {str(k): int(n) for k, n in sorted(rows, key=lambda r: -r[1])}
    return out


def read_ages(engine: Engine, moves: list[tuple[float, str, int, int]]) -> list[tuple[float, str, int, float]]:
    """Per observed pass commit: (time, table, rows, commit time - `at` of the oldest row it read)."""
    out = []
    with engine.connect() as conn:
        for t, table, old, new in moves:
            model = TABLES[table]
            first = conn.scalar(select(model.at).where(model.id > old).order_by(model.id).limit(1))
            if first is not None:
                out.append((t, table, new - old, round(t - first.timestamp(), 3)))
    return out


def cpu_by_process(root_pids: list[int]) -> dict[str, float]:
    """CPU seconds (user + system) so far of these processes and all their descendants, per command name."""
    tick = os.sysconf("SC_CLK_TCK")
    procs: dict[int, tuple[int, str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        rest = raw[raw.rindex(")") + 2 :].split()
        procs[int(entry.name)] = (int(rest[1]), cmd, (int(rest[11]) + int(rest[12])) / tick)
    keep = set(root_pids)
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _, _) in procs.items():
            if ppid in keep and pid not in keep:
                keep.add(pid)
                changed = True
    out: dict[str, float] = {}
    for pid in keep:
        if pid in procs:
            _, cmd, cpu = procs[pid]
            name = _process_name(cmd)
            out[name] = round(out.get(name, 0.0) + cpu, 2)
    return out


def machine_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _process_name(cmd: str) -> str:
    if "core serve" in cmd:
        return "serve (registrar + background workers, one process)"
    if "core.processes.passes" in cmd:
        return "passes (fraud rollup + alerts, serve's child)"
    if "core.provisioning.server" in cmd:
        return "HTTPS (Granian and its workers)"
    if "lag.py" in cmd:
        return "lag.py (sampler, wrong-password client)"
    return cmd.split()[0].rsplit("/", 1)[-1] if cmd else "?"


def grouped(moves: list[tuple[float, int, float]]) -> list[tuple[float, int, float]]:
    """Commits of one table less than 1 s apart are one pass (`scan` takes what settled meanwhile at once):
    (first commit, rows, oldest read age)."""
    out: list[tuple[float, int, float]] = []
    previous = -1e18
    for t, n, a in moves:
        if out and t - previous < 1.0:
            first, rows, age = out[-1]
            out[-1] = (first, rows + n, max(age, a))
        else:
            out.append((t, n, a))
        previous = t
    return out


def sipp_stats(directory: Path) -> dict[str, Any]:
    files = sorted(directory.glob("*.csv"))
    if not files:
        return {"error": f"no sipp statistics in {directory}"}
    lines = files[-1].read_text().strip().splitlines()
    head = lines[0].split(";")
    last = lines[-1].split(";")
    row = dict(zip(head, last, strict=False))
    return {
        "successful": int(row.get("SuccessfulCall(C)", 0) or 0),
        "failed": int(row.get("FailedCall(C)", 0) or 0),
        "retransmissions": int(row.get("Retransmissions(C)", 0) or 0),
        "elapsed": row.get("ElapsedTime(C)", ""),
    }


def profile_passes(url: str, env: dict[str, str], batches: dict[str, int]) -> dict[str, Any]:
    """One pass of each table at the given batch size, on the quiet database: timed, then under cProfile."""
    settings = Settings.from_env({k: v for k, v in env.items() if k.startswith("VOIPADMIN_")})
    engine = make_engine(url)
    later = datetime.now(UTC) + timedelta(hours=1)  # every row settled
    out: dict[str, Any] = {}
    for table, batch in batches.items():
        if batch <= 0:
            continue
        source = f"alerts.{table}"
        with engine.connect() as conn:
            end = int(conn.scalar(select(RollupCursor.last_id).where(RollupCursor.source == source)) or 0)
            start = conn.scalar(
                select(TABLES[table].id).where(TABLES[table].id <= end).order_by(TABLES[table].id.desc())
                .offset(batch).limit(1)
            )  # fmt: skip
        start = int(start or 0)
        result: dict[str, Any] = {"rows": batch}
        for mode in ("plain", "cprofile"):
            with engine.begin() as conn:
                conn.execute(RollupCursor.__table__.update().where(RollupCursor.source == source).values(last_id=start))
            prof = cProfile.Profile() if mode == "cprofile" else None
            t0 = time.perf_counter()
            if prof:
                prof.enable()
            consumed = alerts.scan_origin(engine, table, settings, batch=batch, now=later)
            if prof:
                prof.disable()
            result[f"{mode}_seconds"] = round(time.perf_counter() - t0, 3)
            result["consumed"] = consumed
            if prof:
                buf = io.StringIO()
                st = pstats.Stats(prof, stream=buf)
                st.sort_stats("cumulative").print_stats(18)
                result["top"] = buf.getvalue().splitlines()[-30:]
                stats: dict[tuple[str, int, str], Any] = st.stats  # type: ignore[attr-defined]
                named = {}
                for (filename, _, name), (_, _, _, cum, _) in stats.items():
                    if filename.endswith(("core/alerts.py", "core/rollup.py")) and not name.startswith("<"):
                        named[name] = max(named.get(name, 0.0), round(cum, 3))
                result["cumulative_by_function"] = dict(sorted(named.items(), key=lambda kv: -kv[1])[:14])
        with engine.begin() as conn:
            conn.execute(RollupCursor.__table__.update().where(RollupCursor.source == source).values(last_id=end))
        out[table] = result
    engine.dispose()
    return out


def _wrk(args: argparse.Namespace, material: dict[str, Any], ports: dict[str, int], rate: float, seconds: float,
         out: Path, once: bool = True) -> subprocess.Popen[bytes]:  # fmt: skip
    env = dict(os.environ, BENCH_REQUESTS=str(material["requests_file"]), BENCH_RATE=str(rate), BENCH_THREADS="2",
               BENCH_ONCE="1" if once else "0")  # fmt: skip
    return subprocess.Popen(
        ["wrk", "-t2", f"-c{args.connections}", f"-d{int(seconds)}s", "--timeout", "10s", "-s", str(HERE / "paced.lua"),
         f"https://127.0.0.1:{ports['https']}/"],
        env=env, stdout=out.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def wait_caught_up(engine: Engine, sampler: Sampler, seconds: float) -> float | None:
    """Seconds until every cursor reached the newest rows of now (None: not within `seconds`)."""
    target, t0 = newest_ids(engine), time.time()
    while time.time() < t0 + seconds:
        s = sampler.samples[-1] if sampler.samples else None
        if s and s["t"] > t0 and all(s["cursor"].get(t, 0) >= target[t] for t in TABLES):
            return round(s["t"] - t0, 1)
        time.sleep(0.25)
    return None


def prewarm(args: argparse.Namespace, material: dict[str, Any], ports: dict[str, int], rundir: Path, engine: Engine,
            sampler: Sampler) -> dict[str, Any]:  # fmt: skip
    """Fill both HTTPS workers' render caches (a render is ~3.5 ms of CPU, a cached answer ~30 µs): wrk unpaced
    over the request list in 5 s rounds until a round runs at 3x --http-rate (renders done: each key has reached
    each worker) or --prewarm s are spent; then wait for the alerts to read what that wrote."""
    if args.prewarm <= 0 or args.http_rate <= 0:
        return {}
    ids0 = newest_ids(engine)
    log(f"prewarm: wrk unpaced in 5 s rounds, up to {args.prewarm:g} s (render caches)")
    rates: list[float] = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < args.prewarm:
        out = rundir / f"wrk-prewarm-{len(rates)}.txt"
        _wrk(args, material, ports, 1e7, 5, out, once=False).wait()
        got = [ln.split()[1] for ln in out.read_text(errors="replace").splitlines() if ln.startswith("Requests/sec")]
        rates.append(float(got[0]) if got else 0.0)
        if rates[-1] >= 3 * args.http_rate:
            break
    ids1, stable_since = newest_ids(engine), time.monotonic()
    while time.monotonic() - stable_since < 2.0 and time.monotonic() - t0 < args.prewarm + 120:
        time.sleep(0.5)  # the endpoint's write-behind queues may still hold rows: until nothing lands for 2 s
        now_ids = newest_ids(engine)
        if now_ids != ids1:
            ids1, stable_since = now_ids, time.monotonic()
    behind = {t: ids1[t] - max(ids0[t], sampler.samples[-1]["cursor"].get(t, 0)) for t in TABLES}
    log(f"prewarm done ({rates} req/s), alerts {behind} rows behind; waiting for them to catch up")
    return {
        "seconds": round(time.monotonic() - t0, 1),  # wrk rounds + the writers' queues draining
        "round_rates": rates,
        "rows": {t: ids1[t] - ids0[t] for t in TABLES},
        "alerts_behind_at_end": behind,
        "caught_up_after_s": wait_caught_up(engine, sampler, 300),
    }


# --- main ------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db-url", help="default: sqlite:///WORK/lag.sqlite3 (PostgreSQL: the database is recreated)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-alerts"))
    parser.add_argument("--duration", type=float, default=40.0, help="measured seconds of load")
    parser.add_argument("--warmup", type=float, default=8.0, help="seconds of load before the measured window")
    parser.add_argument("--http-rate", type=float, default=2000.0, help="HTTPS requests/s (wrk, paced)")
    parser.add_argument("--sip-rate", type=float, default=1800.0, help="REGISTER/s of the refreshing sipp")
    parser.add_argument("--sip-moving-rate", type=float, default=200.0, help="REGISTER/s of the port-changing sipp")
    parser.add_argument("--bad-rate", type=float, default=20.0, help="wrong-password REGISTER/s")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (2 threads)")
    parser.add_argument("--prewarm", type=float, default=90.0, help="at most this many seconds of unpaced wrk first")
    parser.add_argument("--drain", type=float, default=60.0, help="seconds to wait for the alerts to catch up after")
    parser.add_argument("--port", type=int, default=19540, help="first port tried (HTTPS; SIP +1, sipp +2, +4)")
    parser.add_argument("--done-mac-repeat", action="store_true",
                        help="send the done-MAC bootstraps every round of the list, not once each")  # fmt: skip
    parser.add_argument("--tree", default="HEAD", help="the commit serve runs (git archive), or . for the working tree")
    parser.add_argument("--profile", action="store_true", help="after the run: profile one pass per table")
    args = parser.parse_args(argv)

    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    tree, tree_text = export_tree(args.tree, work)
    if tree.resolve() != CORE_TREE:  # import core, seed, sample and serve from that tree alone
        me = str(Path(__file__).resolve())
        os.execve(
            PY, [PY, me, *(sys.argv[1:] if argv is None else argv)], {**os.environ, "BENCH_ALERTS_TREE": str(tree)}
        )
    url = args.db_url or f"sqlite:///{work / 'lag.sqlite3'}"
    dialect = make_url(url).get_backend_name()
    tag = f"{dialect}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    rundir = work / tag
    rundir.mkdir()
    for tool in ("wrk", "sipp"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is needed (Debian: apt-get install wrk sip-tester)")
    rng = random.Random(13)
    report: dict[str, Any] = {
        "dialect": dialect, "started": datetime.now(UTC).isoformat(timespec="seconds"), "nproc": os.cpu_count(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "settings": "serve defaults; VOIPADMIN_SIP_RATE=0 (sipp: one source address)",
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
    }  # fmt: skip
    log(f"database: {make_url(url).render_as_string(hide_password=True)}")
    report["database"] = prepare_db(url)
    material = load_material(url, rundir, rng, args.done_mac_repeat)
    report["request_mix"] = material["mix"]
    ports = pick_ports(args.port)
    report["serve_tree"] = tree_text
    proc, env, serve_log = start_serve(url, rundir, ports, CORE_TREE)
    loaders: list[subprocess.Popen[bytes]] = []
    sampler = Sampler(url)
    engine = make_engine(url)
    try:
        wait_ready(proc, ports, material["first_key"], serve_log)
        log(f"serve up (HTTPS {ports['https']}, SIP {ports['sip']}); {args.warmup:g} s warm-up + {args.duration:g} s")
        sampler.start()
        report["prewarm"] = prewarm(args, material, ports, rundir, engine, sampler)
        total = args.warmup + args.duration
        ids_start = newest_ids(engine)
        with engine.connect() as conn:
            alert_id0 = int(conn.scalar(select(func.coalesce(func.max(Alert.id), 0))) or 0)
        t_start = time.monotonic()
        if args.http_rate > 0:
            loaders.append(_wrk(args, material, ports, args.http_rate, total, rundir / "wrk.txt"))
        for name, rate, port in (("sipp", args.sip_rate, ports["sipp"]), ("sipp_moving", args.sip_moving_rate,
                                                                           ports["sipp_moving"])):  # fmt: skip
            if rate <= 0:
                continue
            d = rundir / name
            d.mkdir()
            loaders.append(subprocess.Popen(
                ["sipp", f"127.0.0.1:{ports['sip']}", "-sf", str(HERE / "register.xml"), "-inf",
                 str(material["users_file"]), "-i", "127.0.0.1", "-p", str(port), "-r", str(int(rate)),
                 "-m", str(int(rate * total)), "-l", str(int(rate * 2)), "-nostdin", "-timeout", f"{int(total + 30)}s",
                 "-trace_stat", "-stf", "stats.csv", "-fd", "1"],
                cwd=d, stdout=(d / "out.txt").open("wb"), stderr=subprocess.STDOUT,
            ))  # fmt: skip
        bad = BadStats()
        threads = []
        if args.bad_rate > 0:
            for i in range(4):
                th = threading.Thread(
                    target=bad_passwords,
                    args=(("127.0.0.1", ports["sip"]), material["bad_targets"], args.bad_rate / 4, t_start + total,
                          1 + i, 4, bad),
                    daemon=True,
                )  # fmt: skip
                th.start()
                threads.append(th)
        time.sleep(max(0.0, t_start + args.warmup - time.monotonic()))
        tracked = [proc.pid, os.getpid(), *(p.pid for p in loaders)]
        ids_w0, w0, cpu0, m0 = newest_ids(engine), time.time(), cpu_by_process(tracked), machine_cpu()
        time.sleep(max(0.0, t_start + total - time.monotonic()))
        ids_w1, w1, cpu1, m1 = newest_ids(engine), time.time(), cpu_by_process(tracked), machine_cpu()
        report["machine_busy_cores_in_window"] = round((m1[0] - m0[0]) / (m1[1] - m0[1]) * (os.cpu_count() or 1), 2)
        report["cpu_share_in_window"] = {
            k: round((cpu1.get(k, 0.0) - cpu0.get(k, 0.0)) / (w1 - w0), 2) for k in sorted(cpu1, key=lambda k: -cpu1[k])
        }
        log("load window over; waiting for the load tools, then for the alerts to catch up")
        for p in loaders:
            try:
                p.wait(max(1.0, t_start + total + 20 - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.terminate()
                p.wait()
        for th in threads:
            th.join(5)
        ids_end = newest_ids(engine)  # what the load left, the writers' queues flushed by now
        caught_up = wait_caught_up(engine, sampler, args.drain)
        sampler.stop.set()
        sampler.join(5)
        report["load_after"] = [round(x, 2) for x in os.getloadavg()]
        with engine.connect() as conn:
            raised = conn.execute(
                select(Alert.rule, func.count(), func.sum(Alert.count)).where(Alert.id > alert_id0).group_by(Alert.rule)
            ).all()
            touched = conn.execute(
                select(Alert.rule, func.count()).where(Alert.last_seen >= datetime.fromtimestamp(w0 - args.warmup, UTC))
                .group_by(Alert.rule)
            ).all()  # fmt: skip
        stop_serve(proc)
    finally:
        for p in loaders:
            if p.poll() is None:
                p.kill()
        stop_serve(proc)
        sampler.stop.set()

    # --- numbers
    dur = w1 - w0
    window = [s for s in sampler.samples if w0 <= s["t"] <= w1]
    since = [s for s in sampler.samples if s["t"] >= w0]  # the window and the drain after it
    ages = read_ages(engine, sampler.moves)
    origins: dict[str, Any] = {}
    landed = breakdown(engine, ids_w0, ids_w1)
    for table in TABLES:
        lags = [s["lag"][table] for s in window]
        moves = [(t, n, a) for t, tb, n, a in ages if tb == table and t >= w0]
        passes = grouped(moves)
        periods = [round(b[0] - a[0], 2) for a, b in zip(passes, passes[1:], strict=False) if a[0] <= w1]
        origins[table] = {
            "rows_in_window": ids_w1[table] - ids_w0[table],
            "rows_per_s": round((ids_w1[table] - ids_w0[table]) / dur, 1),
            "rows_whole_run": ids_end[table] - ids_start[table],
            "what": landed[table],
            "lag_max_s": max((s["lag"][table] for s in since), default=0.0),
            "lag_p95_s": pct(lags, 0.95),
            "lag_median_s": pct(lags, 0.5),
            "landed_age_max_s": max((s["landed_age"].get(table, 0.0) for s in window), default=0.0),
            "landed_age_p95_s": pct([s["landed_age"].get(table, 0.0) for s in window], 0.95),
            "lag_max_after_load_s": max((s["lag"][table] for s in since if s["t"] > w1), default=0.0),
            "read_age_max_s": max((a for _, _, a in moves), default=0.0),
            "read_age_p95_s": pct([a for _, _, a in moves], 0.95),
            "commits": len(moves),
            "passes": len(passes),
            "batch_rows_median": pct([n for _, n, _ in passes], 0.5),
            "batch_rows_max": max((n for _, n, _ in passes), default=0),
            "pass_period_median_s": pct(periods, 0.5),
            "pass_period_max_s": max(periods, default=0.0),
        }
    wrk_text = (rundir / "wrk.txt").read_text(errors="replace") if args.http_rate > 0 else ""
    serve_text = serve_log.read_text(errors="replace")
    report.update(
        window_seconds=round(dur, 1),
        https={
            "target_per_s": args.http_rate,
            "access_log_rows_per_s": origins["access_log"]["rows_per_s"],
            "wrk": [
                ln.strip()
                for ln in wrk_text.splitlines()
                if "requests in" in ln or "Requests/sec" in ln or "Non-2xx" in ln or "Socket errors" in ln
            ],
        },  # fmt: skip
        sip={
            "sipp": sipp_stats(rundir / "sipp"),
            "sipp_moving": sipp_stats(rundir / "sipp_moving") if args.sip_moving_rate > 0 else {},
            "bad_passwords": {
                "sent": bad.sent,
                "refused_403": bad.refused,
                "no_answer": bad.no_answer,
                "other": bad.other,
            },
            "register_per_s_target": args.sip_rate + args.sip_moving_rate + args.bad_rate,
        },  # fmt: skip
        origins=origins,
        caught_up_after_load_s=caught_up,
        alerts_opened={r: {"alerts": int(n), "count": int(c or 0)} for r, n, c in raised},
        alerts_touched_during_run={r: int(n) for r, n in touched},
        serve_log={
            "alerts_pass_failed": serve_text.count("alerts pass failed"),
            "any_pass_failed": serve_text.count("pass failed"),
            "errors": serve_text.count(" ERROR "),
            "tracebacks": serve_text.count("Traceback"),
            "first_errors": [ln for ln in serve_text.splitlines() if " ERROR " in ln][:5],
        },
        sampler_errors=sampler.errors[:5],
        passes=[{"t": round(t - w0, 2), "table": tb, "rows": n, "read_age_s": a} for t, tb, n, a in ages],
        samples=[{**s, "t": round(s["t"] - w0, 2)} for s in sampler.samples],
    )
    waits = [s["write_wait"] for s in window if "write_wait" in s]
    if waits:
        report["sqlite_write_lock_wait_s"] = {"max": max(waits), "p95": pct(waits, 0.95), "median": pct(waits, 0.5)}
    worst = max(max(o["lag_max_s"], o["read_age_max_s"]) for o in origins.values())
    report["max_lag_s"] = worst
    report["target_met"] = worst < TARGET
    if args.profile:
        log("profiling one pass per table at the largest batch seen under load")
        report["profile"] = profile_passes(url, env, {t: int(o["batch_rows_max"]) for t, o in origins.items()})
    engine.dispose()
    out = rundir / "report.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    print(
        json.dumps(
            {k: v for k, v in report.items() if k not in ("passes", "profile", "samples")}, indent=2, default=str
        )
    )
    if "profile" in report:
        for table, p in report["profile"].items():
            print(f"profile {table}: {p['rows']} rows, {p['plain_seconds']} s plain, {p['cprofile_seconds']} s under "
                  f"cProfile: {json.dumps(p.get('cumulative_by_function', {}))}")  # fmt: skip
    parts = [
        f"{t}: {o['rows_per_s']:.0f} rows/s, lag max {o['lag_max_s']:.1f} s / p95 {o['lag_p95_s']:.1f} s, read age max "
        f"{o['read_age_max_s']:.1f} s, batch ≤ {o['batch_rows_max']}"
        for t, o in origins.items()
    ]
    sipp_ok = report["sip"]["sipp"].get("successful", 0) + report["sip"]["sipp_moving"].get("successful", 0)
    print(
        f"\n{dialect}, {dur:.0f} s window: " + " | ".join(parts) + f" | REGISTER ok {sipp_ok} "
        f"(failed {report['sip']['sipp'].get('failed')}+{report['sip']['sipp_moving'].get('failed')}), wrong passwords "
        f"{bad.sent} | 'alerts pass failed': {report['serve_log']['alerts_pass_failed']} | caught up "
        f"{report['caught_up_after_load_s']} s after the load | max lag {worst:.2f} s: "
        f"{'MET' if worst < TARGET else 'MISSED'} (< {TARGET:g} s) | {out}"
    )  # fmt: skip
    return 0 if worst < TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
