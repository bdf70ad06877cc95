"""Format checks shared by the render tests."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from core.render.families import FAMILIES

# Yealink's documented way to give several web users a password repeats this one key.
MULTI_VALUED_KV = {"static.security.user_password"}


def kv_pairs(text: str) -> list[tuple[str, str]]:
    pairs = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line.startswith("include:"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a key = value line: {line!r}"
        pairs.append((key.strip(), value.strip()))
    return pairs


def structure(family: str, content: bytes) -> list[str]:
    """What a format's parser sees apart from values: element paths and attribute names, or keys."""
    if FAMILIES[family].xml:
        root = ET.fromstring(content)
        return [f"{el.tag}{sorted(el.attrib)}" for el in root.iter()]
    return [k for k, _ in kv_pairs(content.decode())]


def assert_well_formed(family: str, content: bytes) -> None:
    if FAMILIES[family].xml:
        ET.fromstring(content)
        return
    keys = [k for k, _ in kv_pairs(content.decode())]
    dupes = {k for k in keys if keys.count(k) > 1} - MULTI_VALUED_KV
    assert not dupes, f"duplicate keys: {sorted(dupes)[:5]}"
