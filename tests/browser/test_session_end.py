"""Ending dashboard sessions from outside: a password change, `account end-sessions` (both through the CLI)
or a disabled account logs out a browser that is logged in, at its next click, although it still holds
its signed cookie (the session epoch in the cookie no longer matches the account's; dashboard/auth.py)."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update

from core import accounts
from core.db import make_engine, transaction
from core.models import Account
from core.permissions import system_actor
from tests.browser.conftest import PASSWORD, ROOT, Server, login, wait_idle

pytestmark = pytest.mark.browser
NEW_PASSWORD = "a new horse battery"
_names = itertools.count(1)


def cli(server: Server, tmp: Path, *args: str) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp),
        "VOIPADMIN_DB_URL": server.db_url,
        "VOIPADMIN_DATA_DIR": str(tmp / "cli-data"),
        "VOIPADMIN_PUBLIC_URL": "https://prov.example.net:8448",
    }
    run = subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


def new_account(server: Server) -> str:
    """An account of its own for each test (the module's server is shared)."""
    name = f"dave{next(_names)}"
    engine = make_engine(server.db_url)
    with transaction(engine) as s:
        accounts.add_account(s, system_actor("pytest"), name, "user", line_number="+41215550101", password=PASSWORD)
    engine.dispose()
    return name


def disable(server: Server, name: str) -> None:
    engine = make_engine(server.db_url)
    with transaction(engine) as s:  # no use case disables an account yet: the row, as an operator would
        s.execute(update(Account).where(Account.username == name).values(disabled=True))
    engine.dispose()


ENDINGS: dict[str, Callable[[Server, Path, str], None]] = {
    "password changed": lambda srv, tmp, name: cli(srv, tmp, "account", "password", name, "--password", NEW_PASSWORD),
    "end-sessions": lambda srv, tmp, name: cli(srv, tmp, "account", "end-sessions", name),
    "account disabled": lambda srv, tmp, name: disable(srv, name),
}


@pytest.mark.parametrize("ending", ENDINGS)
def test_an_open_session_is_logged_out_at_its_next_click(page: Page, server: Server, tmp_path: Path, ending: str):
    name = new_account(server)
    login(page, server, name)
    nav = page.get_by_test_id("stSidebarNav")
    nav.get_by_text("Phones").click()  # a click that works while the session is good
    expect(page.get_by_role("heading", name="Phones")).to_be_visible()
    wait_idle(page)
    expect(page.get_by_role("button", name="Log in")).to_have_count(0)

    ENDINGS[ending](server, tmp_path, name)

    assert [c for c in page.context.cookies() if c["name"] == "voipadmin_session"]  # the browser still holds it
    nav.get_by_text("Overview").click()
    page.wait_for_url("**/session/login?next=**")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    page.goto(f"{server.url}/phones")  # a fresh page with the old cookie: still out
    page.wait_for_url("**/session/login?next=**")
    if ending == "password changed":  # the new password lets the account back in
        page.get_by_label("User name").fill(name)
        page.get_by_label("Password").fill(NEW_PASSWORD)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_test_id("stSidebarNav")).to_be_visible()
