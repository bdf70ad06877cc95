"""The web phone's manual text claims nothing the product does not do (issue 14 point 7): no WebRTC phone in
the browser exists yet, in French and in English, in the manual steps and in the « Configuration manuelle »
dialog where a user reads them."""

from __future__ import annotations

import pytest

from core import devices
from core.db import transaction
from core.permissions import system_actor

SAYS = {
    "fr": ("Le téléphone web n'existe pas encore", "aucun téléphone dans le navigateur", "l'app IP-Phone"),
    "en": ("The web phone does not exist yet", "opens no phone in the browser", "the IP-Phone app"),
}
# What the old text promised: a phone opening from the AdminCenter, logged in with the dashboard's password.
CLAIMS = ("s'ouvre depuis l'AdminCenter", "opens from the AdminCenter", "connexion à l'AdminCenter",
          "AdminCenter login")  # fmt: skip


@pytest.mark.parametrize("lang", ("fr", "en"))
def test_the_web_phones_manual_says_it_does_not_exist_yet(app, world, engine, lang):
    with transaction(engine) as s:
        web = devices.add_device(s, system_actor("t"), world.seed.line_a1, "webphone", label="Web Alice")["id"]
        steps = devices.manual_steps(s, system_actor("t"), web, lang)
    assert all(part in steps for part in SAYS[lang]) and not any(claim in steps for claim in CLAIMS)
    at = app(world.alice_id, "pages/phones.py", lang=lang)
    at.button(key=f"setup_{web}").click().run()
    shown = "\n".join(m.value for m in at.markdown)
    assert all(part in shown for part in SAYS[lang]) and not any(claim in shown for claim in CLAIMS)
    assert not at.code  # no URL to copy
