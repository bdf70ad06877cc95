"""Real vendor files through the real `serve` over TLS (issue 15.7).

`python -m core serve` as it ships (core.render.Renderer, no fake), one device per family of
data/catalogue.yaml that has files, and a Gigaset DECT base with two handsets on their own lines.
Each phone walks the path its firmware walks: its bootstrap files (MAC-named or bare) with its User-Agent,
the key URL that answer names, the main file, then every further file of the family's table. The
expected file names are written out here (not computed by the renderer under test).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from sqlalchemy import Engine, select

from core import devices, lines, vpbx
from core.catalogue import DeviceModel, default_catalogue
from core.db import transaction
from core.models import Device, Line, RedirectionJob
from core.permissions import Actor
from core.settings import Settings
from tests.provisioning.conftest import LiveServer, https_client, start_live_server

pytestmark = pytest.mark.db


@dataclass(frozen=True)
class Phone:
    model: str
    mac: str | None
    ua: str
    # The files the firmware asks for before it knows its key: MAC-named, or a bare name (Snom's
    # {phone_type}.htm, Cisco's factory file) answered by the MAC the User-Agent shows.
    bootstrap: tuple[str, ...]
    files: tuple[str, ...]  # the family's file table filled for this model, main file first
    secret_files: tuple[str, ...]  # the files that carry the SIP account (the others must not)


# One per family with files (webphone has none: checked below). User-Agents as the firmwares send them.
PHONES = (
    Phone("yealink-t46u", "001565AABB01", "Yealink SIP-T46U 108.86.0.20 00:15:65:aa:bb:01",
          ("001565aabb01.boot", "001565aabb01.cfg"), ("y000000000108.cfg", "001565aabb01.cfg"),
          ("y000000000108.cfg", "001565aabb01.cfg")),
    Phone("snom-d735", "000413AABB02", "Mozilla/4.0 (compatible; snomD735-SIP 10.1.141.13 000413AABB02)",
          ("snomD735-000413AABB02.htm", "snomD735.htm"), ("snomD735.htm", "snomD735-000413AABB02.htm"),
          ("snomD735.htm", "snomD735-000413AABB02.htm")),
    # Poly: the master file names voipadmin.cfg; only that one holds the account.
    Phone("poly-vvx450", "0004F2AABB03",
          "FileTransport PolycomVVX-VVX_450-UA/6.4.3.5156 (SN:0004f2aabb03) Type/Application",
          ("0004f2aabb03.cfg",), ("0004f2aabb03.cfg", "000000000000.cfg", "voipadmin.cfg"), ("voipadmin.cfg",)),
    Phone("grandstream-grp2614", "C074ADAABB04", "Grandstream Model HW GRP2614 SW 1.0.5.33 DevId c074adaabb04",
          ("cfgc074adaabb04.xml",), ("cfgc074adaabb04.xml", "cfggrp2614.xml", "cfg.xml"),
          ("cfgc074adaabb04.xml", "cfggrp2614.xml", "cfg.xml")),
    Phone("gigaset-n670", "7C2F80AABB05", "Gigaset N670 IP PRO/83.V2.11.0+build.a546b2e;7C2F80AABB05",
          ("7C2F80AABB05.xml",), ("7C2F80AABB05.xml", "provisioning.xml"), ("7C2F80AABB05.xml", "provisioning.xml")),
    Phone("cisco-spa504g", "88755AAABB06", "Cisco/SPA504G-7.6.2b (88755AAABB06)(CCQ1234567)",
          ("88755aaabb06.xml", "spa504G.cfg"), ("88755aaabb06.xml", "spa504G.cfg"),
          ("88755aaabb06.xml", "spa504G.cfg")),
    Phone("fanvil-x4u", "0C383EAABB07", "Fanvil X4U 2.12.1 0c383eaabb07",
          ("0c383eaabb07.cfg",), ("0c383eaabb07.cfg", "fanvil.cfg"), ("0c383eaabb07.cfg", "fanvil.cfg")),
    Phone("linphone-ipphone", None, "Linphone/5.2.5 (belle-sip/5.2.0)", (), ("ipphone.xml",), ("ipphone.xml",)),
)  # fmt: skip
HANDSETS = ("gigaset-s700h-pro", "gigaset-r700h-pro")
HANDSET_LABELS = ("Reception desk", "Warehouse")


@dataclass
class Provisioned:
    phone: Phone
    device_id: int
    key: str
    sip_username: str
    sip_password: str
    handsets: list[str]  # the labels of the base's handsets, in slot order


def _add_line(s, actor: Actor, n: int) -> tuple[str, str, str]:
    out = lines.add_line(s, actor, "acme", f"+4121555{n:04d}", extension=str(200 + n))
    line = s.get(Line, out["line"]["id"])
    return line.number, line.sip_username, line.sip_password


@pytest.fixture
def fleet(engine: Engine, provider: Actor) -> list[Provisioned]:
    """Every phone made through the use cases, Provisioning MAC `once` where it has a MAC."""
    out = []
    with transaction(engine) as s:
        vpbx.add_vpbx(s, provider, "acme", "acme.voip.example")
        for n, phone in enumerate(PHONES, start=1):
            number, user, password = _add_line(s, provider, n)
            d = devices.add_device(s, provider, number, phone.model, mac=phone.mac,
                                   provisioning_mac="once" if phone.mac else "no")  # fmt: skip
            handsets = []
            if phone.model == "gigaset-n670":  # handsets belong to the base's line, each with its label
                for model, label in zip(HANDSETS, HANDSET_LABELS, strict=True):
                    devices.add_device(s, provider, number, model, base=d["id"], label=label)
                    handsets.append(label)
            key = s.get(Device, d["id"]).access_key
            out.append(Provisioned(phone, d["id"], key, user, password, handsets))
    return out


@pytest.fixture
def shipped_server(env: dict[str, str], engine: Engine, settings: Settings) -> Iterator[LiveServer]:
    server = start_live_server(env, settings.data_dir, renderer=None)
    try:
        yield server
    finally:
        server.stop()


def test_the_table_covers_every_family_with_files():
    cat = default_catalogue()
    with_files = {m.family for m in cat.models() if m.has_url and cat.families[m.family].files}
    assert {_model(p.model).family for p in PHONES} == with_files
    assert cat.families["webphone"].files == ()  # nothing to fetch for a web phone
    assert _model("gigaset-n670").kind == "dect_base"
    assert {_model(h).kind for h in HANDSETS} == {"dect_handset"}


def _model(model_id: str) -> DeviceModel:
    model = default_catalogue().get(model_id)
    assert model is not None, model_id
    return model


def _pointed_url(family: str, text: str) -> str:
    """The URL a firmware takes from its bootstrap answer, read the way that vendor reads it."""
    if family == "grandstream":  # protocol and host/path in two items
        assert re.search(r'"provisioning\.config\.protocol">HTTPS<', text), text
        return "https://" + _one(r'"provisioning\.config\.serverPath">([^<]+)<', text)
    if family == "fanvil":  # server, file and protocol (5 = HTTPS) in three elements
        assert "<FlashProtocol>5</FlashProtocol>" in text, text
        return f"https://{_one(r'<FlashServerIP>([^<]+)<', text)}/{_one(r'<FlashFileName>([^<]+)<', text)}"
    urls = set(re.findall(r"https://[^\"'<>\s]+", text))
    assert len(urls) == 1, text
    return urls.pop()


def _one(pattern: str, text: str) -> str:
    found = re.findall(pattern, text)
    assert len(found) == 1, (pattern, text)
    return str(found[0])


def _key_path(url: str, key: str, first_file: str, settings: Settings) -> str:
    """The path a firmware asks for next: the key URL, a file under the key, or for the key
    directory the family's first file in it."""
    parts = urlsplit(url)
    assert parts.netloc == urlsplit(settings.public_base).netloc, url
    if parts.path in (f"/{key}", f"/{key}/"):
        return f"/{key}/{first_file}"
    assert parts.path == f"/{key}.cfg" or parts.path.startswith(f"/{key}/"), url
    return parts.path


def test_every_family_walks_bootstrap_key_url_main_and_further_files(shipped_server, fleet, engine, settings):
    base = shipped_server.url
    for n, p in enumerate(fleet, start=10):
        # Each phone from its own address: the MAC URLs asked again below are misses, counted per source.
        with https_client(f"127.0.0.{n}", ua=p.phone.ua) as phone:
            walk, pointed = [], []
            for name in p.phone.bootstrap:
                boot = phone.get(f"{base}/{name}")
                walk.append((name, boot.status_code, boot.text))
                assert boot.status_code == 200, (p.phone.model, name, boot.status_code)
                assert p.sip_password not in boot.text and p.sip_username not in boot.text
                url = _pointed_url(_model(p.phone.model).family, boot.text)
                pointed.append(_key_path(url, p.key, p.phone.files[0], settings))
            if pointed:  # follow what the first answer names, as the firmware does
                followed = phone.get(base + pointed[0])
                assert followed.status_code == 200, (p.phone.model, pointed[0])
            main = phone.get(f"{base}/{p.key}.cfg")
            walk.append(("<key>.cfg", main.status_code, main.text))
            for name in p.phone.files:
                r = phone.get(f"{base}/{p.key}/{name}")
                walk.append((name, r.status_code, r.text))
            again = [phone.get(f"{base}/{name}").status_code for name in p.phone.bootstrap]
            stranger = phone.get(f"{base}/{p.key}/not-a-file-of-this-family.cfg")
        files = {name: (status, text) for name, status, text in walk[len(p.phone.bootstrap) :]}
        assert {name: status for name, (status, _) in files.items()} == dict.fromkeys(files, 200), p.phone.model
        assert main.headers["cache-control"] == "no-store"
        assert files["<key>.cfg"][1] == files[p.phone.files[0]][1]  # the key URL serves the main file
        for name in p.phone.files:
            text = files[name][1]
            account = name in p.phone.secret_files
            assert (p.sip_username in text, p.sip_password in text) == (account, account), (p.phone.model, name)
        if p.handsets:  # a DECT base's file subscribes each handset to a slot with the line's account
            text = files[p.phone.files[0]][1]
            assert re.findall(r'<oper name="add_hs" value="(\d+)"', text) == ["00001", "00002"]
            for slot, label in enumerate(p.handsets, start=1):
                assert f'SipAccount.{slot:05d}.AuthName" value="{p.sip_username}"' in text
                assert f'SipAccount.{slot:05d}.AuthPassword" value="{p.sip_password}"' in text
                assert f"Handset {slot}: {label} (" in text
        assert again == [404] * len(p.phone.bootstrap), p.phone.model  # `once` became `done` on the key fetch
        assert stranger.status_code == 404
    with transaction(engine) as s:
        states = {d.model_id: d.provisioning_mac for d in s.scalars(select(Device)) if d.base_station_id is None}
        jobs = sorted((j.mac, j.action) for j in s.scalars(select(RedirectionJob)))
    assert states == {p.model: "done" if p.mac else "no" for p in PHONES}
    # Phones whose family has a redirection service get their MAC withdrawn once provisioned.
    redirected = [p for p in PHONES if p.mac and _model(p.model).redirection]
    assert {mac for mac, action in jobs if action == "withdraw"} == {p.mac for p in redirected}
