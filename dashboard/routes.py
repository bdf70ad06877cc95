"""HTTP routes next to the Streamlit app (st.App): the login form and logout, which set the cookies.

A Streamlit script can read cookies but not set them, so logging in is a plain HTML form posted
here: the password goes to core.accounts.authenticate and never through the Streamlit session.

These handlers run on the dashboard's event loop (the same one that serves every websocket), so
nothing slow runs here: the throttle (core.login_throttle) answers a throttled attempt at once,
without a lookup or a hash, and the database + argon2 work goes to a small pool of threads.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable
from functools import lru_cache
from urllib.parse import quote

import anyio
import anyio.to_thread
from sqlalchemy import Engine
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from core import accounts
from core.db import make_engine, transaction
from core.login_throttle import LoginThrottle, limits_from_settings
from core.settings import current_settings
from dashboard import web_session
from dashboard.i18n import LANGUAGES, TEXTS

LOGIN_PATH = "/session/login"
LOGOUT_PATH = "/session/logout"
LANG_COOKIE = "voipadmin_lang"  # the language of the login form; not a secret, readable by the page
LANG_COOKIE_TTL = 365 * 86400
HASH_THREADS = 2  # argon2 runs at most this many at once (each takes ~64 MiB and a core for ~50 ms)
MAX_WAITING = 32  # logins queued for a hashing thread; past that, "busy" at once (a flood from many sources)

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
{chosen}<button type="submit">{submit}</button>
<nav>{language}: {switch}</nav>
</form></body></html>"""


def accept_language(header: str) -> str | None:
    """The first of our languages the browser lists, by its q-values (`en-US,en;q=0.9,fr;q=0.8`)."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        code = tag.strip().lower()[:2]
        if code in LANGUAGES and q > 0:
            ranked.append((-q, i, code))
    return min(ranked)[2] if ranked else None


def form_language(request: Request, form_lang: str | None = None) -> str:
    """The login form's language: the form's own switch, else the voipadmin_lang cookie (the account's
    last language in this browser), else the browser's Accept-Language, else French."""
    for wanted in (form_lang, request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if wanted in LANGUAGES:
            return wanted
    return accept_language(request.headers.get("accept-language", "")) or "fr"


def safe_next(raw: str | None) -> str:
    """Only a path on this site: no open redirect to another host."""
    if not raw or not raw.startswith("/") or raw.startswith("//") or "\\" in raw or LOGIN_PATH in raw:
        return "/"
    return raw


def login_page(
    lang: str, next_path: str = "/", error: str | None = None, status: int = 200, chosen: bool = False,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:  # fmt: skip
    """The form in `lang`. `error` is an i18n key; `chosen` marks a language picked on the form's own switch."""
    tr = TEXTS[lang]
    other = "en" if lang == "fr" else "fr"
    body = _PAGE.format(
        lang=lang,
        action=LOGIN_PATH,
        error=f'<p class="error" role="alert">{html.escape(tr[error])}</p>' if error else "",
        username=html.escape(tr["username_login"]),
        password=html.escape(tr["password_login"]),
        submit=html.escape(tr["login"]),
        next=html.escape(next_path),
        chosen='<input type="hidden" name="lang_chosen" value="1">' if chosen else "",
        language=html.escape(tr["language"]),
        # The other language's name is written in that language (and marked so), as language pickers do.
        switch=f'<a href="{LOGIN_PATH}?lang={other}&amp;next={html.escape(quote(next_path, safe="/"))}" '
        f'hreflang="{other}" '
        f'lang="{other}">{html.escape(TEXTS[other]["language_name"])}</a>',
    )
    all_headers = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", **(headers or {})}
    return HTMLResponse(body, status_code=status, headers=all_headers)


def set_language_cookie(response: Response, lang: str, secure: bool) -> None:
    response.set_cookie(LANG_COOKIE, lang, max_age=LANG_COOKIE_TTL, path="/", samesite="strict", secure=secure)


def build_routes(
    get_engine: Callable[[], Engine],
    ttl: int = web_session.DEFAULT_TTL,
    throttle: LoginThrottle | None = None,
    clock: Callable[[], float] = time.monotonic,
    max_waiting: int = MAX_WAITING,
) -> list[Route]:
    throttle = throttle or LoginThrottle(limits_from_settings(current_settings()))
    limiter = anyio.CapacityLimiter(HASH_THREADS)  # bounded: a flood queues here, not on the CPU
    in_flight = [0]  # logins hashing or queued for it; counted on the loop, so a burst cannot overshoot

    def check_password(username: str, password: str, chosen_lang: str | None) -> tuple[int, int, str] | None:
        """In a worker thread: (account id, session epoch, language) if the password is right."""
        with transaction(get_engine()) as s:
            actor = accounts.authenticate(s, username, password)
            if actor is None or actor.account_id is None:
                return None
            if chosen_lang:  # picked on the login form's own switch: a language choice like any other
                accounts.set_language(s, actor, chosen_lang)
            return actor.account_id, accounts.session_epoch(s, actor.account_id), accounts.language_of(s, actor)

    async def show(request: Request) -> Response:
        lang = form_language(request)
        chosen = request.query_params.get("lang") in LANGUAGES
        response = login_page(lang, safe_next(request.query_params.get("next")), chosen=chosen)
        if chosen:
            set_language_cookie(response, lang, _secure(request))
        return response

    async def submit(request: Request) -> Response:
        form = await request.form()
        username, password = str(form.get("username") or ""), str(form.get("password") or "")
        lang, next_path = form_language(request, str(form.get("lang") or "")), safe_next(str(form.get("next") or ""))
        chosen = lang if form.get("lang_chosen") == "1" else None
        origin = request.headers.get("origin")
        if origin and origin not in (f"{request.url.scheme}://{request.url.netloc}", "null"):
            return login_page(lang, next_path, error="login_cross_site", status=403, chosen=bool(chosen))  # CSRF
        source = request.client.host if request.client else None
        wait = throttle.attempt(source, username, clock())
        if wait:
            # Decided before any lookup: the same answer, at once, for an account that exists and one that does not.
            return login_page(lang, next_path, error="login_throttled", status=429, chosen=bool(chosen),
                              headers={"Retry-After": str(wait)})  # fmt: skip
        found = None
        if username and password:
            if in_flight[0] >= HASH_THREADS + max_waiting:
                return login_page(lang, next_path, error="login_busy", status=503, chosen=bool(chosen),
                                  headers={"Retry-After": "5"})  # fmt: skip
            in_flight[0] += 1
            try:
                found = await anyio.to_thread.run_sync(check_password, username, password, chosen, limiter=limiter)
            finally:
                in_flight[0] -= 1
        if found is None:
            return login_page(lang, next_path, error="login_failed", status=401, chosen=bool(chosen))
        throttle.succeeded(source, username)
        account_id, epoch, account_lang = found
        token = web_session.issue(current_settings().secret_key(), account_id, time.time(), ttl, epoch)
        response = RedirectResponse(next_path, status_code=303)
        response.set_cookie(web_session.COOKIE_NAME, token, **web_session.cookie_options(_secure(request), ttl))
        set_language_cookie(response, account_lang, _secure(request))
        return response

    def account_language(account_id: int) -> str | None:
        with transaction(get_engine()) as s:
            actor = accounts.actor_by_id(s, account_id)
            return accounts.language_of(s, actor) if actor is not None else None

    async def logout(request: Request) -> Response:
        response = RedirectResponse(LOGIN_PATH, status_code=303)
        session = web_session.verify(
            current_settings().secret_key(), request.cookies.get(web_session.COOKIE_NAME), time.time()
        )
        if session is not None:  # the login form that follows speaks the account's (last chosen) language
            account_lang = await anyio.to_thread.run_sync(account_language, session.account_id)
            if account_lang:
                set_language_cookie(response, account_lang, _secure(request))
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
