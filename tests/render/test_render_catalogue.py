"""Every catalogue model renders: parametrised over the whole catalogue, so a new model is tested by adding it."""

from __future__ import annotations

import pytest

from core.catalogue import DeviceModel, default_catalogue
from core.errors import NotFound
from core.render import Renderer
from core.render.families import FAMILIES
from tests.render.conftest import KEY, SIP_PASSWORD, DeviceFactory
from tests.render.helpers import assert_well_formed, kv_pairs

CATALOGUE = default_catalogue()


def _hosts(module: DeviceModel) -> list[DeviceModel]:
    return [m for m in CATALOGUE.models() if module.id in m.expansion_modules]


@pytest.mark.parametrize("model", CATALOGUE.models(), ids=lambda m: m.id)
def test_model_renders(model: DeviceModel, make_device: DeviceFactory, renderer: Renderer) -> None:
    assert model.family in FAMILIES, "every model names a family of the catalogue's families: section"
    if model.kind == "expansion_module":
        hosts = _hosts(model)
        assert hosts, f"{model.id} fits no phone"
        for host in hosts:
            device = make_device(host.id)
            assert device.expansion_model_id == host.expansion_modules[0]
            for name in renderer.file_names(device):
                assert_well_formed(host.family, renderer.render(device, name).content)
        return
    device = make_device(model.id)
    names = renderer.file_names(device)
    if not model.has_url:
        assert names == []
        with pytest.raises(NotFound):
            renderer.render(device)
        return
    assert names, f"{model.id} asks for no file"
    assert renderer.render(device).name == names[0]
    for name in names:
        rendered = renderer.render(device, name)
        assert rendered.name == name
        assert_well_formed(model.family, rendered.content)
    everything = b"".join(renderer.render(device, n).content for n in names).decode()
    assert device.access_key and device.access_key in everything, (
        "the device's own URL must be in its files (later resyncs come back)"
    )
    assert SIP_PASSWORD in everything
    assert "Undefined" not in everything


@pytest.mark.parametrize("model", CATALOGUE.models("dect_base"), ids=lambda m: m.id)
def test_base_carries_every_handset(model: DeviceModel, make_device: DeviceFactory, renderer: Renderer) -> None:
    base = make_device(model.id, handsets=3)
    assert len(base.handsets) == 3
    text = renderer.render(base).content.decode()
    for h in base.handsets:
        assert h.line.sip_username in text
        assert h.line.sip_password in text
    assert text.count(base.handsets[1].line.sip_password) >= 1


@pytest.mark.parametrize("model", CATALOGUE.models("ata"), ids=lambda m: m.id)
def test_fax_gateways_turn_t38_on(model: DeviceModel, make_device: DeviceFactory, renderer: Renderer) -> None:
    assert model.t38
    text = renderer.render(make_device(model.id)).content.decode()
    t38 = {"grandstream": "<P228>0</P228>", "cisco": "FAX_Enable_T38_1_"}[model.family]
    assert t38 in text


def test_no_mac_device_still_has_a_main_file(make_device: DeviceFactory, renderer: Renderer) -> None:
    for model_id in ("yealink-t46u", "snom-d785", "poly-vvx450", "grandstream-grp2614", "gigaset-n670",
                     "cisco-spa112", "fanvil-x6u", "linphone-ipphone"):  # fmt: skip
        device = make_device(model_id, mac=None)
        names = renderer.file_names(device)
        assert names and all("805ec0" not in n.lower() for n in names)
        assert renderer.render(device).name == names[0]
        assert renderer.bootstrap(device, "805ec0aabbcc.cfg") is None


def test_yealink_files_and_key_codes(make_device: DeviceFactory, renderer: Renderer) -> None:
    device = make_device("yealink-t46u")
    assert renderer.file_names(device) == ["y000000000108.cfg", "805ec0aabbcc.cfg"]
    pairs = dict(kv_pairs(renderer.render(device).content.decode()))
    assert pairs["account.1.sip_server.1.address"] == "prov.example.net"
    assert pairs["account.1.sip_server.1.port"] == "5060"
    assert pairs["account.1.sip_server.1.transport_type"] == "0"
    assert pairs["static.auto_provision.server.url"] == f"https://prov.example.net:8448/{KEY}/"
    assert pairs["linekey.1.type"] == "15" and pairs["linekey.2.type"] == "16" and pairs["linekey.2.value"] == "202"
    assert pairs["expansion_module.3.key.60.type"] != ""
    assert pairs["account.2.enable"] == "0"


def test_sip_settings_come_from_settings(make_device: DeviceFactory, render_settings) -> None:  # type: ignore[no-untyped-def]
    renderer = Renderer(render_settings.with_(sip_host="sip.example.org", sip_port=5061, sip_transport="tls"))
    pairs = dict(kv_pairs(renderer.render(make_device("yealink-t46u")).content.decode()))
    assert pairs["account.1.sip_server.1.address"] == "sip.example.org"
    assert pairs["account.1.sip_server.1.port"] == "5061"
    assert pairs["account.1.sip_server.1.transport_type"] == "2"


def test_unknown_file_name_is_not_found(make_device: DeviceFactory, renderer: Renderer) -> None:
    device = make_device("snom-d785")
    with pytest.raises(NotFound):
        renderer.render(device, "../etc/passwd")
    assert renderer.render(device, "SNOMD785.HTM").name == "snomD785.htm"


def test_render_follows_inputs_even_without_a_revision_bump(make_device: DeviceFactory, renderer: Renderer) -> None:
    # The renderer keeps no cache (the endpoint's directory is the one render cache): a change shows at once.
    device = make_device("yealink-t46u")
    first = renderer.render(device)
    assert renderer.render(device) == first
    device.line.display_name = "Renamed"
    assert b"Renamed" in renderer.render(device).content
