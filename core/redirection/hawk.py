"""Snom SRAPS and Gigaset GRAPE: one REST engine with Hawk (HMAC-SHA256) authentication."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from core.redirection.base import check, send
from core.redirection.errors import RedirectionError


def hawk_header(key_id: str, key: str, method: str, url: str, content_type: str = "", body: bytes = b"",
                ts: int | None = None, nonce: str | None = None) -> str:  # fmt: skip
    """The `Authorization: Hawk ...` value (Hawk 1.0 header scheme with payload hash)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    resource = parts.path + (f"?{parts.query}" if parts.query else "")
    ts = int(time.time()) if ts is None else ts
    nonce = nonce or secrets.token_urlsafe(8)
    payload = f"hawk.1.payload\n{content_type.split(';')[0].strip().lower()}\n".encode() + body + b"\n"
    phash = base64.b64encode(hashlib.sha256(payload).digest()).decode()
    normalized = f"hawk.1.header\n{ts}\n{nonce}\n{method.upper()}\n{resource}\n{parts.hostname}\n{port}\n{phash}\n\n"
    mac = base64.b64encode(hmac.new(key.encode(), normalized.encode(), hashlib.sha256).digest()).decode()
    return f'Hawk id="{key_id}", ts="{ts}", nonce="{nonce}", hash="{phash}", mac="{mac}"'


class HawkRedirection:
    """register = PUT <endpoints><mac> with the provisioning-URL setting; withdraw = DELETE."""

    service = ""
    base = ""
    setting = ""

    def __init__(self, client: httpx.AsyncClient, key_id: str, secret: str, base: str | None = None) -> None:
        self._client, self._key_id, self._secret = client, key_id, secret
        self._base = base or self.base
        self._endpoints: str | None = None
        self._setting_uuid: str | None = None

    async def _request(self, method: str, url: str, body: Any = None, missing_ok: bool = False) -> httpx.Response:
        content = json.dumps(body).encode() if body is not None else b""
        ctype = "application/json" if body is not None else ""
        headers = {"Authorization": hawk_header(self._key_id, self._secret, method, url, ctype, content)}
        if ctype:
            headers["Content-Type"] = ctype
        req = self._client.build_request(method, url, content=content or None, headers=headers)
        return check(await send(self._client, req, f"{self.service} {method}"), f"{self.service} {method}",
                     missing_ok)  # fmt: skip

    async def _discover(self) -> tuple[str, str]:
        if self._endpoints is None or self._setting_uuid is None:
            settings = (await self._request("GET", urljoin(self._base, "settings/?page_size=1000"))).json()
            rows = settings.get("results", settings) if isinstance(settings, dict) else settings
            uuid = next((s.get("uuid") for s in rows if s.get("param_name") == self.setting), None)
            if not uuid:
                raise RedirectionError(f"{self.service}: the service has no {self.setting} setting")
            token = (await self._request("GET", urljoin(self._base, f"tokens/{self._key_id}"))).json()
            company = (await self._request("GET", token["links"]["company"])).json()
            self._endpoints, self._setting_uuid = company["links"]["endpoints"], uuid
        return self._endpoints, self._setting_uuid

    async def register(self, mac: str, url: str) -> None:
        endpoints, uuid = await self._discover()
        body = {"mac": mac.lower(), "autoprovisioning_enabled": True,
                "settings_manager": {uuid: {"value": url, "attrs": {"perm": "RW"}}}}  # fmt: skip
        await self._request("PUT", urljoin(endpoints, mac.lower()), body)

    async def withdraw(self, mac: str) -> None:
        endpoints, _ = await self._discover()
        await self._request("DELETE", urljoin(endpoints, mac.lower()), missing_ok=True)


class SnomSraps(HawkRedirection):
    service = "snom_sraps"
    base = "https://api.sraps.snom.com/api/v1/"
    setting = "setting_server"


class GigasetGrape(HawkRedirection):
    service = "gigaset_grape"
    base = "https://api.grape.gigaset.net/api/v1/"
    setting = "ProvisioningServer"
