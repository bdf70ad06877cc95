"""The dashboard's login cookie: an HMAC-signed, expiring token naming the account.

Pure functions (the clock is passed in) so they are tested without Streamlit or a server.
The token holds no secret: `v2.<account id>.<session epoch>.<expires, unix seconds>.<nonce>.<signature>`,
the signature being HMAC-SHA256 over everything before it, keyed by `Settings.secret_key()`.
Logging out deletes the cookie; when the token is resolved to an actor (core.accounts.actor_by_id)
a disabled account, or an account whose session epoch moved on (password changed, sessions ended),
is refused, so those end every session at its next click.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

COOKIE_NAME = "voipadmin_session"
DEFAULT_TTL = 12 * 3600  # a working day; the login form is one step away after that
_VERSION = "v2"
_PURPOSE = b"voipadmin dashboard session\x00"  # domain separation: the same key also signs SIP nonces


@dataclass(frozen=True)
class WebSession:
    account_id: int
    expires_at: int  # unix seconds
    epoch: int = 0  # the account's session epoch when the token was issued


def _signature(secret: bytes, payload: str) -> str:
    digest = hmac.new(secret, _PURPOSE + payload.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def issue(secret: bytes, account_id: int, now: float, ttl: int = DEFAULT_TTL, epoch: int = 0) -> str:
    """A signed token for `account_id`, valid `ttl` seconds from `now`."""
    if not secret:
        raise ValueError("an empty secret cannot sign sessions")
    if ttl <= 0:
        raise ValueError("ttl must be positive")
    payload = f"{_VERSION}.{int(account_id)}.{int(epoch)}.{int(now) + int(ttl)}.{secrets.token_urlsafe(12)}"
    return f"{payload}.{_signature(secret, payload)}"


def verify(secret: bytes, token: str | None, now: float) -> WebSession | None:
    """The session a token stands for, or None if it is missing, malformed, forged or expired."""
    if not isinstance(token, str) or not token or not secret or len(token) > 256:
        return None
    payload, _, signature = token.rpartition(".")
    parts = payload.split(".")
    if len(parts) != 5 or parts[0] != _VERSION:
        return None
    # Compare before parsing numbers: nothing from an unsigned token is trusted.
    if not hmac.compare_digest(signature.encode("ascii", "replace"), _signature(secret, payload).encode("ascii")):
        return None
    try:
        account_id, epoch, expires_at = int(parts[1]), int(parts[2]), int(parts[3])
    except ValueError:
        return None
    if expires_at <= now:
        return None
    return WebSession(account_id=account_id, expires_at=expires_at, epoch=epoch)


def cookie_options(secure: bool, ttl: int = DEFAULT_TTL) -> dict[str, object]:
    """Attributes for Set-Cookie: unreadable by scripts, never sent cross-site, HTTPS-only behind TLS."""
    return {"max_age": ttl, "httponly": True, "samesite": "strict", "secure": secure, "path": "/"}
