"""The redirection outbox worker against a real HTTP server on 127.0.0.1 (issue 15.7).

One `http.server` in a thread plays every vendor API core implements (Yealink RPS/YMCS, Snom SRAPS,
Gigaset GRAPE, Poly ZTP, Fanvil FDPS), each under its own path prefix, and checks their
authentication itself (Basic then Bearer, Hawk recomputed here from the Hawk 1.0 spec, API-KEY,
Basic with md5(md5(password))). The worker is the real one: credentials from redirection.yaml in
the data dir (load_config/build_clients), jobs written by the device use cases.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import xmlrpc.client
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import Engine, select

from core import devices
from core.db import transaction
from core.models import RedirectionJob
from core.permissions import Actor
from core.redirection.base import TIMEOUT
from core.redirection.config import build_clients, load_config
from core.redirection.worker import process_pending, run_redirection_worker
from core.settings import Settings
from tests.net import wait_for

pytestmark = pytest.mark.anyio

KEY_ID, SECRET = "kid-1", "hawk-secret-1"
RPS_ID, RPS_SECRET, BEARER = "rps-id", "rps-secret", "tok-abc"
ZTP_KEY, ZTP_PROFILE = "ztp-key", "profile-9"
FDPS_USER, FDPS_PASSWORD = "fdps-user", "fdps-pw"

# model -> (service, server prefix); one catalogue model per service core implements
MODELS = {
    "yealink-t46u": ("yealink_rps", "/ymcs"),
    "snom-d735": ("snom_sraps", "/sraps"),
    "gigaset-n670": ("gigaset_grape", "/grape"),
    "poly-vvx450": ("polycom_ztp", "/ztp"),
    "fanvil-x4u": ("fanvil_fdps", "/fdps"),
}
HAWK_SETTING = {"/sraps": "setting_server", "/grape": "ProvisioningServer"}


@dataclass
class Seen:
    vendor: str
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def xmlrpc(self) -> tuple[str, tuple[Any, ...]]:
        params, method = xmlrpc.client.loads(self.body)
        return method or "", params


@dataclass
class VendorServer:
    """What every vendor was sent, in order; `status` makes a vendor answer that HTTP code instead."""

    base: str = ""
    seen: list[Seen] = field(default_factory=list)
    status: dict[str, int] = field(default_factory=dict)
    hold: str | None = None  # a vendor whose next register is held (the worker is stopped meanwhile)
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def calls(self, vendor: str | None = None) -> list[tuple[str, str, str]]:
        """(vendor, method, path) of the calls that did something (discovery and tokens left out)."""
        with self.lock:
            rows = list(self.seen)
        return [(s.vendor, s.method, s.path) for s in rows if (vendor is None or s.vendor == vendor) and _acting(s)]

    def acting(self, vendor: str) -> list[Seen]:
        with self.lock:
            return [s for s in self.seen if s.vendor == vendor and _acting(s)]


def _acting(s: Seen) -> bool:
    return s.method != "GET" and not s.path.endswith("/v2/token")


def _hawk_ok(header: str, method: str, path: str, host: str, ctype: str, body: bytes) -> bool:
    """Hawk 1.0 header check as a server does it (https://github.com/mozilla/hawk, 'Protocol')."""
    if not header.startswith("Hawk "):
        return False
    fields = {k.strip(): v.strip().strip('"') for k, v in (p.split("=", 1) for p in header[5:].split(","))}
    payload = b"hawk.1.payload\n" + ctype.split(";")[0].strip().lower().encode() + b"\n" + body + b"\n"
    phash = base64.b64encode(hashlib.sha256(payload).digest()).decode()
    hostname, port = host.rsplit(":", 1)
    normalized = "\n".join(
        ["hawk.1.header", fields["ts"], fields["nonce"], method, path, hostname, port, phash, "", ""]
    )
    mac = base64.b64encode(hmac.new(SECRET.encode(), normalized.encode(), hashlib.sha256).digest()).decode()
    return fields.get("id") == KEY_ID and fields.get("hash") == phash and hmac.compare_digest(fields["mac"], mac)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, *args: object) -> None:  # keep pytest's output clean
        pass

    def _answer(self, code: int, body: Any = None, ctype: str = "application/json") -> None:
        data = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        state: VendorServer = self.server.state
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        vendor = "/" + self.path.split("/")[1]
        seen = Seen(vendor, self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        with state.lock:
            state.seen.append(seen)
        if vendor in state.status:
            return self._answer(state.status[vendor], {"error": "as configured"})
        if state.hold == vendor and _acting(seen):
            state.hold = None
            state.held.set()
            state.release.wait(30)
            return self._answer(200, {"total": 1, "successCount": 1, "failureCount": 0, "errors": []})
        getattr(self, "_" + vendor[1:])(seen)

    do_GET = do_POST = do_PUT = do_DELETE = _handle

    def _ymcs(self, s: Seen) -> None:
        if s.path == "/ymcs/v2/token":
            ok = (
                s.headers.get("authorization") == _basic(RPS_ID, RPS_SECRET)
                and s.headers.get("timestamp", "").isdigit()
            )
            ok = ok and s.json() == {"grant_type": "client_credentials"} and bool(s.headers.get("nonce"))
            return self._answer(200, {"access_token": BEARER, "expires_in": 7200}) if ok else self._answer(401)
        if s.headers.get("authorization") != f"Bearer {BEARER}":
            return self._answer(401)
        if s.path in ("/ymcs/v2/rps/addDevicesByMac", "/ymcs/v2/rps/delDevices") and s.method == "POST":
            return self._answer(200, {"total": 1, "successCount": 1, "failureCount": 0, "errors": []})
        self._answer(404)

    def _hawk(self, s: Seen) -> None:
        if not _hawk_ok(s.headers.get("authorization", ""), s.method, s.path, s.headers["host"],
                        s.headers.get("content-type", ""), s.body):  # fmt: skip
            return self._answer(401)
        api = f"{s.vendor}/api/v1/"
        if s.path == f"{api}settings/?page_size=1000":
            rows = [{"param_name": "other", "uuid": "u-0"}, {"param_name": HAWK_SETTING[s.vendor], "uuid": "u-prov"}]
            return self._answer(200, {"results": rows})
        if s.path == f"{api}tokens/{KEY_ID}":
            return self._answer(200, {"links": {"company": f"{self.server.state.base}{api}companies/7/"}})
        if s.path == f"{api}companies/7/":
            return self._answer(200, {"links": {"endpoints": f"{self.server.state.base}{api}companies/7/endpoints/"}})
        if s.path.startswith(f"{api}companies/7/endpoints/") and s.method in ("PUT", "DELETE"):
            return self._answer(200 if s.method == "PUT" else 204, {} if s.method == "PUT" else None)
        self._answer(404)

    _sraps = _grape = _hawk

    def _ztp(self, s: Seen) -> None:
        if s.headers.get("api-key") != ZTP_KEY:
            return self._answer(401)
        if s.path == "/ztp/devices" and s.method == "POST":
            return self._answer(201, {})
        if s.path.startswith("/ztp/devices/") and s.method == "DELETE":
            return self._answer(204)
        self._answer(404)

    def _fdps(self, s: Seen) -> None:
        hashed = hashlib.md5(hashlib.md5(FDPS_PASSWORD.encode()).hexdigest().encode()).hexdigest()
        if s.headers.get("authorization") != _basic(FDPS_USER, hashed) or s.path != "/fdps/xmlrpc.php":
            return self._answer(401)
        self._answer(200, xmlrpc.client.dumps(([True, "ok"],), methodresponse=True).encode(), "text/xml")


@pytest.fixture
def vendors() -> Iterator[VendorServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    state = VendorServer(base=f"http://127.0.0.1:{httpd.server_address[1]}")
    httpd.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    state.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(10)


@pytest.fixture
def configured(settings: Settings, vendors: VendorServer) -> Settings:
    """redirection.yaml in the data dir, every service pointed at the local server."""
    b = vendors.base
    config = {
        "yealink_rps": {"key_id": RPS_ID, "secret": RPS_SECRET, "region": f"{b}/ymcs"},
        "snom_sraps": {"key_id": KEY_ID, "secret": SECRET, "base": f"{b}/sraps/api/v1/"},
        "gigaset_grape": {"key_id": KEY_ID, "secret": SECRET, "base": f"{b}/grape/api/v1/"},
        "polycom_ztp": {"api_key": ZTP_KEY, "profile": ZTP_PROFILE, "base": f"{b}/ztp"},
        "fanvil_fdps": {"user": FDPS_USER, "password": FDPS_PASSWORD, "url": f"{b}/fdps/xmlrpc.php"},
    }
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "redirection.yaml").write_text(yaml.safe_dump(config))
    return settings


async def _pass(settings: Settings, engine: Engine) -> int:
    """One pass of the worker with the clients `serve` builds from the config file."""
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        clients = build_clients(load_config(settings), http)
        return await process_pending(engine, clients, settings.public_base + "/")


def _jobs(engine: Engine) -> list[tuple[str, str, str, str, int]]:
    with transaction(engine) as s:
        rows = s.scalars(select(RedirectionJob).order_by(RedirectionJob.id))
        return [(j.service, j.mac, j.action, j.state, j.attempts) for j in rows]


def _add(engine: Engine, actor: Actor, line: int, model: str, mac: str) -> int:
    with transaction(engine) as s:
        return int(devices.add_device(s, actor, line, model, mac=mac, provisioning_mac="once")["id"])


def _set(engine: Engine, actor: Actor, device_id: int, **changes: Any) -> None:
    with transaction(engine) as s:
        devices.update_device(s, actor, device_id, **changes)


def _macs() -> dict[str, str]:
    return {model: f"0004F2{n:06X}" for n, model in enumerate(MODELS, start=1)}


async def test_register_then_withdraw_for_every_vendor(configured, engine, provider, seed, vendors):
    macs = _macs()
    ids = {model: _add(engine, provider, seed.line_a1, model, mac) for model, mac in macs.items()}
    assert await _pass(configured, engine) == len(MODELS)
    url = configured.public_base + "/"  # the MAC-bootstrap base: no key, no secret at the vendor
    for model, (_service, vendor) in MODELS.items():
        mac = macs[model].lower()
        acting = vendors.acting(vendor)
        if vendor == "/ymcs":
            assert [(a.method, a.path) for a in acting] == [("POST", "/ymcs/v2/rps/addDevicesByMac")]
            assert acting[0].json() == [{"mac": mac, "uniqueServerUrl": url}]
        elif vendor in HAWK_SETTING:
            assert [(a.method, a.path) for a in acting] == [("PUT", f"{vendor}/api/v1/companies/7/endpoints/{mac}")]
            manager = {"u-prov": {"value": url, "attrs": {"perm": "RW"}}}
            assert acting[0].json() == {"mac": mac, "autoprovisioning_enabled": True, "settings_manager": manager}
        elif vendor == "/ztp":
            assert [(a.method, a.path) for a in acting] == [("POST", "/ztp/devices")]
            assert acting[0].json() == {"id": mac, "profile": ZTP_PROFILE}
        else:
            calls = [a.xmlrpc() for a in acting]
            assert [m for m, _ in calls] == ["redirect.deleteServer", "redirect.addMaterialServer",
                                             "redirect.deRegisterDevice", "redirect.registerDevice"]  # fmt: skip
            assert calls[0][1] == (mac,) and calls[3][1] == (mac, mac)
            assert set(calls[1][1][0]) >= {f"cfgName={mac}", "cfgPfSrv=prov.example.net:8448", "cfgPfName=/",
                                           "cfgPfProt=5"}  # fmt: skip
    assert _jobs(engine) == [(MODELS[m][0], macs[m], "register", "done", 1) for m in MODELS]

    for device_id in ids.values():  # Provisioning MAC back to "no": the MAC is taken back
        _set(engine, provider, device_id, provisioning_mac="no")
    before = len(vendors.calls())
    assert await _pass(configured, engine) == len(MODELS)
    withdrawn = vendors.calls()[before:]
    assert [(v, m, p) for v, m, p in withdrawn if v != "/fdps"] == [
        ("/ymcs", "POST", "/ymcs/v2/rps/delDevices"),
        ("/sraps", "DELETE", f"/sraps/api/v1/companies/7/endpoints/{macs['snom-d735'].lower()}"),
        ("/grape", "DELETE", f"/grape/api/v1/companies/7/endpoints/{macs['gigaset-n670'].lower()}"),
        ("/ztp", "DELETE", f"/ztp/devices/{macs['poly-vvx450'].lower()}"),
    ]
    assert vendors.acting("/ymcs")[-1].json() == {"deviceIdType": "mac", "deviceIds": [macs["yealink-t46u"].lower()]}
    fanvil = [a.xmlrpc() for a in vendors.acting("/fdps")[4:]]
    assert fanvil == [("redirect.deRegisterDevice", (macs["fanvil-x4u"].lower(),)),
                      ("redirect.deleteServer", (macs["fanvil-x4u"].lower(),))]  # fmt: skip
    assert [j[2:] for j in _jobs(engine)[len(MODELS) :]] == [("withdraw", "done", 1)] * len(MODELS)


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("status, state", [(503, "pending"), (429, "pending"), (401, "failed"), (403, "failed")])
async def test_failures_leave_the_job_pending_or_failed(configured, engine, provider, seed, vendors, model, status,
                                                        state):  # fmt: skip
    service, vendor = MODELS[model]
    vendors.status[vendor] = status
    _add(engine, provider, seed.line_a1, model, "0004F2ABCDEF")
    assert await _pass(configured, engine) == 1
    assert _jobs(engine) == [(service, "0004F2ABCDEF", "register", state, 1)]
    with transaction(engine) as s:
        error = s.scalars(select(RedirectionJob.last_error)).one()
    assert f"HTTP {status}" in error and SECRET not in error and RPS_SECRET not in error
    assert vendors.seen, "the request reached the server"
    del vendors.status[vendor]
    assert await _pass(configured, engine) == 0  # backing off (pending) or final (failed): nothing sent now


async def test_wrong_credentials_are_refused_by_the_server_and_final(configured, engine, provider, seed, vendors):
    path = configured.data_dir / "redirection.yaml"
    config = yaml.safe_load(path.read_text())
    config["snom_sraps"]["secret"] = "not-the-secret"
    path.write_text(yaml.safe_dump(config))
    _add(engine, provider, seed.line_a1, "snom-d735", "000413000001")
    await _pass(configured, engine)
    assert _jobs(engine) == [("snom_sraps", "000413000001", "register", "failed", 1)]
    assert vendors.calls("/sraps") == []  # the server answered the first (discovery) call with 401


async def test_a_worker_stopped_mid_job_is_taken_over_and_the_job_ends_done_once(configured, engine, provider, seed,
                                                                                 vendors):  # fmt: skip
    vendors.hold = "/ymcs"  # the vendor got the request; the answer is held until the worker is gone
    _add(engine, provider, seed.line_a1, "yealink-t46u", "001565000001")
    first_stop = asyncio.Event()
    first = asyncio.create_task(run_redirection_worker(configured, engine, first_stop, interval=0.05))
    assert await asyncio.to_thread(vendors.held.wait, 30)
    assert _jobs(engine) == [("yealink_rps", "001565000001", "register", "pending", 0)]
    first.cancel()  # the process dies between sending and recording
    with pytest.raises(asyncio.CancelledError):
        await first
    vendors.release.set()
    assert _jobs(engine) == [("yealink_rps", "001565000001", "register", "pending", 0)]

    second_stop = asyncio.Event()
    second = asyncio.create_task(run_redirection_worker(configured, engine, second_stop, interval=0.05))
    await asyncio.to_thread(wait_for, lambda: _jobs(engine)[0][3] == "done", 30, "the job done by the new worker")
    adds_when_done = vendors.calls("/ymcs")
    # Another job through the same worker proves it made further passes over the outbox.
    _add(engine, provider, seed.line_a2, "poly-vvx450", "0004F2000001")
    await asyncio.to_thread(wait_for, lambda: _jobs(engine)[-1][3] == "done", 30, "a later job done")
    second_stop.set()
    await asyncio.wait_for(second, 30)
    assert _jobs(engine)[0] == ("yealink_rps", "001565000001", "register", "done", 1)
    # Sent again by the new worker (the vendor call is idempotent), and never after the job was done.
    assert adds_when_done == [("/ymcs", "POST", "/ymcs/v2/rps/addDevicesByMac")] * 2
    assert vendors.calls("/ymcs") == adds_when_done


async def test_mac_moved_to_another_device_withdraws_before_registering(configured, engine, provider, seed, vendors):
    old = _add(engine, provider, seed.line_a1, "yealink-t46u", "001565000A01")
    await _pass(configured, engine)
    # The phone is replaced: the old device goes, a new one takes its MAC, and the desk gets another phone.
    with transaction(engine) as s:
        devices.delete_device(s, provider, old)
    _add(engine, provider, seed.line_a2, "yealink-t46u", "001565000A01")
    await _pass(configured, engine)
    bodies = [(a.path.rsplit("/", 1)[1], a.json()) for a in vendors.acting("/ymcs")]
    assert bodies == [
        ("addDevicesByMac", [{"mac": "001565000a01", "uniqueServerUrl": configured.public_base + "/"}]),
        ("delDevices", {"deviceIdType": "mac", "deviceIds": ["001565000a01"]}),
        ("addDevicesByMac", [{"mac": "001565000a01", "uniqueServerUrl": configured.public_base + "/"}]),
    ]  # the withdraw first: sent after the register, it would strand the new phone at the factory
    assert [j[2:4] for j in _jobs(engine)] == [("register", "done"), ("withdraw", "done"), ("register", "done")]


async def test_mac_changed_on_a_waiting_device_withdraws_the_old_then_registers_the_new(configured, engine, provider,
                                                                                         seed, vendors):  # fmt: skip
    device = _add(engine, provider, seed.line_a1, "snom-d735", "000413000B01")
    await _pass(configured, engine)
    _set(engine, provider, device, mac="000413000B02")  # a typo fixed, or another phone on the desk
    await _pass(configured, engine)
    assert vendors.calls("/sraps") == [
        ("/sraps", "PUT", "/sraps/api/v1/companies/7/endpoints/000413000b01"),
        ("/sraps", "DELETE", "/sraps/api/v1/companies/7/endpoints/000413000b01"),
        ("/sraps", "PUT", "/sraps/api/v1/companies/7/endpoints/000413000b02"),
    ]
    assert [j[1:4] for j in _jobs(engine)] == [
        ("000413000B01", "register", "done"),
        ("000413000B01", "withdraw", "done"),
        ("000413000B02", "register", "done"),
    ]
