"""Render fixtures: devices built directly with the ORM (no service layer), deterministic inputs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from core.catalogue import DeviceModel, default_catalogue
from core.models import Device, FunctionKey, Line, Vpbx
from core.render import Renderer
from core.settings import Settings

GOLDEN_DIR = Path(__file__).resolve().parent.parent / "golden"
KEY = "0123456789abcdef" * 3
SIP_PASSWORD = "SipSecretPassw0rdXyz"
ADMIN_PASSWORD = "1357924"
USER_PASSWORD = "2468013"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="rewrite tests/golden/ from the current output")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.fixture
def render_settings(settings: Settings) -> Settings:
    return settings.with_(timezone="Europe/Zurich", ntp_server="ntp.example.net")


@pytest.fixture
def renderer(render_settings: Settings) -> Renderer:
    return Renderer(render_settings)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


def value_for(function: str, n: int) -> str:
    """A valid value for each key function (core.key_functions rules)."""
    return {
        "line": "1",
        "directory": "",
        "url": f"https://dir.example.net/k{n}",
        "dtmf": f"{n}#",
        "voicemail": "",
        "park": "" if n % 2 else f"7{n:02d}",
        "pickup": "" if n % 2 else f"2{n:02d}",
    }.get(function, f"2{n:02d}")


DeviceFactory = Callable[..., Device]


@pytest.fixture
def make_device(session: Session) -> DeviceFactory:
    """A device with every key slot filled (cycling its functions), every module and, for a base, handsets."""
    catalogue = default_catalogue()
    vpbx = Vpbx(name="acme", sip_domain="acme.voip.example")
    counter = iter(range(1, 10_000))
    devices = iter(range(10_000))
    used_macs: set[str] = set()

    def line(display_name: str = "Alice Martin") -> Line:
        n = next(counter)
        return Line(
            vpbx=vpbx,
            number=f"+4121555{n:04d}",
            extension=f"{100 + n}",
            display_name=display_name,
            sip_username=f"4121555{n:04d}",
            sip_password=SIP_PASSWORD if n == 1 else f"{SIP_PASSWORD}{n}",
        )

    def fill(device: Device, model: DeviceModel, module: int, label: str) -> None:
        for i in range(1, model.keys + 1):
            f = model.key_functions[(i - 1) % len(model.key_functions)]
            device.keys.append(
                FunctionKey(module=module, index=i, function=f, value=value_for(f, i), label=f"{label}{i}")
            )

    def factory(
        model_id: str,
        mac: str | None = "805EC0AABBCC",
        display_name: str = "Alice Martin",
        label: str = "Reception",
        username: str = "alice",
        key_label: str = "K",
        handsets: int = 2,
    ) -> Device:
        model = catalogue.get(model_id)
        assert model is not None
        n = next(devices)
        if mac is not None:
            while mac in used_macs:  # MACs and keys are unique: later devices of a test get fresh ones
                mac = f"{int(mac, 16) + 1:012X}"
            used_macs.add(mac)
        device = Device(
            line=line(display_name),
            model_id=model.id,
            access_key=(KEY if n == 0 else f"{n:04x}{KEY[4:]}") if model.has_url else None,
            admin_password=ADMIN_PASSWORD,
            username=username,
            user_password=USER_PASSWORD,
            mac=mac if model.has_url else None,
            label=label,
        )
        fill(device, model, 0, key_label)
        if model.expansion_modules:
            module = catalogue.get(model.expansion_modules[0])
            assert module is not None
            device.expansion_model_id, device.expansion_count = module.id, module.max_modules
            for m in range(1, module.max_modules + 1):
                fill(device, module, m, f"M{m}-{key_label}")
        session.add(device)
        if model.kind == "dect_base":
            hs_models = [h for h in catalogue.models("dect_handset") if model.id in h.compatible_bases]
            for i in range(handsets):
                # The first handset shares the base's line; the others are other lines of the vPBX.
                h_line = device.line if i == 0 else line(f"Handset user {i}")
                session.add(
                    Device(line=h_line, model_id=hs_models[i % len(hs_models)].id, access_key=None,
                           admin_password="0000", user_password="0000", base_station=device, label=f"HS {i + 1}")
                )  # fmt: skip
        session.flush()
        session.refresh(device)
        return device

    return factory
