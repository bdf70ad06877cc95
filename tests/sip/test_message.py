"""Byte-table parser tests: each case parsed whole, then fed to the stream parser one byte at a time."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from core.sip.digest import parse_auth_params
from core.sip.errors import SipParseError
from core.sip.grammar import parse_name_addr, parse_uri, parse_via
from core.sip.message import KEEPALIVE, NEED_DATA, SipRequest, SipResponse, StreamParser, parse, serialize

DATA = Path(__file__).parent / "data"

CASES: list[tuple[bytes, SipRequest | SipResponse]] = [
    (
        b"OPTIONS sip:pbx.test SIP/2.0\r\nv: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa\r\nf: <sip:a@pbx.test>;tag=1\r\n"
        b"t: <sip:pbx.test>\r\ni: abc\r\nCSeq: 7 OPTIONS\r\nl: 0\r\n\r\n",
        SipRequest(
            "OPTIONS",
            "sip:pbx.test",
            [
                ("Via", "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa"),
                ("From", "<sip:a@pbx.test>;tag=1"),
                ("To", "<sip:pbx.test>"),
                ("Call-ID", "abc"),
                ("CSeq", "7 OPTIONS"),
                ("Content-Length", "0"),
            ],
        ),  # fmt: skip
    ),
    (
        b"SIP/2.0 481 Call/Transaction Does Not Exist\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKb\r\n"
        b"From: <sip:x@y>;tag=2\r\n"
        b"To: <sip:x@y>\r\nCall-ID: n1\r\nCSeq: 1 NOTIFY\r\nSubject: folded\r\n  line\r\nContent-Length: 4\r\n\r\nbody",
        SipResponse(
            481,
            "Call/Transaction Does Not Exist",
            [
                ("Via", "SIP/2.0/UDP h;branch=z9hG4bKb"),
                ("From", "<sip:x@y>;tag=2"),
                ("To", "<sip:x@y>"),
                ("Call-ID", "n1"),
                ("CSeq", "1 NOTIFY"),
                ("Subject", "folded line"),
                ("Content-Length", "4"),
            ],
            b"body",
        ),  # fmt: skip
    ),
]


def _stream_bytewise(raw: bytes) -> list[object]:
    p, out = StreamParser(), []
    for i in range(len(raw)):
        p.receive_data(raw[i : i + 1])
        while (ev := p.next_event()) is not NEED_DATA:
            out.append(ev)
    return out


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_parse_whole_and_byte_by_byte(raw: bytes, expected: SipRequest | SipResponse) -> None:
    assert parse(raw) == expected
    assert _stream_bytewise(raw) == [expected]
    assert parse(serialize(expected)) == expected  # round trip


def test_capture_parses_and_frames_with_keepalives() -> None:
    raw = (DATA / "register_baresip.sip").read_bytes()
    msg = parse(raw)
    assert isinstance(msg, SipRequest) and msg.method == "REGISTER"
    assert msg.cseq == (40012, "REGISTER") and msg.get("User-Agent") == "baresip v1.0.0 (x86_64/linux)"
    assert msg.get_all("Supported") == ["path", "gruu"]
    stream = b"\r\n\r\n" + raw + raw  # ping, then two messages back to back
    assert _stream_bytewise(stream) == [KEEPALIVE, msg, msg]


def test_list_headers_split_outside_quotes() -> None:
    msg = parse(
        b"REGISTER sip:d SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=1, SIP/2.0/UDP b;branch=2\r\nFrom: <sip:u@d>\r\n"
        b'To: <sip:u@d>\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\nContact: "A, B" <sip:u@h>, <sip:u@i>;expires=0\r\n'
        b'Authorization: Digest username="u", realm="d"\r\n\r\n'
    )
    assert msg.get_all("Via") == ["SIP/2.0/UDP a;branch=1", "SIP/2.0/UDP b;branch=2"]
    assert msg.get_all("Contact") == ['"A, B" <sip:u@h>', "<sip:u@i>;expires=0"]
    assert msg.get("Authorization") == 'Digest username="u", realm="d"'


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"GARBAGE\r\n\r\n",
        b"REGISTER sip:d SIP/2.0\r\nVia: SIP/2.0/UDP a\r\n\r\n",  # missing From/To/Call-ID/CSeq
        b"REGISTER sip:d SIP/2.0\r\nVia: x\r\nFrom: a\r\nTo: b\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\nl: 9\r\n\r\nab",
        b"REGISTER sip:d SIP/2.0\r\nno colon here\r\n\r\n",
    ],
)
def test_bad_datagrams_raise_parse_error(raw: bytes) -> None:
    with pytest.raises(SipParseError):
        parse(raw)


def test_stream_requires_content_length() -> None:
    p = StreamParser()
    p.receive_data(b"OPTIONS sip:d SIP/2.0\r\nVia: x\r\nFrom: a\r\nTo: b\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n")
    with pytest.raises(SipParseError):
        p.next_event()


def _cost(fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


@pytest.mark.parametrize(
    "make",
    [
        lambda n: parse_name_addr(" " * n + "x"),  # was cubic: 2,000 spaces in a From held the loop 16 s
        lambda n: parse_auth_params("Digest " + "a" * n),  # was quadratic: 9 s for 20 kB
    ],
    ids=["name-addr spaces", "auth no equals"],
)
def test_header_parsers_are_linear(make: Callable[[int], object]) -> None:
    """Four times the input costs about four times the time (a ratio, not a wall-clock limit)."""
    small, big = _cost(lambda: make(500)), _cost(lambda: make(2000))
    assert big / max(small, 1e-6) < 12, (small, big)


_OK_HEAD = (
    b"OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>\r\nCall-ID: c\r\nCSeq: 1 A\r\n"
)


@pytest.mark.parametrize(
    "data",
    [
        b"OPTIONS sip:a SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>\r\nCall-ID: c\r\n"
        + "CSeq: 1 OPTIONS\r\nContent-Length: \u00b2\r\n\r\n".encode(),
        _OK_HEAD + b"X-A: b\r\n" * 150 + b"Content-Length: 0\r\n\r\n",
        _OK_HEAD + b"X-A: " + b"b" * 9000 + b"\r\nContent-Length: 0\r\n\r\n",
    ],
    ids=["superscript Content-Length", "too many headers", "header line too long"],
)
def test_bounded_and_strict_numbers_are_parse_errors(data: bytes) -> None:
    with pytest.raises(SipParseError):
        parse(data)
    stream = StreamParser()
    with pytest.raises(SipParseError):
        stream.receive_data(data)
        stream.next_event()


def test_via_or_uri_port_above_65535_is_not_a_port() -> None:
    assert parse_via("SIP/2.0/UDP 127.0.0.1:70000;branch=z9hG4bKx") is None
    assert parse_uri("sip:1000@127.0.0.1:65536") is None
    assert parse_via("SIP/2.0/UDP 127.0.0.1:65535").port == 65535  # type: ignore[union-attr]
