"""Browser tests: `streamlit run app.py` on a free port against a seeded temp database, driven by
Debian's chromium through Playwright (`executable_path`: never `playwright install`, which downloads its own)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from core import accounts, devices, keys, lines, vpbx
from core.db import make_engine, transaction
from core.models import Base
from core.permissions import system_actor
from tests.net import free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip
PASSWORD = "correct horse battery"


@dataclass
class Server:
    url: str
    db_url: str
    desk: int  # Alice's desk phone (keys)
    soft: int  # Alice's softphone (QR code)
    bob_desk: int


def _seed(db_url: str) -> dict[str, int]:
    engine = make_engine(db_url)
    Base.metadata.create_all(engine)
    p = system_actor("pytest")
    with transaction(engine) as s:
        vpbx.add_vpbx(s, p, "acme", "acme.voip.example")
        a1 = lines.add_line(s, p, "acme", "+41215550101", extension="101", display_name="Alice")["line"]
        a2 = lines.add_line(s, p, "acme", "+41215550102", extension="102", display_name="Bob")["line"]
        accounts.add_account(s, p, "support", "provider", password=PASSWORD)
        accounts.add_account(s, p, "alice", "user", line_number=a1["number"], password=PASSWORD)
        desk = devices.add_device(s, p, a1["id"], "yealink-t46u", mac="805EC0112233", label="Bureau Alice")
        keys.set_key(s, p, desk["id"], 1, "line", "1", "Alice")
        soft = devices.add_device(s, p, a1["id"], "linphone-ipphone", label="Mobile Alice")
        bob = devices.add_device(s, p, a2["id"], "snom-d785", mac="000413AABBCC", label="Bureau Bob")
    engine.dispose()
    return {"desk": desk["id"], "soft": soft["id"], "bob_desk": bob["id"]}


def start_server(tmp: Path, extra_env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], Server]:
    """`streamlit run app.py` on a free port over a freshly seeded database; `extra_env` adds settings."""
    db_url = f"sqlite:///{tmp / 'dash.sqlite3'}"
    ids = _seed(db_url)
    port = free_port()
    (tmp / "home").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOIPADMIN_")}
    env.update(HOME=str(tmp / "home"), VOIPADMIN_DB_URL=db_url, VOIPADMIN_DATA_DIR=str(tmp / "data"),
               VOIPADMIN_PUBLIC_URL="https://prov.example.net:8448")  # fmt: skip
    env.update(extra_env or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
         "--global.developmentMode", "false"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    for line in proc.stdout:  # blocks until Streamlit says it listens (or exits)
        if "URL:" in line:
            break
    else:
        raise RuntimeError("streamlit exited before listening")
    # Keep reading what it prints, so a chatty server never blocks on a full pipe.
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{base}/_stcore/health", timeout=30).text == "ok"
    return proc, Server(base, db_url, **ids)


def stop_server(proc: subprocess.Popen[str]) -> None:
    stop_process(proc, grace=20)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    proc, srv = start_server(tmp_path_factory.mktemp("dash"))
    yield srv
    stop_server(proc)


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Server]:
    """A server no session has visited yet: Streamlit still serves pages/ by direct URL."""
    proc, srv = start_server(tmp_path)
    yield srv
    stop_server(proc)


@pytest.fixture(autouse=True)
def _patient_expect() -> Iterator[None]:
    """A page's first run imports its modules: on a loaded 2-core CI box that outlasts expect's 5 s default."""
    expect.set_options(timeout=30_000)
    yield
    expect.set_options(timeout=5_000)


@pytest.fixture(scope="module")  # stopped before later modules: its loop would block asyncio tests
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="en-US")
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    yield pg
    context.close()


def wait_idle(page: Page) -> None:
    """Streamlit finished the current run (its own e2e suite's signal)."""
    expect(page.locator("[data-testid='stApp'][data-test-connection-state='CONNECTED']")).to_have_count(1)
    expect(page.locator("[data-testid='stApp'][data-test-script-state='notRunning']")).to_have_count(1)


def login(page: Page, server: Server, username: str, path: str = "/") -> None:
    page.goto(f"{server.url}/session/login?lang=en&next={path}")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("stSidebarNav")).to_be_visible()
    wait_idle(page)
