"""What every manufacturer client offers, and the shared HTTP error mapping."""

from __future__ import annotations

import base64
from typing import Protocol

import httpx

from core.redirection.errors import AuthFailed, DeviceClaimed, RedirectionError, ServiceUnavailable

TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class RedirectionClient(Protocol):
    service: str

    async def register(self, mac: str, url: str) -> None:
        """Send the factory phone with this MAC (12 upper-case hex) to `url`."""

    async def withdraw(self, mac: str) -> None:
        """Forget the MAC; a missing MAC is not an error (the goal is reached)."""


def check(response: httpx.Response, what: str, missing_ok: bool = False) -> httpx.Response:
    """Map an HTTP answer to our error tree; the message never holds a credential."""
    code = response.status_code
    if code < 300 or (missing_ok and code == 404):
        return response
    if code in (401, 403):
        raise AuthFailed(f"{what}: the service refused our credentials (HTTP {code})")
    if code == 409:
        raise DeviceClaimed(f"{what}: the device is claimed by another account (HTTP 409)")
    if code == 429 or code >= 500:
        raise ServiceUnavailable(f"{what}: service unavailable (HTTP {code})")
    raise RedirectionError(f"{what}: HTTP {code}")


def basic_auth(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def send(client: httpx.AsyncClient, request: httpx.Request, what: str) -> httpx.Response:
    try:
        return await client.send(request)
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(f"{what}: {type(exc).__name__}") from None
