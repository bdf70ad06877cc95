"""Every request becomes an AccessLog row (through the write-behind LogWriter), whatever its answer."""

from __future__ import annotations

from core.provisioning.log_writer import LogWriter
from core.provisioning.responses import Response
from core.provisioning.types import RequestInfo


def record(writer: LogWriter, at: float, info: RequestInfo, response: Response) -> None:
    """Queue the row (`at` from `time.time()`); `bytes` is what went on the wire (nothing for HEAD)."""
    writer.log(
        (
            at,
            info.source_ip,
            info.user_agent,
            info.method[:10],
            info.masked_path,
            info.device_id,
            response.status,
            0 if info.head else len(response.body),
            info.reason or ("error" if response.status >= 500 else ""),
            info.scheme,
        )
    )
