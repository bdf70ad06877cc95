"""A provider-size database for the dashboard benchmark (issue 10): bulk inserts, a few minutes at most.

usage: seed.py DB_URL [--scale 1.0] [--password PW] [--seed 10]

At scale 1: 20 vPBXs x 100 lines, 10,000 devices (5 per line: desk phones, DECT bases and handsets,
ATAs, softphones, web phones), ~12,000 function keys, 1,000,000 provisioning access-log rows over
30 days from ~5,000 addresses (one site address per line, a second one for some devices, scanners
probing unknown keys), 90,000 failed SIP authentications (`security_event`, kind sip_auth_failed),
a few key/MAC mismatches in the last day, and a registration for most devices that register.
About 5 % of the devices with a URL never fetched it, 3 % changed since their last fetch.

For the diagnosis (issue 12, bench/diagnosis/run.py), within those 1,000,000 access-log rows: one phone
fetching every ~2 minutes for 30 days (20,000 rows, the device with the most rows), one whose key was
copied to another phone refused every minute for the last 7 days (10,000 key/MAC mismatches, also
security events, after its own last fetch), 500 requests with retired keys; a retired key for one device
in 25. And 1,000,000 rows of registration history (`registration_event`) over 30 days: starts, address
or port changes, expiries and unregisters spread over the lines, the `auth_failed` row of every failed
authentication of a known line, and the worst cases of one line: a phone behind a NAT that rebinds every
minute (45,000 rows), one re-registering every 20 s from two addresses in turn (30,000), a phone with a
wrong password retrying every 30 s for 3.5 days (10,000; its security events are part of the 90,000).

The database must be empty (the schema is created or upgraded here through Alembic). Prints the
three accounts to log in with (provider, vpbx_admin of bench-01, user of its first line): bench data,
so the password is printed; never do this with real accounts.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import Connection, func, insert, select  # noqa: E402

from core import accounts, rollup  # noqa: E402
from core.catalogue import default_catalogue  # noqa: E402
from core.credentials import new_access_key, new_sip_password  # noqa: E402
from core.db import make_engine, transaction  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.models import Device, FunctionKey, Line, Registration, Vpbx  # noqa: E402
from core.permissions import system_actor  # noqa: E402

VPBX_PREFIX = "bench-"
PROVIDER, ADMIN, USER = "bench-provider", "bench-admin", "bench-user"
# Five devices per line, in four patterns: (model, expansion, base index in the pattern or None).
PATTERNS: tuple[tuple[tuple[str, str | None, int | None], ...], ...] = (
    (("yealink-t46u", "yealink-exp43:1", None), ("snom-d735", None, None), ("yealink-w70b", None, None),
     ("yealink-w56h", None, 2), ("yealink-w56h", None, 2)),
    (("yealink-t54w", None, None), ("poly-vvx450", None, None), ("grandstream-ht802", None, None),
     ("linphone-ipphone", None, None), ("webphone", None, None)),
    (("yealink-t31g", None, None), ("grandstream-grp2614", None, None), ("fanvil-x6u", None, None),
     ("linphone-ipphone", None, None), ("webphone", None, None)),
    (("yealink-t48u", None, None), ("snom-d785", "snom-d7:2", None), ("gigaset-n670", None, None),
     ("gigaset-s700h-pro", None, 2), ("webphone", None, None)),
)  # fmt: skip
FIRST = ("Alice", "Bruno", "Chloé", "David", "Emma", "Félix", "Gaëlle", "Hugo", "Inès", "Jules", "Karin",
         "Léo", "Marie", "Nora", "Oscar", "Paul", "Rita", "Sami", "Théo", "Zoé")  # fmt: skip
LAST = ("Martin", "Keller", "Favre", "Rochat", "Meier", "Dubois", "Moret", "Blanc", "Rey", "Perrin",
        "Girard", "Bonvin", "Cuche", "Jaquet", "Muller")  # fmt: skip
SCANNER_UAS = ("curl/8.5.0", "python-requests/2.31", "Mozilla/5.0 zgrab/0.x", "Go-http-client/1.1", "")
SIP_ATTACK_UAS = ("friendly-scanner", "sipvicious", "pplsip", "VaxSIPUserAgent/3.1", "Asterisk PBX")


def ua_for(model_id: str, mac: str | None) -> str:
    vendor, _, model = model_id.partition("-")
    mac_part = f" {':'.join(mac[i : i + 2] for i in range(0, 12, 2)).lower()}" if mac else ""
    return f"{vendor.capitalize()} {model.upper()} 1.0.{len(model_id)}{mac_part}"


def ip(prefix: int, n: int) -> str:
    return f"{prefix}.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def sqlite_time(at: datetime) -> str:
    """SQLAlchemy's own SQLite storage format for a UTC datetime (core.models.UTCDateTime)."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def bulk(conn: Connection, table: str, columns: Sequence[str], rows: Iterable[tuple[Any, ...]]) -> int:
    """Raw bulk insert: COPY on PostgreSQL, one executemany on SQLite. Datetimes are aware UTC."""
    count = 0
    if conn.dialect.name == "postgresql":
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)
                count += 1
        return count
    converted = [tuple(sqlite_time(v) if isinstance(v, datetime) else v for v in row) for row in rows]
    marks = ", ".join("?" for _ in columns)
    conn.connection.driver_connection.executemany(  # type: ignore[union-attr]
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", converted
    )
    return len(converted)


HISTORY_COLUMNS = ("at", "line_id", "event", "contact", "source_ip", "source_port", "transport", "user_agent")
# The spread part of the history: a start, NAT port changes, expiries (a phone switched off, a lost
# network), unregisters (a reboot).
HISTORY_MIX = (("start", 30), ("change", 38), ("expired", 22), ("unregister", 10))


def pattern0_line(line_rows: Sequence[dict[str, Any]], fraction: float) -> int:
    """The id of a line of pattern 0 (a desk phone first) at about `fraction` of the lines."""
    return int(line_rows[int(fraction * len(line_rows)) // len(PATTERNS) * len(PATTERNS)]["id"])


def first_device(line_rows: Sequence[dict[str, Any]], fraction: float) -> int:
    """The id of that line's first device, its desk phone (devices are made five per line, in order)."""
    return (pattern0_line(line_rows, fraction) - 1) * len(PATTERNS[0]) + 1


def registration_history(rng: random.Random, now: datetime, line_rows: Sequence[dict[str, Any]],
                         registering: Sequence[dict[str, Any]], total: int,
                         given: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:  # fmt: skip
    """`total` registration_event rows over 30 days, oldest first: `given` (failed authentications), the two
    busiest lines (a NAT rebinding every minute, a phone flipping between two addresses every 20 s) and the
    rest spread over the lines with a mild skew."""
    scale = total / 1_000_000
    lines = {line["id"]: line for line in line_rows}
    by_line: dict[int, list[dict[str, Any]]] = {}
    for d in registering:
        by_line.setdefault(d["line_id"], []).append(d)
    start, span = (now - timedelta(days=30)).timestamp(), 30 * 86_400
    rows = list(given)

    def row(at: float, d: dict[str, Any], event: str, src: str, port: int) -> tuple[Any, ...]:
        user = lines[d["line_id"]]["sip_username"]
        return (datetime.fromtimestamp(at, UTC), d["line_id"], event, f"sip:{user}@{src}:{port};transport=udp", src,
                port, "udp", ua_for(d["model_id"], d["mac"]))  # fmt: skip

    flap = by_line[pattern0_line(line_rows, 0.8)][0]
    n_flap = round(45_000 * scale)
    for k in range(n_flap):  # a NAT that gives the phone a new port every minute; now and then it drops out
        at = start + (k + rng.random()) * (span - 30) / n_flap
        event = "expired" if k % 40 == 39 else "start" if k % 40 == 0 else "change"
        rows.append(row(at, flap, event, ip(10, flap["line_id"]), 1024 + rng.randrange(64_000)))
    storm = by_line[pattern0_line(line_rows, 0.5)][0]
    n_storm = round(30_000 * scale)
    for k in range(n_storm):  # two phones (or two WANs) on one account: each REGISTER moves the binding
        at = now.timestamp() - 20 * (n_storm - k) - rng.random() * 5
        rows.append(row(at, storm, "change", ip(10 + 90 * (k % 2), storm["line_id"]), 5060 + storm["id"] % 1000))
    rest = total - len(rows)
    weights = [rng.paretovariate(2.0) if line["id"] in by_line else 0.0 for line in line_rows]
    chosen = rng.choices([line["id"] for line in line_rows], weights=weights, k=max(0, rest))
    events = rng.choices([e for e, _ in HISTORY_MIX], weights=[w for _, w in HISTORY_MIX], k=max(0, rest))
    for line_id, event in zip(chosen, events, strict=True):
        ds = by_line[line_id]
        d = ds[rng.randrange(len(ds))]
        src = d["last_access_ip"] or ip(10, line_id)
        port = 1024 + rng.randrange(64_000) if event == "change" else 5060 + d["id"] % 1000
        rows.append(row(start + rng.random() * span, d, event, src, port))
    rows.sort(key=lambda r: r[0])
    return rows


def fix_sequences(conn: Connection, tables: Sequence[str]) -> None:
    """Rows inserted with explicit ids: move PostgreSQL's sequences past them."""
    if conn.dialect.name != "postgresql":
        return
    for table in tables:
        conn.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT max(id) FROM {table}), 1))"
        )


def seed(url: str, scale: float = 1.0, password: str | None = None, rng_seed: int = 10) -> dict[str, Any]:
    rng = random.Random(rng_seed)
    started = time.monotonic()
    now = datetime.now(UTC).replace(microsecond=0)
    n_vpbx = max(1, round(20 * scale))
    per_vpbx = 100
    n_log = round(1_000_000 * scale)
    n_sip = round(90_000 * scale)  # with the 10,040 key/MAC mismatches: 100,040 security events (issue 13)
    n_scanners = max(3, round(1_800 * scale))
    engine = make_engine(url)
    upgrade(engine)
    catalogue = default_catalogue()
    with engine.begin() as conn:
        if conn.scalar(select(func.count()).select_from(Vpbx)):
            raise SystemExit("seed.py: the database already holds vPBXs; give it an empty one")
        conn.execute(insert(Vpbx), [
            {"id": v + 1, "name": f"{VPBX_PREFIX}{v + 1:02d}", "sip_domain": f"pbx{v + 1:02d}.bench.example",
             "created_at": now - timedelta(days=400)}
            for v in range(n_vpbx)
        ])  # fmt: skip
        line_rows = []
        for v in range(n_vpbx):
            for i in range(per_vpbx):
                n = v * per_vpbx + i
                line_rows.append({
                    "id": n + 1, "vpbx_id": v + 1, "number": f"+4121{6000000 + n:07d}", "extension": str(100 + i),
                    "display_name": f"{FIRST[n % len(FIRST)]} {LAST[(n // len(FIRST)) % len(LAST)]}",
                    "sip_username": f"4121{6000000 + n:07d}", "sip_password": new_sip_password(),
                    "pstn_blocked": n % 97 == 13, "created_at": now - timedelta(days=300),
                })  # fmt: skip
        conn.execute(insert(Line), line_rows)

        devices: list[dict[str, Any]] = []
        for line in line_rows:
            pattern = PATTERNS[(line["id"] - 1) % len(PATTERNS)]
            first_id = len(devices) + 1
            for model_id, expansion, base in pattern:
                model = catalogue.get(model_id)
                assert model is not None, model_id
                dev_id = len(devices) + 1
                has_mac = model.has_url and model.kind != "softphone"
                exp_model, _, exp_count = (expansion or "").partition(":")
                devices.append({
                    "id": dev_id, "line_id": line["id"], "model_id": model_id,
                    "access_key": new_access_key() if model.has_url else None,
                    "admin_password": f"{rng.randrange(10**8):08d}", "admin_password_generated": True,
                    "username": "", "user_password": f"{rng.randrange(10**6):06d}", "user_password_generated": True,
                    "mac": f"0015{dev_id:08X}" if has_mac else None,
                    "provisioning_mac": "done" if has_mac and dev_id % 7 == 0 else "no",
                    "base_station_id": first_id + base if base is not None else None,
                    "expansion_model_id": exp_model or None, "expansion_count": int(exp_count or 0),
                    "label": ("Bureau", "Salle", "Accueil", "Mobile", "")[dev_id % 5],
                    "config_revision": 1 + dev_id % 5, "last_access_at": None, "last_access_ip": None,
                    "last_access_ua": None, "created_at": now - timedelta(days=200),
                    "updated_at": now - timedelta(days=40),
                })  # fmt: skip

        # Access log: legitimate fetches by devices with a URL, probes by scanners; then each device's last access.
        fetching = [d for d in devices if d["access_key"] and d["id"] % 20 != 3]  # 5 % never fetched
        second_ip = {d["id"]: ip(100, 20_000 + d["id"]) for d in fetching if d["id"] % 7 == 1}  # home office
        n_probe = n_log * 8 // 100
        start = (now - timedelta(days=30)).timestamp()
        span = 30 * 86_400
        last: dict[int, tuple[float, str, str]] = {}
        log: list[tuple[Any, ...]] = []
        # The diagnosis' worst cases (bench/diagnosis): whole lines' devices, taken out of the legitimate fetches.
        n_hot_fetch, n_refused, n_old_key = round(20_000 * scale), round(10_000 * scale), round(500 * scale)
        by_id = {d["id"]: d for d in devices}
        hot_fetch = by_id[first_device(line_rows, 0.4)]  # auto-provisioning every ~2 minutes
        hot_refused = by_id[first_device(line_rows, 0.6)]  # its key copied to another phone
        refused_since = (now - timedelta(days=7)).timestamp()
        for k in range(n_hot_fetch):
            at = start + (k + rng.random()) * span / n_hot_fetch
            src, ua = ip(10, hot_fetch["line_id"]), ua_for(hot_fetch["model_id"], hot_fetch["mac"])
            log.append((at, src, ua, "GET", f"/{hot_fetch['access_key'][:6]}….cfg", hot_fetch["id"], 200, 4200, "ok"))
            last[hot_fetch["id"]] = (at, src, ua)
        mismatch_events = []
        clone_ua = ua_for(hot_refused["model_id"], "0015DEADBEEF")
        for k in range(n_refused):
            at = refused_since + (k + rng.random()) * (now.timestamp() - 60 - refused_since) / n_refused
            log.append((at, ip(100, 60_000), clone_ua, "GET", f"/{hot_refused['access_key'][:6]}….cfg",
                        hot_refused["id"], 404, 0, "key_mac_mismatch"))  # fmt: skip
            mismatch_events.append((datetime.fromtimestamp(at, UTC), "key_mac_mismatch", ip(100, 60_000), None, "",
                                    clone_ua, None, hot_refused["id"],
                                    f"device MAC {hot_refused['mac']}, User-Agent MAC 0015DEADBEEF"))  # fmt: skip
        retired = [d for d in devices if d["access_key"] and d["id"] % 25 == 11]
        stale = [d for d in retired if d["id"] % 500 == 11] or retired[:1]  # still fetching an old URL
        for k in range(n_old_key):
            d = stale[k % len(stale)]
            at = now.timestamp() - rng.random() * 3 * 86_400
            log.append((at, d["last_access_ip"] or ip(10, d["line_id"]), ua_for(d["model_id"], d["mac"]), "GET",
                        "/0ld…….cfg", d["id"], 404, 0, "old_key"))  # fmt: skip
        for _ in range(n_log - n_probe - n_hot_fetch - n_refused - n_old_key):
            d = fetching[rng.randrange(len(fetching))]
            at = start + rng.random() * span
            if d is hot_refused and at > refused_since:  # its own fetches stopped when the clone started
                at = start + rng.random() * (refused_since - start)
            src = second_ip.get(d["id"]) if rng.random() < 0.3 else None
            src = src or ip(10, d["line_id"])
            ua = ua_for(d["model_id"], d["mac"])
            log.append((at, src, ua, "GET", f"/{d['access_key'][:6]}….cfg", d["id"], 200, 4200, "ok"))
            if at > last.get(d["id"], (0.0, "", ""))[0]:
                last[d["id"]] = (at, src, ua)
        probe_reasons = ("unknown_key", "unknown_key", "unknown_key", "unknown_mac", "malformed", "throttled")
        for _ in range(n_probe):
            # Half from a few loud scanners, half spread over the long tail.
            loud = rng.random() < 0.5
            scanner = min(int(rng.paretovariate(0.6)), n_scanners) - 1 if loud else rng.randrange(n_scanners)
            at = start + rng.random() * span
            reason = probe_reasons[rng.randrange(len(probe_reasons))]
            guess = f"0015{rng.randrange(16**8):08x}" if reason == "unknown_mac" else f"{rng.randrange(16**6):06x}…"
            path = f"/{guess}.cfg"
            log.append((at, ip(185, scanner), SCANNER_UAS[scanner % len(SCANNER_UAS)], "GET", path, None,
                        404 if reason != "throttled" else 429, 0, reason))  # fmt: skip
        log.sort(key=lambda r: r[0])
        for d in devices:
            if d["id"] in last:
                at, src, ua = last[d["id"]]
                d["last_access_at"] = datetime.fromtimestamp(at, UTC)
                d["last_access_ip"], d["last_access_ua"] = src, ua
                if d["id"] % 33 == 5:  # changed since its last fetch: a pending change
                    d["updated_at"] = d["last_access_at"] + timedelta(minutes=5)
                    d["config_revision"] += 1
                else:
                    d["updated_at"] = min(d["updated_at"], d["last_access_at"])
        conn.execute(insert(Device), devices)

        keys = []
        for d in devices:
            model = catalogue.get(d["model_id"])
            if model is None or model.kind != "desk_phone":
                continue
            ext = 100 + (d["line_id"] - 1) % per_vpbx
            keys.append({"device_id": d["id"], "module": 0, "index": 1, "function": "line", "value": "1", "label": ""})
            for k in range(2, 2 + d["id"] % 5):
                if k > model.keys:
                    break
                other = 100 + (ext - 100 + k * 7) % per_vpbx
                function = "blf" if "blf" in model.key_functions else model.key_functions[0]
                keys.append({"device_id": d["id"], "module": 0, "index": k, "function": function,
                             "value": str(other) if function == "blf" else "", "label": f"Poste {other}"})  # fmt: skip
        conn.execute(insert(FunctionKey), keys)

        lines_by_id = {line["id"]: line for line in line_rows}
        regs = []
        registering = [d for d in devices if catalogue.get(d["model_id"]).kind in  # type: ignore[union-attr]
                       ("desk_phone", "dect_base", "ata", "softphone")]  # fmt: skip
        for d in registering:
            line = lines_by_id[d["line_id"]]
            user, domain = line["sip_username"], f"pbx{line['vpbx_id']:02d}.bench.example"
            src = d["last_access_ip"] or ip(10, d["line_id"])
            port = 5060 + d["id"] % 1000
            # One in ten has let its binding expire: "not registered"; so has the phone with a wrong password.
            alive = d["id"] % 10 != 4 and d["id"] != first_device(line_rows, 0.2)
            regs.append({
                "aor": f"{user}@{domain}", "contact": f"sip:{user}@{src}:{port};transport=udp", "line_id": line["id"],
                "device_id": None, "source_ip": src, "source_port": port, "transport": "udp",
                "local_socket": "udp:0.0.0.0:5060", "user_agent": ua_for(d["model_id"], d["mac"]),
                "call_id": f"{d['id']}-{rng.randrange(10**12)}@bench", "cseq": 1 + d["id"] % 900,
                # A day ahead (real bindings last an hour) so a benchmark run later the same day sees them.
                "expires_at": now + timedelta(days=1) if alive else now - timedelta(hours=2),
                "last_modified": now - timedelta(minutes=d["id"] % 50),
            })  # fmt: skip
        conn.execute(insert(Registration), regs)

        attackers = max(3, round(400 * scale))
        events = []
        history: list[tuple[Any, ...]] = []  # registration_event rows
        wrong_pw = by_id[first_device(line_rows, 0.2)]  # retries every 30 s with a wrong password
        n_wrong = round(10_000 * scale)
        wrong_line = lines_by_id[wrong_pw["line_id"]]
        src, port = ip(10, wrong_pw["line_id"]), 5060 + wrong_pw["id"] % 1000
        ua, user = ua_for(wrong_pw["model_id"], wrong_pw["mac"]), wrong_line["sip_username"]
        for k in range(n_wrong):
            at = now - timedelta(seconds=30 * (n_wrong - k) + rng.random() * 5)
            events.append((at, "sip_auth_failed", src, port, user, ua, wrong_line["id"], None, "wrong password"))
            history.append((at, wrong_line["id"], "auth_failed", f"sip:{user}@{src}:{port};transport=udp", src, port,
                            "udp", ua))  # fmt: skip
        for _ in range(n_sip - n_wrong):
            a = min(int(rng.paretovariate(0.8)), attackers) - 1
            at = start + rng.random() * span
            known = rng.random() < 0.7
            # Attackers hammer a few accounts (numbers found in directories), most lines see none.
            line = line_rows[(int(rng.paretovariate(1.2)) * 37) % len(line_rows)] if known else None
            username = line["sip_username"] if line else f"{rng.randrange(100, 10_000)}"
            events.append((datetime.fromtimestamp(at, UTC), "sip_auth_failed", ip(45, a), 5060 + a % 100, username,
                           SIP_ATTACK_UAS[a % len(SIP_ATTACK_UAS)], line["id"] if line else None, None,
                           "wrong password" if line else "unknown user"))  # fmt: skip
            if line:  # the registrar's history row of a failed authentication for a known line
                history.append((datetime.fromtimestamp(at, UTC), line["id"], "auth_failed",
                                f"sip:{username}@{ip(45, a)}:{5060 + a % 100}", ip(45, a), 5060 + a % 100, "udp",
                                SIP_ATTACK_UAS[a % len(SIP_ATTACK_UAS)]))  # fmt: skip
        for k in range(max(1, round(40 * scale))):  # a key copied to another phone, within the last day
            d = fetching[(k * 97) % len(fetching)]
            at = now - timedelta(minutes=30 * k + 7)
            events.append((at, "key_mac_mismatch", ip(100, 50_000 + k), None, "", ua_for(d["model_id"], "0015DEADBEEF"),
                           None, d["id"], f"device MAC {d['mac']}, User-Agent MAC 0015DEADBEEF"))  # fmt: skip
        events += mismatch_events
        events.sort(key=lambda r: r[0])
        sec_cols = ("at", "kind", "source_ip", "source_port", "username", "user_agent", "line_id", "device_id",
                    "detail")  # fmt: skip
        n_events = bulk(conn, "security_event", sec_cols, events)

        log_cols = ("at", "source_ip", "user_agent", "method", "path", "device_id", "status", "bytes", "reason")
        n_rows = bulk(conn, "access_log", log_cols, ((datetime.fromtimestamp(r[0], UTC), *r[1:]) for r in log))
        n_history = bulk(
            conn,
            "registration_event",
            HISTORY_COLUMNS,
            registration_history(rng, now, line_rows, registering, round(1_000_000 * scale), history),
        )
        n_retired = bulk(conn, "retired_key", ("key_hash", "device_id", "retired_at"), (
            (hashlib.sha256(new_access_key().encode()).hexdigest(), d["id"], now - timedelta(days=1 + d["id"] % 90))
            for d in retired))  # fmt: skip
        fix_sequences(conn, ("vpbx", "line", "device"))
        addresses = len({r[1] for r in log})

    # What `serve` does at its first start: fold the raw fraud evidence into the rollup the Fraude page reads.
    rolled_at = time.monotonic()
    rollup.roll_up(engine, budget=10 * (n_log + n_sip + 1))
    rollup_seconds = round(time.monotonic() - rolled_at, 1)

    actor = system_actor("bench")
    password = password or new_sip_password()[:16]
    made = []
    with transaction(engine) as s:
        first = line_rows[0]["number"]
        for username, role, extra in ((PROVIDER, "provider", {}), (ADMIN, "vpbx_admin", {"vpbx_name": "bench-01"}),
                                      (USER, "user", {"line_number": first})):  # fmt: skip
            accounts.add_account(s, actor, username, role, password=password, **extra)
            made.append((username, role))
    engine.dispose()
    return {
        "vpbx": n_vpbx, "lines": len(line_rows), "devices": len(devices), "keys": len(keys),
        "access_log": n_rows, "addresses": addresses, "security_events": n_events, "registrations": len(regs),
        "registration_events": n_history, "retired_keys": n_retired,
        "accounts": made, "password": password, "seconds": round(time.monotonic() - started, 1),
        "rollup_seconds": rollup_seconds,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db_url")
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = issue 10's provider size")
    parser.add_argument("--password", help="for the three accounts (default: generated, printed)")
    parser.add_argument("--seed", type=int, default=10, help="random seed (same data every run)")
    args = parser.parse_args(argv)
    result = seed(args.db_url, args.scale, args.password, args.seed)
    print(
        f"seeded in {result['seconds']} s: {result['vpbx']} vPBXs, {result['lines']} lines, {result['devices']} "
        f"devices, {result['keys']} keys, {result['access_log']} access-log rows from {result['addresses']} "
        f"addresses, {result['security_events']} security events, {result['registrations']} registrations, "
        f"{result['registration_events']} registration-history rows, {result['retired_keys']} retired keys "
        f"(fraud rollup: {result['rollup_seconds']} s of it)"
    )
    for username, role in result["accounts"]:
        print(f"login: {username} / {result['password']}  ({role})")


if __name__ == "__main__":
    main()
