"""Real HTTPS against `python -m core serve --no-sip` on a random port (Granian, self-signed TLS)."""

from __future__ import annotations

import hashlib
import socket
import ssl
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update

from core.credentials import new_access_key
from core.db import transaction
from core.models import AccessLog, Ban, Device, RedirectionJob, SecurityEvent
from core.provisioning.responses import NOT_FOUND
from core.tls import fingerprint
from tests.net import free_port, wait_for
from tests.provisioning.conftest import https_client, start_live_server

pytestmark = pytest.mark.db

MAC = "001565AABBCC"
GUESS = "/" + "ab" * 24 + ".cfg"


def _peer_cert(url: str, max_version: ssl.TLSVersion | None = None) -> tuple[bytes, str]:
    host, port = url.removeprefix("https://").split(":")
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    if max_version:
        ctx.maximum_version = max_version
    with socket.create_connection((host, int(port)), timeout=5) as raw, ctx.wrap_socket(raw) as tls:
        return tls.getpeercert(binary_form=True) or b"", tls.version() or ""


def _raw_get(url: str, path: bytes) -> bytes:
    """A request line exactly as written (no client-side path normalisation)."""
    host, port = url.removeprefix("https://").split(":")
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((host, int(port)), timeout=5) as raw, ctx.wrap_socket(raw) as tls:
        tls.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
    return data


def test_self_signed_certificate_tls12_and_fingerprint(live_server, settings):
    der, version13 = _peer_cert(live_server.url)
    _, version12 = _peer_cert(live_server.url, ssl.TLSVersion.TLSv1_2)
    assert (version13, version12) == ("TLSv1.3", "TLSv1.2")
    printed = fingerprint(settings)
    assert printed == hashlib.sha256(der).digest().hex(":").upper()
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "prov.example.net" in san.get_values_for_type(x509.DNSName)
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    out = live_server.stop()
    assert f"Certificate SHA-256 fingerprint: {fingerprint(settings)}" in out


def test_plain_http_is_off_by_default(live_server):
    with pytest.raises(httpx.HTTPError):
        httpx.get(live_server.url.replace("https://", "http://") + GUESS, timeout=5)


def test_served_over_https_with_misses_throttle_and_flushed_log(live_server, make_device, engine):
    dev = make_device(mac=MAC)
    with https_client("127.0.0.2") as prober, https_client("127.0.0.3") as office:
        ok = office.get(f"{live_server.url}/{dev.key}.cfg")
        misses = [prober.get(live_server.url + GUESS).status_code for _ in range(6)]
        prober_valid = prober.get(f"{live_server.url}/{dev.key}.cfg")
        office_miss = office.get(live_server.url + GUESS)
        upload = prober.put(f"{live_server.url}/{dev.key}/{MAC}-app.log", content=b"log")
    dotdot = _raw_get(live_server.url, b"/" + dev.key.encode() + b"/../" + dev.key.encode() + b".cfg")
    nul = _raw_get(live_server.url, b"/" + dev.key.encode() + b".cfg%00")
    assert ok.status_code == 200 and ok.headers["cache-control"] == "no-store"
    assert ok.text.startswith("# main.cfg")
    assert misses == [404] * 5 + [429]
    assert prober_valid.status_code == 200
    assert office_miss.status_code == 404 and office_miss.content == NOT_FOUND
    assert upload.status_code == 204
    assert dotdot.startswith(b"HTTP/1.1 404") and dotdot.endswith(NOT_FOUND)
    assert nul.startswith(b"HTTP/1.1 404") and nul.endswith(NOT_FOUND)
    live_server.stop()  # SIGTERM: every row is written before the process exits
    with transaction(engine) as s:
        rows = s.scalars(select(AccessLog).order_by(AccessLog.id)).all()
        device = s.get(Device, dev.id)
    # + the readiness probe
    assert len(rows) == 1 + 1 + 6 + 1 + 1 + 1 + 2
    assert {r.source_ip for r in rows} == {"127.0.0.1", "127.0.0.2", "127.0.0.3"}
    assert all(dev.key not in r.path for r in rows)
    assert [r.status for r in rows if r.source_ip == "127.0.0.2"] == [404] * 5 + [429, 200, 204]
    assert device.last_access_ip == "127.0.0.2"


def test_bootstrap_once_to_done_over_https(live_server, make_device, engine):
    dev = make_device(mac=MAC, provisioning_mac="once")
    with https_client(ua="Yealink SIP-T46U 108.86.0.20 00:15:65:aa:bb:cc") as phone:
        boot = phone.get(f"{live_server.url}/001565aabbcc.cfg")
        main = phone.get(f"{live_server.url}/{dev.key}.cfg")
        again = phone.get(f"{live_server.url}/001565aabbcc.cfg")
    assert boot.status_code == 200 and f"/{dev.key}.cfg" in boot.text and "secret" not in boot.text
    assert main.status_code == 200 and "secret=" in main.text
    assert again.status_code == 404
    with transaction(engine) as s:
        assert s.get(Device, dev.id).provisioning_mac == "done"
        jobs = s.scalars(select(RedirectionJob.action)).all()
    assert jobs == ["withdraw"]


def test_new_key_and_head_over_https(live_server, make_device, engine):
    """Through Granian (WSGI): HEAD keeps Content-Length, a new key kills the old one at once."""
    dev = make_device()
    fresh = new_access_key()
    with https_client() as phone:
        got = phone.get(f"{live_server.url}/{dev.key}.cfg")
        head = phone.head(f"{live_server.url}/{dev.key}.cfg")
        with transaction(engine) as s:  # the dashboard's "new key", committed while the server runs
            s.execute(update(Device).where(Device.id == dev.id).values(access_key=fresh))
        old = phone.get(f"{live_server.url}/{dev.key}.cfg")
        new = phone.get(f"{live_server.url}/{fresh}.cfg")
    assert got.status_code == 200 and head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(got.content))
    assert (old.status_code, old.content) == (404, NOT_FOUND)
    assert new.status_code == 200 and new.content == got.content


def test_stolen_key_odd_requests_and_bans_over_https(live_server, make_device, engine):
    dev = make_device(mac=MAC)
    with transaction(engine) as s:
        s.add(Ban(source_ip="127.0.0.4", scope="provisioning", expires_at=datetime.now(UTC) + timedelta(hours=1)))
    url = f"{live_server.url}/{dev.key}.cfg"
    thief_ua = "Yealink SIP-T46U 108.86.0.20 00:15:65:00:00:01"  # another phone's MAC
    with https_client(ua=thief_ua) as thief, https_client("127.0.0.4") as banned, https_client("127.0.0.5") as phone:
        stolen = thief.get(url)
        odd = phone.request("DELETE", url)
        too_long = phone.get(f"{live_server.url}/{'a' * 5000}")
        upper = phone.get(f"{live_server.url}/{dev.key.upper()}.cfg")
        optional = phone.get(f"{live_server.url}/{dev.key}/nothing.bin")
        # Bans are re-read every 2 s: the readiness probe loaded the list before this one was added.
        wait_for(lambda: banned.get(url).status_code == 403, 10, "the provisioning ban")
        still_served = phone.get(url)
    for miss in (stolen, odd, too_long, upper, optional):
        assert (miss.status_code, miss.content, miss.headers["cache-control"]) == (404, NOT_FOUND, "no-store")
    assert still_served.status_code == 200
    live_server.stop()
    with transaction(engine) as s:
        events = s.scalars(select(SecurityEvent).where(SecurityEvent.kind == "key_mac_mismatch")).all()
        rows = s.scalars(select(AccessLog).order_by(AccessLog.id)).all()
    reasons = [r.reason for r in rows if r.source_ip == "127.0.0.5"]
    banned_rows = [r.reason for r in rows if r.source_ip == "127.0.0.4"]
    assert [(e.device_id, e.source_ip) for e in events] == [(dev.id, "127.0.0.1")]
    assert reasons == ["method", "malformed", "malformed", "unknown_file", "ok"]
    assert banned_rows[-1] == "banned"


def test_plain_http_when_enabled_is_served_warned_about_and_marked_in_the_log(env, engine, settings, make_device):
    dev = make_device()
    http_port = free_port()
    server = start_live_server(env, settings.data_dir, "--http-port", str(http_port))

    def plain_get() -> httpx.Response | None:
        try:
            return httpx.get(f"http://127.0.0.1:{http_port}/{dev.key}.cfg", timeout=5)
        except httpx.TransportError:
            return None  # the plain-HTTP child is still starting

    try:
        plain = wait_for(plain_get, 30, "the plain-HTTP endpoint")
        with https_client() as c:
            secure = c.get(f"{server.url}/{dev.key}.cfg")
    finally:
        output = server.stop()
    assert isinstance(plain, httpx.Response) and plain.status_code == 200 and plain.text == secure.text
    assert f"plain HTTP enabled on port {http_port}" in output
    with transaction(engine) as s:
        served = s.scalars(select(AccessLog).where(AccessLog.status == 200)).all()
    # Two servers, two access-log writers: the rows' order is whichever flushed first.
    assert sorted(r.scheme for r in served) == ["http", "https"]
