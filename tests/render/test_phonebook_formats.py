"""Each family's phone book format, parsed back (xml.etree, a vCard reader) with the entries expected; names holding
& < " ' and control characters come through intact or flattened, never as markup; every phone's file names it."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from core.catalogue import default_catalogue
from core.phonebook import Entry
from core.render import Renderer

ENTRIES = [
    Entry("Alice <Reception>", "101", "", "line"),
    Entry('Bob & "Bobby" O\'Neil', "+41215550999", "Smith & Co", "contact"),
    Entry("Tab\there", "*97", "", "contact"),
]
EXPECTED = [("Alice <Reception>", "101"), ('Bob & "Bobby" O\'Neil', "+41215550999"), ("Tab here", "*97")]


def _directory(root: ET.Element) -> list[tuple[str, str]]:  # Yealink, Cisco, Fanvil: <DirectoryEntry>
    return [(e.findtext("Name") or "", e.findtext("Telephone") or "") for e in root.iter("DirectoryEntry")]


def _snom(root: ET.Element) -> list[tuple[str, str]]:  # the organisation is shown after the name
    return [(n.split(" (")[0], t) for n, t in _directory(root)]


def _grandstream(root: ET.Element) -> list[tuple[str, str]]:
    return [(c.findtext("FirstName") or "", c.findtext("Phone/phonenumber") or "") for c in root.iter("Contact")]


def _poly(root: ET.Element) -> list[tuple[str, str]]:
    return [(i.findtext("fn") or "", i.findtext("ct") or "") for i in root.iter("item")]


def _gigaset(root: ET.Element) -> list[tuple[str, str]]:
    assert (root.get("response"), root.get("type"), root.get("total")) == ("get_list", "pb", "3")
    return [(e.findtext("ln") or "", e.findtext("nb") or "") for e in root.iter("entry")]


XML_READERS = {
    "yealink": ("YealinkIPPhoneDirectory", _directory),
    "snom": ("SnomIPPhoneDirectory", _snom),
    "cisco": ("CiscoIPPhoneDirectory", _directory),
    "fanvil": ("FanvilIPPhoneDirectory", _directory),
    "grandstream": ("AddressBook", _grandstream),
    "polycom": ("directory", _poly),
    "gigaset": ("list", _gigaset),
}


def _model_of(family: str) -> str:
    return next(m.id for m in default_catalogue().models() if m.family == family and m.has_url)


@pytest.mark.parametrize("family", sorted(XML_READERS))
def test_each_xml_format_parses_back_to_the_entries(renderer: Renderer, family: str) -> None:
    rendered = renderer.render_phonebook(_model_of(family), "Acme & Partners", ENTRIES)
    assert rendered.content_type.startswith("application/xml")
    root = ET.fromstring(rendered.content)
    tag, read = XML_READERS[family]
    assert root.tag == tag
    assert read(root) == EXPECTED


def _vcards(text: str) -> list[dict[str, str]]:
    cards, card = [], {}
    for line in text.split("\r\n"):
        if line == "BEGIN:VCARD":
            card = {}
        elif line == "END:VCARD":
            cards.append(card)
        elif line:
            name, _, value = line.partition(":")
            card[name.split(";")[0]] = value
    return cards


def _unescape(value: str) -> str:
    return value.replace("\\,", ",").replace("\\;", ";").replace("\\\\", "\\")


def test_the_ip_phone_app_gets_a_vcard_list(renderer: Renderer) -> None:
    rendered = renderer.render_phonebook("linphone-ipphone", "Acme", ENTRIES)
    assert rendered.content_type.startswith("text/vcard")
    text = rendered.content.decode()
    assert "\n" not in text.replace("\r\n", "")  # CRLF only
    cards = _vcards(text)
    assert [(_unescape(c["FN"]), c["TEL"].removeprefix("tel:")) for c in cards] == EXPECTED
    assert _unescape(cards[1]["ORG"]) == "Smith & Co" and cards[1]["FN"] == 'Bob & "Bobby" O\'Neil'
    tricky = renderer.render_phonebook("linphone-ipphone", "Acme", [Entry("Doe, John; Jr", "1", "A\\B")]).content
    assert _unescape(_vcards(tricky.decode())[0]["FN"]) == "Doe, John; Jr"


def test_every_family_with_files_but_the_web_phone_has_a_phone_book() -> None:
    families = default_catalogue().families
    assert {f for f, fam in families.items() if fam.phonebook is None} == {"webphone"}


REFERENCES = {
    "yealink-t46u": "remote_phonebook.data.1.url = {url}",
    "yealink-w70b": "remote_phonebook.data.1.url = {url}",
    "snom-d785": '<dkey_directory perm="R">url {url}</dkey_directory>',
    "grandstream-grp2614": '<item name="phonebook.download.server">',
    "grandstream-gxp2170": "<P331>",
    "gigaset-n870": '<param name="XMLDir.1.ServerURL" value="{url}"/>',
    "cisco-spa504g": "<XML_Directory_Service_URL>{url}</XML_Directory_Service_URL>",
    "fanvil-x6u": "<Value>{url}</Value>",
    "linphone-ipphone": '<entry name="contacts-vcard-list" overwrite="true">{url}</entry>',
}


@pytest.mark.parametrize("model_id", sorted(REFERENCES))
def test_each_phones_file_references_its_phone_book_under_its_own_key(make_device, renderer, model_id) -> None:
    device = make_device(model_id)
    name = renderer.phonebook_name(model_id)
    url = f"{renderer.settings.public_base}/{device.access_key}/{name}"
    assert REFERENCES[model_id].format(url=url) in renderer.render(device).content.decode()


def test_an_ata_has_no_directory_service(make_device, renderer) -> None:
    assert "XML_Directory_Service" not in renderer.render(make_device("cisco-spa112")).content.decode()
    assert "<P331>" not in renderer.render(make_device("grandstream-ht802")).content.decode()


def test_the_directory_key_opens_the_phone_book(make_device, renderer) -> None:
    """Where a model has a directory key (make_device fills every slot, directory keys with no URL of their own)."""
    yealink = make_device("yealink-t46u")
    text = renderer.render(yealink).content.decode()
    slot = next(k.index for k in yealink.keys if k.function == "directory" and k.module == 0)
    assert f"linekey.{slot}.type = 47" in text and f"linekey.{slot}.xml_phonebook = 0" in text
    snom = make_device("snom-d785")
    root = ET.fromstring(renderer.render(snom).content)
    slot = next(k.index for k in snom.keys if k.function == "directory" and k.module == 0)
    fkey = root.find(f"functionKeys/fkey[@idx='{slot - 1}']")
    assert fkey is not None and fkey.text == f"url {renderer.settings.public_base}/{snom.access_key}/phonebook.xml"
