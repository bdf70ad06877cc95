"""dashboard.web_session: the signed login cookie, without Streamlit."""

from __future__ import annotations

import pytest

from dashboard import web_session

SECRET = b"k" * 32
NOW = 1_800_000_000


def test_issued_token_verifies_to_its_account_until_it_expires():
    token = web_session.issue(SECRET, 42, NOW, ttl=600)
    session = web_session.verify(SECRET, token, NOW + 599)
    assert session == web_session.WebSession(account_id=42, expires_at=NOW + 600, epoch=0)
    assert web_session.verify(SECRET, web_session.issue(SECRET, 42, NOW, epoch=3), NOW).epoch == 3
    assert web_session.verify(SECRET, token, NOW + 600) is None


def test_tokens_are_unique_and_hold_no_secret():
    a, b = web_session.issue(SECRET, 1, NOW), web_session.issue(SECRET, 1, NOW)
    assert a != b
    assert SECRET.decode() not in a


@pytest.mark.parametrize(
    "tamper",
    [
        lambda tok: tok.replace("v2.7.", "v2.8.", 1),  # another account
        lambda tok: tok.replace("v2.7.0.", "v2.7.1.", 1),  # another session epoch
        lambda tok: tok[:-2] + ("AA" if not tok.endswith("AA") else "BB"),  # forged signature
        lambda tok: ".".join(tok.split(".")[:3] + [str(NOW + 10**6)] + tok.split(".")[4:]),  # longer life
        lambda tok: tok.rsplit(".", 1)[0],  # no signature
        lambda tok: "",
        lambda tok: "garbage",
        lambda tok: "v1" + tok[2:],
        lambda tok: tok + "x" * 300,
    ],
)
def test_tampered_tokens_are_refused(tamper):
    token = web_session.issue(SECRET, 7, NOW)
    assert web_session.verify(SECRET, tamper(token), NOW) is None


def test_another_installation_key_refuses_the_token():
    token = web_session.issue(SECRET, 7, NOW)
    assert web_session.verify(b"other" * 8, token, NOW) is None


def test_non_text_cookie_values_are_refused():
    assert web_session.verify(SECRET, None, NOW) is None
    assert web_session.verify(SECRET, 123, NOW) is None  # type: ignore[arg-type]


def test_cookie_attributes_keep_it_from_scripts_and_other_sites():
    opts = web_session.cookie_options(secure=True, ttl=60)
    assert opts == {"max_age": 60, "httponly": True, "samesite": "strict", "secure": True, "path": "/"}


def test_refuses_to_sign_with_nothing():
    with pytest.raises(ValueError):
        web_session.issue(b"", 1, NOW)
