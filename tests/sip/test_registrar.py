"""The registrar state machine with an in-memory fake UA: no sockets, time passed in."""

from __future__ import annotations

import pytest

from core.sip.credentials import Credential, CredentialTable
from core.sip.digest import NonceFactory, authorization, make_challenge, parse_auth_params, verify
from core.sip.message import parse
from core.sip.policy import Policy, PolicyConfig
from core.sip.registrar import Registrar
from tests.sip.fakeua import FakeUA

SECRET = b"k" * 32
T0 = 1_800_000_000.0


@pytest.fixture
def reg() -> Registrar:
    creds = [
        Credential.make("1000", "pbx.test", 1, "secret1000"),
        Credential.make("2000", "pbx.test", 2, "pw2000", True),
    ]
    return Registrar(
        CredentialTable(creds, SECRET, aliases=["sip.provider.test"]),
        NonceFactory(SECRET),
        Policy(PolicyConfig(rate=0)),
    )


def test_our_host_name_is_an_alias_of_the_vpbx_domain(reg: Registrar) -> None:
    """Device configs name the registrar host as the domain; the binding is the line's AOR all the same."""
    ok = FakeUA(reg, "1000", "sip.provider.test", "secret1000").register(T0)
    assert ok.status == 200
    ((aor, _contact),) = reg.drain_changes()
    assert aor == "1000@pbx.test"
    assert FakeUA(reg, "1000", "elsewhere.test", "secret1000").register(T0).status == 403


def test_register_challenge_then_200_lists_binding_with_to_tag_and_rport(reg: Registrar) -> None:
    ua = FakeUA(reg, "1000", "pbx.test", "secret1000")
    ok = ua.register(T0)
    assert ok.status == 200
    assert ok.get("Via") == "SIP/2.0/UDP 192.168.1.10:5090;branch=z9hG4bKfake2;rport=5090;received=127.0.0.1"
    assert ";tag=" in (ok.get("To") or "")
    assert ok.get_all("Contact") == ["<sip:1000@127.0.0.1:5090>;expires=3600"]
    assert ok.get("Date")
    (change,) = reg.drain_changes().values()
    assert change is not None and change.line_id == 1 and change.expires_at == T0 + 3600


def test_second_contact_listed_and_expires_zero_removes(reg: Registrar) -> None:
    a = FakeUA(reg, "1000", "pbx.test", "secret1000", port=5090)
    b = FakeUA(reg, "1000", "pbx.test", "secret1000", port=5091)
    a.register(T0)
    both = b.register(T0 + 10, expires="600")
    assert sorted(both.get_all("Contact")) == ["<sip:1000@127.0.0.1:5090>;expires=3590",
                                              "<sip:1000@127.0.0.1:5091>;expires=600"]  # fmt: skip
    gone = a.register(T0 + 20, expires="0")
    assert gone.get_all("Contact") == ["<sip:1000@127.0.0.1:5091>;expires=590"]
    assert reg.drain_changes()[("1000@pbx.test", "sip:1000@127.0.0.1:5090")] is None


def test_too_brief_gets_423_with_min_expires(reg: Registrar) -> None:
    r = FakeUA(reg, "1000", "pbx.test", "secret1000").register(T0, expires="30")
    assert (r.status, r.get("Min-Expires")) == (423, "60")


def test_contact_star_removes_all(reg: Registrar) -> None:
    ua = FakeUA(reg, "1000", "pbx.test", "secret1000")
    ua.register(T0)
    assert ua.register(T0 + 1, contact="*", expires="3600").status == 400  # * needs Expires: 0
    r = ua.register(T0 + 2, contact="*", expires="0")
    assert r.status == 200 and r.get_all("Contact") == []
    assert reg.bindings == {}


def test_cseq_going_backwards_on_same_call_id_is_refused(reg: Registrar) -> None:
    ua = FakeUA(reg, "1000", "pbx.test", "secret1000")
    ua.register(T0)  # CSeq 1, 2
    first = ua.send(ua.request(cseq=1), T0)[0]
    auth = authorization(parse_auth_params(first.get("WWW-Authenticate") or "") or {}, "1000", "secret1000",
                         "REGISTER", "sip:pbx.test", "c")  # fmt: skip
    assert ua.send(ua.request(auth=auth, cseq=1), T0)[0].status == 400


def test_unknown_and_known_users_get_the_same_shapes(reg: Registrar) -> None:
    known = FakeUA(reg, "1000", "pbx.test", "wrong", port=6000)
    unknown = FakeUA(reg, "1999", "pbx.test", "wrong", port=6001)
    k1, u1 = known.send(known.request(), T0)[0], unknown.send(unknown.request(), T0)[0]
    assert (k1.status, u1.status) == (401, 401)
    strip = lambda r: [n for n, _ in r.headers]  # noqa: E731
    assert strip(k1) == strip(u1)
    assert known.register(T0).status == unknown.register(T0).status == 403
    assert reg.misses == {"1999"}


def test_stale_nonce_gets_stale_true_challenge(reg: Registrar) -> None:
    ua = FakeUA(reg, "1000", "pbx.test", "secret1000")
    first = ua.send(ua.request(), T0)[0]
    auth = authorization(
        parse_auth_params(first.get("WWW-Authenticate") or "") or {},
        "1000",
        "secret1000",
        "REGISTER",
        "sip:127.0.0.1:5060",
        "c",
    )  # fmt: skip  (uri differs: logged, accepted)
    late = ua.send(ua.request(auth=auth), T0 + 301)[0]
    assert late.status == 401 and "stale=true" in (late.get("WWW-Authenticate") or "")
    assert ua.send(ua.request(auth=auth), T0 + 10)[0].status == 200


def test_sha256_offered_only_to_lines_whose_devices_support_it(reg: Registrar) -> None:
    ua = FakeUA(reg, "2000", "pbx.test", "pw2000")
    challenges = ua.send(ua.request(), T0)[0].get_all("WWW-Authenticate")
    assert [parse_auth_params(c)["algorithm"] for c in challenges] == ["SHA-256", "MD5"]  # type: ignore[index]
    sha = parse_auth_params(challenges[0]) or {}
    auth = authorization(sha, "2000", "pw2000", "REGISTER", "sip:pbx.test", "c")
    assert ua.send(ua.request(auth=auth), T0)[0].status == 200
    md5_only = FakeUA(reg, "1000", "pbx.test", "secret1000")
    assert len(md5_only.send(md5_only.request(), T0)[0].get_all("WWW-Authenticate")) == 1


def test_failures_ban_the_source_and_banned_sources_get_silence() -> None:
    creds = CredentialTable([Credential.make("1000", "pbx.test", 1, "secret1000")], SECRET)
    reg = Registrar(creds, NonceFactory(SECRET), Policy(PolicyConfig(rate=0, fail_threshold=3)))
    ua = FakeUA(reg, "1000", "pbx.test", "secret1000")
    for _ in range(2):
        assert ua.register(T0, password="nope").status == 403
    first = ua.send(ua.request(), T0)[0]
    auth = authorization(parse_auth_params(first.get("WWW-Authenticate") or "") or {}, "1000", "bad", "REGISTER",
                         "sip:pbx.test", "c")  # fmt: skip
    assert ua.send(ua.request(auth=auth), T0) == []  # third failure: banned, no answer
    assert ua.send(ua.request(), T0 + 1) == []
    events, bans = reg.policy.drain()
    assert [e.kind for e in events] == ["sip_auth_failed"] * 3 + ["sip_banned"]
    assert bans[0][0] == "127.0.0.1"
    assert all("secret" not in e.detail and "bad" != e.detail for e in events)
    other = FakeUA(reg, "1000", "pbx.test", "secret1000", ip="127.0.0.9")
    assert other.register(T0 + 2).status == 200


def test_rate_limit_drops_before_any_work() -> None:
    reg = Registrar(CredentialTable([], SECRET), NonceFactory(SECRET), Policy(PolicyConfig(rate=1, burst=3)))
    ua = FakeUA(reg, "1000", "pbx.test", "x")
    answered = [bool(ua.send(ua.request(), T0)) for _ in range(5)]
    assert answered == [True, True, True, False, False]
    assert ua.send(ua.request(), T0 + 1.0)  # one token back after a second


def test_options_answered_and_other_methods_refused(reg: Registrar) -> None:
    ua = FakeUA(reg, "1000", "pbx.test", "x")
    assert ua.send(ua.request(method="OPTIONS", contact="", expires=None), T0)[0].status == 200
    assert ua.send(ua.request(method="INVITE"), T0)[0].status == 405
    assert ua.send(ua.request(extra="Require: foo"), T0)[0].status == 420


def test_digest_helpers_round_trip() -> None:
    nonces = NonceFactory(SECRET)
    n = nonces.make(T0)
    assert nonces.check(n, T0 + 1) == "ok" and nonces.check(n, T0 + 400) == "stale"
    assert NonceFactory(b"other").check(n, T0) == "invalid" and nonces.check("zz", T0) == "invalid"
    assert nonces.make(T0) != n  # random part: two nonces in one second differ
    ch = parse_auth_params(make_challenge("pbx.test", n)) or {}
    params = parse_auth_params(authorization(ch, "u", "p", "REGISTER", "sip:pbx.test", "cn")) or {}
    from core.sip.digest import ha1

    assert verify(params, ha1("MD5", "u", "pbx.test", "p"), "REGISTER")
    assert not verify(params, ha1("MD5", "u", "pbx.test", "q"), "REGISTER")


def test_a_nonce_sent_to_another_address_proves_nothing_and_bans_nobody() -> None:
    """Issue 11 #2 in pure form: the attacker's own nonce, replayed in REGISTERs forged from the victim's
    address with a scanner User-Agent and a wrong password, counts no failure against the victim."""
    creds = CredentialTable([Credential.make("1000", "pbx.test", 1, "secret1000")], SECRET)
    reg = Registrar(creds, NonceFactory(SECRET), Policy(PolicyConfig(rate=0)))
    attacker = FakeUA(reg, "1000", "pbx.test", "x", ip="198.51.100.7", ua="friendly-scanner")
    challenge = parse_auth_params(attacker.send(attacker.request(), T0)[0].get("WWW-Authenticate") or "") or {}
    forged = FakeUA(reg, "1000", "pbx.test", "x", ip="203.0.113.50", ua="friendly-scanner")  # the office NAT
    auth = authorization(challenge, "1000", "wrong", "REGISTER", "sip:pbx.test", "c")
    for _ in range(10):
        (reply,) = forged.send(forged.request(auth=auth), T0)
        assert reply.status == 401  # a fresh challenge, bound to the victim's address, goes to the victim
    events, bans = reg.policy.drain()
    assert bans == [] and "sip_auth_failed" not in [e.kind for e in events]
    office = FakeUA(reg, "1000", "pbx.test", "secret1000", ip="203.0.113.50")
    assert office.register(T0 + 1).status == 200
    # The same wrong password on the attacker's own nonce, from its own address: verified, banned at 2.
    auth = authorization(challenge, "1000", "wrong", "REGISTER", "sip:pbx.test", "c")
    assert attacker.send(attacker.request(auth=auth), T0)[0].status == 403
    assert attacker.send(attacker.request(auth=auth), T0) == []
    assert [b[0] for b in reg.policy.drain()[1]] == ["198.51.100.7"]


def test_a_nonce_is_good_only_from_the_address_it_was_sent_to() -> None:
    nonces = NonceFactory(SECRET)
    n = nonces.make(T0, "192.0.2.1")
    assert nonces.check(n, T0, "192.0.2.1") == "ok"
    assert nonces.check(n, T0, "192.0.2.2") == "invalid"
    assert nonces.check(n, T0 + 400, "192.0.2.1") == "stale"


def test_registrations_past_the_contact_limit_are_refused_and_not_queued(reg: Registrar) -> None:
    """Issue 11 #5: 20 REGISTERs -> 16 x 200 and 4 x 403, and only the 16 reach the write-behind."""
    statuses = [FakeUA(reg, "1000", "pbx.test", "secret1000", port=7000 + i).register(T0).status for i in range(20)]
    assert statuses == [200] * 16 + [403] * 4
    changes = reg.drain_changes()
    assert len(changes) == 16 and all(b is not None for b in changes.values())
    assert sorted(int(c.rsplit(":", 1)[1][:4]) for _, c in changes) == list(range(7000, 7016))
    star = FakeUA(reg, "1000", "pbx.test", "secret1000", port=7000).register(T0 + 1, contact="*", expires="0")
    assert star.status == 200 and reg.bindings == {}
    changes = reg.drain_changes()
    assert changes[("1000@pbx.test", "*")] is None and len(changes) == 17  # every contact, and the whole AOR


# -- a user the table does not have: held for one database read, within a budget --


def _digest_for(reg: Registrar, user: str, password: str, port: int, ip: str = "127.0.0.1") -> tuple[FakeUA, bytes]:
    ua = FakeUA(reg, user, "pbx.test", password, ip=ip, port=port)
    challenge = parse_auth_params(ua.send(ua.request(), T0)[0].get("WWW-Authenticate") or "")
    assert challenge is not None
    return ua, ua.request(auth=authorization(challenge, user, password, "REGISTER", "sip:pbx.test", "c"))


def test_a_digest_for_a_user_not_in_the_table_is_held_then_accepted_once_the_line_is_read(reg: Registrar) -> None:
    ua, data = _digest_for(reg, "3000", "new-line-pw", 6100)
    assert reg.handle(parse(data), ua.source, T0) == []  # type: ignore[arg-type]
    (held,) = reg.drain_deferred()
    assert held.user == "3000" and reg.drain_deferred() == []
    reg.credentials.add(Credential.make("3000", "pbx.test", 3, "new-line-pw"))  # what the service read
    (reply,) = reg.resume(held, T0)
    assert reply.status == 200 and reg.bindings_for_line(3, T0)[0].aor == "3000@pbx.test"
    assert reg.policy.drain() == ([], [])  # no failed digest, no ban


def test_a_held_user_not_found_is_refused_and_not_asked_again_within_the_window(reg: Registrar) -> None:
    ua, data = _digest_for(reg, "3999", "guess", 6101)
    assert reg.handle(parse(data), ua.source, T0) == []  # type: ignore[arg-type]
    (held,) = reg.drain_deferred()
    (reply,) = reg.resume(held, T0)  # the database had no such line
    assert reply.status == 403 and reg.misses == {"3999"}
    ua, data = _digest_for(reg, "3999", "guess", 6102)
    assert [r.status for r in reg.handle(parse(data), ua.source, T0 + 1)] == [403]  # type: ignore[arg-type]
    assert reg.drain_deferred() == []


def test_unknown_names_cannot_make_more_database_reads_than_the_budget(reg: Registrar) -> None:
    """Made-up names from sources that earned nonces (one each, below the ban): the first `burst` are read, the
    rest refused at once; the bucket refills at `rate` per second. A digest over a nonce we did not send is
    never held."""
    budget = reg.lookups
    held = 0
    for n in range(int(budget.burst) + 10):
        ua, data = _digest_for(reg, f"4{n:03d}", "guess", 6200, f"10.0.0.{n + 1}")
        replies = reg.handle(parse(data), ua.source, T0)  # type: ignore[arg-type]
        held += len(reg.drain_deferred())
        assert replies == [] or replies[0].status == 403
    assert held == budget.burst
    ua, data = _digest_for(reg, "4999", "guess", 6200, "10.0.1.1")
    reg.handle(parse(data), ua.source, T0 + 1 / budget.rate)  # type: ignore[arg-type]
    assert len(reg.drain_deferred()) == 1  # refilled by one
    forged = FakeUA(reg, "4998", "pbx.test", "guess", port=6201)
    nonce = reg.nonces.make(T0, "10.9.9.9")  # sent to another address
    auth = authorization(parse_auth_params(make_challenge("pbx.test", nonce)) or {}, "4998", "guess", "REGISTER",
                         "sip:pbx.test", "c")  # fmt: skip
    reg.handle(parse(forged.request(auth=auth)), forged.source, T0 + 10)  # type: ignore[arg-type]
    assert reg.drain_deferred() == []


# -- bans: the Ban table decides, but a ban decided here holds until it is written --


def test_a_reload_replaces_the_bans_but_keeps_ours_until_they_are_written() -> None:
    policy = Policy(PolicyConfig(rate=0, ban_seconds=3600))
    policy.load_bans({"192.0.2.1": T0 + 3600}, T0)  # banned by someone else (a Ban row)
    policy.ban("192.0.2.2", T0, "5 failed SIP authentications")
    assert not policy.admit("192.0.2.1", T0) and not policy.admit("192.0.2.2", T0)
    policy.load_bans({}, T0 + 1)  # both rows gone: the first lifted, ours not written yet
    assert policy.admit("192.0.2.1", T0 + 1) and not policy.admit("192.0.2.2", T0 + 1)
    _, bans = policy.drain()
    policy.written(bans)  # the flush wrote it: from now on its row decides
    policy.load_bans({"192.0.2.2": T0 + 3600}, T0 + 2)
    assert not policy.admit("192.0.2.2", T0 + 2)
    policy.load_bans({}, T0 + 3)  # lifted (core.bans deletes the row) seconds after we banned it
    assert policy.admit("192.0.2.2", T0 + 3)


def test_a_ban_decided_again_after_its_drain_is_not_taken_as_written() -> None:
    policy = Policy(PolicyConfig(rate=0, ban_seconds=3600))
    policy.ban("192.0.2.3", T0, "first")
    _, first = policy.drain()
    policy.ban("192.0.2.3", T0 + 5, "again, while the first was being written")
    policy.written(first)
    policy.load_bans({"192.0.2.3": T0 + 3600}, T0 + 6)
    assert not policy.admit("192.0.2.3", T0 + 3601)  # the newer one, unwritten, holds to its own end
    assert policy.admit("192.0.2.3", T0 + 3606)
