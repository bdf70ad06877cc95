"""Data commands: init, vpbx, line, device, key, models, account."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core import accounts, devices, keys, lines, vpbx
from core.catalogue import KINDS, default_catalogue
from core.cli import Commands, Context
from core.credentials import CHOSEN_PROVISIONING_MAC, ProvisioningMac
from core.db import transaction
from core.errors import ValidationError


def _run(ctx: Context, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call a use case in one transaction as the acting account."""
    with transaction(ctx.engine) as s:
        return fn(s, ctx.actor(s), *args, **kwargs)


# --- init ------------------------------------------------------------------------------------


def cmd_init(ctx: Context, args: argparse.Namespace) -> None:
    from core.migrate import upgrade
    from core.processes.demo import add_demo

    upgrade(ctx.engine)
    result: dict[str, Any] = {"database": _safe_url(ctx.settings.db_url), "demo": None}
    if args.demo:
        with transaction(ctx.engine) as s:
            result["demo"] = add_demo(s, ctx.actor(s))
    ctx.out(result, lambda: _init_text(result))


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def _init_text(result: dict[str, Any]) -> str:
    text = f"database ready: {result['database']}"
    demo = result["demo"]
    if demo is None:
        return text
    if not demo["created"]:
        return text + "\ndemo data already present (its logins were printed when it was created)"
    rows = [text, "demo data created. Dashboard logins (shown once, keep them):"]
    rows += [f"  {a['username']:<14} {a['role']:<11} {a['password']}" for a in demo["accounts"]]
    return "\n".join(rows)


# --- vpbx ------------------------------------------------------------------------------------


def cmd_vpbx_add(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out(_run(ctx, vpbx.add_vpbx, args.name, args.domain))


def cmd_vpbx_list(ctx: Context, args: argparse.Namespace) -> None:
    rows = _run(ctx, vpbx.list_vpbx)
    ctx.out_rows(rows, lambda v: f"{v['id']:>4}  {v['name']:<20} {v['sip_domain']}")


def cmd_vpbx_voicemail(ctx: Context, args: argparse.Namespace) -> None:
    v = _run(ctx, vpbx.set_voicemail_access, args.name, args.number)
    access = v["voicemail_access"]
    dialled = f"{access} + the line's mailbox" if access else "nothing of ours (the phone's own voicemail key)"
    ctx.out(v, f"voicemail keys of {v['name']} dial {dialled}")


# --- line ------------------------------------------------------------------------------------


def cmd_line_add(ctx: Context, args: argparse.Namespace) -> None:
    result = _run(
        ctx, lines.add_line, args.vpbx, args.number, extension=args.extension, display_name=args.name or "",
        sip_password=args.sip_password,
    )  # fmt: skip
    line = result["line"]
    generated = result["sip_password"]

    def text() -> str:
        out = f"line {line['number']} (Poste {line['extension'] or '-'}) in {line['vpbx']}"
        out += f", SIP user {line['sip_username']}"
        if generated:
            out += f"\ngenerated SIP password (shown once): {generated}"
        return out

    ctx.out({**line, "sip_password": generated}, text)


def cmd_line_show(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out(_run(ctx, lines.get_line, args.number))


def cmd_line_list(ctx: Context, args: argparse.Namespace) -> None:
    rows = _run(ctx, lines.list_lines, args.vpbx)
    ctx.out_rows(
        rows,
        lambda r: (
            f"{r['number']:<16} Poste {r['extension'] or '-':<6} {r['vpbx']:<16} {r['display_name']:<20} "
            f"{r['devices']} device(s){'  PSTN BLOCKED' if r['pstn_blocked'] else ''}"
        ),
    )


def cmd_line_update(ctx: Context, args: argparse.Namespace) -> None:
    if args.display_name is None and args.extension is None:
        raise ValidationError("nothing_to_change", "line", options="--display-name, --extension")
    r = _run(ctx, lines.update_line, args.number, display_name=args.display_name, extension=args.extension)
    ctx.out(r, lambda: f"line {r['number']} (Poste {r['extension'] or '-'}): display name {r['display_name']!r}")


def cmd_line_credentials(ctx: Context, args: argparse.Namespace) -> None:
    c = _run(ctx, lines.line_credentials, args.number)
    ctx.out(c, lambda: f"user: {c['sip_username']}\ndomain: {c['domain']}\npassword: {c['sip_password']}")


def cmd_line_new_credentials(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out(_run(ctx, lines.new_sip_credentials, args.number))


def cmd_line_block(ctx: Context, args: argparse.Namespace) -> None:
    ctx.out(_run(ctx, lines.set_blocked, args.number, args.command_name == "block"))


# --- device ----------------------------------------------------------------------------------


def _device_options(p: argparse.ArgumentParser, adding: bool) -> None:
    p.add_argument("--mac")
    p.add_argument("--admin-password", help="4-9 digits; empty = generated")
    p.add_argument("--username")
    p.add_argument("--user-password", help="4-9 digits; empty = generated")
    # Only a person's choices: `done` is set by the first key fetch (update_device refuses it by name).
    choices = CHOSEN_PROVISIONING_MAC if adding else tuple(ProvisioningMac)
    p.add_argument("--provisioning-mac", choices=[state.value for state in choices])
    base_help = "base station of a DECT handset: a compatible base on any line of its vPBX (see device bases)"
    p.add_argument("--base", type=int, metavar="DEVICE_ID", help=base_help)
    p.add_argument("--label")
    p.add_argument("--expansion", metavar="MODULE_ID:COUNT")
    if not adding:
        p.add_argument("--model", dest="model_id")


def _ref_text(r: dict[str, Any]) -> str:
    """A base or handset as a support agent tells them apart: id, model, label, MAC, line."""
    label = f' "{r["label"]}"' if r["label"] else ""
    ext = f" ({r['extension']})" if r["extension"] else ""
    return f"{r['id']} {r['model_label']}{label} MAC {r['mac'] or '-'} on line {r['line']}{ext}"


def _device_text(d: dict[str, Any]) -> str:
    last = d["last_access"]
    rows = [
        f"device {d['id']}: {d['model_label']} ({d['kind']}) on line {d['line']}",
        f"  MAC: {d['mac'] or '-'}   Provisioning MAC: {d['provisioning_mac']}",
        f"  URL: {d['url'] or '(configured through its base / no file)'}",
    ]
    if d["kind"] == "dect_handset":
        rows.append(f"  base station: {_ref_text(d['base']) if d['base'] else '-'}")
    if d["kind"] == "dect_base":
        rows.append(f"  handsets ({len(d['handsets'])}/{d['max_handsets']}):")
        rows += [f"    {_ref_text(h)}" for h in d["handset_details"]] or ["    -"]
    rows.append(f"  last access: {last['at'] + ' from ' + last['ip'] if last else 'never'}")
    return "\n".join(rows)


def cmd_device_add(ctx: Context, args: argparse.Namespace) -> None:
    d = _run(
        ctx, devices.add_device, args.line, args.model, mac=args.mac, admin_password=args.admin_password,
        username=args.username or "", user_password=args.user_password,
        provisioning_mac=args.provisioning_mac or ProvisioningMac.NO, base=args.base, label=args.label or "",
        expansion=args.expansion,
    )  # fmt: skip
    ctx.out(d, lambda: _device_text(d))


def cmd_device_set(ctx: Context, args: argparse.Namespace) -> None:
    fields = ("mac", "admin_password", "username", "user_password", "provisioning_mac", "base", "label", "expansion",
              "model_id")  # fmt: skip
    changes = {f: getattr(args, f) for f in fields if getattr(args, f) is not None}
    d = _run(ctx, devices.update_device, args.id, **changes)
    ctx.out(d, lambda: _device_text(d))


def _dhcp_text(d: dict[str, Any]) -> str:
    """Provisioning MAC `once` without a redirection service: what the phone's DHCP server must say."""
    if d["provisioning_mac"] != ProvisioningMac.ONCE or not d.get("bootstrap_dhcp"):
        return ""
    rows = [f"    option {o['option']}: {o['value']}  ({o['note']['en']})" for o in d["bootstrap_dhcp"]]
    return "\n  no redirection service: a factory phone finds its bootstrap through DHCP, set\n" + "\n".join(rows)


def cmd_device_show(ctx: Context, args: argparse.Namespace) -> None:
    d = _run(ctx, devices.get_device, args.id)
    ctx.out(d, lambda: _device_text(d) + _dhcp_text(d))


def cmd_device_list(ctx: Context, args: argparse.Namespace) -> None:
    rows = _run(ctx, devices.list_devices, args.line)
    ctx.out_rows(
        rows,
        lambda d: (
            f"{d['id']:>5}  {d['line']:<16} {d['model_label']:<24} {d['mac'] or '-':<13} "
            f"{d['provisioning_mac']:<5} {d['last_access']['at'] if d['last_access'] else 'never'}"
        ),
    )


def cmd_device_bases(ctx: Context, args: argparse.Namespace) -> None:
    rows = _run(ctx, devices.compatible_bases, args.line, args.model, args.handset)
    ctx.out_rows(rows, lambda b: f"{_ref_text(b)}   free slots: {b['free']}")


def cmd_device_new_key(ctx: Context, args: argparse.Namespace) -> None:
    d = _run(ctx, devices.new_key, args.id)
    ctx.out(d, lambda: f"new URL: {d['url']}")


def cmd_device_once_more(ctx: Context, args: argparse.Namespace) -> None:
    d = _run(ctx, devices.provisioning_once_more, args.id)
    ctx.out(d, lambda: _device_text(d))


def cmd_device_delete(ctx: Context, args: argparse.Namespace) -> None:
    _run(ctx, devices.delete_device, args.id)
    ctx.out({"deleted": args.id}, f"device {args.id} deleted. Reset the phone to factory settings before reuse.")


# --- key -------------------------------------------------------------------------------------


def cmd_key_set(ctx: Context, args: argparse.Namespace) -> None:
    with transaction(ctx.engine) as s:
        actor = ctx.actor(s)
        k = keys.set_key(s, actor, args.device_id, args.index, args.type, args.value or "", args.label or "",
                         args.module)  # fmt: skip
        unknown = keys.unknown_lines([k], keys.key_choices(s, actor, args.device_id))
    for index, value in unknown:  # saved all the same: free entry is allowed, the person is told
        print(f"warning: key {index}: {value} is no extension of this vPBX", file=sys.stderr)
    ctx.out(k)


def cmd_key_choices(ctx: Context, args: argparse.Namespace) -> None:
    choices = _run(ctx, keys.key_choices, args.device_id)
    ctx.out(choices, lambda: "\n".join([*(f"{c['value']:<16} {c['name']}" for c in choices["lines"]),
                                        f"voicemail: {choices['voicemail'] or '-'}"]))  # fmt: skip


def cmd_key_clear(ctx: Context, args: argparse.Namespace) -> None:
    _run(ctx, keys.clear_key, args.device_id, args.index, args.module)
    ctx.out({"cleared": {"module": args.module, "index": args.index}}, "key cleared")


def cmd_key_list(ctx: Context, args: argparse.Namespace) -> None:
    rows = _run(ctx, keys.list_keys, args.device_id)
    ctx.out_rows(
        rows, lambda k: f"module {k['module']} key {k['index']:>3}: {k['type']:<10} {k['value']:<16} {k['label']}"
    )


# --- models / account ------------------------------------------------------------------------


def cmd_models(ctx: Context, args: argparse.Namespace) -> None:
    rows = [m.as_json() for m in default_catalogue().models(args.kind)]
    ctx.out_rows(rows, lambda m: f"{m['id']:<24} {m['kind']:<17} {m['vendor']} {m['model']}")


def cmd_account_add(ctx: Context, args: argparse.Namespace) -> None:
    view, generated = _run(ctx, accounts.add_account, args.username, args.role, args.vpbx, args.line, args.password)

    def text() -> str:
        out = f"account {view['username']} ({view['role']}) created"
        return out + (f"\ngenerated password (shown once): {generated}" if generated else "")

    ctx.out({**view, "password": generated}, text)


def cmd_account_password(ctx: Context, args: argparse.Namespace) -> None:
    from core.credentials import new_sip_password

    password = args.password or new_sip_password()[:16]
    _run(ctx, accounts.set_password, args.username, password)
    shown = None if args.password else password
    ctx.out({"username": args.username, "password": shown},
            f"password changed{'; new password (shown once): ' + shown if shown else ''}")  # fmt: skip


def cmd_account_end_sessions(ctx: Context, args: argparse.Namespace) -> None:
    _run(ctx, accounts.end_sessions, args.username)
    ctx.out({"username": args.username, "sessions_ended": True}, f"every dashboard session of {args.username} ended")


def register(commands: Commands) -> None:
    p = commands.command("init", cmd_init, "create or upgrade the database; --demo adds demo data")
    p.add_argument("--demo", action="store_true")

    commands.group("vpbx", "vPBX (tenant) commands")
    p = commands.command("add", cmd_vpbx_add, "add a vPBX", group="vpbx")
    p.add_argument("name")
    p.add_argument("--domain", required=True)
    commands.command("list", cmd_vpbx_list, "list vPBXs", group="vpbx")
    p = commands.command("voicemail", cmd_vpbx_voicemail, "the number voicemail keys dial before the line's mailbox",
                         group="vpbx")  # fmt: skip
    p.add_argument("name")
    p.add_argument("number", help='e.g. "*86"; "" = none (the phone\'s own voicemail key)')

    commands.group("line", "line (Poste) commands")
    p = commands.command("add", cmd_line_add, "add a line", group="line")
    p.add_argument("--vpbx", required=True)
    p.add_argument("--number", required=True)
    p.add_argument("--extension")
    p.add_argument("--name")
    p.add_argument("--sip-password")
    p = commands.command("show", cmd_line_show, "a line with its devices and registrations", group="line")
    p.add_argument("number")
    p = commands.command("list", cmd_line_list, "list lines", group="line")
    p.add_argument("--vpbx")
    p = commands.command("update", cmd_line_update, "change a line's display name or extension (its phones refetch)",
                         group="line")  # fmt: skip
    p.add_argument("number")
    p.add_argument("--display-name", help=f"at most {lines.DISPLAY_MAX} characters; empty = show the extension")
    p.add_argument("--extension", help="2-8 digits; empty = none")
    p = commands.command("credentials", cmd_line_credentials, "SIP credentials for manual setup (audited)",
                         group="line")  # fmt: skip
    p.add_argument("number")
    p = commands.command("new-credentials", cmd_line_new_credentials, "generate a new SIP password", group="line")
    p.add_argument("number")
    for name in ("block", "unblock"):
        p = commands.command(name, cmd_line_block, f"{name} PSTN calls for a line", group="line")
        p.add_argument("number")
        p.set_defaults(command_name=name)

    commands.group("device", "device commands")
    p = commands.command("add", cmd_device_add, "add a device to a line", group="device")
    p.add_argument("--line", required=True)
    p.add_argument("--model", required=True, metavar="MODEL_ID")
    _device_options(p, adding=True)
    p = commands.command("set", cmd_device_set, "change a device's parameters", group="device")
    p.add_argument("id", type=int)
    _device_options(p, adding=False)
    for name, fn, help_ in (
        ("show", cmd_device_show, "show a device"),
        ("new-key", cmd_device_new_key, "give a device a new access key (the old URL stops at once)"),
        ("once-more", cmd_device_once_more, "Provisioning MAC: allow one more bootstrap by MAC"),
        ("delete", cmd_device_delete, "delete a device"),
    ):
        p = commands.command(name, fn, help_, group="device")
        p.add_argument("id", type=int)
    p = commands.command("list", cmd_device_list, "list devices", group="device")
    p.add_argument("--line")
    p = commands.command("bases", cmd_device_bases, "the bases a DECT handset of a line can join (any line of its "
                         "vPBX, free slots)", group="device")  # fmt: skip
    p.add_argument("--line", required=True)
    p.add_argument("--model", required=True, metavar="HANDSET_MODEL_ID")
    p.add_argument("--handset", type=int, metavar="DEVICE_ID", help="a handset being moved: its current base too")

    commands.group("key", "function key commands")
    p = commands.command("set", cmd_key_set, "program a key", group="key")
    p.add_argument("device_id", type=int)
    p.add_argument("--index", type=int, required=True)
    p.add_argument("--module", type=int, default=0)
    p.add_argument("--type", required=True)
    p.add_argument("--value")
    p.add_argument("--label")
    p = commands.command("clear", cmd_key_clear, "clear a key", group="key")
    p.add_argument("device_id", type=int)
    p.add_argument("--index", type=int, required=True)
    p.add_argument("--module", type=int, default=0)
    p = commands.command("list", cmd_key_list, "list a device's keys", group="key")
    p.add_argument("device_id", type=int)
    p = commands.command("choices", cmd_key_choices, "the lines of the device's vPBX a key may name", group="key")
    p.add_argument("device_id", type=int)

    p = commands.command("models", cmd_models, "the device catalogue")
    p.add_argument("--kind", choices=KINDS)

    commands.group("account", "dashboard account commands")
    p = commands.command("add", cmd_account_add, "add a dashboard account", group="account")
    p.add_argument("username")
    p.add_argument("--role", required=True, choices=["provider", "vpbx_admin", "user"])
    p.add_argument("--vpbx")
    p.add_argument("--line")
    p.add_argument("--password")
    p = commands.command("password", cmd_account_password, "set (or generate) an account's password", group="account")
    p.add_argument("username")
    p.add_argument("--password")
    p = commands.command("end-sessions", cmd_account_end_sessions, "log an account out everywhere", group="account")
    p.add_argument("username")
