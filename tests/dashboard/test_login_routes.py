"""dashboard.routes: the login form and logout that set and clear the signed cookie."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from core import accounts
from core.db import transaction
from core.login_throttle import Limits, LoginThrottle
from core.models import Account
from core.settings import current_settings
from dashboard import web_session
from dashboard.routes import LANG_COOKIE, LOGIN_PATH, LOGOUT_PATH, accept_language, build_routes, safe_next

PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(engine, provider, monkeypatch, db_url, clock):
    monkeypatch.setenv("VOIPADMIN_DB_URL", db_url)
    current_settings.cache_clear()
    with transaction(engine) as s:
        view, _ = accounts.add_account(s, provider, "support", "provider", password=PASSWORD)
    throttle = LoginThrottle(Limits(per_account=3, per_source=6, window=60))
    return Client(Starlette(routes=build_routes(lambda: engine, ttl=600, throttle=throttle, clock=clock)), view["id"])


class Client:
    """Sync calls into the ASGI app through httpx (no server, no network)."""

    def __init__(self, app: Starlette, account_id: int) -> None:
        self.app, self.account_id = app, account_id

    def request(self, method: str, url: str, source: str = "192.0.2.10", **kwargs: Any) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=(source, 40000))
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


def _login(client: Client, username: str, password: str, source: str = "192.0.2.10", **form: str) -> httpx.Response:
    return client.post(LOGIN_PATH, data={"username": username, "password": password, **form}, source=source)


def test_an_account_is_throttled_after_so_many_failures_and_lets_in_after_the_window(client, clock):
    assert [_login(client, "support", f"guess {i}").status_code for i in range(3)] == [401, 401, 401]
    r = _login(client, "support", PASSWORD, lang="en")  # the right password, while throttled
    assert r.status_code == 429 and "set-cookie" not in r.headers
    assert "Too many login attempts. Try again in a few minutes." in r.text
    assert r.headers["retry-after"] == "60"
    assert _login(client, "support", PASSWORD, source="198.51.100.7").status_code == 429  # from anywhere
    clock.now += 60
    r = _login(client, "support", PASSWORD)
    assert r.status_code == 303 and web_session.COOKIE_NAME in r.cookies


def test_a_source_is_throttled_whatever_names_it_tries_and_other_sources_are_not(client):
    assert {_login(client, f"guess{i}", "wrong password").status_code for i in range(6)} == {401}
    assert _login(client, "support", PASSWORD).status_code == 429
    assert _login(client, "support", PASSWORD, source="198.51.100.7").status_code == 303


def test_throttled_answers_do_not_tell_known_from_unknown_accounts(client):
    for name in ("support", "nobody"):
        for i in range(3):
            _login(client, name, f"guess {i}", source=f"198.51.100.{i}")
    known, unknown = _login(client, "support", "x", lang="fr"), _login(client, "nobody", "x", lang="fr")
    assert (known.status_code, known.text, known.headers["retry-after"]) == (
        unknown.status_code, unknown.text, unknown.headers["retry-after"])  # fmt: skip
    assert "Trop de tentatives de connexion." in known.text


def test_a_throttled_attempt_looks_nothing_up_and_hashes_nothing(client, monkeypatch):
    checked: list[str] = []
    real = accounts.authenticate

    def counting(session, username, password):
        checked.append(username)
        return real(session, username, password)

    monkeypatch.setattr(accounts, "authenticate", counting)
    for i in range(10):
        _login(client, "support", f"guess {i}")
    assert checked == ["support"] * 3


def test_hashing_runs_off_the_event_loop(client, monkeypatch):
    """The lookup and argon2 run in a worker thread, not on the thread running the event loop."""
    loop_threads: set[int] = set()
    real = accounts.authenticate

    def recording(session, username, password):
        loop_threads.add(threading.get_ident())
        return real(session, username, password)

    monkeypatch.setattr(accounts, "authenticate", recording)
    _login(client, "support", "wrong password")
    assert loop_threads and threading.get_ident() not in loop_threads  # asyncio.run's loop is this thread


def test_the_form_speaks_the_cookie_language_then_the_browser_s_then_french(client):
    def form(headers: dict[str, str]) -> str:
        return client.get(LOGIN_PATH, headers=headers).text

    assert 'lang="en"' in form({"cookie": f"{LANG_COOKIE}=en", "accept-language": "fr-CH,fr;q=0.9"})
    assert 'lang="fr"' in form({"cookie": f"{LANG_COOKIE}=fr", "accept-language": "en-US"})
    assert 'lang="en"' in form({"accept-language": "de-CH, en;q=0.5, fr;q=0.3"})
    page = form({"accept-language": "de-CH"})
    assert '<html lang="fr">' in page and "Mot de passe" in page and "Password" not in page
    assert 'hreflang="en" lang="en">English</a>' in page  # the switch, written in its own language


@pytest.mark.parametrize(
    "header,expected",
    [("en-US,en;q=0.9", "en"), ("fr-CH, fr;q=0.9, en;q=0.8", "fr"), ("de, en;q=0.2, fr;q=0.7", "fr"),
     ("en;q=0", None), ("", None), ("*", None), ("en;q=bad, fr", "fr")],
)  # fmt: skip
def test_accept_language_follows_the_q_values(header, expected):
    assert accept_language(header) == expected


def test_the_form_s_language_switch_sets_the_cookie(client):
    r = client.get(LOGIN_PATH + "?lang=en&next=/keys")
    assert r.cookies[LANG_COOKIE] == "en" and "User name" in r.text
    assert 'href="/session/login?lang=fr&amp;next=/keys"' in r.text
    assert 'name="lang_chosen"' in r.text
    deep = client.get(LOGIN_PATH, params={"lang": "en", "next": "/keys?device=1&line=2"}).text
    assert 'next=/keys%3Fdevice%3D1%26line%3D2"' in deep  # the switch keeps the whole deep link
    assert LANG_COOKIE not in client.get(LOGIN_PATH).cookies  # only a choice sets it


def _language(engine, username: str) -> str:
    with transaction(engine) as s:
        return s.query(Account).filter_by(username=username).one().language


def test_login_sets_the_language_cookie_to_the_account_s_language(client, engine):
    r = _login(client, "support", PASSWORD, lang="en")  # an English form, not chosen on it: the account's wins
    assert r.status_code == 303 and r.cookies[LANG_COOKIE] == "fr" and _language(engine, "support") == "fr"


def test_a_language_chosen_on_the_form_is_kept_with_the_account(client, engine):
    r = _login(client, "support", PASSWORD, lang="en", lang_chosen="1")
    assert r.status_code == 303 and r.cookies[LANG_COOKIE] == "en" and _language(engine, "support") == "en"
    assert _login(client, "support", "wrong password", lang="fr", lang_chosen="1").status_code == 401
    assert _language(engine, "support") == "en"  # a wrong password changes nothing


def test_logout_leaves_the_login_form_in_the_account_s_language(client, engine):
    with transaction(engine) as s:
        accounts.set_language(s, accounts.actor_by_id(s, client.account_id), "en")
    token = web_session.issue(current_settings().secret_key(), client.account_id, time.time(), 600)
    r = client.get(LOGOUT_PATH, headers={"cookie": f"{web_session.COOKIE_NAME}={token}; {LANG_COOKIE}=fr"})
    assert r.status_code == 303 and r.cookies[LANG_COOKIE] == "en"
    assert any(h.startswith(f'{web_session.COOKIE_NAME}=""') for h in r.headers.get_list("set-cookie"))
    assert "User name" in client.get(LOGIN_PATH, headers={"cookie": f"{LANG_COOKIE}=en"}).text
    forged = client.get(LOGOUT_PATH, headers={"cookie": f"{web_session.COOKIE_NAME}={token[:-3]}xyz"})
    assert LANG_COOKIE not in forged.cookies  # an unsigned cookie tells nothing about any account


def test_past_a_full_hashing_queue_logins_are_answered_busy_at_once(engine, provider, monkeypatch, db_url):
    """A flood from more sources than the throttle holds back: 2 hash, 1 waits, the rest hear "busy"."""
    monkeypatch.setenv("VOIPADMIN_DB_URL", db_url)
    current_settings.cache_clear()
    throttle = LoginThrottle(Limits(per_account=100, per_source=100, window=60))
    app = Starlette(routes=build_routes(lambda: engine, throttle=throttle, max_waiting=1))

    async def flood() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://testserver") as c:
            forms = [{"username": f"guess{i}", "password": "wrong password", "lang": "en"} for i in range(8)]
            return await asyncio.gather(*(c.post(LOGIN_PATH, data=form) for form in forms))

    answers = asyncio.run(flood())
    assert sorted(r.status_code for r in answers) == [401] * 3 + [503] * 5
    busy = next(r for r in answers if r.status_code == 503)
    assert "Too many logins under way." in busy.text and busy.headers["retry-after"] == "5"
