"""Sans-I/O SIP messages: bytes -> SipRequest/SipResponse and back (RFC 3261 §7, §18.3).

No sockets and no asyncio here. `parse` takes one datagram; `StreamParser` frames messages on a
TCP byte stream by Content-Length and can be fed any split of the bytes, even one at a time.
"""

from __future__ import annotations

from collections.abc import Iterable

from core.sip.errors import SipParseError
from core.sip.grammar import HEADER_RE, REQUEST_LINE_RE, STATUS_LINE_RE, split_commas

MAX_MESSAGE = 65535  # bytes; a bigger TCP message is refused, the connection closed
MAX_HEADERS = 100  # header lines per message (a REGISTER has about 12)
MAX_HEADER_LINE = 8192  # bytes per header line, folded continuations included

# RFC 3261 §7.3.3 compact forms (plus RFC 3265 o/u).
COMPACT = {
    "i": "Call-ID",
    "m": "Contact",
    "e": "Content-Encoding",
    "l": "Content-Length",
    "s": "Subject",
    "f": "From",
    "t": "To",
    "v": "Via",
    "k": "Supported",
    "c": "Content-Type",
    "o": "Event",
    "u": "Allow-Events",
}
_KNOWN = (
    "Via From To Call-ID CSeq Contact Expires Min-Expires Max-Forwards User-Agent Server Content-Length "
    "Content-Type Authorization WWW-Authenticate Proxy-Authenticate Proxy-Authorization Event "
    "Subscription-State Allow Supported Require Unsupported Date Accept Route Record-Route Path"
).split()
CANONICAL = {n.lower(): n for n in _KNOWN} | {k: v for k, v in COMPACT.items()}
# Headers whose value is a comma list (so "Via: a, b" is two Vias); auth headers are not.
LIST_HEADERS = frozenset({"via", "contact", "route", "record-route", "allow", "supported", "require", "path"})

Headers = list[tuple[str, str]]


class SipMessage:
    __slots__ = ("headers", "body", "_index")

    def __init__(self, headers: Iterable[tuple[str, str]], body: bytes = b"") -> None:
        self.headers: Headers = list(headers)
        self.body = body
        index: dict[str, list[str]] = {}
        for name, value in self.headers:
            index.setdefault(name.lower(), []).append(value)
        self._index = index

    def get(self, name: str) -> str | None:
        """The first value of a header (the first element for list headers such as Via)."""
        vals = self._index.get(name.lower())
        if not vals:
            return None
        if name.lower() in LIST_HEADERS and "," in vals[0]:
            return split_commas(vals[0])[0]
        return vals[0]

    def get_all(self, name: str) -> list[str]:
        vals = self._index.get(name.lower(), [])
        if name.lower() in LIST_HEADERS:
            return [v for raw in vals for v in split_commas(raw)]
        return list(vals)

    def start_line(self) -> tuple[object, object]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and (self.start_line(), self.headers, self.body) == (
            other.start_line(),
            other.headers,
            other.body,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable: equal by value, not hashable

    @property
    def call_id(self) -> str:
        return self.get("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        raw = (self.get("CSeq") or "").split()
        if len(raw) != 2 or not is_number(raw[0], 10):
            return 0, ""
        return int(raw[0]), raw[1].upper()


class SipRequest(SipMessage):
    __slots__ = ("method", "uri")

    def __init__(self, method: str, uri: str, headers: Iterable[tuple[str, str]], body: bytes = b"") -> None:
        super().__init__(headers, body)
        self.method = method
        self.uri = uri

    def start_line(self) -> tuple[str, str]:
        return self.method, self.uri

    def __repr__(self) -> str:
        return f"SipRequest({self.method} {self.uri}, {len(self.headers)} headers)"


class SipResponse(SipMessage):
    __slots__ = ("status", "reason")

    def __init__(self, status: int, reason: str, headers: Iterable[tuple[str, str]], body: bytes = b"") -> None:
        super().__init__(headers, body)
        self.status = status
        self.reason = reason

    def start_line(self) -> tuple[int, str]:
        return self.status, self.reason

    def __repr__(self) -> str:
        return f"SipResponse({self.status} {self.reason}, {len(self.headers)} headers)"


def is_number(text: str, max_digits: int) -> bool:
    """ASCII digits only: str.isdigit() is also true for "²" or "٣", which int() refuses."""
    return 0 < len(text) <= max_digits and text.isascii() and text.isdigit()


def _content_length(value: str | None) -> int | None:
    if value is None:
        return None
    value = value.strip()
    if not is_number(value, 10):
        raise SipParseError("bad Content-Length")
    length = int(value)
    if length > MAX_MESSAGE:
        raise SipParseError("body too large", 513)
    return length


def parse_head(head: bytes) -> tuple[str, Headers]:
    """Start line and headers (names made canonical, folded lines joined)."""
    text = head.decode("utf-8", "replace")
    lines = text.split("\r\n")
    start = lines[0]
    if len(lines) > MAX_HEADERS + 1:
        raise SipParseError("too many header lines", 513)
    headers: Headers = []
    for line in lines[1:]:
        if not line:
            continue
        if len(line) > MAX_HEADER_LINE:
            raise SipParseError("header line too long", 513)
        if line[0] in " \t":  # obsolete line folding (§7.3.1)
            if not headers:
                raise SipParseError("continuation line before any header")
            name, value = headers[-1]
            if len(value) + len(line) > MAX_HEADER_LINE:
                raise SipParseError("header line too long", 513)
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        m = HEADER_RE.match(line)
        if not m:
            raise SipParseError("malformed header line")
        raw_name, value = m.group(1), m.group(2).strip()
        headers.append((CANONICAL.get(raw_name.lower(), raw_name), value))
    return start, headers


def _build(start: str, headers: Headers, body: bytes) -> SipRequest | SipResponse:
    if start.startswith("SIP/"):
        m = STATUS_LINE_RE.match(start)
        if not m:
            raise SipParseError("malformed status line")
        return SipResponse(int(m.group(1)), m.group(2) or "", headers, body)
    m = REQUEST_LINE_RE.match(start)
    if not m:
        raise SipParseError("malformed request line")
    return SipRequest(m.group(1).upper(), m.group(2), headers, body)


def parse(data: bytes) -> SipRequest | SipResponse:
    """One datagram. A body longer than Content-Length is cut; a shorter one is an error (§18.3)."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head = data.rstrip(b"\r\n")
        body = b""
    head = head.lstrip(b"\r\n")
    if not head:
        raise SipParseError("empty message")
    start, headers = parse_head(head)
    length = _content_length(next((v for n, v in headers if n == "Content-Length"), None))
    if length is not None:
        if length > len(body):
            raise SipParseError("body shorter than Content-Length")
        body = body[:length]
    missing = [h for h in ("Via", "From", "To", "Call-ID", "CSeq") if not any(n == h for n, _ in headers)]
    msg = _build(start, headers, body)
    if missing:
        raise SipParseError(f"missing {', '.join(missing)}")
    return msg


class NeedData:
    """Sentinel: the stream buffer holds no complete message yet."""


class KeepAlive:
    """Sentinel: a CRLFCRLF ping (RFC 5626 §3.5.1); answer with a CRLF pong."""


NEED_DATA = NeedData()
KEEPALIVE = KeepAlive()


class StreamParser:
    """Frames SIP messages on a stream (TCP). Feed bytes, then call `next_event` until NEED_DATA."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def receive_data(self, data: bytes) -> None:
        self._buf += data
        if len(self._buf) > MAX_MESSAGE * 2:
            raise SipParseError("message too large", 513)

    def next_event(self) -> SipRequest | SipResponse | NeedData | KeepAlive:
        buf = self._buf
        if buf[:4] == b"\r\n\r\n":
            del buf[:4]
            return KEEPALIVE
        stripped = 0
        while stripped < len(buf) and buf[stripped] in (13, 10):
            stripped += 1
        if stripped and stripped == len(buf):
            return NEED_DATA  # CRLFs only: maybe the start of a ping
        if stripped:
            del buf[:stripped]
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_MESSAGE:
                raise SipParseError("header too large", 513)
            return NEED_DATA
        start, headers = parse_head(bytes(buf[:end]))
        length = _content_length(next((v for n, v in headers if n == "Content-Length"), None))
        if length is None:
            raise SipParseError("Content-Length is required on a stream")  # §18.3
        total = end + 4 + length
        if len(buf) < total:
            return NEED_DATA
        body = bytes(buf[end + 4 : total])
        del buf[:total]
        return _build(start, headers, body)


def serialize(msg: SipRequest | SipResponse) -> bytes:
    """Wire bytes; Content-Length is always written last, computed from the body."""
    if isinstance(msg, SipRequest):
        start = f"{msg.method} {msg.uri} SIP/2.0"
    else:
        start = f"SIP/2.0 {msg.status} {msg.reason}"
    parts = [start]
    parts.extend(f"{n}: {v}" for n, v in msg.headers if n != "Content-Length")
    parts.append(f"Content-Length: {len(msg.body)}")
    return ("\r\n".join(parts) + "\r\n\r\n").encode() + msg.body


REASONS = {
    100: "Trying",
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    407: "Proxy Authentication Required",
    420: "Bad Extension",
    423: "Interval Too Brief",
    481: "Call/Transaction Does Not Exist",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    513: "Message Too Large",
}


def make_response(
    req: SipRequest,
    status: int,
    extra: Iterable[tuple[str, str]] = (),
    to_tag: str | None = None,
    via: list[str] | None = None,
    body: bytes = b"",
) -> SipResponse:
    """A response copying Via (possibly rewritten), From, To (+ tag), Call-ID and CSeq (§8.2.6.2)."""
    headers: Headers = [("Via", v) for v in (via if via is not None else req.get_all("Via"))]
    to = req.get("To") or ""
    if to_tag and ";tag=" not in to.lower():
        to = f"{to};tag={to_tag}"
    headers += [("From", req.get("From") or ""), ("To", to), ("Call-ID", req.call_id), ("CSeq", req.get("CSeq") or "")]
    headers.extend(extra)
    return SipResponse(status, REASONS.get(status, "Unknown"), headers, body)
