"""Fixtures for the provisioning endpoint: ORM-made devices, the app in-process, a real server."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from core.credentials import new_access_key, new_sip_password
from core.db import transaction
from core.models import Device, Line, Vpbx
from core.provisioning.app import Limits, ProvisioningApp, build_app
from core.settings import Settings
from tests.net import free_port, wait_for
from tests.provisioning.fake_renderer import FakeRenderer

pytestmark = pytest.mark.db


@dataclass
class Dev:
    id: int
    key: str | None
    mac: str | None


@pytest.fixture
def make_device(engine: Engine) -> Callable[..., Dev]:
    counter = iter(range(1, 100_000))

    def make(
        model_id: str = "yealink-t46u", mac: str | None = None, provisioning_mac: str = "no", key: bool = True
    ) -> Dev:
        n = next(counter)
        with transaction(engine) as s:
            vpbx = s.query(Vpbx).filter_by(name="acme").one_or_none()
            if vpbx is None:
                vpbx = Vpbx(name="acme", sip_domain="acme.voip.example")
                s.add(vpbx)
            line = Line(
                vpbx=vpbx,
                number=f"+4121555{n:04d}",
                extension=str(100 + n),
                sip_username=f"acme{n}",
                sip_password=new_sip_password(),
            )
            device = Device(
                line=line,
                model_id=model_id,
                access_key=new_access_key() if key else None,
                admin_password="1234",
                user_password="5678",
                mac=mac,
                provisioning_mac=provisioning_mac,
            )
            s.add(device)
            s.flush()
            return Dev(device.id, device.access_key, device.mac)

    return make


TEST_LIMITS = Limits(miss_threshold=5, miss_window=60, cooldown=300, ban_refresh=0, log_interval=0.05)


@pytest.fixture
def renderer(settings: Settings) -> FakeRenderer:
    return FakeRenderer(settings)


@pytest.fixture
def app(settings: Settings, engine: Engine, renderer: FakeRenderer) -> ProvisioningApp:
    return build_app(settings, engine, renderer, TEST_LIMITS)


@pytest.fixture
def running(app: ProvisioningApp) -> Iterator[ProvisioningApp]:
    with app.running():
        yield app


UA = "Yealink SIP-T46U 108.86.0.20"


def client_for(app: ProvisioningApp, ip: str = "198.51.100.7", ua: str = UA) -> httpx.Client:
    """Real HTTP requests through the app's WSGI interface, in-process."""
    transport = httpx.WSGITransport(app=app, remote_addr=ip)
    return httpx.Client(transport=transport, base_url="https://testserver", headers={"user-agent": ua})


# -- a real server: `python -m core serve --no-sip` on a random port -----------------------------


@dataclass
class LiveServer:
    url: str
    proc: subprocess.Popen[str]
    data_dir: Path

    output: str | None = None

    def stop(self) -> str:
        """SIGTERM, as `up` and systemd send it; returns the output (the same on a second call)."""
        if self.output is None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
            self.output, _ = self.proc.communicate(timeout=30)
        return self.output


def https_client(source: str = "127.0.0.1", ua: str = UA) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=source, verify=False)
    return httpx.Client(transport=transport, headers={"user-agent": ua}, timeout=10)


FAKE_RENDERER = "tests.provisioning.fake_renderer:FakeRenderer"


def start_live_server(
    env: dict[str, str], data_dir: Path, *extra: str, renderer: str | None = FAKE_RENDERER
) -> LiveServer:
    """`python -m core serve --no-sip` on a random HTTPS port (one worker), answering when this returns.

    `renderer=None` runs it as it ships, with core.render.Renderer."""
    port = free_port()
    e = dict(env)
    e.update(VOIPADMIN_PROV_MISS_THRESHOLD="5", PYTHONPATH=os.getcwd())
    if renderer is not None:
        e["VOIPADMIN_PROVISIONING_RENDERER"] = renderer
    cmd = [sys.executable, "-m", "core", "serve", "--no-sip", "--host", "127.0.0.1", "--https-port", str(port)]
    cmd += ["--workers", "1", *extra]
    proc = subprocess.Popen(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    server = LiveServer(f"https://127.0.0.1:{port}", proc, data_dir)

    def answering() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"server did not start:\n{server.stop()}")
        try:
            with https_client() as c:
                return c.get(f"{server.url}/ready-probe").status_code > 0
        except httpx.TransportError:
            return False

    try:
        wait_for(answering, 30, "the HTTPS endpoint")
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture
def live_server(env: dict[str, str], engine: Engine, settings: Settings) -> Iterator[LiveServer]:
    server = start_live_server(env, settings.data_dir)
    try:
        yield server
    finally:
        server.stop()  # idempotent: a test may have stopped it to read the output


def call(
    app: ProvisioningApp, method: str, path: str, ip: str = "198.51.100.7", body: bytes | None = None, **headers: str
) -> tuple[str, dict[str, str], bytes]:
    """Call the WSGI app with PATH_INFO exactly as given (httpx would normalise `..` and escapes away).

    `path` is what a server hands over (percent-decoded, bytes as latin-1 code points, PEP 3333).
    Returns the status line, the headers and the body.
    """
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "443",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": ip,
        "HTTP_USER_AGENT": headers.pop("user_agent", UA),
        "wsgi.input": io.BytesIO(body or b""),
        "wsgi.url_scheme": "https",
    }
    answer: list[tuple[str, list[tuple[str, str]]]] = []

    def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: object = None) -> None:
        answer.append((status, response_headers))

    chunks = b"".join(app(environ, start_response))
    assert len(answer) == 1, "start_response must be called exactly once"
    status, response_headers = answer[0]
    return status, dict(response_headers), chunks
