"""Demo data for `init --demo` / `up --demo`: a vPBX with lines, devices of several kinds, keys, accounts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import accounts, devices, keys, lines, vpbx
from core.credentials import ProvisioningMac
from core.models import Vpbx
from core.permissions import Actor

DEMO_VPBX = "demo"


def add_demo(session: Session, actor: Actor) -> dict[str, Any]:
    """Create the demo once; the generated logins are returned (to print once) and never stored in clear."""
    if session.scalar(select(Vpbx.id).where(Vpbx.name == DEMO_VPBX)) is not None:
        return {"created": False, "accounts": []}
    vpbx.add_vpbx(session, actor, DEMO_VPBX, "demo.voip.example")
    l101 = lines.add_line(session, actor, DEMO_VPBX, "+41215550101", "101", "Alice Martin")["line"]
    l102 = lines.add_line(session, actor, DEMO_VPBX, "+41215550102", "102", "Bruno Keller")["line"]
    l103 = lines.add_line(session, actor, DEMO_VPBX, "+41215550103", "103", "Fax accueil")["line"]

    desk = devices.add_device(
        session, actor, l101["number"], "yealink-t46u", mac="80:5E:C0:11:22:33", label="Bureau",
        expansion="yealink-exp43:1",
    )  # fmt: skip
    keys.set_key(session, actor, desk["id"], 1, "line", "1", "Alice")
    keys.set_key(session, actor, desk["id"], 2, "blf", "102", "Bruno")
    keys.set_key(session, actor, desk["id"], 3, "speed_dial", "*97", "Messagerie")
    keys.set_key(session, actor, desk["id"], 1, "blf", "103", "Fax", module=1)
    devices.add_device(session, actor, l101["number"], "linphone-ipphone", label="Mobile")
    base = devices.add_device(
        session, actor, l102["number"], "yealink-w70b", mac="805EC0445566", provisioning_mac=ProvisioningMac.ONCE
    )
    devices.add_device(session, actor, l102["number"], "yealink-w56h", base=base["id"], label="Combiné 1")
    devices.add_device(session, actor, l102["number"], "webphone")
    devices.add_device(session, actor, l103["number"], "grandstream-ht802", mac="C0-74-AD-27-3A-10", label="Fax")

    made = []
    for username, role, extra in (
        ("demo-provider", "provider", {}),
        ("demo-admin", "vpbx_admin", {"vpbx_name": DEMO_VPBX}),
        ("alice", "user", {"line_number": l101["number"]}),
    ):
        view, password = accounts.add_account(session, actor, username, role, **extra)
        made.append({"username": view["username"], "role": role, "password": password})
    return {"created": True, "accounts": made}
