"""End to end without sockets: the SIP account a device's rendered file carries registers at our registrar."""

from __future__ import annotations

from core import devices, lines
from core.db import transaction
from core.models import Device
from core.render import Renderer
from core.sip import store
from core.sip.digest import NonceFactory
from core.sip.policy import Policy, PolicyConfig
from core.sip.registrar import Registrar
from tests.sip.fakeua import FakeUA

SECRET = b"s" * 32


def _kv(text: str) -> dict[str, str]:
    return dict(line.split(" = ", 1) for line in text.splitlines() if " = " in line)


def test_rendered_yealink_account_registers(engine, settings, provider, seed):
    with transaction(engine) as s:
        d = devices.add_device(s, provider, seed.line_a1, "yealink-t46u", mac="805EC0010101")
        cfg = _kv(Renderer(settings).render(s.get(Device, d["id"])).content.decode())
        aor_domain = lines.get_line(s, provider, seed.line_a1)["domain"]
    table = store.load_credentials(engine, SECRET, aliases=[settings.sip_host])
    registrar = Registrar(table, NonceFactory(SECRET), Policy(PolicyConfig(rate=0)))
    ua = FakeUA(registrar, cfg["account.1.user_name"], cfg["account.1.sip_server.1.address"], cfg["account.1.password"])
    assert ua.register(1_800_000_000.0).status == 200
    ((aor, _contact),) = registrar.drain_changes()
    assert aor == f"{cfg['account.1.user_name']}@{aor_domain}"
