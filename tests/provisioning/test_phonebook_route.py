"""The vPBX phone book through the endpoint: `/<key>/<its name>` with the real renderer, real requests in-process.

Its own vPBX's lines and contacts, never another's; a change seen at the next fetch; an unknown or retired key
gets the same 404 as for a configuration file."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from sqlalchemy import select, update

from core import devices, phonebook
from core.db import transaction
from core.models import AccessLog, Line, PhonebookContact, Vpbx
from core.permissions import system_actor
from core.provisioning.app import build_app
from core.provisioning.responses import NOT_FOUND
from core.render import Renderer
from tests.provisioning.conftest import TEST_LIMITS, client_for

pytestmark = pytest.mark.db


def _names(content: bytes) -> list[tuple[str, str]]:
    root = ET.fromstring(content)
    return [(e.findtext("Name") or "", e.findtext("Telephone") or "") for e in root.iter("DirectoryEntry")]


@pytest.fixture
def two_tenants(engine, make_device):
    dev = make_device(model_id="yealink-t46u")
    with transaction(engine) as s:
        acme = s.scalars(select(Vpbx).where(Vpbx.name == "acme")).one()
        s.execute(select(Line).where(Line.vpbx_id == acme.id)).scalars().one().display_name = "Alice & <Co>"
        s.add(PhonebookContact(vpbx_id=acme.id, name='Plumber "Joe" O\'Neil', number="+41215550999"))
        globex = Vpbx(name="globex", sip_domain="globex.voip.example")
        s.add(globex)
        s.flush()
        s.add(Line(vpbx_id=globex.id, number="+41225550201", extension="201", display_name="Carol",
                   sip_username="globex1", sip_password="x" * 24))  # fmt: skip
        s.add(PhonebookContact(vpbx_id=globex.id, name="Globex secret supplier", number="+41225550999"))
    return dev


def test_a_phone_gets_its_vpbx_phone_book_and_nothing_of_another(settings, engine, two_tenants):
    dev = two_tenants
    app = build_app(settings, engine, Renderer(settings), TEST_LIMITS)
    with app.running(), client_for(app) as phone:
        config = phone.get(f"/{dev.key}.cfg")
        book = phone.get(f"/{dev.key}/phonebook.xml")
        with transaction(engine) as s:
            phonebook.add_contact(s, system_actor("test"), "Dentist", "+41215550888", vpbx_name="acme")
        again = phone.get(f"/{dev.key}/PhoneBook.xml")  # names are matched whatever their case
        with transaction(engine) as s:  # the same length, the same count: still seen (the rows are the cache key)
            s.execute(update(PhonebookContact).where(PhonebookContact.name == "Dentist").values(name="Dantist"))
        renamed = phone.get(f"/{dev.key}/phonebook.xml")
    assert f"remote_phonebook.data.1.url = https://prov.example.net:8448/{dev.key}/phonebook.xml" in config.text
    assert book.status_code == 200 and book.headers["content-type"].startswith("application/xml")
    assert book.headers["cache-control"] == "no-store"
    assert _names(book.content) == [("Alice & <Co>", str(100 + 1)), ('Plumber "Joe" O\'Neil', "+41215550999")]
    assert b"Globex" not in book.content and b"Carol" not in book.content
    assert ("Dentist", "+41215550888") in _names(again.content)  # not a cached copy
    assert ("Dantist", "+41215550888") in _names(renamed.content)
    with transaction(engine) as s:
        rows = s.execute(select(AccessLog.path, AccessLog.reason).where(AccessLog.device_id == dev.id)).all()
    assert sorted(reason for path, reason in rows if path.lower().endswith("/phonebook.xml")) == ["ok"] * 3


def test_an_unknown_or_retired_key_gets_the_config_files_404(settings, engine, two_tenants):
    dev = two_tenants
    app = build_app(settings, engine, Renderer(settings), TEST_LIMITS)
    with transaction(engine) as s:
        new_url = devices.new_key(s, system_actor("test"), dev.id)["url"]
    new_key = new_url.rsplit("/", 1)[1].removesuffix(".cfg")
    with app.running(), client_for(app) as phone:
        unknown_cfg = phone.get(f"/{'ab' * 24}.cfg")
        unknown_book = phone.get(f"/{'ab' * 24}/phonebook.xml")
        retired_book = phone.get(f"/{dev.key}/phonebook.xml")
        current = phone.get(f"/{new_key}/phonebook.xml")
    assert (unknown_book.status_code, unknown_book.content) == (unknown_cfg.status_code, unknown_cfg.content)
    assert (unknown_book.status_code, unknown_book.content) == (404, NOT_FOUND)
    assert (retired_book.status_code, retired_book.content) == (404, NOT_FOUND)
    assert current.status_code == 200 and _names(current.content)
