"""Property-based fuzzing of the SIP side, bounded in time and derandomised (CI runs the same examples).

- the sans-I/O parser: any bytes -> a message or SipParseError, never another exception, whole or streamed;
- the pure registrar: any parsed message -> replies, never an exception;
- the live registrar (a subprocess) over UDP and TCP: batches of mutated valid messages, and after each
  batch a legitimate REGISTER (digest, 200 OK) still succeeds, memory stays bounded and nothing was
  logged as an internal error.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from core.settings import Settings
from core.sip.credentials import Credential, CredentialTable
from core.sip.digest import NonceFactory
from core.sip.errors import SipParseError
from core.sip.message import SipRequest, SipResponse, StreamParser, parse
from core.sip.policy import Policy, PolicyConfig
from core.sip.registrar import Registrar, Source
from tests.sip.conftest import RunningRegistrar, seed_users, start_registrar
from tests.sip.sipclient import register_tcp, register_udp, rss_kib

T0 = 1_800_000_000.0
FAST = settings(max_examples=400, deadline=None, derandomize=True, database=None)

# Valid messages of each kind the registrar may see; the fuzzer mutates these.
SEEDS: list[bytes] = [
    (
        b"REGISTER sip:pbx.test SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5070;branch=z9hG4bKr1;rport\r\n"
        b"Max-Forwards: 70\r\nFrom: <sip:1000@pbx.test>;tag=a1\r\nTo: <sip:1000@pbx.test>\r\n"
        b"Call-ID: reg-1@192.0.2.10\r\nCSeq: 1 REGISTER\r\nContact: <sip:1000@192.0.2.10:5070>;expires=600\r\n"
        b"Expires: 3600\r\nUser-Agent: Yealink SIP-T46U 108.86.0.20 00:15:65:aa:bb:cc\r\nContent-Length: 0\r\n\r\n"
    ),
    (
        b"REGISTER sip:pbx.test SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.10:5070;branch=z9hG4bKr2\r\n"
        b'From: "Alice" <sip:1000@pbx.test>;tag=a1\r\nTo: <sip:1000@pbx.test>\r\nCall-ID: reg-1@192.0.2.10\r\n'
        b"CSeq: 2 REGISTER\r\nContact: <sip:1000@192.0.2.10:5070;transport=tcp>, <sip:1000@10.0.0.1>;expires=0\r\n"
        b'Authorization: Digest username="1000", realm="pbx.test", nonce="00112233445566778899aabbccddeeff0011223344",'
        b' uri="sip:pbx.test", response="0123456789abcdef0123456789abcdef", algorithm=MD5, qop=auth, nc=00000001,'
        b' cnonce="x"\r\nContent-Length: 0\r\n\r\n'
    ),
    (
        b"REGISTER sip:pbx.test SIP/2.0\r\nv: SIP/2.0/UDP 192.0.2.10\r\nf: sip:1000@pbx.test;tag=z\r\n"
        b"t: sip:1000@pbx.test\r\ni: star\r\nCSeq: 9 REGISTER\r\nm: *\r\nExpires: 0\r\nl: 0\r\n\r\n"
    ),
    (
        b"OPTIONS sip:pbx.test SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.99:5060;branch=z9hG4bK-1234;rport\r\n"
        b"From: sipvicious <sip:100@1.1.1.1>;tag=3206210844\r\nTo: <sip:100@1.1.1.1>\r\nCall-ID: 1234\r\n"
        b"CSeq: 1 OPTIONS\r\nUser-Agent: friendly-scanner\r\nRequire: foo, bar\r\nAccept: application/sdp\r\n"
        b"Content-Length: 0\r\n\r\n"
    ),
    (
        b"INVITE sip:1001@pbx.test SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.20:5060;branch=z9hG4bKi1\r\n"
        b"Via: SIP/2.0/UDP 10.1.1.1;branch=z9hG4bKi0\r\nFrom: <sip:1000@pbx.test>;tag=i\r\nTo: <sip:1001@pbx.test>\r\n"
        b"Call-ID: inv-1\r\nCSeq: 1 INVITE\r\nContact: <sip:1000@192.0.2.20>\r\nContent-Type: application/sdp\r\n"
        b"Content-Length: 38\r\n\r\nv=0\r\no=- 1 1 IN IP4 192.0.2.20\r\ns=-\r\n\r\n"
    ),
    (
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKn1;rport=5060\r\n"
        b"From: <sip:1000@pbx.test>;tag=n\r\nTo: <sip:1000@pbx.test>;tag=p\r\nCall-ID: 0123456789@voipadmin\r\n"
        b"CSeq: 1 NOTIFY\r\nContent-Length: 0\r\n\r\n"
    ),
    (
        b"SIP/2.0 401 Unauthorized\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKn2\r\n"
        b"From: <sip:1000@pbx.test>;tag=n\r\nTo: <sip:1000@pbx.test>;tag=p\r\nCall-ID: 0123456789@voipadmin\r\n"
        b'CSeq: 1 NOTIFY\r\nWWW-Authenticate: Digest realm="phone", nonce="abc", qop="auth,auth-int", opaque="o"\r\n'
        b"Content-Length: 0\r\n\r\n"
    ),
    b"ACK sip:pbx.test SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.1\r\nFrom: <sip:a@b>\r\nTo: <sip:a@b>\r\nCall-ID: x\r\n"
    b"CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n",
]

# Tokens that have broken SIP stacks (and broke this one: Via port 70000, "²" as a number, runs of spaces).
NASTY = [
    b"\r\n", b"\r\n\r\n", b" ", b"\t", b":", b";", b",", b"<", b">", b'"', b"\\", b"@", b"=", b"*", b"[", b"]",
    b";rport", b";received=", b":70000", b":0", b":65536", b"\xff\xfe", "²".encode(), "٣".encode(), b"\x00",
    b"9" * 40, b"9" * 5000, b" " * 3000, b"a" * 3000, b"a=" * 800, b"<" * 500, b'"' * 301, b"," * 700,
    b"Content-Length: 99999999999\r\n", b"l: -1\r\n", b"Expires: 99999999999999999999\r\n", b"CSeq: 1\r\n",
    b"Contact: *\r\n", b"Via: SIP/2.0/UDP [::1]:5060\r\n", b"Authorization: Digest \r\n", b"Require: x\r\n",
    b"SIP/2.0 ", b"REGISTER ", b"sip:", b"sips:", b"tel:", b"%00", "é".encode(), b"\r\n \r\n",
]  # fmt: skip


TARGETS = [b"Content-Length", b"CSeq", b"Expires", b"Via", b"Contact", b"From", b"To", b"Authorization", b""]
NUMBERS = ["²".encode(), "٣".encode(), b"-1", b"99999999999", b"1" * 5000, b"0x10", b"", b"1 REGISTER", "2 ²".encode()]

# A dictionary per header (as AFL's): values that broke, or could break, a parser or the reply path.
_ADDR = [b" " * 3000 + b"x", b'"' + b"\\" * 3000, b"<" * 3000, b"<sip:a@b:99999>", b'"a" b <sip:x>', b"sip:a@b;tag="]
VALUES: dict[bytes, list[bytes]] = {
    b"Via": [
        b"SIP/2.0/UDP 192.0.2.10:70000;branch=z9hG4bKv",  # issue 11 #1: no rport, a port that is not one
        b"SIP/2.0/UDP 192.0.2.10:65536",
        b"SIP/2.0/UDP h:0;branch=x",
        b"SIP/2.0/UDP " + b" " * 3000 + b"x",
        b"SIP/2.0/UDP [::1]:5060;rport;received=" + b"9" * 50,
    ],
    b"From": _ADDR,
    b"To": _ADDR,
    b"Contact": [*_ADDR, b"*", b"<sip:a@b>;expires=" + "²".encode(), b"<sip:a@b>, " * 200],
    b"Authorization": [b"Digest " + b"a" * 20000, b"Digest " + b" " * 20000 + b"x", b"Digest nonce=" + b'"' * 5000],
}


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes] = SEEDS) -> bytes:
    """A valid message with a few byte-level and token-level mutations."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(("value",) * 5 + ("insert", "replace", "delete", "dupline", "random")))
        if op == "value":  # a header's whole value becomes a nasty token (or gets one appended)
            lines = bytes(data).split(b"\r\n")
            want = draw(st.sampled_from(TARGETS))
            named = [i for i, ln in enumerate(lines) if ln.lower().startswith(want.lower() + b":")]
            i = named[0] if named else draw(st.integers(0, len(lines) - 1))
            name, colon, value = lines[i].partition(b":")
            pool = draw(st.sampled_from((VALUES.get(want, NUMBERS), NUMBERS, NASTY)))
            token = draw(st.sampled_from(pool))
            lines[i] = name + colon + b" " + (value.strip() + token if draw(st.booleans()) else token)
            data = bytearray(b"\r\n".join(lines))
        elif op == "insert":
            data[at:at] = draw(st.sampled_from(NASTY))
        elif op == "replace":
            end = draw(st.integers(at, min(len(data), at + 40)))
            data[at:end] = draw(st.sampled_from(NASTY))
        elif op == "delete":
            del data[at : draw(st.integers(at, min(len(data), at + 20)))]
        elif op == "dupline":
            lines = bytes(data).split(b"\r\n")
            i = draw(st.integers(0, len(lines) - 1))
            lines[i:i] = [lines[i]] * draw(st.integers(1, 150))
            data = bytearray(b"\r\n".join(lines))
        else:
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data[:65000])


ANY_BYTES = st.one_of(mutated(), st.binary(max_size=600))


@FAST
@given(ANY_BYTES)
def test_parse_any_bytes_gives_a_message_or_a_parse_error(data: bytes) -> None:
    try:
        msg = parse(data)
    except SipParseError:
        return
    assert isinstance(msg, SipRequest | SipResponse)
    msg.cseq, msg.call_id, msg.get_all("Via"), msg.get("Contact")  # accessors must not raise either


@FAST
@given(ANY_BYTES, st.lists(st.integers(1, 400), min_size=1, max_size=8))
def test_stream_parser_any_bytes_any_split(data: bytes, cuts: list[int]) -> None:
    parser = StreamParser()
    pos = 0
    try:
        for size in cuts + [len(data)]:
            parser.receive_data(data[pos : pos + size])
            pos += size
            for _ in range(200):  # each event consumes bytes: bounded
                event = parser.next_event()
                if not isinstance(event, SipRequest | SipResponse):
                    break
    except SipParseError:
        pass


def _pure_registrar() -> Registrar:
    secret = b"f" * 32
    creds = CredentialTable([Credential.make("1000", "pbx.test", 1, "secret1000", True)], secret)
    return Registrar(creds, NonceFactory(secret), Policy(PolicyConfig(rate=0)))


@FAST
@given(st.lists(mutated(), min_size=1, max_size=5))
def test_registrar_handles_any_parsed_message(batch: list[bytes]) -> None:
    reg = _pure_registrar()
    source = Source("192.0.2.10", 5070, "udp", None, "udp:127.0.0.1:5060")
    for data in batch:
        try:
            msg = parse(data)
        except SipParseError:
            continue
        if isinstance(msg, SipRequest):
            for reply in reg.handle(msg, source, T0):
                assert 100 <= reply.status < 700


# -- the live registrar --

LIVE_EXAMPLES = 50  # per event loop
BATCH = 8
LIVE = settings(
    max_examples=LIVE_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
INTERNAL_ERROR = re.compile(r"Traceback|internal error|Exception in callback|Fatal")


@pytest.fixture(params=["asyncio", "uvloop"])  # `python -m core serve` runs asyncio's loop, `core.sip` uvloop
def fuzz_registrar(
    request: pytest.FixtureRequest, settings: Settings, env: dict[str, str], engine: Engine, tmp_path: Path
) -> Iterator[RunningRegistrar]:
    seed_users(engine, 3)
    # Rate limit off so every mutated datagram reaches the parser (the limiter is tested elsewhere).
    args = ("--no-uvloop",) if request.param == "asyncio" else ()
    with start_registrar(settings, env | {"VOIPADMIN_SIP_RATE": "0"}, tmp_path, args=args) as reg:
        yield reg


def _check_alive(reg: RunningRegistrar, rss0: int) -> None:
    # One contact each, refreshed every time (a new one per check would reach the contact limit).
    assert register_udp(reg.port, "1000", "secret1000", contact="<sip:1000@127.0.0.1:5999>").status == 200
    assert register_tcp(reg.port, "1001", "secret1001", contact="<sip:1001@127.0.0.1:5998;transport=tcp>").status == 200
    assert reg.proc.poll() is None
    assert rss_kib(reg.proc.pid) < rss0 * 2 + 20_000, "registrar memory grew without bound"
    assert not INTERNAL_ERROR.search(reg.output()), reg.output()[-3000:]


@pytest.mark.sip
@pytest.mark.db
def test_live_registrar_survives_mutated_messages_over_udp_and_tcp(fuzz_registrar: RunningRegistrar) -> None:
    reg = fuzz_registrar
    _check_alive(reg, 0x7FFFFFFF)
    rss0 = rss_kib(reg.proc.pid)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.9", 0))  # fuzz from another source than the legitimate checks
    batches = 0

    @LIVE
    @given(st.lists(mutated(), min_size=BATCH, max_size=BATCH), st.booleans())
    def batch(messages: list[bytes], over_tcp: bool) -> None:
        nonlocal batches
        if over_tcp:
            with socket.create_connection(("127.0.0.1", reg.port), timeout=5, source_address=("127.0.0.9", 0)) as t:
                for m in messages:
                    try:
                        t.sendall(m)
                    except OSError:
                        break  # the registrar closed a connection whose framing it lost: allowed
        else:
            for m in messages:
                udp.sendto(m, ("127.0.0.1", reg.port))
        batches += 1
        _check_alive(reg, rss0)

    try:
        batch()
    finally:
        udp.close()
    assert batches >= LIVE_EXAMPLES
