"""Ending sessions, in AppTest: a session holding what a verified cookie gives it (account id and session
epoch, dashboard/auth.py) shows the login prompt at its next run after a password change, "end sessions" or
a disabled account. The browser test (tests/browser/test_session_end.py) does the same with the real cookie."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine, update
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from core import accounts
from core.db import transaction
from core.models import Account
from core.permissions import Actor
from dashboard.auth import ACCOUNT_KEY, EPOCH_KEY
from dashboard.i18n import LANG_KEY
from tests.dashboard.conftest import ROOT, World, texts

LOGIN_PROMPT = "Log in to use the AdminCenter."


def _disable(s: Session, provider: Actor) -> None:
    s.execute(update(Account).where(Account.username == "alice").values(disabled=True))


ENDINGS: dict[str, Callable[[Session, Actor], None]] = {
    "password changed": lambda s, p: accounts.set_password(s, p, "alice", "another horse battery"),
    "end sessions": lambda s, p: accounts.end_sessions(s, p, "alice"),
    "account disabled": _disable,
}


@pytest.mark.parametrize("ending", ENDINGS)
def test_an_open_session_shows_the_login_prompt_at_its_next_run(
    world: World, engine: Engine, provider: Actor, ending: str
) -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    with transaction(engine) as s:
        at.session_state[EPOCH_KEY] = accounts.session_epoch(s, world.alice_id)
    at.session_state[ACCOUNT_KEY] = world.alice_id
    at.session_state[LANG_KEY] = "en"
    at.run()
    assert not at.exception and LOGIN_PROMPT not in texts(at)
    assert [t.value for t in at.title] == ["Overview"]
    at.run()  # a second run of a good session stays in
    assert LOGIN_PROMPT not in texts(at)

    with transaction(engine) as s:
        ENDINGS[ending](s, provider)

    at.run()
    assert not at.exception
    assert LOGIN_PROMPT in texts(at) and "Overview" not in [t.value for t in at.title]
    assert ACCOUNT_KEY not in at.session_state
