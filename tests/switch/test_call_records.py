"""acc's call records through db_flatstore files on SQLite (core/switch/call_records.py), without Kamailio: the
files as Kamailio 5.6 writes them, taken at one pass and read at the next, and what happens when Kamailio does
not answer the rotation."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from core.db import transaction
from core.models import AccRecord, MissedCall
from core.switch import call_records, rpc

# Two records as Kamailio 5.6 wrote them in the live calls test (an answered INVITE, its BYE with no AVP set),
# and a refusal whose From user holds a "|" (written %7C).
INVITE = ("INVITE|1308SIPpTag1|1307SIPpTag011|1-1308@127.0.0.1|200|OK|1796699337|41215550101|acme.voip.example|"
          "127.0.0.1|47680|102|41215550102|acme.voip.example|1|2|internal|2026-12-08 03:08:57")  # fmt: skip
BYE = "BYE|1308SIPpTag1|1307SIPpTag011|1-1308@127.0.0.1|200|OK|1796699338|41215550101|acme.voip.example|127.0.0.1|" \
      "47680|||||||"  # fmt: skip
REFUSED = ("INVITE|77SIPpTag1||9-77@127.0.0.1|403|PSTN blocked|1796699340|a%7Cb|acme.voip.example|203.0.113.9|5060|"
           "0041449999999|+41449999999||1||pstn|2026-12-08 03:09:00")  # fmt: skip


def _files(tmp_path: Path) -> Path:
    """The runtime directory's acc/ (the test database lives in tmp_path itself)."""
    d = tmp_path / "acc"
    d.mkdir()
    return d


def test_the_extra_columns_are_the_models_and_the_configuration_s() -> None:
    names = {c.name for c in AccRecord.__table__.columns} - {"id"}
    assert set(call_records.COLUMNS) == names
    assert call_records.db_extra().startswith("src_user=$fU;src_domain=$fd;")


def test_a_record_reads_back_as_acc_would_have_inserted_it() -> None:
    row = call_records.parse(INVITE)
    assert row["time"] == datetime.fromtimestamp(1796699337, UTC) and row["callid"] == "1-1308@127.0.0.1"
    assert (row["line_id"], row["callee_line_id"], row["src_port"], row["call_kind"]) == (1, 2, 47680, "internal")
    assert row["start_time"] == datetime(2026, 12, 8, 3, 8, 57, tzinfo=UTC)
    bye = call_records.parse(BYE)
    assert (bye["line_id"], bye["dst_user"], bye["start_time"], bye["to_tag"]) == (None, None, None, "1307SIPpTag011")
    assert call_records.parse(REFUSED)["src_user"] == "a|b"
    with pytest.raises(call_records.BadRecord):
        call_records.parse("INVITE|only|four|fields")


def test_files_taken_at_one_pass_are_read_at_the_next(tmp_path: Path, engine: Engine) -> None:
    tmp_path = _files(tmp_path)
    (tmp_path / "acc_129.log").write_text(f"{INVITE}\n{BYE}\n")
    (tmp_path / "missed_calls_130.log").write_text(f"{REFUSED}\nnot a record\n")
    rotations: list[float] = []
    t = 1796699400.2
    assert call_records.ingest(engine, tmp_path, lambda: rotations.append(t), now=t) == 0
    assert rotations == []  # first seen in this second: a rotation now might not close them
    assert call_records.ingest(engine, tmp_path, lambda: rotations.append(t + 1), now=t + 1) == 0
    assert rotations == [t + 1] and sorted(p.suffix for p in tmp_path.iterdir()) == [".taken", ".taken"]
    (tmp_path / "acc_129.log").write_text(f"{INVITE.replace('1-1308', '2-1308')}\n")  # reopened, written since
    assert call_records.ingest(engine, tmp_path, lambda: rotations.append(t + 2), now=t + 2) == 3  # malformed: skipped
    assert rotations == [t + 1]  # the reopened file was first seen now: not taken yet
    with transaction(engine) as s:
        assert [r.method for r in s.scalars(select(AccRecord).order_by(AccRecord.id))] == ["INVITE", "BYE"]
        (missed,) = s.scalars(select(MissedCall)).all()
    assert (missed.sip_code, missed.sip_reason, missed.dst_ouser) == ("403", "PSTN blocked", "0041449999999")
    assert call_records.drain(engine, tmp_path) == 1  # Kamailio stopped: what it wrote last, whatever its age
    assert list(tmp_path.iterdir()) == []


def test_a_rotation_kamailio_did_not_answer_leaves_the_files_to_the_next_pass(tmp_path: Path, engine: Engine) -> None:
    """Kamailio may still append to the files it has open: they get their names back, nothing is read yet."""
    tmp_path = _files(tmp_path)
    (tmp_path / "acc_129.log").write_text(f"{INVITE}\n")
    t = 1796699500.5

    def away() -> None:
        raise rpc.RpcError("Kamailio did not answer flatstore.rotate within 2 s")

    call_records.ingest(engine, tmp_path, away, now=t)  # first seen
    with pytest.raises(rpc.RpcError):
        call_records.ingest(engine, tmp_path, away, now=t + 1)
    assert [p.name for p in tmp_path.iterdir()] == ["acc_129.log"]
    assert call_records.ingest(engine, tmp_path, lambda: None, now=t + 2) == 0
    assert call_records.ingest(engine, tmp_path, lambda: None, now=t + 3) == 1
