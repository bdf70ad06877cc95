"""Poly Zero Touch Provisioning: devices point at a profile, which holds the server URL.

Our URL for redirected phones is the generic MAC-bootstrap base (no secret), so one profile per
installation is enough; its id comes from the redirection config.
"""

from __future__ import annotations

import httpx

from core.redirection.base import check, send

BASE = "https://api.ztp.poly.com/preview"


class PolyZtp:
    service = "polycom_ztp"

    def __init__(self, client: httpx.AsyncClient, api_key: str, profile: str, base: str = BASE) -> None:
        self._client, self._headers, self._profile, self._base = client, {"API-KEY": api_key}, profile, base

    async def register(self, mac: str, url: str) -> None:
        # The URL lives on the profile (configured once at Poly); the device just joins it.
        req = self._client.build_request("POST", f"{self._base}/devices", headers=self._headers,
                                         json={"id": mac.lower(), "profile": self._profile})  # fmt: skip
        check(await send(self._client, req, "ZTP add"), "ZTP add")

    async def withdraw(self, mac: str) -> None:
        req = self._client.build_request("DELETE", f"{self._base}/devices/{mac.lower()}", headers=self._headers)
        check(await send(self._client, req, "ZTP delete"), "ZTP delete", missing_ok=True)
