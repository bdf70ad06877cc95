"""The endpoint itself: `/<key>.cfg`, `/<key>/<file>` and MAC-named bootstrap requests.

Order of checks for one request: path shape, then the device by key (one indexed query), then the
User-Agent's MAC against the device's, then the file (from the render cache, or rendered in a
worker thread). Every refusal a guesser could learn from is the same 404 body, or 429 once the
source is throttled.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from core.credentials import find_mac
from core.provisioning.directory import DeviceDirectory, DeviceRow
from core.provisioning.log_writer import LogWriter
from core.provisioning.paths import parse_path
from core.provisioning.responses import respond
from core.provisioning.throttle import MissCounter
from core.provisioning.types import Receive, RequestInfo, Scope, Send, request_info
from core.render import RenderedFile

log = logging.getLogger(__name__)

READ_METHODS = ("GET", "HEAD")
UPLOAD_METHODS = ("PUT", "POST")  # Polycom logs and overrides: answered, never stored
MAX_UPLOAD = 1 << 20


class ProvisioningEndpoint:
    def __init__(self, directory: DeviceDirectory, writer: LogWriter, counter: MissCounter) -> None:
        self.directory = directory
        self.writer = writer
        self.counter = counter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        info = request_info(scope)
        method = scope["method"]
        head = method == "HEAD"
        target = parse_path(scope.get("raw_path") or scope["path"].encode("utf-8", "replace"))
        if method not in READ_METHODS and method not in UPLOAD_METHODS:
            return await self._miss(send, info, "method", head)
        if target.kind == "bad":
            return await self._miss(send, info, "malformed", head)
        if target.kind == "mac":
            return await self._bootstrap(scope, receive, send, info, target.name or "", target.mac or "")

        row = self.directory.by_key(target.key or "")
        if row is None:
            return await self._miss(send, info, "unknown_key", head)
        info.device_id = row.id
        ua_mac = find_mac(info.user_agent)
        if row.mac and ua_mac and ua_mac != row.mac:
            # A key copied to another phone: refused like a miss, but recorded for the fraud page.
            info.reason = "key_mac_mismatch"
            self.writer.event(
                at=datetime.now(UTC),
                kind="key_mac_mismatch",
                source_ip=info.source_ip,
                user_agent=info.user_agent,
                device_id=row.id,
                detail=f"device MAC {row.mac}, User-Agent MAC {ua_mac}, path {info.masked_path}",
            )
            return await respond(send, 404, head=head)
        if method in UPLOAD_METHODS:
            return await self._upload(receive, send, info)

        name = target.name if target.kind == "file" else None
        names = self.directory.cached_names(row)
        if name is not None and names is not None and name not in names:
            # Under a valid key this is a phone asking for an optional file: same 404, not a miss.
            info.reason = "unknown_file"
            return await respond(send, 404, head=head)
        rendered = self.directory.cached_file(row, name)
        if rendered is None:
            try:
                rendered = await asyncio.to_thread(self.directory.load_file, row, name)
            except Exception:
                log.exception("device %s: rendering %s failed", row.id, info.masked_path)
                info.reason = "render_error"
                return await respond(send, 500, head=head)
            if rendered is None:
                info.reason = "unknown_file"
                return await respond(send, 404, head=head)
        if row.provisioning_mac == "once":
            await asyncio.to_thread(self.directory.mark_done, row)
        info.reason = "ok"
        await self._send_file(send, rendered, head)

    async def _bootstrap(
        self, scope: Scope, receive: Receive, send: Send, info: RequestInfo, name: str, mac: str
    ) -> None:
        head = scope["method"] == "HEAD"
        if info.throttled:  # MACs can be enumerated: no bootstrap for a throttled source
            return await self._miss(send, info, "unknown_mac", head)
        row = self.directory.by_mac(mac)
        ua_mac = find_mac(info.user_agent)
        if row is None or row.provisioning_mac != "once" or (ua_mac and ua_mac != mac):
            return await self._miss(send, info, "unknown_mac", head)
        info.device_id = row.id
        if scope["method"] in UPLOAD_METHODS:
            return await self._upload(receive, send, info)
        try:
            rendered = await asyncio.to_thread(self.directory.load_bootstrap, row, name)
        except Exception:
            log.exception("device %s: bootstrap %s failed", row.id, info.masked_path)
            info.reason = "render_error"
            return await respond(send, 500, head=head)
        if rendered is None:
            return await self._miss(send, info, "unknown_file", head)
        info.reason = "bootstrap"
        await self._send_file(send, rendered, head)

    async def _upload(self, receive: Receive, send: Send, info: RequestInfo) -> None:
        """Read and drop the body (so the connection stays usable), answer 204, store nothing."""
        size = 0
        while size <= MAX_UPLOAD:
            message = await receive()
            size += len(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        info.reason = "upload_ignored"
        await respond(send, 204)

    async def _miss(self, send: Send, info: RequestInfo, reason: str, head: bool) -> None:
        info.miss = True
        info.reason = reason
        if info.throttled:
            info.reason = "throttled"
            retry = str(self.counter.retry_after(info.source_ip)).encode()
            await respond(send, 429, head=head, extra=[(b"retry-after", retry)])
        else:
            await respond(send, 404, head=head)

    @staticmethod
    async def _send_file(send: Send, rendered: RenderedFile, head: bool) -> None:
        await respond(send, 200, rendered.content, rendered.content_type.encode("latin-1"), head=head)


__all__ = ["DeviceRow", "ProvisioningEndpoint"]
