"""An end user in the dashboard (issue 14 points 1 and 2): « Nouveau clé » from their phone's own view, asked
first in plain words, the new URL shown after it; whom to ask for SIP credentials and the PSTN block; and no
password of a device or a line on any screen, dialog or download they reach (searched for the actual values)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from core.db import transaction
from core.models import Device, FunctionKey, RetiredKey
from core.settings import current_settings
from dashboard import device_view
from dashboard.qr import qr_png
from tests.dashboard.test_one_language import _nodes, assert_one_language


def device_state(engine, device_id: int) -> tuple[str | None, list[tuple[int, int, str, str, str]]]:
    with transaction(engine) as s:
        keys = s.scalars(select(FunctionKey).where(FunctionKey.device_id == device_id))
        d = s.get(Device, device_id)
        assert d is not None
        return d.access_key, sorted((k.module, k.index, k.function, k.value, k.label) for k in keys)


def passwords(engine) -> list[str]:
    """Every device password and every line's SIP password in the database."""
    with transaction(engine) as s:
        found = [p for d in s.scalars(select(Device)) for p in (d.admin_password, d.user_password, d.line.sip_password)]
    assert any(len(p) == 40 and p.isdigit() for p in found)  # generated device passwords are among them
    return sorted(set(found))


@pytest.fixture
def media(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, str]]:
    """Every file the runs hand to the browser (images, CSV downloads), watched on the real storage."""
    saved: list[tuple[bytes, str]] = []
    original = MemoryMediaFileStorage.load_and_get_id

    def keep(self: Any, path_or_data: Any, mimetype: str, kind: Any, filename: str | None = None) -> str:
        if isinstance(path_or_data, bytes):
            saved.append((path_or_data, mimetype))
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    return saved


def everything(at: AppTest) -> str:
    """The whole element tree as protobuf text: every label, value, code block, option and caption drawn."""
    return "\n".join(str(node.proto) for node in _nodes(at._tree) if getattr(node, "proto", None) is not None)


def test_end_user_new_key_from_the_device_view_asks_plainly_then_shows_the_new_url(app, world, engine, media):
    old_key, old_keys = device_state(engine, world.desk_a1)
    at = app(world.alice_id, "pages/device.py", device=str(world.desk_a1))
    at.button(key="dv_new_key").click().run()
    question = at.warning[0].value
    assert question == (
        "New key for Yealink T46U — Bureau Alice: the current URL stops working at once. The phone cannot fetch its"
        " configuration until the new URL is entered on it. Function keys and settings are kept."
    )
    assert device_state(engine, world.desk_a1) == (old_key, old_keys)  # asked, nothing done yet
    at.button(key="dv_confirm_yes").click().run()
    assert not at.exception
    new_key, new_keys = device_state(engine, world.desk_a1)
    assert new_key not in (None, old_key) and new_keys == old_keys  # the function keys are kept
    with transaction(engine) as s:
        assert s.scalar(select(RetiredKey.device_id)) == world.desk_a1  # the old URL: the endpoint's 404 from now
    assert [e.value for e in at.success] == ["New key made: the old URL no longer answers."]
    new_url = f"{current_settings().public_url}/{new_key}.cfg"
    assert [c.value for c in at.code] == [new_url]  # the new URL, with its copy button
    assert "The phone's new configuration URL:" in [c.value for c in at.caption]
    assert str(old_key) not in everything(at)
    at.run()  # shown once: the next run is the plain view again
    assert not at.code and "New key made: the old URL no longer answers." not in [e.value for e in at.success]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_question_and_the_outcome_speak_one_language(app, world, lang):
    at = app(world.alice_id, "pages/device.py", lang=lang, device=str(world.soft_a1))
    at.button(key="dv_new_key").click().run()
    assert_one_language(at, lang, "the new key's question")
    at.button(key="dv_confirm_yes").click().run()
    assert_one_language(at, lang, "the new key's outcome")


def test_a_softphones_new_url_comes_with_its_qr_code(app, world, engine, media, monkeypatch):
    encoded: list[str] = []

    def qr(text: str) -> bytes:  # the real QR code, its text recorded (the browser gets it re-encoded as JPEG)
        encoded.append(text)
        return qr_png(text)

    monkeypatch.setattr(device_view, "qr_png", qr)
    at = app(world.alice_id, "pages/device.py", device=str(world.soft_a1))
    at.button(key="dv_new_key").click().run()
    at.button(key="dv_confirm_yes").click().run()
    new_key, _ = device_state(engine, world.soft_a1)
    new_url = f"{current_settings().public_url}/{new_key}.cfg"
    assert [c.value for c in at.code] == [new_url]
    assert encoded == [new_url] and [m for _, m in media if m.startswith("image/")]  # the QR code of the new URL


def test_whom_to_ask_for_sip_credentials_and_the_pstn_block(app, world):
    ask = "SIP credentials (a new SIP password) and blocking calls to the public network: ask your vPBX administrator."
    at = app(world.alice_id, "pages/device.py", device=str(world.desk_a1))
    assert ask in [c.value for c in at.caption]
    fr = app(world.alice_id, "pages/device.py", lang="fr", device=str(world.desk_a1))
    assert (
        "Identifiants SIP (nouveau mot de passe SIP) et blocage des appels vers le réseau public : demandez à"
        " l'administrateur de votre vPBX."
    ) in [c.value for c in fr.caption]
    admin = app(world.admin_a_id, "pages/device.py", device=str(world.desk_a1))
    assert ask not in [c.value for c in admin.caption]  # theirs to do


def test_an_end_user_sees_no_password_anywhere_they_go(app, world, engine, media):
    secrets = passwords(engine)
    seen: list[str] = []
    for device_id in (world.desk_a1, world.soft_a1):
        at = app(world.alice_id, "pages/device.py", device=str(device_id))  # Appareil: Paramètres, timeline, CSV
        seen.append(everything(at))
        at.button(key="dv_setup").click().run()  # Configuration manuelle: URL, steps, QR
        seen.append(everything(at))
        at.button(key="dv_new_key").click().run()  # the question, then the outcome with the new URL
        seen.append(everything(at))
        at.button(key="dv_confirm_yes").click().run()
        seen.append(everything(at))
    phones = app(world.alice_id, "pages/phones.py")  # Téléphones: the table and each device's change form
    seen.append(everything(phones))
    for device_id in (world.desk_a1, world.soft_a1):
        phones.button(key=f"setup_{device_id}").click().run()
        seen.append(everything(phones))
    seen.append(everything(app(world.alice_id, "pages/keys.py", device=str(world.desk_a1))))
    seen.append(everything(app(world.alice_id, "pages/status.py")))
    text = "\n".join(seen)
    assert "Bureau Alice" in text and "Configuration URL" in text  # the search read those screens...
    assert str(device_state(engine, world.desk_a1)[0]) in text  # ...code blocks included (the URL is one)
    assert [m for _, m in media if m.startswith("image/")] and [m for _, m in media if m == "text/csv"]  # files too
    assert [s for s in secrets if s in text] == []
    assert [s for s in secrets for data, _ in media if s.encode() in data] == []
