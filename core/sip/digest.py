"""Digest authentication helpers (RFC 2617 as profiled by RFC 3261 §22.4, RFC 8760 algorithms).

Pure functions plus a stateless nonce factory: nonce = hex(timestamp ‖ random ‖ HMAC(secret, both ‖ IP)),
so any process holding the installation secret can check it, an old one is answered `stale=true`, and
one is good only from the address it was sent to: a failed digest on a good nonce proves the source
receives our replies (it is not a spoofed address), which is what a ban may rest on.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import struct

ALGORITHMS = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}
NONCE_TTL = 300.0  # seconds, Kamailio's nonce_expire default
_NAME_RE = re.compile(r"[A-Za-z0-9_\-]+")


def h(algorithm: str, text: str) -> str:
    return ALGORITHMS[algorithm](text.encode()).hexdigest()


def ha1(algorithm: str, username: str, realm: str, password: str) -> str:
    return h(algorithm, f"{username}:{realm}:{password}")


class NonceFactory:
    """Stateless nonces: 4-byte time, 8 random bytes, 12-byte HMAC-SHA256 tag over them and the IP the
    challenge went to (hex, 48 chars)."""

    def __init__(self, secret: bytes, ttl: float = NONCE_TTL) -> None:
        self._key = hashlib.sha256(b"sip-nonce:" + secret).digest()
        self.ttl = ttl

    def make(self, now: float, source_ip: str = "") -> str:
        body = struct.pack(">I", int(now) & 0xFFFFFFFF) + os.urandom(8)
        return (body + self._tag(body, source_ip)).hex()

    def _tag(self, body: bytes, source_ip: str) -> bytes:
        return hmac.new(self._key, body + source_ip.encode(), hashlib.sha256).digest()[:12]

    def check(self, nonce: str, now: float, source_ip: str = "") -> str:
        """ "ok", "stale" (ours but too old) or "invalid" (not made with our secret, or for another address)."""
        if len(nonce) != 48:
            return "invalid"
        try:
            raw = bytes.fromhex(nonce)
        except ValueError:
            return "invalid"
        if len(raw) != 24:
            return "invalid"
        body, tag = raw[:12], raw[12:]
        if not hmac.compare_digest(self._tag(body, source_ip), tag):
            return "invalid"
        (ts,) = struct.unpack(">I", body[:4])
        age = (int(now) & 0xFFFFFFFF) - ts
        return "ok" if -5 <= age <= self.ttl else "stale"


def make_challenge(realm: str, nonce: str, algorithm: str = "MD5", stale: bool = False) -> str:
    """A WWW-Authenticate value with qop=auth."""
    value = f'Digest realm="{realm}", nonce="{nonce}", algorithm={algorithm}, qop="auth"'
    return value + ", stale=true" if stale else value


def parse_auth_params(value: str) -> dict[str, str] | None:
    """`Digest a="b", c=d` -> {"a": "b", "c": "d"} (names lowercased); None if not Digest."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "digest":
        return None
    params: dict[str, str] = {}
    # A linear scan (the finditer regex it replaces was quadratic on a value with no "=": 9 s for 20 kB).
    for part in _split_params(rest):
        name, eq, v = part.partition("=")
        name, v = name.strip(), v.strip()
        if not eq or not _NAME_RE.fullmatch(name):
            continue
        if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
            v = v[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        params[name.lower()] = v
    return params


def _split_params(text: str) -> list[str]:
    """Split on commas outside double quotes (a backslash escapes inside them)."""
    out: list[str] = []
    start, quoted, i = 0, False, 0
    while i < len(text):
        c = text[i]
        if quoted and c == "\\":
            i += 1
        elif c == '"':
            quoted = not quoted
        elif c == "," and not quoted:
            out.append(text[start:i])
            start = i + 1
        i += 1
    out.append(text[start:])
    return out


def expected_response(params: dict[str, str], ha1_hex: str, method: str, algorithm: str) -> str:
    ha2 = h(algorithm, f"{method}:{params.get('uri', '')}")
    qop = params.get("qop")
    if qop:
        return h(
            algorithm,
            f"{ha1_hex}:{params.get('nonce', '')}:{params.get('nc', '')}:{params.get('cnonce', '')}:{qop}:{ha2}",
        )
    return h(algorithm, f"{ha1_hex}:{params.get('nonce', '')}:{ha2}")


def verify(params: dict[str, str], ha1_hex: str, method: str) -> bool:
    """Check the response in constant time; the algorithm is the one the client says it used."""
    algorithm = params.get("algorithm", "MD5").upper()
    if algorithm not in ALGORITHMS or params.get("qop", "auth") != "auth":
        return False
    expected = expected_response(params, ha1_hex, method, algorithm)
    return hmac.compare_digest(expected, params.get("response", "").lower())


def authorization(
    challenge: dict[str, str], username: str, password: str, method: str, uri: str, cnonce: str, nc: int = 1
) -> str:
    """The client side (NOTIFY challenged by a phone): an Authorization value answering `challenge`."""
    algorithm = challenge.get("algorithm", "MD5").upper()
    if algorithm not in ALGORITHMS:
        algorithm = "MD5"
    realm, nonce = challenge.get("realm", ""), challenge.get("nonce", "")
    qops = [q.strip() for q in challenge.get("qop", "").split(",") if q.strip()]
    params = {"uri": uri, "nonce": nonce}
    if "auth" in qops:
        params |= {"qop": "auth", "nc": f"{nc:08x}", "cnonce": cnonce}
    response = expected_response(params, ha1(algorithm, username, realm, password), method, algorithm)
    parts = [f'username="{username}"', f'realm="{realm}"', f'nonce="{nonce}"', f'uri="{uri}"']
    parts += [f'response="{response}"', f"algorithm={algorithm}"]
    if "qop" in params:
        parts += ["qop=auth", f"nc={params['nc']}", f'cnonce="{cnonce}"']
    if "opaque" in challenge:
        parts.append(f'opaque="{challenge["opaque"]}"')
    return "Digest " + ", ".join(parts)
