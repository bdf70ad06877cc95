"""The device URLs, built in one place: `<public>/<key>.cfg` and the directory form `<public>/<key>/`."""

from __future__ import annotations

from core.models import Device
from core.settings import Settings


def device_url(settings: Settings, device: Device) -> str | None:
    """The URL shown to users and in QR codes; None for handsets and web phones (no key)."""
    return f"{settings.public_base}/{device.access_key}.cfg" if device.access_key else None


def device_base_url(settings: Settings, device: Device) -> str | None:
    """For firmwares that append their own file names to a directory URL."""
    return f"{settings.public_base}/{device.access_key}/" if device.access_key else None
