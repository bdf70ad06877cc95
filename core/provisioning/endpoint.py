"""The endpoint itself: `/<key>.cfg`, `/<key>/<file>` and MAC-named bootstrap requests.

Order of checks for one request: path shape, then the device by key (cached, revalidated against
the database on every request: see directory.py), then the User-Agent's MAC against the device's,
then the file (from the render cache, or rendered in a worker thread). Every refusal a guesser
could learn from is the same 404 body, or 429 once the source is throttled.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from core.credentials import find_mac
from core.provisioning import reasons, responses
from core.provisioning.directory import DeviceDirectory, DeviceRow
from core.provisioning.log_writer import LogWriter
from core.provisioning.paths import mask_key, mask_path, parse_path
from core.provisioning.responses import Response
from core.provisioning.throttle import MissCounter
from core.provisioning.types import Drain, RequestInfo

log = logging.getLogger(__name__)

READ_METHODS = ("GET", "HEAD")
UPLOAD_METHODS = ("PUT", "POST")  # Polycom logs and overrides: answered, never stored


class ProvisioningEndpoint:
    def __init__(self, directory: DeviceDirectory, writer: LogWriter, counter: MissCounter) -> None:
        self.directory = directory
        self.writer = writer
        self.counter = counter

    async def handle(self, info: RequestInfo, drain: Drain) -> Response:
        method = info.method
        target = parse_path(info.path)
        # The common case masks without a regex; anything else goes through the generic masking.
        if target.kind == "main":
            info.masked_path = "/" + mask_key(target.key or "") + ".cfg"
        else:
            info.masked_path = mask_path(info.path.decode("latin-1"))
        if method not in READ_METHODS and method not in UPLOAD_METHODS:
            return self._miss(info, reasons.METHOD)
        if target.kind == "bad":
            return self._miss(info, reasons.MALFORMED)
        if target.kind == "mac":
            return await self._bootstrap(info, drain, target.name or "", target.mac or "")

        row = self.directory.by_key(target.key or "")
        if row is None:
            return self._miss(info, reasons.UNKNOWN_KEY)
        info.device_id = row.id
        if row.mac:
            ua_mac = find_mac(info.user_agent)
            if ua_mac and ua_mac != row.mac:
                # A key copied to another phone: refused like a miss, but recorded for the fraud page.
                info.reason = reasons.KEY_MAC_MISMATCH
                self.writer.event(
                    at=datetime.now(UTC),
                    kind="key_mac_mismatch",
                    source_ip=info.source_ip,
                    user_agent=info.user_agent,
                    device_id=row.id,
                    detail=f"device MAC {row.mac}, User-Agent MAC {ua_mac}, path {info.masked_path}",
                )
                return responses.MISS
        if method in UPLOAD_METHODS:
            return await self._upload(info, drain)

        name = target.name if target.kind == "file" else None
        names = self.directory.cached_names(row)
        if name is not None and names is not None and name not in names:
            # Under a valid key this is a phone asking for an optional file: same 404, not a miss.
            info.reason = reasons.UNKNOWN_FILE
            return responses.MISS
        response = self.directory.cached_file(row, name)
        if response is None:
            try:
                response = await asyncio.to_thread(self.directory.load_file, row, name)
            except Exception:
                return self._render_failed(info, row)
            if response is None:
                info.reason = reasons.UNKNOWN_FILE
                return responses.MISS
        if row.provisioning_mac == "once":
            await asyncio.to_thread(self.directory.mark_done, row)
        info.reason = reasons.OK
        return response

    async def _bootstrap(self, info: RequestInfo, drain: Drain, name: str, mac: str) -> Response:
        if info.throttled:  # MACs can be enumerated: no bootstrap for a throttled source
            return self._miss(info, reasons.UNKNOWN_MAC)
        row = self.directory.by_mac(mac)
        ua_mac = find_mac(info.user_agent)
        if row is None or row.provisioning_mac != "once" or (ua_mac and ua_mac != mac):
            return self._miss(info, reasons.UNKNOWN_MAC)
        info.device_id = row.id
        if info.method in UPLOAD_METHODS:
            return await self._upload(info, drain)
        try:
            rendered = await asyncio.to_thread(self.directory.load_bootstrap, row, name)
        except Exception:
            return self._render_failed(info, row)
        if rendered is None:
            return self._miss(info, reasons.UNKNOWN_FILE)
        info.reason = reasons.BOOTSTRAP
        return responses.make(200, rendered.content, rendered.content_type)

    @staticmethod
    async def _upload(info: RequestInfo, drain: Drain) -> Response:
        """Read and drop the body (so the connection stays usable), answer 204, store nothing."""
        await drain()
        info.reason = reasons.UPLOAD_IGNORED
        return responses.NO_CONTENT

    @staticmethod
    def _render_failed(info: RequestInfo, row: DeviceRow) -> Response:
        """A template error is the operator's to fix: logged with its traceback, a 500 to the phone."""
        log.error("device %s: rendering %s failed", row.id, info.masked_path, exc_info=True)
        info.reason = reasons.RENDER_ERROR
        return responses.SERVER_ERROR

    def _miss(self, info: RequestInfo, reason: str) -> Response:
        info.miss = True
        info.reason = reason
        if info.throttled:
            info.reason = reasons.THROTTLED
            return responses.too_many(self.counter.retry_after(info.source_ip))
        return responses.MISS


__all__ = ["DeviceRow", "ProvisioningEndpoint"]
