"""Who is using this Streamlit session: the signed cookie set by /session/login, checked on every run.

The cookie is read from `st.context.cookies` (the script cannot set cookies; the login and logout
routes in dashboard/routes.py do). The verified account id is kept in session_state so a session
keeps working if the cookie expires mid-visit only until the next check: every run re-verifies
the cookie's expiry and re-reads the account, so a disabled account stops at its next click.
"""

from __future__ import annotations

import time

import streamlit as st

from core.accounts import actor_by_id
from core.permissions import Actor
from core.settings import current_settings
from dashboard import web_session
from dashboard.db import tx
from dashboard.routes import LOGIN_PATH, LOGOUT_PATH

__all__ = ["LOGIN_PATH", "LOGOUT_PATH", "current_actor", "forget"]
ACCOUNT_KEY = "auth_account_id"
EXPIRES_KEY = "auth_expires_at"
EPOCH_KEY = "auth_session_epoch"


def _cookie_session() -> web_session.WebSession | None:
    try:
        token = st.context.cookies.get(web_session.COOKIE_NAME)
    except Exception:  # no browser context (AppTest): there is no cookie to read
        token = None
    return web_session.verify(current_settings().secret_key(), token, time.time())


def current_actor() -> Actor | None:
    """The logged-in account's Actor, or None. Never trusts anything the browser sends unsigned."""
    account_id = st.session_state.get(ACCOUNT_KEY)
    expires = st.session_state.get(EXPIRES_KEY)
    if account_id is None or (expires is not None and expires <= time.time()):
        session = _cookie_session()
        if session is None:
            st.session_state.pop(ACCOUNT_KEY, None)
            return None
        account_id, expires = session.account_id, session.expires_at
        st.session_state[ACCOUNT_KEY], st.session_state[EXPIRES_KEY] = account_id, expires
        st.session_state[EPOCH_KEY] = session.epoch
    with tx() as s:
        actor = actor_by_id(s, int(account_id), st.session_state.get(EPOCH_KEY))
    if actor is None:  # deleted, disabled or sessions ended since login
        st.session_state.pop(ACCOUNT_KEY, None)
        st.session_state.pop(EPOCH_KEY, None)
    return actor


def forget() -> None:
    """Drop this session's login (the logout route deletes the cookie)."""
    for key in (ACCOUNT_KEY, EXPIRES_KEY, EPOCH_KEY):
        st.session_state.pop(key, None)
