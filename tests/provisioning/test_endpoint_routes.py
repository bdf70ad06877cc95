"""The endpoint in-process (httpx WSGITransport): routes, misses, uploads, MAC checks, caching."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from core.credentials import new_access_key
from core.db import transaction
from core.models import AccessLog, Device, SecurityEvent
from core.provisioning.responses import NOT_FOUND
from tests.provisioning.conftest import call, client_for

pytestmark = pytest.mark.db

MAC = "001565AABBCC"


def test_main_file_is_served_with_content_type_and_no_store(running, make_device):
    dev = make_device()
    with client_for(running) as c:
        r = c.get(f"/{dev.key}.cfg")
        head = c.head(f"/{dev.key}.cfg")
    assert r.status_code == 200
    assert r.text.startswith("# main.cfg\nrevision=1\n")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["cache-control"] == "no-store"
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(r.content))


def test_further_files_under_the_key(running, make_device):
    dev = make_device(mac=MAC)
    with client_for(running) as c:
        common = c.get(f"/{dev.key}/common.cfg")
        own = c.get(f"/{dev.key}/{MAC.lower()}.cfg")
        other = c.get(f"/{dev.key}/firmware.rom")
    assert common.status_code == 200 and common.text.startswith("# common.cfg")
    assert own.status_code == 200 and own.text.startswith(f"# {MAC.lower()}.cfg")
    assert other.status_code == 404 and other.content == NOT_FOUND
    assert other.headers["cache-control"] == "no-store"


def test_rendered_once_per_revision_and_a_change_is_seen_at_once(running, make_device, engine, renderer):
    dev = make_device()
    with client_for(running) as c:
        for _ in range(5):
            assert c.get(f"/{dev.key}.cfg").status_code == 200
        assert renderer.renders == 1
        with transaction(engine) as s:
            s.execute(update(Device).where(Device.id == dev.id).values(config_revision=Device.config_revision + 1))
        r = c.get(f"/{dev.key}.cfg")
    assert "revision=2" in r.text
    assert renderer.renders == 2


def test_new_key_makes_the_old_one_404_at_once(running, make_device, engine):
    dev = make_device()
    with client_for(running) as c:
        assert c.get(f"/{dev.key}.cfg").status_code == 200  # now cached
        fresh = new_access_key()
        with transaction(engine) as s:  # as the dashboard does, from another process
            s.execute(update(Device).where(Device.id == dev.id).values(access_key=fresh))
        old = c.get(f"/{dev.key}.cfg")
        new = c.get(f"/{fresh}.cfg")
    assert old.status_code == 404 and old.content == NOT_FOUND
    assert new.status_code == 200


MISSES = [
    ("GET", "/" + "ab" * 24 + ".cfg"),  # well-formed, unknown
    ("GET", "/" + "AB" * 24 + ".cfg"),  # keys are lower case
    ("GET", "/" + "a" * 47 + ".cfg"),
    ("GET", "/" + "g" * 48 + ".cfg"),  # not hex
    ("GET", "/../etc/passwd"),
    ("GET", "/%2e%2e/secret.key"),
    ("GET", "/KEY/../KEY.cfg"),
    ("GET", "/KEY.cfg%00.txt"),
    ("GET", "/KEY.cfg\x00.txt"),  # as a server hands it over once it decoded %00
    ("GET", "/KEY/\xc3\xa9.cfg"),  # decoded UTF-8 bytes, as latin-1 code points (PEP 3333)
    ("GET", "/KEY/" + "x" * 300),
    ("GET", "/" + "a" * 5000),
    ("GET", "/"),
    ("GET", "/KEY"),
    ("GET", "/KEY/"),
    ("GET", "/KEY/sub/dir.cfg"),
    ("GET", "/secret.key"),
    ("GET", "/voipadmin.sqlite3"),
    ("DELETE", "/KEY.cfg"),
    ("OPTIONS", "/KEY.cfg"),
    ("PATCH", "/KEY.cfg"),
    ("TRACE", "/KEY.cfg"),
]


@pytest.mark.parametrize(("method", "path"), MISSES)
def test_every_miss_gets_the_same_404(running, make_device, method, path):
    dev = make_device()
    status, headers, body = call(running, method, path.replace("KEY", dev.key))
    assert (status, body, headers["cache-control"]) == ("404 Not Found", NOT_FOUND, "no-store")


def test_a_miss_carries_the_same_headers_as_any_404(running):
    with client_for(running) as c:
        r = c.get("/" + "ab" * 24 + ".cfg")
    assert r.content == NOT_FOUND
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.headers["cache-control"] == "no-store"


def test_handsets_and_web_phones_have_no_url(running, make_device, engine):
    make_device(model_id="yealink-w56h", key=False)
    make_device(model_id="webphone", key=False)
    with client_for(running) as c:
        for path in ("/None.cfg", "/.cfg", "/null.cfg"):
            assert c.get(path).status_code == 404


def test_access_log_rows_mask_the_key_and_update_last_access(running, make_device, engine):
    dev = make_device()
    with client_for(running, ip="203.0.113.9", ua="Yealink SIP-T46U 108.86.0.20") as c:
        ok = c.get(f"/{dev.key}.cfg")
        c.get(f"/{dev.key}/nothing.bin")
        c.get("/" + "cd" * 24 + ".cfg")
    assert running.writer.flush()
    with transaction(engine) as s:
        rows = s.scalars(select(AccessLog).order_by(AccessLog.id)).all()
        device = s.get(Device, dev.id)
    assert [(r.status, r.reason, r.device_id) for r in rows] == [
        (200, "ok", dev.id),
        (404, "unknown_file", dev.id),
        (404, "unknown_key", None),
    ]
    assert rows[0].path == f"/{dev.key[:6]}….cfg"
    assert rows[1].path == f"/{dev.key[:6]}…/nothing.bin"
    assert rows[2].path == "/cdcdcd….cfg"
    assert all(dev.key not in r.path for r in rows)
    assert rows[0].bytes == len(ok.content) and rows[0].source_ip == "203.0.113.9"
    assert rows[0].user_agent == "Yealink SIP-T46U 108.86.0.20" and rows[0].method == "GET"
    assert device.last_access_ip == "203.0.113.9"
    assert device.last_access_ua == "Yealink SIP-T46U 108.86.0.20"
    assert device.last_access_at == rows[0].at


def test_key_used_by_a_phone_with_another_mac_is_refused_and_recorded(running, make_device, engine):
    dev = make_device(mac=MAC)
    with client_for(running, ua="Yealink SIP-T46U 108.86.0.20 00:15:65:11:22:33") as thief:
        stolen = thief.get(f"/{dev.key}.cfg")
    with client_for(running, ua="Yealink SIP-T46U 108.86.0.20 00:15:65:aa:bb:cc") as owner:
        own = owner.get(f"/{dev.key}.cfg")
    assert stolen.status_code == 404 and stolen.content == NOT_FOUND
    assert own.status_code == 200
    running.writer.flush()
    with transaction(engine) as s:
        events = s.scalars(select(SecurityEvent)).all()
        log = s.scalars(select(AccessLog).order_by(AccessLog.id)).all()
    assert [(e.kind, e.device_id, e.source_ip) for e in events] == [("key_mac_mismatch", dev.id, "198.51.100.7")]
    assert "001565112233" in events[0].detail and dev.key not in events[0].detail
    assert log[0].reason == "key_mac_mismatch"


@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_uploads_are_answered_and_change_nothing(running, make_device, engine, method):
    dev = make_device(mac=MAC)
    with client_for(running) as c:
        before = c.get(f"/{dev.key}.cfg").content
        r1 = c.request(method, f"/{dev.key}/{MAC}-app.log", content=b"boot log " * 1000)
        r2 = c.request(method, f"/{dev.key}/{MAC}-phone.cfg", content=b"<OVERRIDES reg.1.auth.password='x'/>")
        r3 = c.request(method, f"/{dev.key}.cfg", content=b"evil=1")
        after = c.get(f"/{dev.key}.cfg").content
        unknown = c.request(method, "/" + "ef" * 24 + "/x.log", content=b"x")
    assert [r1.status_code, r2.status_code, r3.status_code] == [204, 204, 204]
    assert r1.content == b""
    assert after == before
    assert unknown.status_code == 404
    with transaction(engine) as s:
        assert s.get(Device, dev.id).config_revision == 1


def test_render_failure_is_a_500_without_detail(running, make_device, renderer, monkeypatch):
    dev = make_device()

    def broken(device, name=None):
        raise RuntimeError("template exploded with secret=hunter2")

    monkeypatch.setattr(renderer, "render", broken)
    with client_for(running) as c:
        r = c.get(f"/{dev.key}.cfg")
    assert r.status_code == 500 and b"hunter2" not in r.content
