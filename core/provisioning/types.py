"""The shared types of the provisioning endpoint, and the renderer it is given.

The renderer is injected (`build_app(settings, engine, renderer)`), so anything with the
`core.render.Renderer` interface works: the real one, or a small fake in tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

from core.catalogue import Catalogue
from core.models import Device
from core.render import RenderedFile


class RendererLike(Protocol):
    catalogue: Catalogue

    def file_names(self, device: Device) -> list[str]: ...

    def render(self, device: Device, name: str | None = None) -> RenderedFile: ...

    def bootstrap(self, device: Device, requested_name: str) -> RenderedFile | None: ...

    def handover(self, device: Device, requested_name: str | None = None) -> RenderedFile | None: ...

    def phonebook_name(self, model_id: str) -> str | None: ...

    def render_phonebook(self, model_id: str, title: str, entries: Sequence[Any]) -> RenderedFile: ...


@dataclass(slots=True)
class RequestInfo:
    """One request as the WSGI adapter saw it, and what the endpoint learnt about it."""

    method: str
    path: bytes  # percent-decoded, as WSGI's PATH_INFO carries it (see docs/PROVISIONING.md)
    source_ip: str
    user_agent: str
    masked_path: str = ""  # set once the path is parsed; what the access log stores
    device_id: int | None = None
    reason: str = ""
    miss: bool = False  # an unknown key/file/MAC or a malformed request: counted per source
    throttled: bool = False  # set by the dispatcher before the endpoint runs
    body: BinaryIO | None = None  # WSGI's wsgi.input: read (and dropped) only for an accepted upload
    scheme: str = "https"  # "http" on the plain-HTTP port (old phones): recorded with every row

    @property
    def head(self) -> bool:
        return self.method == "HEAD"
