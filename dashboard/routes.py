"""HTTP routes next to the Streamlit app (st.App): the login form and logout, which set the cookie.

A Streamlit script can read cookies but not set them, so logging in is a plain HTML form posted
here: the password goes to core.accounts.authenticate and never through the Streamlit session.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from functools import lru_cache

from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from core import web_session
from core.accounts import authenticate, session_epoch
from core.db import make_engine, transaction
from core.settings import current_settings
from dashboard.i18n import LANGUAGES, TEXTS

LOGIN_PATH = "/session/login"
LOGOUT_PATH = "/session/logout"

_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>AdminCenter</title>
<style>
body{{font-family:system-ui,sans-serif;background:#f5f6f8;display:flex;justify-content:center;padding-top:10vh;margin:0}}
form{{background:#fff;padding:2rem 2.5rem;border-radius:8px;box-shadow:0 1px 4px #0002;min-width:18rem}}
label{{display:block;margin:.8rem 0 .2rem}} input{{width:100%;padding:.5rem;box-sizing:border-box}}
button{{margin-top:1.2rem;width:100%;padding:.6rem;background:#ff4b4b;color:#fff;border:0;border-radius:4px}}
.error{{color:#b00020}} nav{{margin-top:1rem;font-size:.9em}}
</style></head>
<body><form method="post" action="{action}">
<h1>AdminCenter</h1>
{error}
<label for="username">{username}</label><input id="username" name="username" autocomplete="username" required autofocus>
<label for="password">{password}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<input type="hidden" name="next" value="{next}"><input type="hidden" name="lang" value="{lang}">
<button type="submit">{submit}</button>
<nav>{switch}</nav>
</form></body></html>"""


def _lang(request: Request, form_lang: str | None = None) -> str:
    wanted = form_lang or request.query_params.get("lang")
    if wanted in LANGUAGES:
        return wanted
    accept = request.headers.get("accept-language", "")
    return "en" if accept.lower().startswith("en") else "fr"


def safe_next(raw: str | None) -> str:
    """Only a path on this site: no open redirect to another host."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw or LOGIN_PATH in raw:
        return "/"
    return raw


def login_page(lang: str, next_path: str = "/", error: bool = False, status: int = 200) -> HTMLResponse:
    tr = TEXTS[lang]
    other = "en" if lang == "fr" else "fr"
    body = _PAGE.format(
        lang=lang,
        action=LOGIN_PATH,
        error=f'<p class="error" role="alert">{html.escape(tr["login_failed"])}</p>' if error else "",
        username=html.escape(tr["username_login"]),
        password=html.escape(tr["password_login"]),
        submit=html.escape(tr["login"]),
        next=html.escape(next_path),
        switch=f'<a href="{LOGIN_PATH}?lang={other}">{html.escape(TEXTS[other]["language_name"])}</a>',
    )
    headers = {"Cache-Control": "no-store", "X-Frame-Options": "DENY"}
    return HTMLResponse(body, status_code=status, headers=headers)


def build_routes(get_engine: Callable[[], Engine], ttl: int = web_session.DEFAULT_TTL) -> list[Route]:
    async def show(request: Request) -> Response:
        return login_page(_lang(request), safe_next(request.query_params.get("next")))

    async def submit(request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin and origin not in (f"{request.url.scheme}://{request.url.netloc}", "null"):
            return Response("cross-site login refused", status_code=403)  # login CSRF
        form = await request.form()
        username, password = str(form.get("username") or ""), str(form.get("password") or "")
        lang, next_path = _lang(request, str(form.get("lang") or "")), safe_next(str(form.get("next") or ""))
        with transaction(get_engine()) as s:
            actor = authenticate(s, username, password) if username and password else None
            epoch = session_epoch(s, actor.account_id) if actor and actor.account_id is not None else 0
        if actor is None or actor.account_id is None:
            return login_page(lang, next_path, error=True, status=401)
        token = web_session.issue(current_settings().secret_key(), actor.account_id, time.time(), ttl, epoch)
        response = RedirectResponse(next_path, status_code=303)
        response.set_cookie(web_session.COOKIE_NAME, token, **web_session.cookie_options(_secure(request), ttl))
        return response

    async def logout(request: Request) -> Response:
        response = RedirectResponse(LOGIN_PATH, status_code=303)
        response.delete_cookie(web_session.COOKIE_NAME, path="/", httponly=True, samesite="strict")
        return response

    return [
        Route(LOGIN_PATH, show, methods=["GET"]),
        Route(LOGIN_PATH, submit, methods=["POST"]),
        Route(LOGOUT_PATH, logout, methods=["GET", "POST"]),
    ]


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


@lru_cache(maxsize=1)
def _process_engine() -> Engine:
    # The routes run outside any script run, so not through st.cache_resource.
    return make_engine(current_settings().db_url)


def routes() -> list[Route]:
    """The routes app.py mounts under `streamlit run`."""
    return build_routes(_process_engine)
