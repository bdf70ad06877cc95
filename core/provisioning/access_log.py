"""Every request becomes an AccessLog row (through the write-behind LogWriter), whatever its answer."""

from __future__ import annotations

from core.provisioning.log_writer import LogWriter
from core.provisioning.responses import Response
from core.provisioning.types import RequestInfo


def record(writer: LogWriter, at: float, info: RequestInfo, response: Response) -> None:
    """Queue the row (`at` from `time.time()`, columns as `LOG_COLUMNS`); `bytes` is what went on the wire."""
    row = (
        at,
        info.source_ip,
        info.user_agent,
        info.method[:10],
        info.masked_path,
        info.device_id,
        response.status,
        0 if info.head else len(response.body),
        info.reason or ("error" if response.status >= 500 else ""),
    )
    # The scheme column defaults to https: only a plain-HTTP request carries one value more.
    writer.log(row if info.scheme == "https" else (*row, info.scheme))
