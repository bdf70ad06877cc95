"""Bulk work for support staff (issue 14.6): a CSV of devices and their keys, checked in full
(a dry run lists every refusal by row and column), then added all or nothing; and the export of a
vPBX's devices in the same format, which imports back unchanged. The format: docs/DEVICE-IMPORT.md.

The rules are core's own (core.devices.check_new_device / check_base, core.keys.check_rows,
core.credentials); only what they ask of the database is answered here from what one pass loaded
(the actor's lines, the devices and MACs of their vPBXs, the handsets per base): the statements of a
check do not grow with the rows.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, contains_eager, selectinload

from core import audit
from core.catalogue import DeviceModel
from core.credentials import ProvisioningMac, normalize_mac
from core.devices import DeviceValues, check_base, check_new_device, find_model, queue_redirection
from core.errors import NotFound, Problems, ValidationError, VoipAdminError
from core.keys import check_rows
from core.lines import line_number
from core.models import Device, FunctionKey, Line
from core.permissions import BULK_ROLES, Actor, require_role, require_vpbx, scope_lines

COLUMNS = ("line", "model", "mac", "label", "username", "provisioning_mac", "admin_password", "user_password",
           "base", "expansion", "keys")  # fmt: skip
REQUIRED = ("line", "model")
KEY_SEP, FIELD_SEP, ESCAPE = ";", ":", "\\"
WRITE_CHUNK = 1000  # devices per flush while writing (and per progress step)

# progress(phase, done, total): phase "check" (every row) then, when applying, "write".
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class RowError:
    """One refusal: the row as a spreadsheet numbers it (the header is row 1), the column's name."""

    row: int
    column: str
    code: str
    message: str
    params: dict[str, Any] = field(default_factory=dict)
    key: str = ""  # for the keys column: the key as written ("2:blf:201")

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "code": self.code, "message": self.message,
                "params": self.params, "key": self.key}  # fmt: skip


@dataclass
class ImportReport:
    rows: int
    errors: list[RowError]
    dry_run: bool
    created: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "dry_run": self.dry_run, "created": self.created, "ok": self.ok,
                "errors": [e.as_dict() for e in self.errors]}  # fmt: skip


@dataclass(frozen=True)
class _KeyHolder:
    """A row's device as the key rules see it (core.keys.KeyHolder), before it is a Device."""

    model_id: str
    expansion_model_id: str | None
    expansion_count: int


@dataclass
class _Planned:
    """A row whose line and model are known; `values` and `keys` None if refused (its MAC and base
    still take part in the file-wide checks, so that every refusal is listed)."""

    row: int
    line: Line
    model: DeviceModel
    mac: str | None
    values: DeviceValues | None
    keys: dict[int, dict[int, tuple[str, str, str]]] | None  # module -> index -> (function, value, label)
    base_mac: str | None = None
    base: Device | _Planned | None = None
    device: Device | None = None


# --- the file ---------------------------------------------------------------------------------


def _cells(text: str) -> Iterator[list[str]]:
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","  # a French spreadsheet saves with ;
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)


def read_rows(text: str) -> tuple[list[tuple[int, dict[str, str]]], list[RowError]]:
    """(row number, {column: cell}) of each non-empty row, and the refusals of the file's shape."""
    reader = _cells(text.removeprefix("\ufeff"))
    header = next(reader, None)
    columns = ", ".join(COLUMNS)
    if header is None or not any(h.strip() for h in header):
        return [], [_error(1, "", ValidationError("import_empty", "", columns=columns))]
    names = [h.strip().lower() for h in header]
    errors = []
    for name in names:
        if name not in COLUMNS:
            errors.append(_error(1, name, ValidationError("import_column_unknown", name, column=name, columns=columns)))
    for name in sorted({n for n in names if names.count(n) > 1}):
        errors.append(_error(1, name, ValidationError("import_column_twice", name, column=name)))
    for name in REQUIRED:
        if name not in names:
            errors.append(_error(1, name, ValidationError("import_column_missing", name, column=name)))
    if errors:
        return [], errors
    rows = []
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) > len(names) and any(c.strip() for c in cells[len(names) :]):
            error = ValidationError("import_row_long", "", cells=len(cells), columns=len(names))
            errors.append(_error(number, "", error))
            continue
        rows.append((number, dict(zip(names, [*cells, *[""] * len(names)], strict=False))))
    return rows, errors


def _error(row: int, column: str, exc: VoipAdminError, key: str = "") -> RowError:
    return RowError(row, column, exc.code, exc.message, dict(exc.params), key)


def split_keys(cell: str) -> list[tuple[str, list[str]]]:
    """`POS:TYPE[:VALUE[:LABEL]];...` -> [(the key as written, its fields)]; `\\` makes the next
    character plain (`\\:` in a URL, `\\;` in a label)."""
    items: list[tuple[str, list[str]]] = []
    fields, current, written = [], [], []
    chars = iter(cell)
    for c in chars:
        if c == ESCAPE:
            nxt = next(chars, "")
            current.append(nxt)
            written.append(c + nxt)
            continue
        if c == KEY_SEP:
            fields.append("".join(current))
            if any(f.strip() for f in fields):
                items.append(("".join(written).strip(), fields))
            fields, current, written = [], [], []
            continue
        written.append(c)
        if c == FIELD_SEP:
            fields.append("".join(current))
            current = []
        else:
            current.append(c)
    fields.append("".join(current))
    if any(f.strip() for f in fields):
        items.append(("".join(written).strip(), fields))
    return items


def _escape(text: str) -> str:
    return "".join(ESCAPE + c if c in (ESCAPE, KEY_SEP, FIELD_SEP) else c for c in text)


def join_keys(keys: list[FunctionKey]) -> str:
    """The keys column of a device (export): by module then position, empty trailing fields left out."""
    items = []
    for k in sorted(keys, key=lambda k: (k.module, k.index)):
        fields = [str(k.index) if k.module == 0 else f"{k.module}.{k.index}", k.function, _escape(k.value),
                  _escape(k.label)]  # fmt: skip
        while fields[-1] == "":
            fields.pop()
        items.append(FIELD_SEP.join(fields))
    return KEY_SEP.join(items)


def _key_position(text: str) -> tuple[int, int]:
    module, _, index = text.strip().rpartition(".")
    try:
        return int(module or "0"), int(index)
    except ValueError:
        raise ValidationError("import_key_position", "keys", position=text.strip()) from None


# --- checking ---------------------------------------------------------------------------------


class _Loaded:
    """What the rules ask of the database, loaded once: the actor's lines by number, the devices of
    their vPBXs (MACs per vPBX, bases by MAC) and how many handsets each base has."""

    def __init__(self, session: Session, actor: Actor) -> None:
        self.lines = {line.number: line for line in session.scalars(scope_lines(actor, select(Line)))}
        self.by_id = {line.id: line for line in self.lines.values()}
        vpbx_ids = {line.vpbx_id for line in self.lines.values()}
        self.macs: dict[tuple[int, str], Device] = {}
        self.used: dict[int, int] = defaultdict(int)
        if not vpbx_ids:
            return
        in_vpbx = Line.vpbx_id.in_(vpbx_ids) if len(vpbx_ids) < 500 else Line.vpbx_id.isnot(None)
        for d in session.scalars(select(Device).join(Device.line).where(in_vpbx, Device.mac.isnot(None))):
            self.macs[(self.by_id[d.line_id].vpbx_id, d.mac or "")] = d
        handsets = select(Device.base_station_id, func.count()).join(Device.line).where(in_vpbx)
        handsets = handsets.where(Device.base_station_id.isnot(None)).group_by(Device.base_station_id)
        for base_id, count in session.execute(handsets):
            self.used[base_id or 0] = count


def _check_row(number: int, cells: dict[str, str], loaded: _Loaded, errors: list[RowError]) -> _Planned | None:
    problems = Problems(collect=True)

    def refused(column: str, exc: VoipAdminError, key: str = "") -> None:
        errors.append(_error(number, column, exc, key))

    line = model = None
    raw_line = cells.get("line", "").strip()
    if not raw_line:
        refused("line", ValidationError("import_required", "line", column="line"))
    else:
        line = loaded.lines.get(line_number(raw_line))
        if line is None:  # missing, or another vPBX's: the same refusal (no probing)
            refused("line", NotFound("line_not_found", "line"))
    raw_model = cells.get("model", "").strip()
    if not raw_model:
        refused("model", ValidationError("import_required", "model", column="model"))
    else:
        model = problems.check(find_model, raw_model)
    if model is None:
        _flush(problems, number, "model", errors)
        return None
    values = check_new_device(model, mac=cells.get("mac"), admin_password=cells.get("admin_password"),
                              username=cells.get("username", ""), user_password=cells.get("user_password"),
                              provisioning_mac=cells.get("provisioning_mac", "").strip() or ProvisioningMac.NO,
                              label=cells.get("label", ""), expansion=cells.get("expansion"),
                              problems=problems)  # fmt: skip
    _flush(problems, number, "", errors)
    base_mac = None
    raw_base = cells.get("base", "").strip()
    if model.kind == "dect_handset":
        if not raw_base:
            refused("base", ValidationError("base_required", "base"))
        else:
            base_mac = problems.check(normalize_mac, raw_base, "base")
    elif raw_base:
        refused("base", ValidationError("base_only_handsets", "base"))
    keys = _check_keys(cells.get("keys", ""), model, values, problems, number, errors)
    _flush(problems, number, "keys", errors)
    if line is None:
        return None
    mac = values.mac if values is not None else Problems(collect=True).check(normalize_mac, cells.get("mac"))
    return _Planned(number, line, model, mac, values, keys, base_mac)


def _check_keys(cell: str, model: DeviceModel, values: DeviceValues | None, problems: Problems, number: int,
                errors: list[RowError]) -> dict[int, dict[int, tuple[str, str, str]]] | None:  # fmt: skip
    expansion = values.expansion if values is not None else (None, 0)
    holder = _KeyHolder(model.id, *expansion)
    items = split_keys(cell)
    by_module: dict[int, list[tuple[int, dict[str, Any]]]] = defaultdict(list)
    before = len(errors)
    for pos, (written, fields) in enumerate(items):
        if len(fields) < 2 or len(fields) > 4:
            errors.append(_error(number, "keys", ValidationError("import_key_format", "keys", key=written), written))
            continue
        try:
            module, index = _key_position(fields[0])
        except ValidationError as exc:
            errors.append(_error(number, "keys", exc, written))
            continue
        if module and values is None:
            continue  # the expansion column is refused already: its keys cannot be checked
        fields += [""] * (4 - len(fields))
        by_module[module].append((pos, {"index": index, "type": fields[1], "value": fields[2], "label": fields[3]}))
    wanted = {}
    for module, rows in sorted(by_module.items()):
        seen = len(problems.errors)
        wanted[module] = check_rows(holder, module, [r for _, r in rows], problems, [p for p, _ in rows])
        for refusal in problems.errors[seen:]:  # name each refusal's key as written
            name = refusal.field or ""
            at = int(name[5 : name.index("]")]) if name.startswith("keys[") else None
            errors.append(_error(number, "keys", refusal, items[at][0] if at is not None else ""))
        del problems.errors[seen:]
    return None if len(errors) > before else wanted


def _flush(problems: Problems, number: int, column: str, errors: list[RowError]) -> None:
    """The refusals so far, each under its own column (core's field names are the column names)."""
    for exc in problems.errors:
        name = exc.field if exc.field in COLUMNS else column
        errors.append(_error(number, name or column, exc))
    problems.errors.clear()


def _resolve_bases(planned: list[_Planned], loaded: _Loaded, errors: list[RowError]) -> None:
    """Each handset's base, by MAC: a base of the file or of the vPBX, the DECT rules of core.devices."""
    in_file: dict[tuple[int, str], _Planned] = {}
    macs: dict[tuple[int, str], int] = {}
    for p in planned:
        if p.mac is None:
            continue
        where = (p.line.vpbx_id, p.mac)
        if where in loaded.macs:
            errors.append(_error(p.row, "mac", ValidationError("mac_taken", "mac", mac=p.mac)))
        elif where in macs:
            exc = ValidationError("import_mac_twice", "mac", mac=p.mac, row=macs[where])
            errors.append(_error(p.row, "mac", exc))
        else:
            macs[where] = p.row
            if p.model.kind == "dect_base":
                in_file[where] = p
    used_in_file: dict[int, int] = defaultdict(int)
    for p in planned:
        if p.base_mac is None:
            continue
        where = (p.line.vpbx_id, p.base_mac)
        base: Device | _Planned | None = in_file.get(where) or loaded.macs.get(where)
        if base is None:
            errors.append(_error(p.row, "base", ValidationError("import_base_unknown", "base", mac=p.base_mac)))
            continue
        if isinstance(base, _Planned):
            base_line, base_model, used = base.line, base.model.id, used_in_file[id(base)]
        else:
            base_line, base_model = loaded.by_id[base.line_id], base.model_id
            used = loaded.used[base.id] + used_in_file[id(base)]
        try:
            check_base(p.model, p.line, base_line, base_model, used)
        except ValidationError as exc:
            errors.append(_error(p.row, "base", exc))
            continue
        used_in_file[id(base)] += 1
        p.base = base


def check_file(session: Session, actor: Actor, text: str, progress: Progress | None = None
               ) -> tuple[list[_Planned], list[RowError], int]:  # fmt: skip
    """Every row checked: (what would be added, every refusal sorted by row, the number of rows)."""
    require_role(actor, *BULK_ROLES, doing="import_devices")
    rows, errors = read_rows(text)
    loaded = _Loaded(session, actor)
    planned = []
    step = max(1, len(rows) // 100)
    for done, (number, cells) in enumerate(rows, start=1):
        p = _check_row(number, cells, loaded, errors)
        if p is not None:
            planned.append(p)
        if progress and (done % step == 0 or done == len(rows)):
            progress("check", done, len(rows))
    _resolve_bases(planned, loaded, errors)
    errors.sort(key=lambda e: (e.row, COLUMNS.index(e.column) if e.column in COLUMNS else -1))
    return ([] if errors else planned), errors, len(rows)


# --- the use cases ----------------------------------------------------------------------------


def import_devices(session: Session, actor: Actor, text: str, dry_run: bool = False,
                   progress: Progress | None = None) -> ImportReport:  # fmt: skip
    """Check the whole file; unless `dry_run`, add every device and key in the caller's transaction,
    or nothing at all when any row is refused (the report lists every refusal)."""
    planned, errors, count = check_file(session, actor, text, progress)
    report = ImportReport(count, errors, dry_run)
    if errors or dry_run:
        return report
    _write(session, actor, planned, progress)
    report.created = len(planned)
    return report


def _write(session: Session, actor: Actor, planned: list[_Planned], progress: Progress | None) -> None:
    """Devices in file order (their ids follow it, so an export lists them as the file did), then the
    handsets' bases, the keys and audit rows (executemany). One INSERT per device: the ORM writes a
    self-referential table row by row, and the ids must follow the file's order."""
    total = len(planned)
    for start in range(0, total, WRITE_CHUNK):
        chunk = planned[start : start + WRITE_CHUNK]
        for p in chunk:
            assert p.values is not None and p.keys is not None  # check_file returns only rows without refusal
            p.device = p.values.new_device(p.model)
            p.device.line_id = p.line.id  # not `.line`: that would load every line's device list
            session.add(p.device)
        session.flush()
        if progress:
            progress("write", start + len(chunk), total)
    bumped: set[int] = set()
    key_rows: list[dict[str, Any]] = []
    audited: list[tuple[object, dict[str, Any]]] = []
    for p in planned:
        assert p.device is not None
        if p.base is not None:
            base = p.base.device if isinstance(p.base, _Planned) else p.base
            assert base is not None
            p.device.base_station_id = base.id
            if isinstance(p.base, Device) and base.id not in bumped:  # a saved base: a new handset on its file
                base.bump_revision()
                bumped.add(base.id)
        for module, keys in (p.keys or {}).items():
            key_rows += [{"device_id": p.device.id, "module": module, "index": index, "function": function,
                          "value": value, "label": label}
                         for index, (function, value, label) in sorted(keys.items())]  # fmt: skip
        if p.device.provisioning_mac == ProvisioningMac.ONCE:
            queue_redirection(session, p.device.id, p.model, p.device.mac, "register")
        audited.append((p.device.id, {"via": "import", "line": p.line.number, "model": p.model.id, "mac": p.mac,
                                      "provisioning_mac": p.device.provisioning_mac}))  # fmt: skip
    session.flush()
    if key_rows:
        session.execute(insert(FunctionKey), key_rows)
    audit.record_many(session, actor, "device.add", "device", audited)


def export_devices(session: Session, actor: Actor, vpbx_id: int) -> str:
    """The vPBX's devices and keys as CSV in the import's format, by line number then device.
    Never a secret: a generated password is left empty (an import generates a new one), SIP
    passwords are a line's, not a device's. A password the administrator chose is kept."""
    require_role(actor, *BULK_ROLES, doing="export_devices")
    require_vpbx(actor, vpbx_id)
    stmt = (
        select(Device)
        .join(Device.line)
        .where(Line.vpbx_id == vpbx_id)
        .options(contains_eager(Device.line), selectinload(Device.keys))
        .order_by(Line.number, Device.id)
    )
    devices = session.scalars(stmt).unique().all()
    macs = {d.id: d.mac or "" for d in devices}
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for d in devices:
        state = ProvisioningMac.ONCE if d.provisioning_mac == ProvisioningMac.ONCE else ProvisioningMac.NO
        writer.writerow([
            d.line.number, d.model_id, d.mac or "", d.label, d.username, state,
            "" if d.admin_password_generated else d.admin_password,
            "" if d.user_password_generated else d.user_password,
            macs.get(d.base_station_id or -1, ""),
            f"{d.expansion_model_id}:{d.expansion_count}" if d.expansion_model_id else "",
            join_keys(list(d.keys)),
        ])  # fmt: skip
    audit.record(session, actor, "device.export", "vpbx", vpbx_id, devices=len(devices))
    return out.getvalue()


def template() -> str:
    """An empty file with the header row, for the dashboard's "download a template"."""
    return ",".join(COLUMNS) + "\n"
