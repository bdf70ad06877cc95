"""The endpoint with the real core.render.Renderer (Yealink): main file, further files, bootstrap."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.db import transaction
from core.models import Device, Line
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
