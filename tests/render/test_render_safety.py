"""Injection and secret-handling tests, for every family's format."""

from __future__ import annotations

import logging

import pytest

from core.catalogue import default_catalogue
from core.render import Renderer
from core.render.families import FAMILIES
from tests.conftest import PG_URL
from tests.render.conftest import ADMIN_PASSWORD, SIP_PASSWORD, USER_PASSWORD, DeviceFactory
from tests.render.helpers import assert_well_formed, kv_pairs, structure

# One model per format (and the DECT variants, whose accounts come from handsets).
FORMAT_MODELS = ["yealink-t46u", "yealink-w70b", "snom-d785", "snom-m700", "poly-vvx450", "grandstream-grp2614",
                 "grandstream-gxp2170", "grandstream-ht802", "gigaset-n870", "cisco-spa504g", "cisco-ata191",
                 "fanvil-x6u", "linphone-ipphone"]  # fmt: skip
# Short enough for every column it is stored in (key labels: 64, with a "M3-" prefix and an index).
HOSTILE = "E\r\naccount.1.password = x\n<injected/>&\"'%NULL%\x00\x1b;f=s</x>"


@pytest.mark.parametrize("model_id", FORMAT_MODELS)
def test_hostile_text_adds_no_parameter(model_id: str, make_device: DeviceFactory, renderer: Renderer) -> None:
    family = default_catalogue().get(model_id).family  # type: ignore[union-attr]
    # PostgreSQL refuses NUL in text columns, so that one character cannot even be stored there.
    text_in = HOSTILE.replace("\x00", "") if PG_URL else HOSTILE
    benign = make_device(model_id, mac="805EC0AABBC1")
    hostile = make_device(model_id, mac="805EC0AABBC2", display_name=text_in, label=text_in, username=text_in,
                          key_label=text_in)  # fmt: skip
    for h in hostile.handsets:
        h.label = text_in
    names_b, names_h = renderer.file_names(benign), renderer.file_names(hostile)
    for name_b, name_h in zip(names_b, names_h, strict=True):
        content = renderer.render(hostile, name_h).content
        assert_well_formed(family, content)
        assert structure(family, content) == structure(family, renderer.render(benign, name_b).content)
        text = content.decode()
        assert "\x00" not in text and "\x1b" not in text
        if FAMILIES[family].xml:
            assert "<injected" not in text  # escaped: text, not an element
        else:
            assert all("%NULL%" not in v or v == "%NULL%" for _, v in kv_pairs(text))


@pytest.mark.parametrize("family", sorted(f for f in FAMILIES if FAMILIES[f].bootstrap))
def test_bootstrap_holds_no_secret(family: str, make_device: DeviceFactory, renderer: Renderer) -> None:
    models = [m for m in default_catalogue().models() if m.family == family and m.has_url]
    assert models
    for i, model in enumerate(models):
        device = make_device(model.id, mac=f"805EC0AA{i:04X}")
        asked = 0
        for spec in FAMILIES[family].bootstrap:
            fields = {**dict(model.params), "mac": device.mac.lower(), "MAC": device.mac}  # type: ignore[union-attr]
            name = spec.pattern.format(**fields)
            rendered = renderer.bootstrap(device, name)
            assert rendered is not None, f"{model.id}: no bootstrap for {name}"
            asked += 1
            text = rendered.content.decode()
            assert device.access_key and device.access_key in text, "a bootstrap points the device at its key URL"
            for secret in (SIP_PASSWORD, ADMIN_PASSWORD, USER_PASSWORD):
                assert secret not in text
            assert_well_formed(family, rendered.content)
        assert asked
        assert renderer.bootstrap(device, "cfg000000000000.xml") is None
        assert renderer.bootstrap(device, "somethingelse.txt") is None


def test_bootstrap_needs_a_key_and_a_mac(make_device: DeviceFactory, renderer: Renderer) -> None:
    assert renderer.bootstrap(make_device("yealink-t46u", mac=None), "805ec0aabbcc.cfg") is None
    assert renderer.bootstrap(make_device("linphone-ipphone"), "ipphone.xml") is None


def test_rendering_logs_no_secret(
    make_device: DeviceFactory, renderer: Renderer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for model_id in FORMAT_MODELS:
        renderer.render(make_device(model_id, mac=None))
    assert SIP_PASSWORD not in caplog.text and ADMIN_PASSWORD not in caplog.text
