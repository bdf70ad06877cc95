"""Raw ASGI responses: every answer carries `Cache-Control: no-store` (configs hold secrets)."""

from __future__ import annotations

from core.provisioning.types import Send

NOT_FOUND = b"Not Found\n"  # one body for every miss, whatever the reason
BODIES = {
    204: b"",
    403: b"Forbidden\n",
    404: NOT_FOUND,
    429: b"Too Many Requests\n",
    500: b"Internal Server Error\n",
}
TEXT = b"text/plain; charset=utf-8"


async def respond(
    send: Send,
    status: int,
    body: bytes | None = None,
    content_type: bytes = TEXT,
    head: bool = False,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    if body is None:
        body = BODIES.get(status, b"")
    headers = [(b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff")]
    if status != 204:  # a 204 has neither a body nor its length
        headers += [(b"content-length", str(len(body)).encode()), (b"content-type", content_type)]
    if extra:
        headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
