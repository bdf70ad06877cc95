"""Manual-setup instructions: French and English, with the device's own URL filled in."""

from __future__ import annotations

import pytest

from core.catalogue import DeviceModel, default_catalogue
from core.errors import ValidationError
from core.render import Renderer
from core.render.urls import device_url
from tests.render.conftest import ADMIN_PASSWORD, SIP_PASSWORD, DeviceFactory

FR_WORDS = ("Configuration manuelle", "Appareil", "Mot de passe")


# Expansion modules have no setup of their own (their host's manual covers them): not parametrized, rather
# than a case that returns before asserting anything.
SET_UP = [m for m in default_catalogue().models() if m.kind != "expansion_module"]


@pytest.mark.parametrize("model", SET_UP, ids=lambda m: m.id)
@pytest.mark.parametrize("lang", ["fr", "en"])
def test_manual_steps(model: DeviceModel, lang: str, make_device: DeviceFactory, renderer: Renderer) -> None:
    device = make_device(model.id)
    text = renderer.manual_steps(device, lang)
    url = device_url(renderer.settings, device)
    if model.has_url:
        assert url and url in text
    if lang == "fr":
        assert all(word in text for word in FR_WORDS)
    assert SIP_PASSWORD not in text and ADMIN_PASSWORD not in text


def test_handset_manual_names_its_base(make_device: DeviceFactory, renderer: Renderer) -> None:
    base = make_device("yealink-w70b")
    text = renderer.manual_steps(base.handsets[0], "en")
    assert "Yealink W70B" in text and str(device_url(renderer.settings, base)) in text


def test_unknown_language_is_refused(make_device: DeviceFactory, renderer: Renderer) -> None:
    with pytest.raises(ValidationError):
        renderer.manual_steps(make_device("snom-d785"), "de")
