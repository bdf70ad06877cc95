"""The page frame run by app.py: login gate, navigation built for the account's role, language switch."""

from __future__ import annotations

import json

import streamlit as st

from core import accounts
from core.permissions import BULK_ROLES, FRAUD_ROLES, Actor
from dashboard.auth import LOGOUT_PATH, current_actor, forget
from dashboard.db import tx
from dashboard.guard import FRAME_KEY, login_prompt
from dashboard.i18n import LANG_KEY, LANGUAGES, TEXTS, lang, t
from dashboard.routes import LANG_COOKIE, LANG_COOKIE_TTL
from dashboard.widgets import hide_english_chrome

PAGES_DIR = "pages"


def _logout() -> None:
    forget()
    st.info(t("logging_out"))
    # The cookie is HttpOnly: only the logout route can delete it, so send the tab there.
    st.html(f'<script>window.location.replace("{LOGOUT_PATH}")</script>', unsafe_allow_javascript=True)


def pages_for(actor: Actor) -> dict[str, list[st.Page]]:
    """The pages this role may open; pages left out are unreachable by URL in this session."""
    nav = {
        t("section_lines"): [
            # The default page answers at "/" only, so it is a page of its own and /phones stays a deep link.
            st.Page(f"{PAGES_DIR}/home.py", title=t("home"), icon=":material/home:", default=True),
            st.Page(f"{PAGES_DIR}/phones.py", title=t("phones"), icon=":material/phone:", url_path="phones"),
            st.Page(f"{PAGES_DIR}/keys.py", title=t("keys"), icon=":material/dialpad:", url_path="keys"),
            st.Page(f"{PAGES_DIR}/status.py", title=t("status"), icon=":material/monitor_heart:", url_path="status"),
            st.Page(f"{PAGES_DIR}/device.py", title=t("device"), icon=":material/smartphone:", url_path="device"),
            st.Page(
                f"{PAGES_DIR}/phonebook.py", title=t("phonebook"), icon=":material/contacts:", url_path="phonebook"
            ),
            st.Page(f"{PAGES_DIR}/help.py", title=t("help"), icon=":material/help:", url_path="help"),
        ]
    }
    if actor.role in BULK_ROLES:
        nav[t("section_lines")].append(
            st.Page(f"{PAGES_DIR}/bulk.py", title=t("bulk"), icon=":material/upload_file:", url_path="bulk")
        )
    if actor.role in FRAUD_ROLES:
        nav[t("section_security")] = [
            st.Page(f"{PAGES_DIR}/fraud.py", title=t("fraud"), icon=":material/policy:", url_path="fraud")
        ]
    nav[t("section_account")] = [st.Page(_logout, title=t("logout"), icon=":material/logout:", url_path="logout")]
    return nav


COOKIE_PENDING = "lang_cookie_pending"  # a language switched on this run, not yet in the browser's cookie


def _browser_language() -> str:
    """Before login: the login form's language cookie, else the browser's language if it is English,
    else French (the manual's language)."""
    try:
        cookie, locale = st.context.cookies.get(LANG_COOKIE), st.context.locale or ""
    except Exception:  # no browser context
        cookie, locale = None, ""
    if cookie in LANGUAGES:
        return str(cookie)
    return "en" if str(locale).lower().startswith("en") else "fr"


def _start_language(actor: Actor | None) -> None:
    """A session starts in its account's language (kept with the account), else the browser's."""
    if LANG_KEY in st.session_state:
        return
    if actor is None:
        st.session_state[LANG_KEY] = _browser_language()
        return
    with tx() as s:
        st.session_state[LANG_KEY] = accounts.language_of(s, actor)


def _set_language(actor: Actor) -> None:
    chosen = st.session_state.get("lang_switch")
    if chosen not in LANGUAGES or chosen == st.session_state.get(LANG_KEY):
        return
    with tx() as s:
        accounts.set_language(s, actor, chosen)  # kept with the account: the next session starts in it
    st.session_state[LANG_KEY] = chosen
    st.session_state[COOKIE_PENDING] = chosen


def _language_cookie() -> None:
    """After a switch, the login form's cookie follows (a script cannot set cookies; the page can)."""
    chosen = st.session_state.pop(COOKIE_PENDING, None)
    if chosen in LANGUAGES:
        cookie = f"{LANG_COOKIE}={chosen}; path=/; max-age={LANG_COOKIE_TTL}; samesite=strict"
        st.html(f"<script>document.cookie = {json.dumps(cookie)};</script>", unsafe_allow_javascript=True)


def _sidebar(actor: Actor) -> None:
    with st.sidebar:
        st.caption(f"{actor.name} · {t('role_' + actor.role)}")
        # A widget's state is dropped on runs that do not draw it; the chosen language must outlive those.
        st.segmented_control(
            t("language"), LANGUAGES, default=lang(), key="lang_switch", on_change=_set_language, args=(actor,),
            format_func=lambda code: TEXTS[code]["language_name"],
        )  # fmt: skip
        _language_cookie()


def run() -> None:
    st.set_page_config(page_title="AdminCenter", page_icon=":material/call:", layout="wide")
    hide_english_chrome()
    actor = current_actor()
    _start_language(actor)
    if actor is None:
        # Still call st.navigation: it switches off Streamlit's pages/ auto-discovery for this run.
        st.navigation([st.Page(login_prompt, title="AdminCenter", url_path="login")], position="hidden").run()
        return
    _sidebar(actor)
    current = st.navigation(pages_for(actor))
    st.session_state[FRAME_KEY] = True
    try:
        current.run()
    finally:
        st.session_state.pop(FRAME_KEY, None)
