"""RFC 3261 §25 rules as regexes, each with its ABNF quoted above it, and small helpers over them.

Only what a registrar and a NOTIFY sender need: URIs, name-addr, Via, CSeq, generic params.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" )
TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"

# Request-Line = Method SP Request-URI SP SIP-Version CRLF
REQUEST_LINE_RE = re.compile(rf"^({TOKEN}) (\S+) SIP/2\.0$")

# Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF ; Status-Code = 3DIGIT
STATUS_LINE_RE = re.compile(r"^SIP/2\.0 ([1-6][0-9][0-9])(?: (.*))?$")

# message-header = header-name HCOLON header-value ; HCOLON = *( SP / HTAB ) ":" SWS
HEADER_RE = re.compile(rf"^({TOKEN})[ \t]*:[ \t]*(.*)$")

# SIP-URI = "sip:" [ userinfo ] hostport uri-parameters [ headers ]
# userinfo = ( user / telephone-subscriber ) [ ":" password ] "@" ; hostport = host [ ":" port ]
SIP_URI_RE = re.compile(
    r"^(sips?):(?:([^:@;?]+)(?::[^@;?]*)?@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)(?::([0-9]{1,5}))?([^?]*)(\?.*)?$"
)

# via-parm = sent-protocol LWS sent-by *( SEMI via-params ) ; sent-protocol = "SIP" SLASH "2.0" SLASH transport
VIA_RE = re.compile(
    r"^SIP\s*/\s*2\.0\s*/\s*([A-Za-z]+)\s+(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)(?:\s*:\s*([0-9]{1,5}))?\s*(;.*)?$"
)

# name-addr = [ display-name ] LAQUOT addr-spec RAQUOT ; display-name = *(token LWS) / quoted-string
# Parsed by hand (parse_name_addr): the one-regex form backtracked cubically on a value of spaces
# (2,000 spaces in a From header held the event loop for 16 s).
QUOTED_RE = re.compile(r'"((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True, slots=True)
class SipUri:
    scheme: str
    user: str | None
    host: str
    port: int | None
    params: dict[str, str | None]

    @property
    def transport(self) -> str:
        return (self.params.get("transport") or "udp").lower()


@dataclass(frozen=True, slots=True)
class Via:
    transport: str
    host: str
    port: int | None
    params: dict[str, str | None]

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")


@dataclass(frozen=True, slots=True)
class NameAddr:
    display: str
    uri: str
    params: dict[str, str | None]  # header params after the URI (tag, expires, ...)


def split_commas(value: str) -> list[str]:
    """Split a header value on commas that are outside quotes and angle brackets."""
    if "," not in value:
        return [value.strip()]
    out, start, depth, quoted, i = [], 0, 0, False, 0
    while i < len(value):
        c = value[i]
        if quoted:
            if c == "\\":
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
        elif c == "<":
            depth += 1
        elif c == ">":
            depth = max(0, depth - 1)
        elif c == "," and depth == 0:
            out.append(value[start:i].strip())
            start = i + 1
        i += 1
    out.append(value[start:].strip())
    return [v for v in out if v]


def parse_params(text: str) -> dict[str, str | None]:
    """`;a=b;c` -> {"a": "b", "c": None}; names lowercased, quotes kept off values."""
    params: dict[str, str | None] = {}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        name, eq, val = part.partition("=")
        v = val.strip()
        if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
            v = v[1:-1]
        params[name.strip().lower()] = v if eq else None
    return params


def parse_uri(text: str) -> SipUri | None:
    m = SIP_URI_RE.match(text.strip())
    if not m:
        return None
    scheme, user, host, port, params, _headers = m.groups()
    if port and not 0 < int(port) <= 65535:
        return None
    return SipUri(scheme.lower(), user, host.lower(), int(port) if port else None, parse_params(params or ""))


def parse_name_addr(text: str) -> NameAddr | None:
    """A From/To/Contact value, with or without angle brackets (then params belong to the header)."""
    text = text.strip()
    display, rest = "", text
    if text.startswith('"'):
        m = QUOTED_RE.match(text)
        if m:
            display, rest = m.group(1), text[m.end() :].lstrip()
    lt = rest.find("<")
    if lt >= 0 and (display == "" or lt == 0) and '"' not in rest[:lt]:
        gt = rest.find(">", lt)
        if gt >= 0:
            display = display or rest[:lt].strip()
            return NameAddr(display, rest[lt + 1 : gt].strip(), parse_params(rest[gt + 1 :]))
    if not text or "<" in text or ">" in text:
        return None
    uri, _, params = text.partition(";")
    return NameAddr("", uri.strip(), parse_params(params))


def parse_via(text: str) -> Via | None:
    m = VIA_RE.match(text.strip())
    if not m:
        return None
    transport, host, port, params = m.groups()
    if port and not 0 < int(port) <= 65535:
        return None  # `Via: ...:70000` without rport: a reply there would make sendto raise
    return Via(transport.upper(), host.lower(), int(port) if port else None, parse_params(params or ""))


def format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())
