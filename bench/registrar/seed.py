"""Seed the same users into the voipadmin DB and a Kamailio SQLite `subscriber` table.

usage: seed.py VOIPADMIN_DB_URL KAMAILIO_SQLITE_FILE USERS_CSV COUNT
"""

from __future__ import annotations

import secrets
import sqlite3
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.db import make_engine, transaction  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.models import Device, Line, Vpbx  # noqa: E402

DOMAIN, FIRST = "pbx.test", 1000


def main(db_url: str, kam_file: str, csv: str, count: int) -> None:
    engine = make_engine(db_url)
    upgrade(engine)  # the schema as `serve` expects it (migrations, not create_all)
    users = [str(n) for n in range(FIRST, FIRST + count)]
    with transaction(engine) as s:
        v = Vpbx(name="bench", sip_domain=DOMAIN)
        s.add(v)
        s.flush()
        for u in users:
            line = Line(vpbx_id=v.id, number=f"+4121555{u}", extension=u, sip_username=u, sip_password=f"secret{u}")
            s.add(line)
            s.flush()
            s.add(Device(line_id=line.id, model_id="yealink-t46u", access_key=secrets.token_hex(24),
                         admin_password="1234", user_password="1234"))  # fmt: skip
    sql_dir = Path("/usr/share/kamailio/db_sqlite")
    con = sqlite3.connect(kam_file)
    for name in ("standard-create.sql", "auth_db-create.sql", "usrloc-create.sql"):
        con.executescript((sql_dir / name).read_text())
    con.executemany(
        "INSERT INTO subscriber (username, domain, password, ha1, ha1b) VALUES (?, ?, ?, '', '')",
        [(u, DOMAIN, f"secret{u}") for u in users],
    )
    con.commit()
    con.close()
    rows = ["SEQUENTIAL"] + [f"{u};[authentication username={u} password=secret{u}];{DOMAIN}" for u in users]
    Path(csv).write_text("\n".join(rows) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
