"""Yealink RPS through the YMCS Open API v2 (OAuth2 client credentials)."""

from __future__ import annotations

import secrets
import time

import httpx

from core.redirection.base import basic_auth, check, send
from core.redirection.errors import DeviceClaimed, RedirectionError

HOSTS = {"eu": "https://eu-api.ymcs.yealink.com", "us": "https://us-api.ymcs.yealink.com"}
ALREADY_ELSEWHERE = "800003"  # "already exists" under another account


class YealinkRps:
    service = "yealink_rps"

    def __init__(self, client: httpx.AsyncClient, key_id: str, secret: str, region: str = "eu") -> None:
        self._client, self._key_id, self._secret = client, key_id, secret
        self._base = HOSTS.get(region, region)
        self._token: str | None = None
        self._token_expires = 0.0

    def _signed_headers(self) -> dict[str, str]:
        return {"timestamp": str(int(time.time() * 1000)), "nonce": secrets.token_hex(16)}

    async def _auth(self) -> dict[str, str]:
        if self._token is None or time.monotonic() > self._token_expires:
            req = self._client.build_request(
                "POST", f"{self._base}/v2/token", json={"grant_type": "client_credentials"},
                headers={**basic_auth(self._key_id, self._secret), **self._signed_headers()},
            )  # fmt: skip
            data = check(await send(self._client, req, "RPS token"), "RPS token").json()
            self._token = data["access_token"]
            self._token_expires = time.monotonic() + max(60, int(data.get("expires_in", 3600)) - 60)
        return {"Authorization": f"Bearer {self._token}", **self._signed_headers()}

    async def register(self, mac: str, url: str) -> None:
        body = [{"mac": mac.lower(), "uniqueServerUrl": url}]
        req = self._client.build_request("POST", f"{self._base}/v2/rps/addDevicesByMac", json=body,
                                         headers=await self._auth())  # fmt: skip
        data = check(await send(self._client, req, "RPS add"), "RPS add").json()
        if data.get("failureCount"):
            errors = data.get("errors") or [{}]
            info = str(errors[0].get("errorInfo", ""))
            if ALREADY_ELSEWHERE in info or "exist" in info.lower():
                raise DeviceClaimed(f"RPS add: {info}")
            raise RedirectionError(f"RPS add: {info or 'refused'}")

    async def withdraw(self, mac: str) -> None:
        body = {"deviceIdType": "mac", "deviceIds": [mac.lower()]}
        req = self._client.build_request("POST", f"{self._base}/v2/rps/delDevices", json=body,
                                         headers=await self._auth())  # fmt: skip
        check(await send(self._client, req, "RPS delete"), "RPS delete", missing_ok=True)
