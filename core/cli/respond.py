"""`line respond NUMBER`: the manual's fraud procedure for a line, run to the end or as far as it can go
(core.respond), and its companions: `line respond-status`, `line respond-skip`, `line lost-data`.

`respond` starts the line's procedure (or takes up its unfinished or requested one) and runs the due
steps; with `--wait SECONDS` it keeps checking, printing each device's progress, until every device
showed its new key and its new credentials, then unblocks. Exit 0 once done, 3 while devices are left
(run it again later: it goes on where it stopped).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from core import respond
from core.cli import Commands, Context
from core.db import transaction

STILL_WAITING = 3  # the exit code of a procedure that is not finished yet
POLL = 1.0  # seconds between checks with --wait


def _progress(run: dict[str, Any]) -> str:
    steps = "  ".join(f"{s['step']}:{'done' if s['at'] else '-'}" for s in run["steps"])
    out = [f"procedure #{run['id']} for {run['number']}: {run['state']}  [{steps}]"]
    for d in run["devices"]:
        if d["push"] == respond.NONE:
            out.append(f"  device {d['device_id']} {d['label']}: no URL of its own (nothing to push)")
            continue
        seen = f"fetched {d['fetched_at'] or '-'}, registered {d['registered_at'] or '-'}"
        left = f"  LEFT: {', '.join(d['left'])}" if d["left"] else "  ok"
        out.append(f"  device {d['device_id']} {d['label']}: push {d['push'] or '-'} ({d['resyncs']} resync), "
                   f"{seen}{left}")  # fmt: skip
    if run.get("waiting"):
        out.append(f"  waiting at {run['waiting']['step']}: {run['waiting']['why']}")
    return "\n".join(out)


def cmd_respond(ctx: Context, args: argparse.Namespace) -> int:
    with transaction(ctx.engine) as s:
        run = respond.start(s, ctx.actor(s), args.number)
    deadline = time.monotonic() + args.wait
    while True:
        with transaction(ctx.engine) as s:
            run = respond.advance(s, ctx.actor(s), run["id"], until=args.until)
        if run["state"] == respond.DONE or args.until or time.monotonic() >= deadline:
            break
        if not ctx.json:
            print(_progress(run), flush=True)
        time.sleep(POLL)  # polling the database for the phones' fetches and registrations
    ctx.out(run, lambda: _progress(run))
    return 0 if run["state"] == respond.DONE or args.until else STILL_WAITING


def cmd_status(ctx: Context, args: argparse.Namespace) -> None:
    with transaction(ctx.engine) as s:
        run = respond.status(s, ctx.actor(s), args.number)
    ctx.out(run, lambda: _progress(run))


def cmd_skip(ctx: Context, args: argparse.Namespace) -> None:
    with transaction(ctx.engine) as s:
        run = respond.status(s, ctx.actor(s), args.number)
        run = respond.skip_device(s, ctx.actor(s), run["id"], args.device)
    ctx.out(run, lambda: _progress(run))


def cmd_lost_data(ctx: Context, args: argparse.Namespace) -> None:
    with transaction(ctx.engine) as s:
        run = respond.request(s, ctx.actor(s), args.number, args.note)
    ctx.out(run, f"procedure #{run['id']} requested for {run['number']}; the line's administrators are alerted")


def register(commands: Commands) -> None:
    p = commands.command("respond", cmd_respond, "run the fraud procedure on a line (block, new credentials, "
                         "new keys, push, verify, unblock)", group="line")  # fmt: skip
    p.add_argument("number", help="the line's number")
    p.add_argument("--until", choices=respond.STEPS, help="stop after this step (run the rest later)")
    p.add_argument("--wait", type=float, default=0.0, help="seconds to keep checking the devices (default: 0)")
    p = commands.command("respond-status", cmd_status, "the line's fraud procedure: steps and devices",
                         group="line")  # fmt: skip
    p.add_argument("number")
    p = commands.command("respond-skip", cmd_skip, "count a device of the procedure as done by hand", group="line")
    p.add_argument("number")
    p.add_argument("device", type=int, help="device id")
    p = commands.command("lost-data", cmd_lost_data, "ask for the fraud procedure (\"I lost my data\"): the "
                         "line's administrators are alerted", group="line")  # fmt: skip
    p.add_argument("number")
    p.add_argument("--note", default="", help="what happened")
