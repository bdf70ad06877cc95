"""`phonebook list|show|add|update|delete|import FILE [--dry-run]|export`: a vPBX's phone book (core/phonebook.py).

`--vpbx NAME` names the vPBX (the provider must; a vPBX admin or user defaults to their own). An import prints
each refused cell by row and column and exits 1 with nothing written; `--dry-run` only checks."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core import phonebook
from core.cli import Commands, Context
from core.db import transaction
from core.messages import english


def cmd_list(ctx: Context, args: argparse.Namespace) -> None:
    with transaction(ctx.engine) as s:
        rows = phonebook.list_contacts(s, ctx.actor(s), args.vpbx)
    ctx.out_rows(rows, lambda c: f"{c['id']:>6}  {c['name']:<32} {c['number']:<20} {c['organisation']}")


def cmd_show(ctx: Context, args: argparse.Namespace) -> None:
    with transaction(ctx.engine) as s:
        rows = phonebook.phonebook(s, ctx.actor(s), args.vpbx)
    ctx.out_rows(rows, lambda e: f"{e['source']:<8} {e['name']:<32} {e['number']:<20} {e['organisation']}")


def cmd_add(ctx: Context, args: argparse.Namespace) -> None:
    with transaction(ctx.engine) as s:
        ctx.out(phonebook.add_contact(s, ctx.actor(s), args.name, args.number, args.organisation or "", args.vpbx))


def cmd_update(ctx: Context, args: argparse.Namespace) -> None:
    with transaction(ctx.engine) as s:
        ctx.out(phonebook.update_contact(s, ctx.actor(s), args.id, args.name, args.number, args.organisation))


def cmd_delete(ctx: Context, args: argparse.Namespace) -> None:
    with transaction(ctx.engine) as s:
        phonebook.delete_contact(s, ctx.actor(s), args.id)
    ctx.out({"deleted": args.id}, f"contact {args.id} deleted")


def cmd_import(ctx: Context, args: argparse.Namespace) -> int:
    text = Path(args.file).read_text(encoding="utf-8-sig")
    with transaction(ctx.engine) as s:
        result = phonebook.import_csv(s, ctx.actor(s), text, dry_run=args.dry_run, vpbx_name=args.vpbx)

    def summary() -> str:
        rows = [f"row {e.row}, {e.column}: {english(e.code, e.params)}" for e in result.errors]
        verb = "would add" if result.dry_run or result.errors else "added"
        rows.append(f"{result.rows} rows: {verb} {result.added}, update {result.updated}, unchanged {result.unchanged}")
        if result.errors:
            rows.append(f"{len(result.errors)} error(s): nothing written")
        return "\n".join(rows)

    ctx.out(result.as_json(), summary)
    return 1 if result.errors else 0


def cmd_export(ctx: Context, args: argparse.Namespace) -> None:
    with transaction(ctx.engine) as s:
        text = phonebook.export_csv(s, ctx.actor(s), args.vpbx)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def register(commands: Commands) -> None:
    commands.group("phonebook", "the vPBX phone book: its lines plus the contacts entered or imported")

    def vpbx(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--vpbx", help="the vPBX's name (default: your own)")
        return p

    vpbx(commands.command("list", cmd_list, "the contacts entered or imported", group="phonebook"))
    vpbx(commands.command("show", cmd_show, "the book as phones get it", group="phonebook"))
    p = vpbx(commands.command("add", cmd_add, "add a contact", group="phonebook"))
    p.add_argument("name")
    p.add_argument("number")
    p.add_argument("--organisation")
    p = commands.command("update", cmd_update, "change a contact", group="phonebook")
    p.add_argument("id", type=int)
    p.add_argument("--name")
    p.add_argument("--number")
    p.add_argument("--organisation")
    p = commands.command("delete", cmd_delete, "delete a contact", group="phonebook")
    p.add_argument("id", type=int)
    p = vpbx(commands.command("import", cmd_import, "contacts from CSV", group="phonebook"))
    p.add_argument("file")
    p.add_argument("--dry-run", action="store_true", help="check every row, write nothing")
    p = vpbx(commands.command("export", cmd_export, "the contacts as CSV (imports back unchanged)", group="phonebook"))
    p.add_argument("--output", "-o", help="write to this file (default: standard output)")
