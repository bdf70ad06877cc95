"""Property-based fuzzing of the live HTTPS provisioning endpoint, bounded in time and derandomised.

`python -m core serve` runs as in production (Granian, its default workers, the real renderer);
Hypothesis mutates valid phone requests (method, path, version, headers, body, then the raw bytes)
and sends each batch over TLS from 127.0.0.2-9, several connections at once. After every batch: a
legitimate fetch of a valid key from 127.0.0.1 answers 200 with the device's file, no response was
a 5xx, the workers are the same processes (none crashed and was replaced) and their memory stays
bounded. At the end no access-log row is a 5xx either (answers the fuzzer gave up waiting for).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from core import devices
from core.db import transaction
from core.models import AccessLog, Device
from tests.core.test_serve_lifetime import alive, cleanup, descendants
from tests.net import free_port, wait_for
from tests.sip.sipclient import rss_kib

pytestmark = pytest.mark.db

MAC = "805EC0F0E1D2"
UA = "Yealink SIP-T46U 108.86.0.20 80:5e:c0:f0:e1:d2"
EXAMPLES = 90  # batches; ~60 s on two shared cores
BATCH = 12
PARALLEL = 6
ANSWER_WAIT = 2.0  # seconds a fuzzed request may take to be answered (an incomplete one never is)
LIVE = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: the failing batch is printed as it was
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
STATUS = re.compile(rb"^HTTP/\d\.\d (\d{3})")


class Payload(bytes):
    """Raw request bytes whose repr stays short: Hypothesis prints a failing batch in full."""

    def __repr__(self) -> str:
        return f"Payload({bytes(self[:200])!r}{'...' if len(self) > 200 else ''}, {len(self)} bytes)"


@dataclass
class Live:
    port: int
    proc: subprocess.Popen[str]
    key: str
    expected: bytes  # the device's main file, fetched once the server is up
    workers: list[int]


def _fetch(port: int, key: str) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address="127.0.0.1", verify=False)
    with httpx.Client(transport=transport, headers={"user-agent": UA}, timeout=10) as c:
        return c.get(f"https://127.0.0.1:{port}/{key}.cfg")


@pytest.fixture
def live(env: dict[str, str], engine: Engine, provider, seed) -> Iterator[Live]:  # noqa: ANN001
    with transaction(engine) as s:
        dev = devices.add_device(s, provider, seed.line_a1, "yealink-t46u", mac=MAC)
        s.flush()
        key = s.get(Device, dev["id"]).access_key
    port = free_port()
    cmd = [sys.executable, "-m", "core", "serve", "--no-sip", "--host", "127.0.0.1", "--https-port", str(port)]
    proc = subprocess.Popen(cmd, env={**env, "PYTHONPATH": os.getcwd()}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    tree: list[int] = []
    try:
        wait_for(lambda: _quiet(lambda: _fetch(port, key).status_code == 200), 60, "the endpoint")
        tree = descendants(proc.pid)
        # serve's children: Granian (the workers are its children) and the passes process (core/processes/passes.py)
        granian = [p for p in _children(proc.pid) if b"core.provisioning.server" in _cmdline(p)]
        workers = [p for p in tree if p in {w for g in granian for w in descendants(g)}]
        assert len(granian) == 1 and workers, tree
        yield Live(port, proc, key, _fetch(port, key).content, workers)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                pass
        cleanup(proc, tree)


def _cmdline(pid: int) -> bytes:
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        return fh.read()


def _children(pid: int) -> list[int]:
    from tests.core.test_serve_lifetime import children_of

    return children_of(pid)


def _quiet(check):  # noqa: ANN001, ANN202 - not listening yet is not a failure
    try:
        return check()
    except httpx.TransportError:
        return False


# -- what a phone sends, and what a scanner makes of it ---------------------------------------------

# Half of each batch is well-formed HTTP (so the app's rules get fuzzed, not only the HTTP parser), the
# rest bends the protocol itself; a fifth has its raw bytes mutated afterwards.
SANE_METHODS = [b"GET", b"GET", b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"TRACE", b"PATCH",
                b"PROPFIND", b"get"]  # fmt: skip
WILD_METHODS = [b"CONNECT", b"G\x00T", b"\xffGET", b"PRI", b"M" * 300, b"GET GET"]
SANE_VERSIONS = [b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0"]
WILD_VERSIONS = [b"HTTP/0.9", b"HTTP/2.0", b"HTTP/1.2", b"HTTP/9.9", b"HTTP/1.1x", b"http/1.1", b"", b"HTTP/",
                 b"HTTP/1.1 extra"]  # fmt: skip
# Legal in a request target: what reaches the app's path rules.
SANE_FRAGMENTS = [b"/", b"..", b"%2e%2e", b"%2E%2E%2F", b"%00", b"//", b"%zz", b"%", b"%ff", b"%c3%a9", b";",
                  b"~", b".cfg", b"/../etc/passwd", b"A" * 200, b"0" * 48, b"@", b"%20", b"!$&'()*+,=", b"..;/",
                  b"%252e", b"-", b"_", b".", b"%0d%0a"]  # fmt: skip
WILD_FRAGMENTS = [b"\x00", b"\\", b"\xc3\xa9", b"\xff\xfe", b" ", b"#", b"\t", b"\r\n"]
HEADER_NAMES = [b"Host", b"User-Agent", b"Content-Length", b"Transfer-Encoding", b"Connection", b"Expect",
                b"Accept-Encoding", b"Range", b"Cookie", b"Authorization", b"X-Forwarded-For", b"Upgrade",
                b"Content-Type", b"If-Modified-Since", b"Trailer", b"X-Real-IP"]  # fmt: skip
WILD_HEADER_NAMES = [b"Bad Name", b"", b":authority", b"Host\x00", b"X" * 9000]
SANE_VALUES = [b"localhost", UA.encode(), b"0", b"3", b"keep-alive", b"close", b"gzip, deflate", b"bytes=0-0,1-1",
               b"bytes=-1", b"1.2.3.4, 5.6.7.8", b"Yealink SIP-T46U 108.86.0.20 00:15:65:00:00:01",
               b"Basic Zm9vOmJhcg==", b"x" * 2000, b"text/plain", b"Mon, 01 Jan 2024 00:00:00 GMT", b"h2c",
               b"100-continue"]  # fmt: skip
WILD_VALUES = [b"-1", b"18446744073709551616", b"10, 20", b"chunked", b"chunked, identity", b"\x00", b"\xff\xfe",
               b"a\r\n b", b"x" * 70_000]  # fmt: skip
BODIES = [b"", b"0\r\n\r\n", b"5\r\nhello\r\n0\r\n\r\n", b"zz\r\n", b"ffffffffffffffff\r\n", b"x" * 70_000,
          b"<xml/>", b"\x00" * 64]  # fmt: skip


def paths(key: str, wild: bool) -> st.SearchStrategy[bytes]:
    valid = [f"/{key}.cfg".encode(), f"/{key}/common.cfg".encode(), f"/{MAC.lower()}.cfg".encode(),
             f"/{MAC}.cfg".encode(), f"/{key}/{MAC.lower()}.cfg".encode(), f"/{key.upper()}.cfg".encode(),
             f"/{key[:-1]}.cfg".encode(), b"/"]  # fmt: skip
    fragments = st.sampled_from(SANE_FRAGMENTS)
    if wild:
        fragments = fragments | st.sampled_from(WILD_FRAGMENTS) | st.binary(min_size=1, max_size=8)

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        path = bytearray(draw(st.sampled_from(valid)))
        for _ in range(draw(st.integers(0, 3))):
            at = draw(st.integers(0, len(path)))
            path[at:at] = draw(fragments)
        if draw(st.integers(0, 3)) == 0:
            path += b"?" + draw(st.sampled_from([b"a=1", b"", b"%00", b"x" * 500, b"mac=" + MAC.encode()]))
        return bytes(path)

    return build()


@st.composite
def requests(draw: st.DrawFn, key: str) -> Payload:
    level = draw(st.integers(0, 9))
    wild, mutate = level >= 5, level >= 8
    pick = lambda sane, odd: draw(st.sampled_from(sane + odd if wild else sane))  # noqa: E731
    method = pick(SANE_METHODS, WILD_METHODS)
    target = draw(paths(key, wild))
    version = pick(SANE_VERSIONS, WILD_VERSIONS)
    lines = [b" ".join(x for x in (method, target, version) if x)]
    headers = [(b"Host", b"127.0.0.1"), (b"User-Agent", UA.encode())]
    names = st.sampled_from(HEADER_NAMES + WILD_HEADER_NAMES if wild else HEADER_NAMES)
    values = st.sampled_from(SANE_VALUES + WILD_VALUES if wild else SANE_VALUES)
    if wild:
        values = values | st.binary(max_size=30)
    headers += draw(st.lists(st.tuples(names, values), max_size=5))
    if draw(st.booleans()):
        headers = draw(st.permutations(headers))
    lines += [name + b": " + value for name, value in headers]
    body = draw(st.sampled_from(BODIES) | st.binary(max_size=64)) if wild or draw(st.booleans()) else b""
    raw = bytearray(b"\r\n".join(lines) + b"\r\n\r\n" + body)
    for _ in range(draw(st.integers(1, 3)) if mutate else 0):  # then the raw bytes: flip, insert, delete
        at = draw(st.integers(0, len(raw)))
        op = draw(st.sampled_from(["flip", "insert", "delete", "lf"]))
        if op == "flip" and at < len(raw):
            raw[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del raw[at : at + draw(st.integers(1, 8))]
        else:  # bare LF line endings, as some old firmwares send them
            raw = bytearray(bytes(raw).replace(b"\r\n", b"\n", 1))
    return Payload(raw)


# -- sending ------------------------------------------------------------------------------------------

_CTX = ssl.create_default_context()
_CTX.check_hostname, _CTX.verify_mode = False, ssl.CERT_NONE


def send(port: int, payload: bytes, source: str) -> int | None:
    """One TLS connection, one (or, pipelined, several) raw requests; the first status, or None when the
    server closed or did not answer in time (a request it is still waiting the rest of)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0)) as raw:
        with _CTX.wrap_socket(raw, server_hostname="localhost") as tls:
            try:
                tls.sendall(payload)
            except OSError:
                return None  # closed on us mid-send (an over-long header, say): allowed
            tls.settimeout(ANSWER_WAIT)
            head = b""
            try:
                while b"\r\n" not in head and len(head) < 64:
                    chunk = tls.recv(4096)
                    if not chunk:
                        break
                    head += chunk
            except (TimeoutError, OSError):
                pass
    m = STATUS.match(head)
    return int(m.group(1)) if m else None


def workers_rss(live: Live) -> int:
    return sum(rss_kib(p) for p in live.workers)


def check(live: Live, rss0: int) -> None:
    answer = _fetch(live.port, live.key)
    assert answer.status_code == 200 and answer.content == live.expected
    assert live.proc.poll() is None, "serve stopped"
    assert all(alive(p) for p in live.workers), "a worker died (and was replaced or not)"
    assert workers_rss(live) < rss0 * 1.5, f"workers grew from {rss0} KiB to {workers_rss(live)} KiB"


def test_live_endpoint_survives_mutated_requests(live: Live, engine: Engine) -> None:
    check(live, 0x7FFFFFFF)
    rss0 = workers_rss(live)
    seen: dict[int | None, int] = {}
    batches = 0
    pool = ThreadPoolExecutor(PARALLEL)

    @LIVE
    @given(st.lists(requests(live.key), min_size=BATCH, max_size=BATCH), st.integers(0, 3))
    def batch(payloads: list[Payload], pipelined: int) -> None:
        nonlocal batches
        if pipelined:  # a few requests back to back on one connection: the parser's state between them
            payloads = [Payload(b"".join(payloads[: pipelined + 1])), *payloads[pipelined + 1 :]]
        sources = [f"127.0.0.{2 + i % 8}" for i in range(len(payloads))]
        statuses = list(pool.map(lambda a: send(live.port, *a), zip(payloads, sources, strict=True)))
        for status, payload in zip(statuses, payloads, strict=True):
            assert status is None or status < 500, (status, payload)
            seen[status] = seen.get(status, 0) + 1
        batches += 1
        check(live, rss0)

    try:
        batch()
    finally:
        pool.shutdown()
    assert batches >= EXAMPLES
    print(f"HTTP fuzz: {batches} batches, answers {dict(sorted(seen.items(), key=str))}, "
          f"workers' RSS {rss0} -> {workers_rss(live)} KiB")  # fmt: skip
    live.proc.send_signal(signal.SIGTERM)  # the workers write every queued access-log row on the way out
    out, _ = live.proc.communicate(timeout=60)
    assert live.proc.returncode == 0, out[-3000:]
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(AccessLog).where(AccessLog.status >= 500)) == 0
    # The fuzzer reached the app, not only the HTTP parser: answers of several kinds.
    assert {400, 404} <= set(seen) and sum(n for s, n in seen.items() if s is not None) > EXAMPLES * BATCH // 2, seen
