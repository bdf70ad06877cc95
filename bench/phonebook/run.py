"""The vPBX phone book served at 5,000 entries (issue 14 point 5: < 50 ms), against `python -m core serve` as it ships.

usage: python bench/phonebook/run.py [--lines 1000] [--contacts 4000] [--requests 200] [--db-url URL]
                                     [--workers 1]                              (results: docs/PERFORMANCE.md)

Seeds one vPBX with LINES lines (named) and CONTACTS contacts (names with & < " ' among them) plus a vPBX of
noise, one device per family with a phone book, starts `serve --no-sip` (Granian, real Renderer, HTTPS on
127.0.0.1, its own self-signed certificate), then per family fetches the phone book REQUESTS times in a row on
one keep-alive connection (httpx) and prints the latency percentiles of whole responses (request sent to last
byte read), the body size and the entry count parsed back. The first fetch of each family (template compile)
is reported apart, and so are CHANGES fetches each right after a contact of the book was renamed (the render a
change costs: the fetch a phone makes after an administrator's edit). SQLite in a temp dir by default; --db-url
for PostgreSQL (an empty database: it is migrated).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
from sqlalchemy import insert, select, update

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.credentials import new_access_key, new_sip_password  # noqa: E402
from core.db import make_engine  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.models import Device, Line, PhonebookContact, Vpbx  # noqa: E402
from tests.net import free_port, wait_for  # noqa: E402

MODELS = ("yealink-t46u", "snom-d785", "poly-vvx450", "grandstream-grp2614", "gigaset-n870", "cisco-spa504g",
          "fanvil-x6u", "linphone-ipphone")  # fmt: skip
NAMES = ("Martin & Fils", 'Atelier "Le Clou"', "O'Neil <Sales>", "Dupont", "Müller-Lüdenscheidt")


def seed(url: str, n_lines: int, n_contacts: int) -> dict[str, str]:
    engine = make_engine(url)
    upgrade(engine)
    keys: dict[str, str] = {}
    with engine.begin() as conn:
        vpbx_ids = []
        for name in ("bench", "noise"):
            vpbx_ids.append(
                conn.execute(insert(Vpbx).values(name=name, sip_domain=f"{name}.example").returning(Vpbx.id)).scalar()
            )
        bench, noise = vpbx_ids
        conn.execute(insert(Line), [
            {"vpbx_id": bench if i < n_lines else noise, "number": f"+4121{i:07d}", "extension": str(10000 + i),
             "display_name": f"{NAMES[i % len(NAMES)]} {i}", "sip_username": f"bench{i}",
             "sip_password": new_sip_password()}
            for i in range(n_lines + 500)
        ])  # fmt: skip
        conn.execute(insert(PhonebookContact), [
            {"vpbx_id": bench if i < n_contacts else noise, "name": f"{NAMES[i % len(NAMES)]} contact {i}",
             "number": f"+4122{i:07d}", "organisation": "Org & Co" if i % 3 == 0 else ""}
            for i in range(n_contacts + 500)
        ])  # fmt: skip
        first_lines = conn.execute(select(Line.id).where(Line.vpbx_id == bench).order_by(Line.id).limit(len(MODELS)))
        for model, line_id in zip(MODELS, first_lines.scalars(), strict=True):
            keys[model] = new_access_key()
            conn.execute(insert(Device).values(line_id=line_id, model_id=model, access_key=keys[model],
                                               admin_password="1234", user_password="5678"))  # fmt: skip
    engine.dispose()
    return keys


def entries(body: bytes, model: str) -> int:
    if model.startswith("linphone"):
        return body.count(b"BEGIN:VCARD")
    root = ET.fromstring(body)
    return sum(1 for el in root.iter() if el.tag in ("DirectoryEntry", "Contact", "item", "entry"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1000)
    ap.add_argument("--contacts", type=int, default=4000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--db-url")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--changes", type=int, default=20)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="voipadmin-pb-bench."))
    url = args.db_url or f"sqlite:///{tmp / 'db.sqlite3'}"
    keys = seed(url, args.lines, args.contacts)
    engine = make_engine(url)
    with engine.connect() as conn:
        contact = conn.scalar(select(PhonebookContact.id).order_by(PhonebookContact.id).limit(1))  # bench's
    port = free_port()
    env = {**os.environ, "VOIPADMIN_DB_URL": url, "VOIPADMIN_DATA_DIR": str(tmp / "data"),
           "VOIPADMIN_PUBLIC_URL": f"https://127.0.0.1:{port}", "PYTHONPATH": str(ROOT)}  # fmt: skip
    cmd = [sys.executable, "-m", "core", "serve", "--no-sip", "--host", "127.0.0.1", "--https-port", str(port),
           "--workers", str(args.workers)]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"https://127.0.0.1:{port}"
    try:
        with httpx.Client(verify=False, timeout=30) as client:

            def up() -> bool:
                try:
                    return client.get(f"{base}/{keys[MODELS[0]]}.cfg").status_code == 200
                except httpx.TransportError:
                    return False

            wait_for(up, 60, "serve")
            total = args.lines + args.contacts
            db = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
            print(f"{total} entries ({args.lines} lines + {args.contacts} contacts), {args.requests} fetches per"
                  f" family, {db}, {args.workers} worker(s)")  # fmt: skip
            print(f"{'model':<22}{'bytes':>9}{'entries':>9}{'first ms':>10}{'p50 ms':>8}{'p95 ms':>8}{'max ms':>8}"
                  f"{'changed p50':>12}{'changed max':>12}")  # fmt: skip
            for model in MODELS:
                names = {"poly-vvx450": "000000000000-directory.xml", "cisco-spa504g": "directory.xml",
                         "linphone-ipphone": "phonebook.vcf"}  # fmt: skip
                path = f"{base}/{keys[model]}/{names.get(model, 'phonebook.xml')}"
                t0 = time.perf_counter()
                first = client.get(path)
                first_ms = (time.perf_counter() - t0) * 1000
                assert first.status_code == 200, (model, first.status_code)
                times = []
                for _ in range(args.requests):
                    t0 = time.perf_counter()
                    r = client.get(path)
                    times.append((time.perf_counter() - t0) * 1000)
                    assert r.status_code == 200
                changed = []
                for i in range(args.changes):  # an administrator renames a contact; the phone fetches next
                    with engine.begin() as conn:
                        conn.execute(update(PhonebookContact).where(PhonebookContact.id == contact)
                                     .values(name=f"Renamed {model} {i}"))  # fmt: skip
                    t0 = time.perf_counter()
                    r = client.get(path)
                    changed.append((time.perf_counter() - t0) * 1000)
                    assert r.status_code == 200 and f"Renamed {model} {i}".encode() in r.content
                changed.sort()
                times.sort()
                p95 = times[int(len(times) * 0.95) - 1]
                n = entries(first.content, model)
                assert n == total, (model, n, total)  # the other vPBX's entries are not in it
                median, changed_median = statistics.median(times), statistics.median(changed)
                print(f"{model:<22}{len(first.content):>9}{n:>9}{first_ms:>10.1f}{median:>8.1f}{p95:>8.1f}"
                      f"{times[-1]:>8.1f}{changed_median:>12.1f}{changed[-1]:>12.1f}")  # fmt: skip
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


if __name__ == "__main__":
    main()
