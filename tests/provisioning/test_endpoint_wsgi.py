"""The WSGI face (what Granian serves in production): environ in, the same rules, the answer out.

The rules themselves are tested through httpx's WSGI transport elsewhere; these tests check what the
adapter takes from the environ (PATH_INFO as PEP 3333 carries it, REMOTE_ADDR, the User-Agent, the
body) and, over real HTTPS, that an upload's body is read so the phone gets its answer.
"""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select

from core.db import transaction
from core.models import AccessLog
from core.provisioning.endpoint import MAX_UPLOAD
from core.provisioning.responses import NOT_FOUND
from tests.provisioning.conftest import call, https_client

pytestmark = pytest.mark.db

MAC = "001565AABBCC"


def test_head_keeps_the_headers_and_drops_the_body(running, make_device):
    dev = make_device()
    status, headers, body = call(running, "GET", f"/{dev.key}.cfg")
    h_status, h_headers, h_body = call(running, "HEAD", f"/{dev.key}.cfg")
    assert status == h_status == "200 OK" and body.startswith(b"# main.cfg\n")
    assert (h_body, h_headers) == (b"", headers)
    assert headers["content-length"] == str(len(body))


def test_source_address_and_user_agent_come_from_the_environ(running, make_device, engine):
    dev = make_device()
    call(running, "GET", f"/{dev.key}.cfg", ip="2001:db8::7", user_agent="Snom D785")
    call(running, "GET", "/" + "cd" * 24 + ".cfg", ip="203.0.113.9", user_agent="")
    assert running.writer.flush()
    with transaction(engine) as s:
        rows = s.scalars(select(AccessLog).order_by(AccessLog.id)).all()
    assert [(r.source_ip, r.user_agent, r.status, r.reason, r.path) for r in rows] == [
        ("2001:db8::7", "Snom D785", 200, "ok", f"/{dev.key[:6]}….cfg"),
        ("203.0.113.9", "", 404, "unknown_key", "/cdcdcd….cfg"),
    ]


def test_an_upload_is_read_up_to_the_limit_and_no_further(running, make_device):
    dev = make_device(mac=MAC)
    environ = {"REQUEST_METHOD": "PUT", "PATH_INFO": f"/{dev.key}/{MAC}-app.log", "REMOTE_ADDR": "198.51.100.7"}
    small, big, unread = io.BytesIO(b"boot log\n" * 100), io.BytesIO(b"x" * (3 * MAX_UPLOAD)), io.BytesIO(b"x" * 99)
    statuses: list[str] = []
    bodies = [
        b"".join(running({**environ, "wsgi.input": small}, lambda status, headers: statuses.append(status))),
        b"".join(running({**environ, "wsgi.input": big}, lambda status, headers: statuses.append(status))),
        b"".join(
            running(
                {**environ, "PATH_INFO": "/" + "ef" * 24 + "/x.log", "wsgi.input": unread},
                lambda status, headers: statuses.append(status),
            )
        ),
    ]
    assert statuses == ["204 No Content", "204 No Content", "404 Not Found"]
    assert bodies == [b"", b"", NOT_FOUND]
    assert small.tell() == len(small.getvalue())
    assert MAX_UPLOAD < big.tell() < 3 * MAX_UPLOAD  # past the limit by one chunk at most, then left
    assert unread.tell() == 0  # a request without a valid key never gets its body read


def test_uploads_over_https_are_answered_on_a_kept_connection(live_server, make_device):
    """Left unread, a body of this size makes the server drop the connection, the 204 often with it."""
    dev = make_device(mac=MAC)
    log = b"0123456789abcdef" * (200_000 // 16)
    with https_client() as phone:
        answers = [phone.put(f"{live_server.url}/{dev.key}/{MAC}-app.log", content=log) for _ in range(10)]
        after = phone.get(f"{live_server.url}/{dev.key}.cfg")
    assert [a.status_code for a in answers] == [204] * 10
    assert after.status_code == 200
