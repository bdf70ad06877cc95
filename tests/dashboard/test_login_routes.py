"""dashboard.routes: the login form and logout that set and clear the signed cookie."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from core import accounts, web_session
from core.db import transaction
from core.settings import current_settings
from dashboard.routes import LOGIN_PATH, LOGOUT_PATH, build_routes, safe_next

PASSWORD = "correct horse battery"


@pytest.fixture
def client(engine, provider, monkeypatch, db_url):
    monkeypatch.setenv("VOIPADMIN_DB_URL", db_url)
    current_settings.cache_clear()
    with transaction(engine) as s:
        view, _ = accounts.add_account(s, provider, "support", "provider", password=PASSWORD)
    return Client(Starlette(routes=build_routes(lambda: engine, ttl=600)), view["id"])


class Client:
    """Sync calls into the ASGI app through httpx (no server, no network)."""

    def __init__(self, app: Starlette, account_id: int) -> None:
        self.app, self.account_id = app, account_id

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
                return await c.request(method, url, **kwargs)

        return asyncio.run(go())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)


def test_good_password_sets_a_signed_httponly_cookie(client):
    r = client.post(LOGIN_PATH, data={"username": "support", "password": PASSWORD, "next": "/keys"})
    assert r.status_code == 303 and r.headers["location"] == "/keys"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" in cookie
    token = r.cookies[web_session.COOKIE_NAME]
    session = web_session.verify(current_settings().secret_key(), token, time.time())
    assert session is not None and session.account_id == client.account_id
    assert PASSWORD not in cookie


@pytest.mark.parametrize("username,password", [("support", "wrong password"), ("nobody", PASSWORD), ("", "")])
def test_bad_login_sets_no_cookie(client, username, password):
    r = client.post(LOGIN_PATH, data={"username": username, "password": password, "lang": "en"})
    assert r.status_code == 401
    assert "set-cookie" not in r.headers
    assert "Wrong user name or password." in r.text


def test_login_refuses_posts_from_other_sites(client):
    r = client.post(LOGIN_PATH, data={"username": "support", "password": PASSWORD},
                    headers={"origin": "https://evil.example"})  # fmt: skip
    assert r.status_code == 403 and "set-cookie" not in r.headers


def test_logout_deletes_the_cookie(client):
    r = client.get(LOGOUT_PATH)
    assert r.status_code == 303 and r.headers["location"] == LOGIN_PATH
    assert (
        r.headers["set-cookie"].startswith(f'{web_session.COOKIE_NAME}=""') and "Max-Age=0" in r.headers["set-cookie"]
    )


def test_form_is_bilingual_and_escapes_next(client):
    assert "Nom d&#x27;utilisateur" in client.get(LOGIN_PATH + "?lang=fr").text
    assert "User name" in client.get(LOGIN_PATH + "?lang=en").text
    page = client.get(LOGIN_PATH, params={"next": '/keys"><script>alert(1)</script>'}).text
    assert "<script>alert" not in page


@pytest.mark.parametrize(
    "raw,expected",
    [("/keys", "/keys"), ("//evil.example", "/"), ("https://evil.example", "/"), ("/\\evil", "/"), (None, "/"),
     (LOGIN_PATH, "/")],
)  # fmt: skip
def test_next_stays_on_this_site(raw, expected):
    assert safe_next(raw) == expected
