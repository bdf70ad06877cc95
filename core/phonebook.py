"""The vPBX phone book (issue 14 point 5): every line of the vPBX plus the contacts an administrator enters
or imports (CSV), served to each phone in its vendor's format (core/render, core/provisioning).

Who: the provider and the vPBX's administrator change contacts (PHONEBOOK_ROLES); every account that sees a
line of the vPBX reads the book. A vPBX the actor may not see is the same NotFound as a missing one.
What a phone is served: `served_entries` (the lines by display name and extension/number, then the contacts),
in one statement whatever the size.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from core import audit
from core.errors import NotFound, ValidationError
from core.models import Line, PhonebookContact, Vpbx
from core.permissions import PHONEBOOK_ROLES, Actor, require_role
from core.vpbx import find_vpbx

NAME_MAX = 100  # the columns' sizes (models.PhonebookContact)
ORGANISATION_MAX = 100
NUMBER_RE = re.compile(r"^\+?[0-9*#]{1,32}$")  # what a phone can dial: digits, leading +, * and # codes
_NUMBER_NOISE = re.compile(r"[\s.\-/()]")  # written separators, dropped as lines._number drops them
CSV_COLUMNS = ("name", "number", "organisation")
# Headers a French spreadsheet may carry, read as the columns above (the export writes the English ones).
HEADER_ALIASES = {"nom": "name", "numéro": "number", "numero": "number", "organization": "organisation",
                  "société": "organisation", "societe": "organisation"}  # fmt: skip
CSV_MAX_ROWS = 20_000


@dataclass(frozen=True, slots=True)
class Entry:
    """One phone book entry as phones are served it: a line of the vPBX or a contact."""

    name: str
    number: str
    organisation: str = ""
    source: str = "contact"  # line | contact


@dataclass(frozen=True)
class RowError:
    """A refused CSV cell: its row (1 = the header, as a spreadsheet numbers it), column and refusal."""

    row: int
    column: str
    code: str
    params: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "code": self.code, "params": self.params}


@dataclass(frozen=True)
class ImportResult:
    dry_run: bool
    rows: int
    added: int
    updated: int
    unchanged: int
    errors: tuple[RowError, ...]

    @property
    def applied(self) -> bool:
        return not self.dry_run and not self.errors

    def as_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "applied": self.applied,
            "rows": self.rows,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "errors": [e.as_json() for e in self.errors],
        }


# --- the rules of one contact ------------------------------------------------------------------------------------


def _text(value: str | None, what: str, limit: int, required: bool = False) -> str:
    text = (value or "").strip()
    if required and not text:
        raise ValidationError("phonebook_name_required", what)
    if len(text) > limit:
        raise ValidationError("too_long", what, max=limit)
    if any(not c.isprintable() for c in text):
        raise ValidationError("control_chars", what)
    return text


def clean_number(raw: str | None) -> str:
    number = _NUMBER_NOISE.sub("", raw or "")
    if not NUMBER_RE.match(number):
        raise ValidationError("phonebook_number_invalid", "number", value=(raw or "").strip()[:40])
    return number


def _clean(name: str | None, number: str | None, organisation: str | None) -> tuple[str, str, str]:
    return (
        _text(name, "name", NAME_MAX, required=True),
        clean_number(number),
        _text(organisation, "organisation", ORGANISATION_MAX),
    )


def contact_view(c: PhonebookContact) -> dict[str, Any]:
    return {"id": c.id, "vpbx_id": c.vpbx_id, "name": c.name, "number": c.number, "organisation": c.organisation}


# --- which vPBX ------------------------------------------------------------------------------------------------


def _vpbx(session: Session, actor: Actor, vpbx_name: str | None) -> Vpbx:
    """The named vPBX, or the actor's own (a vPBX admin's, a user's line's); the provider names one."""
    if vpbx_name:
        return find_vpbx(session, actor, vpbx_name) if actor.role != "user" else _users_vpbx(session, actor, vpbx_name)
    if actor.role == "user":
        return _users_vpbx(session, actor, None)
    if actor.vpbx_id is None:
        raise ValidationError("phonebook_vpbx_required", "vpbx")
    found = session.get(Vpbx, actor.vpbx_id)
    if found is None:
        raise NotFound("vpbx_unknown", "vpbx", name=str(actor.vpbx_id))
    return found


def _users_vpbx(session: Session, actor: Actor, vpbx_name: str | None) -> Vpbx:
    found = session.scalar(select(Vpbx).join(Line, Line.vpbx_id == Vpbx.id).where(Line.id == (actor.line_id or -1)))
    if found is None or (vpbx_name and found.name != vpbx_name):
        raise NotFound("vpbx_unknown", "vpbx", name=vpbx_name or "")
    return found


def _editable(session: Session, actor: Actor, vpbx_name: str | None) -> Vpbx:
    require_role(actor, *PHONEBOOK_ROLES, doing="edit_phonebook")
    return _vpbx(session, actor, vpbx_name)


def _contact(session: Session, actor: Actor, contact_id: int) -> PhonebookContact:
    require_role(actor, *PHONEBOOK_ROLES, doing="edit_phonebook")
    c = session.get(PhonebookContact, contact_id)
    if c is None or (not actor.is_provider and c.vpbx_id != actor.vpbx_id):
        raise NotFound("phonebook_contact_not_found", "contact")
    return c


def _taken(session: Session, vpbx_id: int, name: str, number: str, but: int | None = None) -> None:
    stmt = select(PhonebookContact.id).where(
        PhonebookContact.vpbx_id == vpbx_id, PhonebookContact.name == name, PhonebookContact.number == number
    )
    found = session.scalar(stmt)
    if found is not None and found != but:
        raise ValidationError("phonebook_contact_exists", "name", name=name, number=number)


# --- use cases -------------------------------------------------------------------------------------------------


def list_contacts(session: Session, actor: Actor, vpbx_name: str | None = None) -> list[dict[str, Any]]:
    """The contacts entered or imported in the vPBX's phone book (its lines are listed by `phonebook`)."""
    v = _vpbx(session, actor, vpbx_name)
    stmt = select(PhonebookContact).where(PhonebookContact.vpbx_id == v.id)
    return [contact_view(c) for c in session.scalars(stmt.order_by(PhonebookContact.name, PhonebookContact.id))]


def phonebook(session: Session, actor: Actor, vpbx_name: str | None = None) -> list[dict[str, Any]]:
    """The whole book as phones get it (lines, then contacts), for any account of the vPBX."""
    v = _vpbx(session, actor, vpbx_name)
    return [
        {"name": e.name, "number": e.number, "organisation": e.organisation, "source": e.source}
        for e in served_entries(session, v.id)
    ]


def add_contact(
    session: Session, actor: Actor, name: str, number: str, organisation: str = "", vpbx_name: str | None = None
) -> dict[str, Any]:
    v = _editable(session, actor, vpbx_name)
    name, number, organisation = _clean(name, number, organisation)
    _taken(session, v.id, name, number)
    c = PhonebookContact(vpbx_id=v.id, name=name, number=number, organisation=organisation)
    session.add(c)
    session.flush()
    audit.record(session, actor, "phonebook.add", "phonebook_contact", c.id, name=name, number=number)
    return contact_view(c)


def update_contact(
    session: Session,
    actor: Actor,
    contact_id: int,
    name: str | None = None,
    number: str | None = None,
    organisation: str | None = None,
) -> dict[str, Any]:
    c = _contact(session, actor, contact_id)
    new_name, new_number, new_org = _clean(
        c.name if name is None else name,
        c.number if number is None else number,
        c.organisation if organisation is None else organisation,
    )
    _taken(session, c.vpbx_id, new_name, new_number, but=c.id)
    c.name, c.number, c.organisation = new_name, new_number, new_org
    audit.record(session, actor, "phonebook.update", "phonebook_contact", c.id, name=new_name, number=new_number)
    return contact_view(c)


def delete_contact(session: Session, actor: Actor, contact_id: int) -> None:
    c = _contact(session, actor, contact_id)
    audit.record(session, actor, "phonebook.delete", "phonebook_contact", c.id, name=c.name, number=c.number)
    session.delete(c)


# --- CSV -------------------------------------------------------------------------------------------------------


def export_csv(session: Session, actor: Actor, vpbx_name: str | None = None) -> str:
    """The contacts as CSV (name, number, organisation), which `import_csv` takes back unchanged. Cells that a
    spreadsheet would run as a formula are prefixed with ' (and the import strips it again)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for c in list_contacts(session, actor, vpbx_name):
        writer.writerow([_cell(c["name"]), _cell(c["number"]), _cell(c["organisation"])])
    return out.getvalue()


def _cell(text: str) -> str:
    return "'" + text if text[:1] in ("=", "@", "-") or (text[:1] == "+" and not NUMBER_RE.match(text)) else text


def _uncell(text: str) -> str:
    return text[1:] if text[:1] == "'" and text[1:2] in ("=", "@", "-", "+") else text


def import_csv(
    session: Session, actor: Actor, text: str, dry_run: bool = False, vpbx_name: str | None = None
) -> ImportResult:
    """Contacts from CSV (header: name, number[, organisation]; `,` or `;`). Every row is checked first and each
    refused cell listed by row and column; anything refused and nothing is written (all or nothing). A row that
    matches a contact by name and number updates its organisation; the same row twice is refused."""
    v = _editable(session, actor, vpbx_name)
    rows, errors = _parse(text)
    existing = {
        (c.name, c.number): c for c in session.scalars(select(PhonebookContact).where(PhonebookContact.vpbx_id == v.id))
    }
    seen: dict[tuple[str, str], int] = {}
    plan: list[tuple[int, str, str, str]] = []
    for row_no, raw in rows:
        cleaned: dict[str, str] = {}
        for column, check in (
            ("name", lambda s: _text(s, "name", NAME_MAX, required=True)),
            ("number", clean_number),
            ("organisation", lambda s: _text(s, "organisation", ORGANISATION_MAX)),
        ):
            try:
                cleaned[column] = check(_uncell(raw.get(column, "")))
            except ValidationError as exc:
                errors.append(RowError(row_no, column, exc.code, exc.params))
        if len(cleaned) < 3:
            continue
        pair = (cleaned["name"], cleaned["number"])
        if pair in seen:
            errors.append(RowError(row_no, "name", "phonebook_row_twice", {"row": seen[pair]}))
            continue
        seen[pair] = row_no
        plan.append((row_no, *pair, cleaned["organisation"]))
    added = updated = unchanged = 0
    for _, name, number, organisation in plan:
        c = existing.get((name, number))
        if c is None:
            added += 1
        elif c.organisation != organisation:
            updated += 1
        else:
            unchanged += 1
    result = ImportResult(dry_run, len(rows), added, updated, unchanged, tuple(sorted(errors, key=_error_order)))
    if not result.applied:
        return result
    for _, name, number, organisation in plan:
        c = existing.get((name, number))
        if c is None:
            session.add(PhonebookContact(vpbx_id=v.id, name=name, number=number, organisation=organisation))
        else:
            c.organisation = organisation
    session.flush()
    audit.record(session, actor, "phonebook.import", "vpbx", v.id, added=added, updated=updated, unchanged=unchanged)
    return result


def _error_order(e: RowError) -> tuple[int, int]:
    return e.row, CSV_COLUMNS.index(e.column) if e.column in CSV_COLUMNS else len(CSV_COLUMNS)


def _parse(text: str) -> tuple[list[tuple[int, dict[str, str]]], list[RowError]]:
    """The data rows by their row number, and what is wrong with the file itself (header, size)."""
    text = text.lstrip("\ufeff")  # a spreadsheet's UTF-8 byte order mark
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = [HEADER_ALIASES.get(h.strip().lower(), h.strip().lower()) for h in next(reader, [])]
    missing, unknown = "phonebook_csv_column_missing", "phonebook_csv_column_unknown"
    errors = [RowError(1, c, missing, {"column": c}) for c in ("name", "number") if c not in header]
    errors += [RowError(1, h or "?", unknown, {"column": h}) for h in header if h not in CSV_COLUMNS]
    if errors:
        return [], errors
    rows: list[tuple[int, dict[str, str]]] = []
    for row_no, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue  # blank lines (a trailing one, spacing) are no rows
        if len(cells) > len(header):
            too_many = {"count": len(cells), "max": len(header)}
            errors.append(RowError(row_no, header[-1], "phonebook_csv_row_cells", too_many))
            continue
        rows.append((row_no, dict(zip(header, cells, strict=False))))
        if len(rows) > CSV_MAX_ROWS:
            return [], [RowError(row_no, "name", "phonebook_csv_too_many_rows", {"max": CSV_MAX_ROWS})]
    return rows, errors


# --- what phones are served ---------------------------------------------------------------------------------------


# Every line of the vPBX and its contacts: one statement. Plain SQL with `{mark}` for the bound vPBX id (twice), so
# the endpoint runs it on its own DB-API connection (provisioning/directory.py) and `served_entries` through a
# session: one text for both. Unsorted: the endpoint compares the rows it reads with those of its last render, and
# sorts (entries_from_rows) only to render again, which saves the database a sort on every fetch.
SERVED_SQL = (
    "SELECT display_name, extension, number, '' AS organisation, 0 AS part FROM line WHERE vpbx_id = {mark}"
    " UNION ALL SELECT name, NULL, number, organisation, 1 FROM phonebook_contact WHERE vpbx_id = {mark}"
)


def _order(row: Sequence[Any]) -> tuple[int, str, str]:
    return int(row[4]), row[0] or "", row[2] or ""


def entries_from_rows(rows: Iterable[Sequence[Any]]) -> list[Entry]:
    """SERVED_SQL's rows as entries, lines first, each part by name: a line shows its display name (else its
    extension or number) and is dialled by its extension (else its number); a contact as entered."""
    out = []
    for name, extension, number, organisation, part in sorted(rows, key=_order):
        if part == 0:
            out.append(Entry(name or extension or number, extension or number, "", "line"))
        else:
            out.append(Entry(name, number, organisation or "", "contact"))
    return out


def served_entries(session: Session, vpbx_id: int) -> list[Entry]:
    """What phones of the vPBX are served, in one statement whatever the size."""
    return entries_from_rows(session.execute(text(SERVED_SQL.format(mark=":vpbx")), {"vpbx": vpbx_id}))
