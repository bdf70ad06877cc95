"""The endpoint with the real core.render.Renderer (Yealink): main file, further files, bootstrap."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.db import transaction
from core.models import AccessLog, Device, Line
from core.provisioning.app import build_app
from core.provisioning.responses import NOT_FOUND
from core.render import Renderer
from tests.provisioning.conftest import TEST_LIMITS, client_for

pytestmark = pytest.mark.db


def test_yealink_files_bootstrap_and_done(settings, engine, make_device):
    dev = make_device(model_id="yealink-t46u", mac="001565AABBCC", provisioning_mac="once")
    renderer = Renderer(settings)
    app = build_app(settings, engine, renderer, TEST_LIMITS)
    with transaction(engine) as s:
        device = s.get(Device, dev.id)
        names = renderer.file_names(device)
        line = s.scalars(select(Line).where(Line.id == device.line_id)).one()
        sip_username, sip_password = line.sip_username, line.sip_password
    with app.running(), client_for(app, ua="Yealink SIP-T46U 108.86.0.20 00:15:65:aa:bb:cc") as phone:
        boot = phone.get("/001565aabbcc.cfg")
        main = phone.get(f"/{dev.key}.cfg")
        further = [phone.get(f"/{dev.key}/{name}") for name in names]
        stranger = phone.get(f"/{dev.key}/not-a-yealink-file.cfg")
    assert boot.status_code == 200
    assert f"{settings.public_base}/{dev.key}" in boot.text and sip_password not in boot.text
    assert main.status_code == 200 and main.headers["cache-control"] == "no-store"
    assert sip_username in main.text
    assert [r.status_code for r in further] == [200] * len(names)
    assert further[0].content == main.content  # names[0] is the main file
    assert (stranger.status_code, stranger.content) == (404, NOT_FOUND)
    with transaction(engine) as s:
        assert s.get(Device, dev.id).provisioning_mac == "done"


SNOM_UA = "Mozilla/4.0 (compatible; snomD735-SIP 10.1.141.13 {mac})"


def test_a_bare_bootstrap_name_is_answered_by_the_user_agents_mac_only(settings, engine, make_device):
    """Snom asks for snomD735.htm, a name with no MAC: the User-Agent's MAC finds the device, under the
    same rules as a MAC-named request (once only, the MAC must be that device's)."""
    dev = make_device(model_id="snom-d735", mac="000413AABB02", provisioning_mac="once")
    app = build_app(settings, engine, Renderer(settings), TEST_LIMITS)
    with app.running():
        with client_for(app, ua="Mozilla/4.0 (compatible; snomD735-SIP 10.1.141.13)") as anonymous:
            no_mac = anonymous.get("/snomD735.htm")
        with client_for(app, ua=SNOM_UA.format(mac="000413AABB99")) as other:
            wrong_mac = other.get("/snomD735.htm")
        with client_for(app, ua=SNOM_UA.format(mac="000413AABB02")) as phone:
            boot = phone.get("/snomD735.htm")
            not_its_name = phone.get("/snomD785.htm")
            assert phone.get(f"/{dev.key}.cfg").status_code == 200  # once -> done
            after = phone.get("/snomD735.htm")
        app.shutdown()
    assert (no_mac.status_code, no_mac.content) == (404, NOT_FOUND)
    assert (wrong_mac.status_code, wrong_mac.content) == (404, NOT_FOUND)
    assert boot.status_code == 200 and f"{settings.public_base}/{dev.key}" in boot.text
    assert (not_its_name.status_code, after.status_code) == (404, 404)
    with transaction(engine) as s:
        reasons = [r for (r,) in s.execute(select(AccessLog.reason).order_by(AccessLog.id))]
    assert reasons == ["malformed", "unknown_mac", "bootstrap", "unknown_file", "ok", "unknown_mac"]
