"""Dashboard accounts: creation, password hashing (argon2id) and login."""

from __future__ import annotations

import re
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit
from core.credentials import new_sip_password
from core.errors import NotFound, ValidationError
from core.models import Account, Line, Vpbx
from core.permissions import ROLES, Actor, require_line, require_role, require_vpbx

_hasher = PasswordHasher()
USERNAME_RE = re.compile(r"^[A-Za-z0-9._@-]{3,64}$")
MIN_PASSWORD = 10
# Verified against when the username is unknown, so both cases cost the same (no enumeration by timing).
_DUMMY_HASH = _hasher.hash("voipadmin-timing-equaliser")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def actor_for(account: Account) -> Actor:
    return Actor(
        name=account.username,
        role=account.role,
        account_id=account.id,
        vpbx_id=account.vpbx_id,
        line_id=account.line_id,
    )


def authenticate(session: Session, username: str, password: str) -> Actor | None:
    """The account's Actor if the password is right, else None (same cost either way)."""
    account = session.scalar(select(Account).where(Account.username == username))
    try:
        _hasher.verify(account.password_hash if account else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if account is None or account.disabled:
        return None
    if _hasher.check_needs_rehash(account.password_hash):
        account.password_hash = _hasher.hash(password)
    return actor_for(account)


def actor_by_id(session: Session, account_id: int, session_epoch: int | None = None) -> Actor | None:
    """The account's Actor, unless it is gone, disabled, or (given an epoch) its sessions were ended."""
    account = session.get(Account, account_id)
    if account is None or account.disabled:
        return None
    if session_epoch is not None and session_epoch != account.session_epoch:
        return None
    return actor_for(account)


def session_epoch(session: Session, account_id: int) -> int:
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound("account_not_found", "account")
    return account.session_epoch


LANGUAGES = ("fr", "en")  # the dashboard's languages (dashboard.i18n says them)


def language_of(session: Session, actor: Actor) -> str:
    """The acting account's language, kept with the account: each dashboard session starts in it."""
    account = session.get(Account, actor.account_id) if actor.account_id is not None else None
    return account.language if account is not None and account.language in LANGUAGES else "fr"


def set_language(session: Session, actor: Actor, language: str) -> None:
    """Keep the acting account's language choice (an account sets its own only)."""
    if language not in LANGUAGES:
        raise ValidationError("one_of", "language", choices=", ".join(LANGUAGES))
    account = session.get(Account, actor.account_id) if actor.account_id is not None else None
    if account is None:
        raise NotFound("account_not_found", "account")
    account.language = language


def end_sessions(session: Session, actor: Actor, username: str) -> None:
    """Log the account out everywhere (its own choice, or the provider's)."""
    account = session.scalar(select(Account).where(Account.username == username))
    if account is None:
        raise NotFound("account_not_found_named", "account", username=username)
    if actor.account_id != account.id:
        require_role(actor, "provider", doing="end_sessions")
    account.session_epoch += 1
    audit.record(session, actor, "account.end_sessions", "account", account.id)


def actor_by_username(session: Session, username: str) -> Actor:
    account = session.scalar(select(Account).where(Account.username == username))
    if account is None or account.disabled:
        raise NotFound("account_not_found_named", "account", username=username)
    return actor_for(account)


def add_account(
    session: Session,
    actor: Actor,
    username: str,
    role: str,
    vpbx_name: str | None = None,
    line_number: str | None = None,
    password: str | None = None,
    language: str = "fr",
) -> tuple[dict[str, Any], str | None]:
    """Create a login. Returns (account view, generated password or None when one was given)."""
    require_role(actor, "provider", "vpbx_admin", doing="create_accounts")
    if not USERNAME_RE.match(username or ""):
        raise ValidationError("username_format", "username", min=3, max=64)
    if role not in ROLES:
        raise ValidationError("one_of", "role", choices=", ".join(ROLES))
    if session.scalar(select(Account.id).where(Account.username == username)) is not None:
        raise ValidationError("username_taken", "username", username=username)
    if language not in ("fr", "en"):
        raise ValidationError("one_of", "language", choices="fr, en")
    vpbx_id = line_id = None
    if role == "provider":
        require_role(actor, "provider", doing="create_provider_accounts")
        if vpbx_name or line_number:
            raise ValidationError("provider_no_scope", "role")
    elif role == "vpbx_admin":
        if not vpbx_name or line_number:
            raise ValidationError("vpbx_admin_needs_vpbx", "vpbx")
        vpbx = session.scalar(select(Vpbx).where(Vpbx.name == vpbx_name))
        if vpbx is None:
            raise ValidationError("vpbx_unknown", "vpbx", name=vpbx_name)
        require_vpbx(actor, vpbx.id)
        vpbx_id = vpbx.id
    else:
        if not line_number:
            raise ValidationError("user_needs_line", "line")
        line = require_line(actor, session.scalar(select(Line).where(Line.number == line_number)))
        vpbx_id, line_id = line.vpbx_id, line.id
    generated = None
    if password is None or password == "":
        password = generated = new_sip_password()[:16]
    elif len(password) < MIN_PASSWORD:
        raise ValidationError("password_short", "password", min=MIN_PASSWORD)
    account = Account(
        username=username,
        password_hash=hash_password(password),
        role=role,
        vpbx_id=vpbx_id,
        line_id=line_id,
        language=language,
    )
    session.add(account)
    session.flush()
    audit.record(session, actor, "account.add", "account", account.id, username=username, role=role)
    return account_view(account), generated


def set_password(session: Session, actor: Actor, username: str, password: str) -> None:
    account = session.scalar(select(Account).where(Account.username == username))
    if account is None:
        raise NotFound("account_not_found_named", "account", username=username)
    if actor.account_id != account.id:
        require_role(actor, "provider", doing="change_password")
    if len(password) < MIN_PASSWORD:
        raise ValidationError("password_short", "password", min=MIN_PASSWORD)
    account.password_hash = hash_password(password)
    account.session_epoch += 1  # a new password ends the sessions opened with the old one
    audit.record(session, actor, "account.password", "account", account.id)


def account_view(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "username": account.username,
        "role": account.role,
        "vpbx_id": account.vpbx_id,
        "line_id": account.line_id,
        "language": account.language,
    }
