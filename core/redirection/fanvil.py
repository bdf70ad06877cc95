"""Fanvil FDPS (XML-RPC; HTTP Basic whose password is md5_hex(md5_hex(password)))."""

from __future__ import annotations

import hashlib
import xmlrpc.client
from typing import Any
from urllib.parse import urlsplit

import httpx

from core.redirection.base import basic_auth, check, send
from core.redirection.errors import RedirectionError

URL = "https://fdps.fanvil.com/xmlrpc.php"


class FanvilFdps:
    service = "fanvil_fdps"

    def __init__(self, client: httpx.AsyncClient, user: str, password: str, url: str = URL) -> None:
        hashed = hashlib.md5(hashlib.md5(password.encode()).hexdigest().encode()).hexdigest()
        self._client, self._auth, self._url = client, basic_auth(user, hashed), url

    async def _call(self, method: str, *params: Any) -> Any:
        body = xmlrpc.client.dumps(params, methodname=method).encode()
        req = self._client.build_request("POST", self._url, content=body,
                                         headers={**self._auth, "Content-Type": "text/xml"})  # fmt: skip
        resp = check(await send(self._client, req, f"FDPS {method}"), f"FDPS {method}")
        try:
            (result,), _ = xmlrpc.client.loads(resp.content)
        except (xmlrpc.client.Fault, ValueError, Exception) as exc:  # a malformed or fault answer
            raise RedirectionError(f"FDPS {method}: {type(exc).__name__}") from None
        return result

    async def register(self, mac: str, url: str) -> None:
        # One "server" per MAC, as the public integrations do, so each phone gets exactly our URL.
        parts = urlsplit(url)
        name = mac.lower()
        await self._call("redirect.deleteServer", name)
        ok, msg = await self._call("redirect.addMaterialServer", [
            f"cfgName={name}", "cfgPfMode=1", "cfgDhcpOpt=false", "cfgPnpEnable=false",
            f"cfgPfSrv={parts.netloc}", f"cfgPfName={parts.path or '/'}", "cfgPfProt=5",
        ])  # fmt: skip
        if not ok:
            raise RedirectionError(f"FDPS addMaterialServer: {msg}")
        await self._call("redirect.deRegisterDevice", name)
        ok, msg = await self._call("redirect.registerDevice", name, name)
        if not ok:
            raise RedirectionError(f"FDPS registerDevice: {msg}")

    async def withdraw(self, mac: str) -> None:
        await self._call("redirect.deRegisterDevice", mac.lower())
        await self._call("redirect.deleteServer", mac.lower())
