"""The shared ASGI types of the provisioning endpoint, and the renderer it is given.

The renderer is injected (`build_app(settings, engine, renderer)`), so anything with the
`core.render.Renderer` interface works: the real one, or a small fake in tests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol

from core.catalogue import Catalogue
from core.models import Device
from core.render import RenderedFile

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The per-request record the middlewares and the endpoint share, stored in scope["voipadmin"].
INFO = "voipadmin"


class RendererLike(Protocol):
    catalogue: Catalogue

    def file_names(self, device: Device) -> list[str]: ...

    def render(self, device: Device, name: str | None = None) -> RenderedFile: ...

    def bootstrap(self, device: Device, requested_name: str) -> RenderedFile | None: ...


@dataclass
class RequestInfo:
    """What the endpoint learnt about a request, for the access log and the throttle."""

    source_ip: str
    user_agent: str
    masked_path: str
    device_id: int | None = None
    reason: str = ""
    miss: bool = False  # an unknown key/file/MAC or a malformed request: counted per source
    throttled: bool = False  # set by the throttle before the endpoint runs


def request_info(scope: Scope) -> RequestInfo:
    info = scope.get(INFO)
    if info is None:
        from core.provisioning.paths import mask_path

        client = scope.get("client") or ("", 0)
        ua = ""
        for name, value in scope.get("headers", ()):
            if name == b"user-agent":
                ua = value.decode("latin-1")[:255]
                break
        info = RequestInfo(source_ip=client[0] or "", user_agent=ua, masked_path=mask_path(scope.get("path", "")))
        scope[INFO] = info
    return info
