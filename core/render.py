"""Vendor configuration files: which files a device asks for, and what is in each.

INTERFACE (stable; the provisioning endpoint, CLI and dashboard call only this):

    renderer = Renderer(settings, catalogue)
    renderer.file_names(device) -> list[str]          # names asked under /<key>/<name>; [0] is the main file
    renderer.render(device, name=None) -> RenderedFile   # name None = the main file served at /<key>.cfg
                                                      # raises core.errors.NotFound for a name not in file_names
    renderer.bootstrap(device, requested_name) -> RenderedFile | None
                                                      # MAC-named request while Provisioning MAC is `once`:
                                                      # points the phone at its key URL, holds no SIP secret;
                                                      # None if `requested_name` is not a name this family asks for
    renderer.manual_steps(device, lang) -> str        # Markdown, fr/en, with the device's own URL filled in

`device` is an ORM Device with `line`, `line.vpbx`, `keys` and (bases) `handsets` loadable.
Rendering is pure (device + line + settings in, bytes out) and cached by config revision.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.catalogue import Catalogue, default_catalogue
from core.models import Device
from core.settings import Settings


@dataclass(frozen=True)
class RenderedFile:
    name: str
    content: bytes
    content_type: str


class Renderer:
    def __init__(self, settings: Settings, catalogue: Catalogue | None = None) -> None:
        self.settings = settings
        self.catalogue = catalogue or default_catalogue()

    def file_names(self, device: Device) -> list[str]:
        raise NotImplementedError("vendor templates: issue 3")

    def render(self, device: Device, name: str | None = None) -> RenderedFile:
        raise NotImplementedError("vendor templates: issue 3")

    def bootstrap(self, device: Device, requested_name: str) -> RenderedFile | None:
        raise NotImplementedError("vendor templates: issue 3")

    def manual_steps(self, device: Device, lang: str = "fr") -> str:
        raise NotImplementedError("vendor templates: issue 3")
