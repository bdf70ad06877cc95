"""`device import FILE [--dry-run]` and `device export --vpbx ID [--output FILE]`: devices and keys as CSV
(core.device_import; the format: docs/DEVICE-IMPORT.md).

The import prints its progress on stderr, every refusal as `row N, COLUMN: text` (or the report with
--json) and exits 1 when a row is refused: then nothing was written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core import device_import
from core.cli import Commands, Context
from core.db import transaction
from core.errors import NotFound, ValidationError
from core.models import Vpbx
from core.vpbx import find_vpbx

BAR = 30  # characters of the progress bar
PHASES = {"check": "checking", "write": "writing"}


def _progress(phase: str, done: int, total: int) -> None:
    filled = BAR * done // max(total, 1)
    sys.stderr.write(f"\r{PHASES[phase]:8} [{'#' * filled}{'.' * (BAR - filled)}] {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _read(path: str) -> str:
    try:
        return (sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()).decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError("import_not_text", "file") from None


def import_command(ctx: Context, args: argparse.Namespace) -> int:
    text = _read(args.file)
    with transaction(ctx.engine) as s:
        report = device_import.import_devices(s, ctx.actor(s), text, dry_run=args.dry_run, progress=_progress)
    if ctx.json:
        ctx.out(report.as_dict())
    else:
        for e in report.errors:
            key = f" ({e.key})" if e.key else ""
            print(f"row {e.row}, {e.column or 'file'}{key}: {e.message}")
        if report.ok:
            done = "checked, nothing written (dry run)" if args.dry_run else f"{report.created} device(s) added"
            print(f"{report.rows} row(s) {done}")
        else:
            print(f"{len(report.errors)} error(s) in {report.rows} row(s): nothing written", file=sys.stderr)
    return 0 if report.ok else 1


def export_command(ctx: Context, args: argparse.Namespace) -> int:
    with transaction(ctx.engine) as s:
        actor = ctx.actor(s)
        vpbx_id = int(args.vpbx) if args.vpbx.isdigit() else find_vpbx(s, actor, args.vpbx).id
        if args.vpbx.isdigit() and actor.is_provider and s.get(Vpbx, vpbx_id) is None:
            raise NotFound("vpbx_unknown", "vpbx", name=args.vpbx)
        text = device_import.export_devices(s, actor, vpbx_id)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def register(commands: Commands) -> None:
    p = commands.command(
        "import", import_command, "add devices and keys from a CSV file, all or nothing", group="device"
    )
    p.add_argument("file", metavar="FILE", help="the CSV file (- for stdin); columns: docs/DEVICE-IMPORT.md")
    p.add_argument("--dry-run", action="store_true", help="check every row and list every error, write nothing")
    p = commands.command("export", export_command, "a vPBX's devices and keys as CSV (imports back)", group="device")
    p.add_argument("--vpbx", required=True, metavar="ID", help="the vPBX's id or name")
    p.add_argument("--output", metavar="FILE", help="write here instead of stdout")
