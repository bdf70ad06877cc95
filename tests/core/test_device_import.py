"""Bulk import/export of devices (issue 14.6): every refusal by row and column before anything is written,
all or nothing, scoped to the actor's vPBX, no secret exported, and an export that imports back unchanged."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select

from core import device_import, devices, keys, lines
from core.db import transaction
from core.errors import PermissionDenied
from core.models import AuditEvent, Device, FunctionKey, Line, RedirectionJob
from tests.core.test_statement_counts import counting

pytestmark = pytest.mark.db

HEADER = "line,model,mac,label,username,provisioning_mac,admin_password,user_password,base,expansion,keys\n"
A1, A2, B1 = "+41215550101", "+41215550102", "+41225550201"


def _import(engine, actor, text, dry_run=False, progress=None):
    with transaction(engine) as s:
        return device_import.import_devices(s, actor, text, dry_run=dry_run, progress=progress)


def _export(engine, actor, vpbx_id):
    with transaction(engine) as s:
        return device_import.export_devices(s, actor, vpbx_id)


def _count(engine, model=Device):
    with transaction(engine) as s:
        return s.scalar(select(func.count()).select_from(model))


def _found(report):
    return {(e.row, e.column, e.code) for e in report.errors}


def test_a_dry_run_lists_every_refusal_by_row_and_column_and_writes_nothing(engine, seed):
    text = HEADER + (
        f"{A1},yealink-t46u,80:5e:c0:00:00:01,Desk,,,12,,,yealink-exp43:9,1:blf:abc;2:nope:1;70:blf:101\n"  # row 2
        f"+41999999999,nope,zz,,,,,,,,\n"  # row 3
        f"{A1},yealink-w56h,,,,,,,,,\n"  # row 4: a handset without base
        f"{A2},yealink-t46u,805EC0000001,,,,,,,,\n"  # row 5: the MAC of row 2
        f",,,,,,,,,,\n"  # an empty row: skipped, still counted in the numbering
        f"{A2},yealink-w56h,,,,,,,80:5E:C0:99:99:99,,\n"  # row 7: a base nobody has
        f"{A2},softphone-x,,,,twice,,,,,x\n"  # row 8
    )
    report = _import(engine, seed.admin_a, text, dry_run=True)
    assert report.rows == 6 and not report.ok
    assert _found(report) == {
        (2, "admin_password", "password_digits"),
        (2, "expansion", "module_count_range"),
        (2, "keys", "key_value_invalid"),
        (2, "keys", "key_function_unsupported"),
        (2, "keys", "key_index_range"),
        (3, "line", "line_not_found"),
        (3, "model", "model_unknown"),
        (4, "base", "base_required"),
        (5, "mac", "import_mac_twice"),
        (7, "base", "import_base_unknown"),
        (8, "model", "model_unknown"),
    }
    by_key = {e.key: e.code for e in report.errors if e.column == "keys"}
    assert by_key == {"1:blf:abc": "key_value_invalid", "2:nope:1": "key_function_unsupported",
                      "70:blf:101": "key_index_range"}  # fmt: skip
    twice = next(e for e in report.errors if e.code == "import_mac_twice")
    assert twice.params == {"mac": "805EC0000001", "row": 2} and "row 2" in twice.message
    assert [e.row for e in report.errors] == sorted(e.row for e in report.errors)
    assert _count(engine) == 0


def test_the_rules_are_cores_own(engine, seed):
    """Each column's refusal is the one the single use cases give (same code, same text)."""
    with transaction(engine) as s:
        devices.add_device(s, seed.admin_a, seed.line_a1, "yealink-t46u", mac="805EC0000042")
    text = HEADER + (
        f"{A2},yealink-t46u,805ec0000042,,,once,,,,,\n"
        f"{A2},linphone-ipphone,00:11:22:33:44:55,,,,,,,,\n"
        f"{A2},yealink-t46u,,,,once,,,,,\n"
        f"{A2},yealink-exp43,,,,,,,,,\n"
    )
    report = _import(engine, seed.admin_a, text, dry_run=True)
    assert _found(report) == {
        (2, "mac", "mac_taken"),
        (3, "mac", "model_lacks_field"),
        (4, "provisioning_mac", "pm_needs_mac"),
        (5, "model", "model_is_module"),
    }
    with transaction(engine) as s, pytest.raises(Exception) as single:
        devices.add_device(s, seed.admin_a, seed.line_a2, "yealink-t46u", mac="805ec0000042")
    assert report.errors[0].message == single.value.message


def test_apply_is_all_or_nothing(engine, seed):
    good = f"{A1},yealink-t46u,805EC0000001,Desk,,,,,,,1:blf:102\n"
    bad = f"{A2},yealink-t46u,805EC0000002,,,,1,,,,\n"
    report = _import(engine, seed.admin_a, HEADER + good + bad)
    assert not report.ok and report.created == 0 and _found(report) == {(3, "admin_password", "password_digits")}
    assert _count(engine) == 0 and _count(engine, FunctionKey) == 0


def test_apply_adds_devices_keys_bases_and_redirections(engine, seed):
    text = HEADER + (
        f"{A1},yealink-w56h,,Handset,,,,,80:5e:c0:00:00:0b,,\n"  # its base comes later in the file
        f"{A1},yealink-w70b,805EC000000B,Base,,once,,,,,\n"
        f"{A1},yealink-t46u,805EC0000001,Desk,alice,,1234,,,yealink-exp43:2,1:line;2:blf:102:Bob;2.5:speed_dial:*97\n"
    )
    report = _import(engine, seed.admin_a, text)
    assert report.ok and report.created == 3
    with transaction(engine) as s:
        handset, base, desk = s.scalars(select(Device).order_by(Device.id)).all()
        assert handset.base_station_id == base.id and handset.line_id == seed.line_a1
        assert (desk.username, desk.admin_password, desk.admin_password_generated) == ("alice", "1234", False)
        assert len(desk.user_password) == 40 and desk.user_password_generated
        assert (desk.expansion_model_id, desk.expansion_count) == ("yealink-exp43", 2)
        assert [(k.module, k.index, k.function, k.value, k.label) for k in desk.keys] == [
            (0, 1, "line", "", ""), (0, 2, "blf", "102", "Bob"), (2, 5, "speed_dial", "*97", "")]  # fmt: skip
        assert desk.access_key and base.access_key and handset.access_key is None
        jobs = s.scalars(select(RedirectionJob.mac)).all()
        assert jobs == ["805EC000000B"]
        audited = s.scalars(select(AuditEvent.detail).where(AuditEvent.action == "device.add")).all()
        assert len(audited) == 3 and all('"via": "import"' in a for a in audited)
        assert not any("1234" in a for a in audited)


def test_a_base_already_in_the_vpbx_and_its_handset_limit(engine, seed):
    with transaction(engine) as s:
        base = devices.add_device(s, seed.admin_a, seed.line_a1, "yealink-w70b", mac="805EC00000BA")
        for _ in range(9):
            devices.add_device(s, seed.admin_a, seed.line_a1, "yealink-w56h", base=base["id"])
        revision = s.get(Device, base["id"]).config_revision
    text = HEADER + f"{A1},yealink-w56h,,,,,,,805EC00000BA,,\n" * 2 + f"{A2},yealink-w56h,,,,,,,805EC00000BA,,\n"
    report = _import(engine, seed.admin_a, text, dry_run=True)
    assert _found(report) == {(3, "base", "base_full"), (4, "base", "base_full")}  # every line's handsets count
    assert _import(engine, seed.admin_a, HEADER + f"{A2},yealink-w56h,,,,,,,805EC00000BA,,\n").ok  # another line
    with transaction(engine) as s:
        assert len(s.get(Device, base["id"]).handsets) == 10
        assert s.get(Device, base["id"]).config_revision > revision  # its file lists one more handset


def test_an_admin_imports_only_into_their_vpbx(engine, seed):
    other = HEADER + f"{B1},yealink-t46u,,,,,,,,,\n"
    missing = HEADER + "+41000000000,yealink-t46u,,,,,,,,,\n"
    seen, unknown = _import(engine, seed.admin_a, other), _import(engine, seed.admin_a, missing)
    assert [(e.row, e.column, e.message) for e in seen.errors] == [(e.row, e.column, e.message) for e in unknown.errors]
    assert _count(engine) == 0
    with transaction(engine) as s, pytest.raises(PermissionDenied):
        device_import.import_devices(s, seed.user_a1, HEADER + f"{A1},yealink-t46u,,,,,,,,,\n")
    with pytest.raises(PermissionDenied):
        _export(engine, seed.admin_a, seed.vpbx_b)
    with pytest.raises(PermissionDenied):
        _export(engine, seed.user_a1, seed.vpbx_a)


def test_a_mac_of_another_vpbx_is_not_refused_nor_revealed(engine, seed, provider):
    with transaction(engine) as s:
        devices.add_device(s, provider, seed.line_b1, "yealink-t46u", mac="805EC0000077")
    assert _import(engine, seed.admin_a, HEADER + f"{A1},yealink-t46u,805EC0000077,,,,,,,,\n").ok


def _varied_vpbx(engine, actor, seed):
    with transaction(engine) as s:
        desk = devices.add_device(s, actor, seed.line_a1, "yealink-t46u", mac="805EC0000001", label="Réception; hall",
                                  username="alice", admin_password="4321", expansion="yealink-exp43:1")  # fmt: skip
        keys.set_key(s, actor, desk["id"], 1, "line")
        keys.set_key(s, actor, desk["id"], 2, "blf", "102", "Bob: desk")
        keys.set_key(s, actor, desk["id"], 3, "directory", "https://dir.example:8443/a;b")
        keys.set_key(s, actor, desk["id"], 7, "extension", "102", label="x\\y", module=1)
        base = devices.add_device(s, actor, seed.line_a2, "yealink-w70b", mac="805EC000000B", provisioning_mac="once")
        devices.add_device(s, actor, seed.line_a2, "yealink-w56h", base=base["id"], label="Hall")
        devices.add_device(s, actor, seed.line_a2, "yealink-w73h", base=base["id"])
        devices.add_device(s, actor, seed.line_a1, "linphone-ipphone", label="Mobile")
        devices.add_device(s, actor, seed.line_a2, "yealink-t46u", mac="805EC0000002", user_password="55555")


def test_export_imports_back_unchanged(engine, seed):
    _varied_vpbx(engine, seed.admin_a, seed)
    first = _export(engine, seed.admin_a, seed.vpbx_a)
    with transaction(engine) as s:  # the vPBX emptied
        s.execute(delete(Device).where(Device.base_station_id.isnot(None)))
        s.execute(delete(Device))
    report = _import(engine, seed.admin_a, first)
    assert report.ok and report.created == 6, report.errors
    assert _export(engine, seed.admin_a, seed.vpbx_a) == first
    assert "https\\://dir.example\\:8443/a\\;b" in first and "Bob\\: desk" in first and "x\\\\y" in first


def test_export_holds_no_generated_password_nor_sip_password(engine, seed):
    _varied_vpbx(engine, seed.admin_a, seed)
    text = _export(engine, seed.admin_a, seed.vpbx_a)
    with transaction(engine) as s:
        both = [((d.admin_password, d.admin_password_generated), (d.user_password, d.user_password_generated))
                for d in s.scalars(select(Device))]  # fmt: skip
        generated = [password for pair in both for password, gen in pair if gen]
        sip = s.scalars(select(Line.sip_password)).all()
        keys_ = s.scalars(select(Device.access_key).where(Device.access_key.isnot(None))).all()
    assert generated and sip and keys_
    assert not any(secret in text for secret in [*generated, *sip, *keys_])
    assert "4321" in text and "55555" in text  # chosen by the administrator: the file restores them


def test_the_keys_cell_round_trips_escapes():
    cell = "1:line;2:blf:102:Bob\\: desk;1.7:url:https\\://x.example/a\\;b:\\\\"
    items = device_import.split_keys(cell)
    assert [f for _, f in items] == [["1", "line"], ["2", "blf", "102", "Bob: desk"],
                                     ["1.7", "url", "https://x.example/a;b", "\\"]]  # fmt: skip
    assert [w for w, _ in items][1] == "2:blf:102:Bob\\: desk"
    assert device_import.split_keys(" ; ;") == []
    written = [(0, 1, "line", "", ""), (0, 2, "blf", "102", "Bob: desk"), (1, 7, "url", "https://x.example/a;b", "\\")]
    fk = [FunctionKey(module=m, index=i, function=f, value=v, label=lb) for (m, i, f, v, lb) in written]
    assert device_import.join_keys(fk) == cell


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {(1, "", "import_empty")}),
        ("line,modele,mac\n", {(1, "modele", "import_column_unknown"), (1, "model", "import_column_missing")}),
        ("line,model,line\n", {(1, "line", "import_column_twice")}),
        (f"line,model\n{A1},yealink-t46u,extra\n", {(2, "", "import_row_long")}),
        (f"line,model,keys\n{A1},yealink-t46u,x\n{A1},yealink-t46u,a:line\n",
         {(2, "keys", "import_key_format"), (3, "keys", "import_key_position")}),
    ],
)  # fmt: skip
def test_the_files_shape(engine, seed, text, expected):
    assert _found(_import(engine, seed.admin_a, text, dry_run=True)) == expected


def test_a_spreadsheet_saved_with_semicolons_and_a_bom(engine, seed):
    text = "\ufeffline;model;label;keys\n" + f"{A1};yealink-t46u;Desk;1:line\n"
    report = _import(engine, seed.admin_a, text)
    assert report.ok and report.created == 1


def test_progress_is_reported_while_checking_and_writing(engine, seed):
    seen = []
    rows = "".join(f"{A1},yealink-t46u,805EC0{i:06X},,,,,,,,\n" for i in range(1, 251))
    assert _import(engine, seed.admin_a, HEADER + rows, progress=lambda *a: seen.append(a)).ok
    checks = [d for phase, d, t in seen if phase == "check"]
    assert checks == sorted(checks) and checks[-1] == 250 and len(checks) > 10
    assert seen[-1] == ("write", 250, 250)


def _file(n):
    rows = []
    for i in range(n):
        number = f"+4131{i:07d}"
        rows.append(f"{number},yealink-w70b,805EC1{i:06X},,,,,,,,")
        rows.append(f"{number},yealink-w56h,,,,,,,805EC1{i:06X},,")
        rows.append(f"{number},yealink-t46u,805EC2{i:06X},Desk,,,,,,yealink-exp43:1,1:line;2:blf:101;1.1:blf:102")
    return HEADER + "\n".join(rows) + "\n"


def test_checking_does_not_issue_a_statement_per_row(engine, seed, provider):
    with transaction(engine) as s:
        for i in range(100):
            lines.add_line(s, provider, "acme", f"+4131{i:07d}")
    sizes = {}
    for n in (10, 100):
        with transaction(engine) as s, counting(engine) as seen:
            report = device_import.import_devices(s, seed.admin_a, _file(n), dry_run=True)
        assert report.ok, report.errors[:3]
        sizes[n] = len(seen)
    assert sizes[10] == sizes[100] <= 4


def test_a_refused_base_row_still_counts_as_the_handsets_base(engine, seed):
    """Every refusal, not a cascade: the handset names a base whose own row is refused for its label."""
    text = HEADER + f"{A1},yealink-w70b,805EC000000B,{'x' * 101},,,,,,,\n{A1},yealink-w56h,,,,,,,805EC000000B,,\n"
    assert _found(_import(engine, seed.admin_a, text, dry_run=True)) == {(2, "label", "too_long")}


def test_a_file_that_is_not_utf8_is_refused_by_name(tmp_path):
    from core.cli.bulk import _read
    from core.errors import ValidationError

    f = tmp_path / "latin1.csv"
    f.write_bytes("line,model,label\n+41215550101,yealink-t46u,Réception\n".encode("latin-1"))
    with pytest.raises(ValidationError) as refused:
        _read(str(f))
    assert refused.value.code == "import_not_text"
