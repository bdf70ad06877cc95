"""Middleware: every request becomes an AccessLog row (through the write-behind LogWriter)."""

from __future__ import annotations

from datetime import UTC, datetime

from core.provisioning.log_writer import LogEntry, LogWriter
from core.provisioning.types import ASGIApp, Message, Receive, Scope, Send, request_info


class AccessLogMiddleware:
    def __init__(self, app: ASGIApp, writer: LogWriter) -> None:
        self.app = app
        self.writer = writer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        at = datetime.now(UTC)
        info = request_info(scope)
        status = 500
        sent = 0

        async def send_wrapper(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.writer.log(
                LogEntry(
                    at=at,
                    source_ip=info.source_ip,
                    user_agent=info.user_agent,
                    method=str(scope.get("method", ""))[:10],
                    path=info.masked_path,
                    device_id=info.device_id,
                    status=status,
                    bytes=sent,
                    reason=info.reason or ("error" if status >= 500 else ""),
                )
            )
