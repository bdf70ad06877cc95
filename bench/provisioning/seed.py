"""Benchmark data: one vPBX, N lines with one desk phone each; prints nothing secret.

usage: seed.py DB_URL N KEYS_FILE   -> writes the N access keys, one per line (bench use only)
"""

from __future__ import annotations

import sys

from sqlalchemy import insert

from core.credentials import new_access_key, new_sip_password
from core.db import make_engine
from core.migrate import upgrade
from core.models import Device, Line, Vpbx


def main(url: str, count: int, keys_file: str) -> None:
    engine = make_engine(url)
    upgrade(engine)
    keys = [new_access_key() for _ in range(count)]
    with engine.begin() as conn:
        vpbx = insert(Vpbx).values(name="bench", sip_domain="bench.example").returning(Vpbx.id)
        vpbx_id = conn.execute(vpbx).scalar()
        lines = [
            {
                "vpbx_id": vpbx_id,
                "number": f"+4121{i:07d}",
                "extension": str(1000 + i),
                "sip_username": f"bench{i}",
                "sip_password": new_sip_password(),
            }
            for i in range(count)
        ]
        conn.execute(insert(Line), lines)
        ids = conn.execute(Line.__table__.select().with_only_columns(Line.id).order_by(Line.id)).scalars().all()
        conn.execute(
            insert(Device),
            [
                {
                    "line_id": line_id,
                    "model_id": "yealink-t46u",
                    "access_key": key,
                    "admin_password": "1234",
                    "user_password": "5678",
                    "mac": f"0015{i:08X}",
                }
                for i, (line_id, key) in enumerate(zip(ids, keys, strict=True))
            ],
        )
    with open(keys_file, "w") as fh:
        fh.write("\n".join(keys) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
