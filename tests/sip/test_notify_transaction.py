"""core.sip.notify.NotifyTransaction on a fake clock: when copies go out, what each answer leads to.

The live tests (test_live_notify.py) check the same schedule against the registrar subprocess, where a
loaded machine blurs the timing; here it is exact.
"""

from __future__ import annotations

import pytest

from core.sip.digest import ha1, make_challenge, parse_auth_params, verify
from core.sip.message import SipRequest, SipResponse, make_response, parse
from core.sip.notify import T1, T2, NotifyTransaction
from core.sip.registrar import Binding, Source

PASSWORD = "secret1000"


def txn(transport: str = "udp", timeout: float = 32.0) -> NotifyTransaction:
    source = Source("192.0.2.7", 5062, transport)
    b = Binding("1000@pbx.test", "sip:1000@192.0.2.7:5062", 1, source, "Phone/1", "c1", 1, 1e12, 0.0)
    return NotifyTransaction(b, "check-sync", "1000", PASSWORD, "198.51.100.1", 5060, timeout)


def request(wire: bytes) -> SipRequest:
    msg = parse(wire)
    assert isinstance(msg, SipRequest) and msg.method == "NOTIFY"
    return msg


def run_until(t: NotifyTransaction, start: float, end: float, step: float = 0.01) -> list[float]:
    """Tick every `step` s from `start` to `end`: the times a copy went out (besides `start`)."""
    sent: list[float] = []
    now = start
    while now < end and t.outcome is None:
        now = round(now + step, 6)
        if t.on_timer(now):
            sent.append(now)
    return sent


def test_udp_copies_double_from_t1_and_stop_doubling_at_t2() -> None:
    t = txn(timeout=32.0)
    t.start(0.0)
    sent = run_until(t, 0.0, 31.0)
    gaps = [round(b - a, 6) for a, b in zip([0.0, *sent], sent, strict=False)]
    assert gaps[:6] == [T1, 2 * T1, 4 * T1, T2, T2, T2]
    assert all(g == T2 for g in gaps[3:])


def test_a_late_tick_delays_the_copy_but_the_next_gap_keeps_its_length() -> None:
    t = txn()
    t.start(0.0)
    assert t.on_timer(0.9)  # due at 0.5, the loop was busy
    assert not t.on_timer(0.9 + 2 * T1 - 0.01)
    assert t.on_timer(0.9 + 2 * T1)


def test_no_answer_ends_at_the_deadline_with_the_copies_sent_before_it() -> None:
    t = txn(timeout=4.0)
    t.start(0.0)
    sent = run_until(t, 0.0, 10.0)
    assert sent == [0.5, 1.5, 3.5]  # the next would be at 7.5, past the deadline
    assert t.outcome == ("timeout", "no answer within 4 s")


def test_tcp_sends_once() -> None:
    t = txn("tcp", timeout=4.0)
    t.start(0.0)
    assert t.next_timer == 4.0
    assert run_until(t, 0.0, 10.0) == []
    assert t.outcome is not None and t.outcome[0] == "timeout"


def test_a_provisional_answer_slows_copies_to_t2() -> None:
    t = txn()
    first = request(t.start(0.0))
    t.on_response(make_response(first, 100), 0.1)
    assert run_until(t, 0.1, 9.0) == [0.5, 4.5, 8.5]  # the pending timer fires, then every T2 (§17.1.2.2)
    assert t.outcome is None
    t.on_response(make_response(first, 200, to_tag="x"), 9.0)
    assert t.outcome == ("ok", "200 OK from 192.0.2.7:5062/udp")


@pytest.mark.parametrize("status,asked,answered", [(401, "WWW-Authenticate", "Authorization"),
                                                   (407, "Proxy-Authenticate", "Proxy-Authorization")])  # fmt: skip
def test_a_challenge_is_answered_once_with_the_lines_credentials(status: int, asked: str, answered: str) -> None:
    t = txn()
    first = request(t.start(0.0))
    challenge = make_challenge("phone.test", "n0nce")
    retry_wire = t.on_response(make_response(first, status, [(asked, challenge)]), 0.2)
    assert retry_wire is not None
    retry = request(retry_wire)
    assert retry.cseq == (first.cseq[0] + 1, "NOTIFY") and retry.call_id == first.call_id
    params = parse_auth_params(retry.get(answered) or "")
    assert params is not None and params["username"] == "1000" and params["realm"] == "phone.test"
    assert verify(params, ha1("MD5", "1000", "phone.test", PASSWORD), "NOTIFY")
    # A late answer to the first try changes nothing; the answer to the retry decides.
    assert t.on_response(make_response(first, 200, to_tag="x"), 0.3) is None and t.outcome is None
    # Copies of the retry go out on its own schedule, from the retry.
    assert t.on_timer(0.2 + T1) == retry_wire
    # Challenged again: the credentials were refused; no third try.
    assert t.on_response(make_response(retry, status, [(asked, challenge)]), 0.9) is None
    assert t.outcome is not None and t.outcome[0] == "failed" and t.outcome[1].startswith(f"{status} ")


def test_a_challenge_without_digest_fails() -> None:
    t = txn()
    first = request(t.start(0.0))
    assert t.on_response(make_response(first, 401, [("WWW-Authenticate", 'Basic realm="x"')]), 0.1) is None
    assert t.outcome == ("failed", "401 Unauthorized from 192.0.2.7:5062/udp (no digest challenge)")


def test_an_answer_to_another_method_is_not_taken_for_the_notifys() -> None:
    t = txn()
    first = request(t.start(0.0))
    headers = [(n, "1 OPTIONS" if n == "CSeq" else v) for n, v in make_response(first, 200, to_tag="x").headers]
    t.on_response(SipResponse(200, "OK", headers), 0.1)
    assert t.outcome is None
