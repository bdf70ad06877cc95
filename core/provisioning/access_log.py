"""Every request becomes an AccessLog row (through the write-behind LogWriter), whatever its answer."""

from __future__ import annotations

from datetime import datetime

from core.provisioning.log_writer import LogEntry, LogWriter
from core.provisioning.responses import Response
from core.provisioning.types import RequestInfo


def record(writer: LogWriter, at: datetime, info: RequestInfo, response: Response) -> None:
    """Queue the row; `bytes` is what went on the wire (nothing for HEAD)."""
    writer.log(
        LogEntry(
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
    )
