"""The endpoint itself: `/<key>.cfg`, `/<key>/<file>` and bootstrap requests (MAC-named, or a bare
name with the MAC in the User-Agent).

Order of checks for one request: path shape, then the device by key (cached, revalidated against
the database on every request: see directory.py; an unknown key may be one a "Nouveau clé" retired,
answered alike but logged as that device's old URL), then the User-Agent's MAC against the device's,
then the file (from the render cache, or rendered right here: this runs on one of the server's
request threads, so a render or a database write holds up only that thread). Every refusal a
guesser could learn from is the same 404 body, or 429 once the source is throttled.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from functools import lru_cache

from core import event_kinds as reasons
from core.credentials import ProvisioningMac, find_mac
from core.provisioning import responses
from core.provisioning.directory import DeviceDirectory, DeviceRow
from core.provisioning.log_writer import LogWriter
from core.provisioning.paths import parse_path
from core.provisioning.responses import Response
from core.provisioning.throttle import MissCounter
from core.provisioning.types import RequestInfo

log = logging.getLogger(__name__)

READ_METHODS = ("GET", "HEAD")
UPLOAD_METHODS = ("PUT", "POST")  # Polycom logs and overrides: answered, never stored
MAX_UPLOAD = 1 << 20  # an upload body is read (and dropped) up to this much, then the connection may close
UPLOAD_CHUNK = 64 * 1024
AMBIGUOUS_EVENT_INTERVAL = 300.0  # seconds between two "several devices wait for this MAC" events

# Phones send the same User-Agent on every fetch: remember what MAC (if any) each one carries.
_ua_mac = lru_cache(maxsize=4096)(find_mac)


class ProvisioningEndpoint:
    def __init__(self, directory: DeviceDirectory, writer: LogWriter, counter: MissCounter) -> None:
        self.directory = directory
        self.writer = writer
        self.counter = counter
        self._ambiguous_seen: dict[str, float] = {}  # MAC -> when its last event was queued

    def handle(self, info: RequestInfo) -> Response:
        method = info.method
        target = parse_path(info.path)
        info.masked_path = target.masked
        if method not in READ_METHODS and method not in UPLOAD_METHODS:
            return self._miss(info, reasons.METHOD)
        if target.kind == "bad":
            return self._miss(info, reasons.MALFORMED)
        if target.kind == "mac":
            return self._bootstrap(info, target.name or "", target.mac or "")
        if target.kind == "name":
            # Firmwares whose first file names no MAC (Snom, Cisco) say it in their User-Agent: the
            # same knowledge a MAC-named request shows, so the same rules (once, one device, throttle).
            ua_mac = _ua_mac(info.user_agent)
            if not ua_mac:
                return self._miss(info, reasons.MALFORMED)
            return self._bootstrap(info, target.name or "", ua_mac)

        row = self.directory.by_key(target.key or "")
        if row is None:
            retired_from = self.directory.retired_device(target.key or "")
            if retired_from is not None:
                return self._old_key(info, retired_from, target.key or "", target.name)
            return self._miss(info, reasons.UNKNOWN_KEY)
        info.device_id = row.id
        if row.mac:
            ua_mac = _ua_mac(info.user_agent)
            if ua_mac and ua_mac != row.mac:
                # A key copied to another phone: refused like a miss, but recorded for the fraud page.
                info.reason = reasons.KEY_MAC_MISMATCH
                self.writer.event(
                    at=datetime.now(UTC),
                    kind=reasons.KEY_MAC_MISMATCH,
                    source_ip=info.source_ip,
                    user_agent=info.user_agent,
                    device_id=row.id,
                    detail=f"device MAC {row.mac}, User-Agent MAC {ua_mac}, path {info.masked_path}",
                )
                return responses.MISS
        if method in UPLOAD_METHODS:
            return self._upload(info)

        name = target.name if target.kind == "file" else None
        if name is not None and name.lower() == (self.directory.phonebook_name(row) or "").lower():
            return self._phonebook(info, row)
        if name is not None:
            names = self.directory.cached_names(row)
            if names is not None and name not in names:
                # Under a valid key this is a phone asking for an optional file: same 404, not a miss.
                info.reason = reasons.UNKNOWN_FILE
                return responses.MISS
        response = self.directory.cached_file(row, name)
        if response is None:
            try:
                response = self.directory.load_file(row, name)
            except Exception:
                return self._render_failed(info, row)
            if response is None:
                info.reason = reasons.UNKNOWN_FILE
                return responses.MISS
        if row.provisioning_mac == ProvisioningMac.ONCE:
            self.directory.mark_done(row)  # once per device: the MAC URL must stop working right now
        info.reason = reasons.OK
        return response

    def _phonebook(self, info: RequestInfo, row: DeviceRow) -> Response:
        """The vPBX phone book under the device's key: its lines and contacts in its vendor's format."""
        try:
            response = self.directory.load_phonebook(row)
        except Exception:
            return self._render_failed(info, row)
        if response is None:  # the device went away between the key lookup and this read
            info.reason = reasons.UNKNOWN_FILE
            return responses.MISS
        info.reason = reasons.OK
        return response

    def _bootstrap(self, info: RequestInfo, name: str, mac: str) -> Response:
        if info.throttled:  # MACs can be enumerated: no bootstrap for a throttled source
            return self._miss(info, reasons.UNKNOWN_MAC)
        rows = self.directory.once_by_mac(mac)
        ua_mac = _ua_mac(info.user_agent)
        if len(rows) != 1 or (ua_mac and ua_mac != mac):
            if len(rows) > 1:
                self._ambiguous_mac(info, mac)
            return self._miss(info, reasons.UNKNOWN_MAC)  # several: the same 404 as no device at all
        row = rows[0]
        info.device_id = row.id
        if info.method in UPLOAD_METHODS:
            return self._upload(info)
        try:
            rendered = self.directory.load_bootstrap(row, name)
        except Exception:
            return self._render_failed(info, row)
        if rendered is None:
            return self._miss(info, reasons.UNKNOWN_FILE)
        info.reason = reasons.BOOTSTRAP
        return responses.make(200, rendered.content, rendered.content_type)

    def _ambiguous_mac(self, info: RequestInfo, mac: str) -> None:
        """Two vPBXs wait for the same MAC (a typo, or one tenant squatting another's phone): neither
        gets the bootstrap, and only the provider hears of it (an event naming no line or device,
        so no tenant's view shows it); once per MAC and interval, not once per retry of the phone."""
        now = time.monotonic()
        seen = self._ambiguous_seen
        if now - seen.get(mac, -AMBIGUOUS_EVENT_INTERVAL) < AMBIGUOUS_EVENT_INTERVAL:
            return
        if len(seen) >= 1024:
            seen.clear()
        seen[mac] = now
        log.warning("provisioning: bootstrap for MAC %s refused, several devices wait for it", mac)
        self.writer.event(
            at=datetime.now(UTC),
            kind=reasons.MAC_AMBIGUOUS,
            source_ip=info.source_ip,
            user_agent=info.user_agent,
            detail=f"MAC {mac}: several devices in Provisioning MAC once (in different vPBXs); bootstrap refused",
        )

    @staticmethod
    def _upload(info: RequestInfo) -> Response:
        """Read and drop the body (so the connection stays usable), answer 204, store nothing.

        Unread, a body makes the server drop the connection at random, the answer often lost with it.
        Only a request that showed a valid key or a `once` MAC gets here: a guesser cannot hold a thread.
        """
        size = 0
        while info.body is not None and size <= MAX_UPLOAD:
            chunk = info.body.read(UPLOAD_CHUNK)
            if not chunk:
                break
            size += len(chunk)
        info.reason = reasons.UPLOAD_IGNORED
        return responses.NO_CONTENT

    @staticmethod
    def _render_failed(info: RequestInfo, row: DeviceRow) -> Response:
        """A template error is the operator's to fix: logged with its traceback, a 500 to the phone."""
        log.error("device %s: rendering %s failed", row.id, info.masked_path, exc_info=True)
        info.reason = reasons.RENDER_ERROR
        return responses.SERVER_ERROR

    def _old_key(self, info: RequestInfo, device_id: int, key: str, name: str | None) -> Response:
        """A key a "Nouveau clé" retired: the device's old URL, still set in a phone.

        The answer is the unknown key's (404, 429 while the source is throttled), so it tells nothing;
        only our log differs (the device, reason old_key), for the diagnosis. Not a miss: a retired
        key cannot be guessed (192 random bits, kept only as its hash), so a hit proves the requester
        once held the real key; counted, one phone with its old URL retrying every minute would
        throttle its office's NAT address (no bootstrap for the phones behind it, a probe alarm on
        the fraud page) for what is a setup to fix, not an attack. Someone holding a retired key can
        tell it from a guess by never being throttled for it, and learns nothing usable from that.
        """
        info.device_id = device_id
        info.reason = reasons.OLD_KEY
        if info.throttled:
            return responses.too_many(self.counter.retry_after(info.source_ip))
        handed = self.directory.take_handover(device_id, key, info.source_ip, name)  # a fraud response's resync
        if handed is not None:
            info.reason = reasons.KEY_HANDOVER
            return responses.make(200, handed.content, handed.content_type)
        return responses.MISS

    def _miss(self, info: RequestInfo, reason: str) -> Response:
        info.miss = True
        info.reason = reason
        if info.throttled:
            info.reason = reasons.THROTTLED
            return responses.too_many(self.counter.retry_after(info.source_ip))
        return responses.MISS


__all__ = ["DeviceRow", "ProvisioningEndpoint"]
