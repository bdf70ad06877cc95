"""The DHCP options the catalogue gives for a model without a redirection service (core.dhcp) lead the factory
phone to its bootstrap: what they name is what the endpoint answers (issue 14 point 7)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from core.catalogue import default_catalogue
from core.db import transaction
from core.dhcp import dhcp_options
from core.models import Device
from core.provisioning.app import build_app
from core.render import Renderer
from tests.provisioning.conftest import TEST_LIMITS, client_for

CATALOGUE = default_catalogue()


@pytest.mark.db
@pytest.mark.parametrize(
    "model_id, mac, ua",
    [
        ("grandstream-grp2614", "C074ADAABB04", "Grandstream Model HW GRP2614 SW 1.0.5.33 DevId c074adaabb04"),
        ("cisco-spa504g", "88755AAABB06", "Cisco/SPA504G-7.6.2b (88755AAABB06)(CCQ1234567)"),
    ],
)
def test_what_the_options_name_is_the_bootstrap_the_endpoint_answers(settings, engine, make_device, model_id, mac,
                                                                      ua):  # fmt: skip
    """The phone given an option's value asks there for the file its family's bootstrap lists (or, for a whole
    file URL, that file) and is pointed at its own key URL."""
    dev = make_device(model_id=model_id, mac=mac, provisioning_mac="once")
    renderer = Renderer(settings)
    model = CATALOGUE.get(model_id)
    family = CATALOGUE.families[model.family]
    first = family.bootstrap[0].pattern.format(**{**family.params, **model.params, "mac": mac.lower(), "MAC": mac})
    paths = []
    for option in dhcp_options(settings, model):
        path = urlsplit(option["value"]).path
        paths.append(path + first if path.endswith("/") else path)
    app = build_app(settings, engine, renderer, TEST_LIMITS)
    with app.running(), client_for(app, ua=ua) as phone:
        answers = [phone.get(path) for path in paths]
    assert [a.status_code for a in answers] == [200] * len(paths), paths
    assert all(dev.key in a.text for a in answers)  # pointed at its own URL (Grandstream: without "https://")
    with transaction(engine) as s:
        assert s.get(Device, dev.id).provisioning_mac == "once"  # a bootstrap is no key fetch: still once
