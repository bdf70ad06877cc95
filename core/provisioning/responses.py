"""Responses, built once where they can be: every answer carries `Cache-Control: no-store` (configs hold secrets).

Headers are `str` pairs, as WSGI's `start_response` takes them. A HEAD answer keeps the headers
(Content-Length included) and the WSGI adapter drops the body.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus

NOT_FOUND = b"Not Found\n"  # one body for every miss, whatever the reason
BODIES = {
    204: b"",
    403: b"Forbidden\n",
    404: NOT_FOUND,
    429: b"Too Many Requests\n",
    500: b"Internal Server Error\n",
}
TEXT = "text/plain; charset=utf-8"
_COMMON = (("cache-control", "no-store"), ("x-content-type-options", "nosniff"))


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    headers: list[tuple[str, str]]  # never mutated: shared between requests
    status_line: str  # "200 OK": WSGI's form of the status, built once with the response


def make(
    status: int, body: bytes | None = None, content_type: str = TEXT, extra: Sequence[tuple[str, str]] = ()
) -> Response:
    if body is None:
        body = BODIES.get(status, b"")
    headers = list(_COMMON)
    if status != 204:  # a 204 has neither a body nor its length
        headers += [("content-length", str(len(body))), ("content-type", content_type)]
    headers.extend(extra)
    return Response(status, body, headers, f"{status} {HTTPStatus(status).phrase}")


NO_CONTENT = make(204)
FORBIDDEN = make(403)
MISS = make(404)
SERVER_ERROR = make(500)


def too_many(retry_after: int) -> Response:
    return make(429, extra=[("retry-after", str(retry_after))])
