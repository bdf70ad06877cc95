"""core.sip.digest against answers worked out by someone else: the RFCs' own examples.

The other digest tests check the registrar against our own `authorization` helper, so a mistake made
on both sides (a field order, the nc format, which hash the algorithm names) would pass them; the
responses below are copied from RFC 7616 §3.9.1 and RFC 2617 §3.5, not computed here.
"""

from __future__ import annotations

import pytest

from core.sip.digest import authorization, expected_response, ha1, parse_auth_params, verify

# RFC 7616 §3.9.1 (password "Circle of Life", lower-case "of": erratum 4495).
RFC7616_CHALLENGE = (
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm={alg}, '
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)
RFC7616_AUTHORIZATION = (
    'Digest username="Mufasa", realm="http-auth@example.org", uri="/dir/index.html", algorithm={alg}, '
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", nc=00000001, '
    'cnonce="f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", qop=auth, response="{response}", '
    'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC7616_RESPONSES = {
    "MD5": "8ca523f5e9506fed4657c9700eebdbec",
    "SHA-256": "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1",
}

# RFC 2617 §3.5 (password "Circle Of Life", capital O).
RFC2617_CHALLENGE = (
    'Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
    'opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)
RFC2617_AUTHORIZATION = (
    'Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
    'uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b", '
    'response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)
RFC2617_RESPONSE = "6629fae49393a05397450978507c4ef1"


def _response_of(header: str) -> str:
    params = parse_auth_params(header)
    assert params is not None, header
    return params["response"]


@pytest.mark.parametrize("alg", ["MD5", "SHA-256"])
def test_client_answer_to_the_rfc7616_challenge_is_the_rfcs(alg: str) -> None:
    challenge = parse_auth_params(RFC7616_CHALLENGE.format(alg=alg))
    assert challenge is not None
    header = authorization(challenge, "Mufasa", "Circle of Life", "GET", "/dir/index.html", RFC7616_CNONCE)
    assert _response_of(header) == RFC7616_RESPONSES[alg]
    params = parse_auth_params(header)
    assert params is not None
    # The other fields a server needs to check it, as the RFC's Authorization example has them.
    fields = (params["algorithm"], params["qop"], params["nc"], params["cnonce"])
    assert fields == (alg, "auth", "00000001", RFC7616_CNONCE)
    assert params["opaque"] == "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"


@pytest.mark.parametrize("alg", ["MD5", "SHA-256"])
def test_server_accepts_the_rfc7616_authorization_and_refuses_another_password(alg: str) -> None:
    params = parse_auth_params(RFC7616_AUTHORIZATION.format(alg=alg, response=RFC7616_RESPONSES[alg]))
    assert params is not None
    right = ha1(alg, "Mufasa", "http-auth@example.org", "Circle of Life")
    assert expected_response(params, right, "GET", alg) == RFC7616_RESPONSES[alg]
    assert verify(params, right, "GET")
    assert not verify(params, ha1(alg, "Mufasa", "http-auth@example.org", "Circle Of Life"), "GET")  # 2617's
    assert not verify(params, ha1(alg, "Mufasa", "http-auth@example.org", "Circle of Life"), "POST")


def test_the_algorithm_named_is_the_one_checked() -> None:
    """The MD5 response under algorithm=SHA-256 (and the reverse) is refused: no guessing."""
    md5 = parse_auth_params(RFC7616_AUTHORIZATION.format(alg="SHA-256", response=RFC7616_RESPONSES["MD5"]))
    sha = parse_auth_params(RFC7616_AUTHORIZATION.format(alg="MD5", response=RFC7616_RESPONSES["SHA-256"]))
    assert md5 is not None and sha is not None
    assert not verify(md5, ha1("SHA-256", "Mufasa", "http-auth@example.org", "Circle of Life"), "GET")
    assert not verify(sha, ha1("MD5", "Mufasa", "http-auth@example.org", "Circle of Life"), "GET")


def test_rfc2617_example_both_ways() -> None:
    challenge = parse_auth_params(RFC2617_CHALLENGE)
    assert challenge is not None  # no algorithm: MD5 (RFC 2617 §3.2.1)
    header = authorization(challenge, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", "0a4f113b")
    assert _response_of(header) == RFC2617_RESPONSE
    params = parse_auth_params(RFC2617_AUTHORIZATION)
    assert params is not None and "algorithm" not in params
    assert verify(params, ha1("MD5", "Mufasa", "testrealm@host.com", "Circle Of Life"), "GET")
    assert not verify(params, ha1("MD5", "Mufasa", "testrealm@host.com", "Circle of Life"), "GET")
