"""How a factory phone of a model without a redirection service finds its bootstrap (issue 14 point 7).

With Provisioning MAC « une fois », a phone that asks our server for its MAC-named file gets a bootstrap that
points it at its own URL. A manufacturer's redirection service sends it here; without one, the DHCP server of
the phone's network must: which options, and their forms, are the catalogue's (families' `dhcp:`). Here the
values are only filled in with this installation's public URL.
"""

from __future__ import annotations

from typing import Any

from core.catalogue import Catalogue, DeviceModel, default_catalogue
from core.settings import Settings, current_settings


def needs_dhcp(model: DeviceModel) -> bool:
    """A model with a file of its own, but no redirection service to send a factory phone to us."""
    return model.has_url and model.redirection is None


def dhcp_options(settings: Settings, model: DeviceModel, catalogue: Catalogue | None = None) -> list[dict[str, Any]]:
    """The options to set for this model: [{"option": 66, "value": "https://HOST:8448/", "note": {"fr", "en"}}]; []
    when a redirection service does the job (or the model has no file, or its family says nothing)."""
    family = (catalogue or default_catalogue()).families.get(model.family)
    if family is None or not needs_dhcp(model):
        return []
    url = f"{settings.public_base}/"
    fields = {**family.params, **model.params, "url": url, "server": url.split("://", 1)[-1]}
    return [
        {"option": o.option, "value": o.value.format(**fields),
         "note": {lang: text.format(**fields) for lang, text in o.note.items()}}
        for o in family.dhcp
    ]  # fmt: skip


def dhcp_for_model(model_id: str) -> list[dict[str, Any]]:
    """dhcp_options for a catalogue model id, with this process's settings ([] for an unknown model)."""
    model = default_catalogue().get(model_id)
    return dhcp_options(current_settings(), model) if model else []
