import pytest
from sqlalchemy import select

from core import accounts
from core.db import transaction
from core.errors import NotFound, PermissionDenied, ValidationError
from core.models import Account

pytestmark = pytest.mark.db


def test_accounts_hash_and_authenticate(engine, provider, seed):
    with transaction(engine) as s:
        view, generated = accounts.add_account(s, provider, "alice", "user", line_number="+41215550101")
        assert generated and len(generated) == 16
        stored = s.scalar(select(Account.password_hash).where(Account.username == "alice"))
    assert stored.startswith("$argon2id$") and generated not in stored
    with transaction(engine) as s:
        actor = accounts.authenticate(s, "alice", generated)
        assert actor is not None and actor.role == "user" and actor.line_id == seed.line_a1
        assert accounts.authenticate(s, "alice", generated + "x") is None
        assert accounts.authenticate(s, "nobody", generated) is None


@pytest.mark.parametrize(
    "username, role, kw, field",
    [
        ("x", "user", {"line_number": "+41215550101"}, "username"),
        ("bob", "root", {}, "role"),
        ("bob", "user", {}, "line"),
        ("bob", "vpbx_admin", {}, "vpbx"),
        ("bob", "vpbx_admin", {"vpbx_name": "nope"}, "vpbx"),
        ("bob", "provider", {"vpbx_name": "acme"}, "role"),
        ("bob", "user", {"line_number": "+41215550101", "password": "short"}, "password"),
    ],
)
def test_account_refusals(engine, provider, seed, username, role, kw, field):
    with pytest.raises(ValidationError) as err, transaction(engine) as s:
        accounts.add_account(s, provider, username, role, **kw)
    assert err.value.field == field


def test_admins_create_accounts_only_in_their_vpbx(engine, seed):
    with transaction(engine) as s:
        accounts.add_account(s, seed.admin_a, "bob", "user", line_number="+41215550102", password="long-enough-1")
        with pytest.raises(PermissionDenied):
            accounts.add_account(s, seed.admin_a, "root2", "provider", password="long-enough-1")
        with pytest.raises(PermissionDenied):
            accounts.add_account(s, seed.admin_a, "adm2", "vpbx_admin", vpbx_name="globex", password="long-enough-1")
        with pytest.raises(PermissionDenied):
            accounts.add_account(s, seed.user_a1, "eve", "user", line_number="+41215550101", password="long-enough-1")


def test_disabled_account_cannot_log_in(engine, provider, seed):
    with transaction(engine) as s:
        accounts.add_account(s, provider, "carol", "vpbx_admin", vpbx_name="globex", password="long-enough-1")
        s.scalar(select(Account).where(Account.username == "carol")).disabled = True
    with transaction(engine) as s:
        assert accounts.authenticate(s, "carol", "long-enough-1") is None


def test_password_change_and_end_sessions_move_the_session_epoch(engine, provider, seed):
    with transaction(engine) as s:
        view, _ = accounts.add_account(s, provider, "dave", "vpbx_admin", vpbx_name="acme", password="long-enough-1")
        epoch = accounts.session_epoch(s, view["id"])
        assert accounts.actor_by_id(s, view["id"], epoch) is not None
        accounts.set_password(s, provider, "dave", "another-long-1")
        assert accounts.actor_by_id(s, view["id"], epoch) is None  # the old session is over
        epoch = accounts.session_epoch(s, view["id"])
        dave = accounts.actor_by_id(s, view["id"], epoch)
        accounts.end_sessions(s, dave, "dave")  # "log out everywhere", by the account itself
        assert accounts.actor_by_id(s, view["id"], epoch) is None
        with pytest.raises(PermissionDenied):
            accounts.end_sessions(s, seed.admin_b, "dave")


def test_an_account_keeps_its_own_language_choice(engine, provider, seed):
    with transaction(engine) as s:
        view, _ = accounts.add_account(s, provider, "erin", "user", line_number="+41215550101", password="long-enough")
        erin = accounts.actor_by_id(s, view["id"])
        assert accounts.language_of(s, erin) == "fr"  # the default
        accounts.set_language(s, erin, "en")
    with transaction(engine) as s:
        assert accounts.language_of(s, accounts.actor_by_id(s, view["id"])) == "en"  # kept across sessions
        with pytest.raises(ValidationError) as err:
            accounts.set_language(s, erin, "de")
        assert err.value.field == "language"
        with pytest.raises(NotFound):
            accounts.set_language(s, provider, "en")  # the system actor has no account to keep it in
        assert accounts.language_of(s, erin) == "en"
