"""The first line of every page: no login, no page.

Streamlit serves `pages/*.py` by direct URL before any session has run app.py's `st.navigation`
(docs/DASHBOARD.md, "The guard and pages/"), so the gate in app.py alone is not enough: each page calls
`require_login()` first. Rights on the data are checked again in core.
"""

from __future__ import annotations

import streamlit as st

from core.permissions import Actor
from dashboard.auth import LOGIN_PATH, current_actor
from dashboard.i18n import t

FRAME_KEY = "frame_running"  # set by dashboard.frame while it runs a page

# A constant script (no user data in it): send the whole tab to the login form.
_REDIRECT = (
    f'<script>window.location.replace("{LOGIN_PATH}?next=" + encodeURIComponent(window.location.pathname))</script>'
)


def login_prompt() -> None:
    """What an anonymous visitor sees: a title, a link to the login form, and nothing else."""
    st.title("AdminCenter")
    st.info(t("login_required"))
    st.markdown(f"[{t('login')}]({LOGIN_PATH})")
    st.html(_REDIRECT, unsafe_allow_javascript=True)


def require_login(*roles: str) -> Actor:
    """The acting account, or stop the script here. `roles`, when given, are the roles allowed on the page."""
    actor = current_actor()
    if actor is None:
        login_prompt()
        st.stop()
    if not st.session_state.get(FRAME_KEY):
        # Served straight from pages/ without app.py (Streamlit's pages/ discovery, before any session ran
        # st.navigation): run the frame here instead. Its st.navigation resolves this same page (v1 and
        # st.Page hashes agree: url_path = file stem) and runs it inside the frame; then this outer run ends.
        from dashboard.frame import run  # late: the frame imports this module

        run()
        st.stop()
    if roles and actor.role not in roles:
        st.error(t("forbidden"))
        st.stop()
    return actor
