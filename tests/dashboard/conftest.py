"""AppTest fixtures: the real app.py on a seeded throwaway database, logged in as a chosen account.

AppTest runs the script without a browser and cannot send cookies, so a test logs in the way a verified cookie
does: by putting the account id in session_state (dashboard.auth.ACCOUNT_KEY).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from core import accounts, devices, keys
from core.db import transaction
from core.models import Registration
from core.permissions import Actor
from core.settings import current_settings
from dashboard.auth import ACCOUNT_KEY
from dashboard.i18n import LANG_KEY

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"


@dataclass
class World:
    """tests/conftest.py's Seed plus accounts of each role and devices on several lines."""

    seed: object
    provider_id: int
    admin_a_id: int
    admin_b_id: int
    alice_id: int  # user of line a1
    desk_a1: int  # yealink-t46u with an expansion module, on line a1
    soft_a1: int  # linphone softphone on line a1
    desk_a2: int  # snom-d785 on line a2 (Bob)
    desk_b1: int  # yealink-t46u on line b1 (globex)


@pytest.fixture
def world(engine: Engine, seed, provider: Actor, db_url: str, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("VOIPADMIN_DB_URL", db_url)
    current_settings.cache_clear()
    with transaction(engine) as s:
        ids = {}
        for username, role, extra in (
            ("support", "provider", {}),
            ("admin-acme", "vpbx_admin", {"vpbx_name": "acme"}),
            ("admin-globex", "vpbx_admin", {"vpbx_name": "globex"}),
            ("alice", "user", {"line_number": "+41215550101"}),
        ):
            view, _ = accounts.add_account(s, provider, username, role, password=PASSWORD, **extra)
            ids[username] = view["id"]
        desk = devices.add_device(s, provider, seed.line_a1, "yealink-t46u", mac="805EC0112233",
                                  label="Bureau Alice", expansion="yealink-exp43:1")  # fmt: skip
        keys.set_key(s, provider, desk["id"], 1, "line", "1", "Alice")
        keys.set_key(s, provider, desk["id"], 2, "blf", "102", "Bob")
        soft = devices.add_device(s, provider, seed.line_a1, "linphone-ipphone", label="Mobile Alice")
        bob = devices.add_device(s, provider, seed.line_a2, "snom-d785", mac="000413AABBCC", label="Bureau Bob")
        carol = devices.add_device(s, provider, seed.line_b1, "yealink-t46u", mac="805EC0998877", label="Carol")
    return World(seed, ids["support"], ids["admin-acme"], ids["admin-globex"], ids["alice"],
                 desk["id"], soft["id"], bob["id"], carol["id"])  # fmt: skip


@pytest.fixture
def app(world: World) -> Callable[..., AppTest]:
    """`app(account_id, page=None, lang="en", **query)`: the app run once, logged in, on `page`.

    The pages' st.cache_data lives as long as the process and is keyed by the database URL; on PostgreSQL every
    test's fresh database has the same URL, so what an earlier test cached is emptied first."""
    st.cache_data.clear()

    def make(account_id: int | None, page: str | None = None, lang: str = "en", **query: str) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        if account_id is not None:
            at.session_state[ACCOUNT_KEY] = account_id
        at.session_state[LANG_KEY] = lang
        for name, value in query.items():
            at.query_params[name] = value
        at.run()
        if page is not None:
            at.switch_page(page)
            for name, value in query.items():
                at.query_params[name] = value
            at.run()
        assert not at.exception, at.exception
        return at

    return make


@pytest.fixture
def shown() -> Callable[[AppTest], str]:
    return texts


def texts(at: AppTest) -> str:
    """Everything the page shows as text (markdown, titles, captions, alerts, tables, widget labels)."""
    parts: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success", "code"):
        parts += [str(e.value) for e in getattr(at, kind)]
    for df in at.dataframe:
        parts.append(df.value.to_string())
    for kind in ("text_input", "selectbox", "button", "expander"):
        for w in getattr(at, kind):
            parts.append(str(getattr(w, "label", "")))
            if kind == "text_input":
                parts.append(str(w.value))
            if kind == "selectbox":
                parts += [str(o) for o in w.options]
    return "\n".join(parts)


def register(engine: Engine, world: World) -> None:
    """A live binding of Alice's desk phone (its MAC in the User-Agent)."""
    with transaction(engine) as s:
        s.add(Registration(aor="sip:41215550101@acme.voip.example", contact="sip:41215550101@192.0.2.10:5062",
                           line_id=world.seed.line_a1, source_ip="192.0.2.10", source_port=5062, transport="udp",
                           user_agent="Yealink SIP-T46U 108.86.0.20 80:5e:c0:11:22:33", call_id="c1", cseq=1,
                           expires_at=datetime.now(UTC) + timedelta(minutes=10)))  # fmt: skip
