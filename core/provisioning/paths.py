"""Request paths: what a phone may ask for, parsed without I/O, and masked for the log.

Only three shapes exist: `/<key>.cfg`, `/<key>/<file>` and a bootstrap `/<file>`: MAC-named, or a
bare name (a Snom `snomD785.htm`, a Cisco `spa504G.cfg`) that only the User-Agent's MAC can answer.
Anything else (dot-dot, percent escapes, NUL, over-long, upper-case keys) is a miss.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from core.credentials import find_mac, is_access_key

MAX_PATH = 256
_SEGMENT = r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}"
_PATH_RE = re.compile(rf"^/({_SEGMENT})(?:/({_SEGMENT}))?$")
# Any long hex run may be a key (ours or a guess): keep 6 characters, never the whole run.
_LONG_HEX = re.compile(r"[0-9A-Fa-f]{16,}")
_UNPRINTABLE = re.compile(r"[^\x21-\x7e]")


@dataclass(frozen=True, slots=True)
class Target:
    kind: str  # main | file | mac | name (a bare bootstrap name: no MAC in it) | bad
    masked: str  # the path as the access log stores it
    key: str | None = None
    name: str | None = None
    mac: str | None = None


@lru_cache(maxsize=8192)  # pure, and phones re-ask for the same few paths: skip the regexes on a hit
def parse_path(raw_path: bytes) -> Target:
    masked = mask_path(raw_path.decode("latin-1"))
    if len(raw_path) > MAX_PATH:
        return Target("bad", masked)
    try:
        path = raw_path.decode("ascii")
    except UnicodeDecodeError:
        return Target("bad", masked)
    m = _PATH_RE.match(path)
    if m is None or ".." in path:
        return Target("bad", masked)
    first, second = m.group(1), m.group(2)
    if second is not None:
        return Target("file", masked, key=first, name=second) if is_access_key(first) else Target("bad", masked)
    if first.endswith(".cfg") and is_access_key(first[:-4]):
        return Target("main", masked, key=first[:-4])
    mac = find_mac(first)
    return Target("mac", masked, name=first, mac=mac) if mac else Target("name", masked, name=first)


def mask_path(path: str) -> str:
    """The path as stored in the access log: keys cut to 6 characters, unprintables replaced, bounded."""
    printable = _UNPRINTABLE.sub("?", path[: MAX_PATH * 2])
    return _LONG_HEX.sub(lambda m: m.group(0)[:6] + "…", printable)[:255]
