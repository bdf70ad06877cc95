"""The RSGI face (what Granian serves in production), driven in-process with stand-in scope/protocol objects.

The rules themselves live in `ProvisioningApp.handle` and are tested through ASGI elsewhere; these
tests check that the RSGI adapter feeds them the same request and sends back the same answer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from sqlalchemy import select

from core.db import transaction
from core.models import AccessLog
from core.provisioning.responses import NOT_FOUND
from tests.provisioning.conftest import UA

pytestmark = [pytest.mark.anyio, pytest.mark.db]

MAC = "001565AABBCC"


@dataclass
class Scope:
    method: str
    path: str
    client: str = "198.51.100.7:40000"
    headers: dict[str, str] = field(default_factory=lambda: {"user-agent": UA})
    proto: str = "http"


class Proto:
    """Records the answer; yields the request body in chunks, like Granian's protocol object."""

    def __init__(self, body: list[bytes] | None = None) -> None:
        self.body = body or []
        self.consumed = 0
        self.answer: tuple[int, dict[str, str], bytes] | None = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        for chunk in self.body:
            self.consumed += 1
            yield chunk

    def response_bytes(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        assert self.answer is None, "answered twice"
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in headers)
        self.answer = (status, dict(headers), body)


async def call(app, method: str, path: str, **scope) -> tuple[int, dict[str, str], bytes]:  # type: ignore[no-untyped-def]
    proto = Proto(scope.pop("body", None))
    await app.__rsgi__(Scope(method, path, **scope), proto)
    assert proto.answer is not None
    return proto.answer


async def test_rsgi_serves_files_misses_and_head_like_asgi(running, make_device):
    dev = make_device(mac=MAC)
    status, headers, body = await call(running, "GET", f"/{dev.key}.cfg")
    assert status == 200 and body.startswith(b"# main.cfg\nrevision=1\n")
    assert headers["cache-control"] == "no-store" and headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["content-length"] == str(len(body))
    h_status, h_headers, h_body = await call(running, "HEAD", f"/{dev.key}.cfg")
    assert (h_status, h_body, h_headers["content-length"]) == (200, b"", str(len(body)))
    assert (await call(running, "GET", f"/{dev.key}/common.cfg"))[0] == 200
    for path in ("/" + "ab" * 24 + ".cfg", f"/{dev.key}/nothing.bin", "/../etc/passwd", "/a\x00.cfg"):
        miss = await call(running, "GET", path)
        assert (miss[0], miss[2], miss[1]["cache-control"]) == (404, NOT_FOUND, "no-store")
    assert (await call(running, "DELETE", f"/{dev.key}.cfg"))[0] == 404


async def test_rsgi_upload_is_drained_and_answered_204(running, make_device):
    dev = make_device(mac=MAC)
    proto = Proto([b"boot log " * 100, b"more"])
    await running.__rsgi__(Scope("PUT", f"/{dev.key}/{MAC}-app.log"), proto)
    assert proto.answer is not None and proto.answer[0] == 204 and proto.answer[2] == b""
    assert proto.consumed == 2


async def test_rsgi_source_address_user_agent_and_access_log(running, make_device, engine):
    dev = make_device()
    await call(running, "GET", f"/{dev.key}.cfg", client="203.0.113.9:51000", headers={"user-agent": "Snom D785"})
    await call(running, "GET", "/" + "cd" * 24 + ".cfg", client="[2001:db8::7]:51001", headers={})
    assert running.writer.flush()
    with transaction(engine) as s:
        rows = s.scalars(select(AccessLog).order_by(AccessLog.id)).all()
    assert [(r.source_ip, r.user_agent, r.status, r.reason, r.path) for r in rows] == [
        ("203.0.113.9", "Snom D785", 200, "ok", f"/{dev.key[:6]}….cfg"),
        ("2001:db8::7", "", 404, "unknown_key", "/cdcdcd….cfg"),
    ]


async def test_rsgi_throttle_is_per_source_and_valid_keys_still_pass(running, make_device):
    dev = make_device()
    guess = "/" + "ab" * 24 + ".cfg"
    statuses = [(await call(running, "GET", guess, client="192.0.2.10:1"))[0] for _ in range(6)]
    assert statuses == [404] * 5 + [429]
    assert (await call(running, "GET", f"/{dev.key}.cfg", client="192.0.2.10:2"))[0] == 200
    assert (await call(running, "GET", guess, client="192.0.2.20:1"))[0] == 404


async def test_rsgi_lifecycle_flushes_the_access_log(app, make_device, engine):
    dev = make_device()
    app.__rsgi_init__(None)
    for _ in range(3):
        await call(app, "GET", f"/{dev.key}.cfg")
    app.__rsgi_del__(None)  # what Granian calls on SIGTERM: every queued row is written
    with transaction(engine) as s:
        assert len(s.scalars(select(AccessLog)).all()) == 3
