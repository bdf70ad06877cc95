"""docs/CATALOGUE.md documents every catalogue field (Datasette-style docs check)."""

from __future__ import annotations

from core.catalogue import DeviceModel, default_catalogue
from core.settings import ROOT

DOC = (ROOT / "docs" / "CATALOGUE.md").read_text(encoding="utf-8")


def test_every_device_model_field_is_documented() -> None:
    missing = [name for name in DeviceModel.__dataclass_fields__ if f"`{name}`" not in DOC]
    assert not missing, f"document in docs/CATALOGUE.md: {missing}"


def test_every_params_key_in_use_is_documented() -> None:
    keys = {k for m in default_catalogue().models() for k in m.params}
    assert keys and all(f"`{k}`" in DOC for k in keys)


def test_as_json_lists_every_field_but_params() -> None:
    model = default_catalogue().models()[0]
    assert set(model.as_json()) == set(DeviceModel.__dataclass_fields__) - {"params"}
