"""A stand-in with the core.render.Renderer interface, for routing, throttle and cache tests.

Files: `main.cfg` (the main file), `<MAC>.cfg` and `common.cfg`, the phone book `book.txt`; bootstrap answers
`<MAC>.cfg` (any case) with the device's key URL. Content changes with the config revision, and each render
is counted so tests can see the cache at work. Also imported by the server subprocess through
VOIPADMIN_PROVISIONING_RENDERER.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.catalogue import Catalogue, default_catalogue
from core.errors import NotFound
from core.models import Device
from core.render import RenderedFile
from core.render.urls import device_url
from core.settings import Settings


class FakeRenderer:
    def __init__(self, settings: Settings, catalogue: Catalogue | None = None) -> None:
        self.settings = settings
        self.catalogue = catalogue or default_catalogue()
        self.renders = 0

    def file_names(self, device: Device) -> list[str]:
        names = ["main.cfg", "common.cfg"]
        if device.mac:
            names.append(f"{device.mac.lower()}.cfg")
        return names

    def render(self, device: Device, name: str | None = None) -> RenderedFile:
        name = name or "main.cfg"
        if name not in self.file_names(device):
            raise NotFound(f"no file {name}")
        self.renders += 1
        line = device.line
        body = f"# {name}\nrevision={device.config_revision}\nline={line.number}\nsecret={line.sip_password}\n"
        return RenderedFile(name=name, content=body.encode(), content_type="text/plain; charset=utf-8")

    def bootstrap(self, device: Device, requested_name: str) -> RenderedFile | None:
        if not device.mac or requested_name.lower() != f"{device.mac.lower()}.cfg":
            return None
        body = f"# bootstrap\nprovisioning_url={device_url(self.settings, device)}\n"
        return RenderedFile(name=requested_name, content=body.encode(), content_type="text/plain; charset=utf-8")

    def handover(self, device: Device, requested_name: str | None = None) -> RenderedFile | None:
        return self.bootstrap(device, f"{device.mac.lower()}.cfg") if device.mac else None

    def phonebook_name(self, model_id: str) -> str | None:
        return "book.txt"

    def render_phonebook(self, model_id: str, title: str, entries: Sequence[Any]) -> RenderedFile:
        body = "".join(f"{e.name}={e.number}\n" for e in entries)
        return RenderedFile(name="book.txt", content=f"# {title}\n{body}".encode(), content_type="text/plain")
