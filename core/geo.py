"""Offline geo-IP for the fraud alerts: an address's label, country and network; countries' centroids.

Data: the PyPI package `iptocc` (code MIT OR Apache-2.0), whose wheel embeds the five Regional
Internet Registries' delegated statistics ("delegated-*-extended-latest" of AFRINIC, APNIC, ARIN,
LACNIC and the RIPE NCC: public statistics the registries publish freely, no licence terms of their
own to carry), rebuilt and released nightly. No file, no network, no key; a lookup is a table walk in
Rust. A country is the one a registry *assigned* the block to, not where it is used. Besides ISO
3166-1 codes the data can say "EU" (some pan-European RIPE NCC blocks). Picked over `geoip2fast`,
which ships MaxMind GeoLite2 data (MaxMind's own terms, not an open-data licence) frozen at
2024-06-18, is released as an sdist only, and takes ~120 MB resident with its ASN ranges and ~7 µs
a lookup.

What an address is, in order (`label`):
- "invalid": text that is no IPv4/IPv6 address;
- an IPv4-mapped IPv6 address (::ffff:a.b.c.d) is its IPv4 address everywhere below;
- "loopback" 127.0.0.0/8, ::1; "private" RFC 1918, 100.64.0.0/10 (CGNAT), fc00::/7;
  "link-local" 169.254.0.0/16, fe80::/10; "reserved" every other range that is not on the Internet
  (this-network, IETF protocol assignments, benchmarking, multicast, 240/4, the unspecified address,
  NAT64 local use, discard-only) -- these are never looked up;
- "" otherwise: a public address. The documentation ranges (192.0.2.0/24, 198.51.100.0/24,
  203.0.113.0/24, 2001:db8::/32, 3fff::/20) count as public: the product's tests use them as stand-ins
  for public addresses; the data knows no country for them.

A "network" (`provider_network`): iptocc keeps country runs, not the registries' allocations, so
there is no provider range to give. The network of a public address is therefore a provider-sized
block: its /16 (IPv4; the big access providers' blocks are /16 or larger, so a DSL or cable line
renumbered within its provider's pool mostly stays in it) or its /32 (IPv6: the registries' usual
allocation to one provider). Non-public addresses keep core.networks' /24 or /64 (the LAN they are
on). A move to another /16 of the same provider is then a new network: the `fetch_new_network`
rule is low severity for that reason.

Countries' centroids come from data/country_centroids.csv (every ISO 3166-1 alpha-2 code plus EU; its
header says where the points come from: mostly the CIA World Factbook, public domain).

Costs (measured on the dev machine): importing this module loads nothing; iptocc is imported at the
first public lookup (+1 MB resident: its tables are embedded in the extension), the CSV at the first
centroid. `label`, `country` and `provider_network` are cached per process (LRU, CACHE_SIZE addresses
each, ~2.5 MB when full): ~0.13 µs for a cached address, 1.5-3 µs for a new one.
"""

from __future__ import annotations

import csv
import ipaddress
import math
import socket
from functools import cache, lru_cache

from core import networks
from core.settings import ROOT

__all__ = ["centroid", "country", "distance_km", "label", "provider_network"]

CENTROIDS_PATH = ROOT / "data" / "country_centroids.csv"
CACHE_SIZE = 1 << 14  # distinct addresses remembered per function (~2.5 MB each when full)
EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)

# Per IP version, first match wins; IPv4-mapped addresses were mapped before. Not `is_private` or
# `is_global`: their ranges changed between Python versions, and `is_global` is False for the
# documentation ranges.
_NOT_PUBLIC = {
    "loopback": ("127.0.0.0/8", "::1/128"),
    "private": ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7"),
    "link-local": ("169.254.0.0/16", "fe80::/10"),
    "reserved": (
        "0.0.0.0/8",  # "this network"
        "192.0.0.0/24",  # IETF protocol assignments
        "198.18.0.0/15",  # benchmarking
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, and 255.255.255.255
        "::/128",  # unspecified
        "::/96",  # IPv4-compatible (deprecated)
        "64:ff9b:1::/48",  # NAT64 local use
        "100::/64",  # discard-only
        "2001:2::/48",  # benchmarking
        "ff00::/8",  # multicast
    ),
}


def _masks() -> dict[int, list[tuple[int, int, str]]]:
    """IP version -> [(network as an int, netmask as an int, label)]: one AND and compare per range."""
    out: dict[int, list[tuple[int, int, str]]] = {4: [], 6: []}
    for name, cidrs in _NOT_PUBLIC.items():
        for net in map(ipaddress.ip_network, cidrs):
            out[net.version].append((int(net.network_address), int(net.netmask), name))
    return out


_MASKS = _masks()


def _parse(ip: str) -> tuple[int, int, str] | None:
    """(IP version, the address as an int, its text for the lookup), an IPv4-mapped IPv6 address as its
    IPv4 address; None for text that is no address. inet_pton accepts what ipaddress.ip_address does
    (no leading zeros, no short forms) at a tenth of its cost; an IPv6 zone id (fe80::1%eth0) is dropped."""
    text = ip.strip()
    try:
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text)), text
    except (OSError, ValueError):  # ValueError: a NUL or a character that is not ASCII
        pass
    text, percent, zone = text.partition("%")
    try:
        value = int.from_bytes(socket.inet_pton(socket.AF_INET6, text))
    except (OSError, ValueError):
        return None
    if percent and not zone:
        return None
    if value >> 32 == 0xFFFF:  # ::ffff:a.b.c.d
        value &= 0xFFFFFFFF
        return 4, value, socket.inet_ntoa(value.to_bytes(4))
    return 6, value, text


def _label(version: int, value: int) -> str:
    for network, mask, name in _MASKS[version]:
        if value & mask == network:
            return name
    return ""


@lru_cache(maxsize=CACHE_SIZE)
def label(ip: str) -> str:
    """The address's kind: "loopback", "private", "link-local", "reserved", "invalid", or "" if public."""
    parsed = _parse(ip)
    return "invalid" if parsed is None else _label(parsed[0], parsed[1])


def _registry_country(text: str) -> str:
    """The registries' country of a public address ("" when they know none); imports iptocc on first use."""
    import iptocc  # here, not at the top: nothing is loaded until the first public lookup

    return (iptocc.country_code(text) or "").upper()


@lru_cache(maxsize=CACHE_SIZE)
def country(ip: str) -> str:
    """The ISO 3166-1 alpha-2 code ("FR"; "EU" exists too) of a public address, "" when the data does not
    know it; for any other address its label ("private", "invalid", ...), which is never looked up."""
    parsed = _parse(ip)
    if parsed is None:
        return "invalid"
    version, value, text = parsed
    return _label(version, value) or _registry_country(text)


@lru_cache(maxsize=CACHE_SIZE)
def provider_network(ip: str) -> str:
    """The provider-sized block of a public address as CIDR text: its /16 (IPv4) or /32 (IPv6); for any
    other address its /24 or /64 (core.networks.network); "invalid" for text that is no address.
    The module's docstring says why these sizes."""
    parsed = _parse(ip)
    if parsed is None:
        return "invalid"
    version, value, text = parsed
    if _label(version, value):
        return networks.network(text)
    if version == 4:
        return f"{value >> 24}.{value >> 16 & 255}.0.0/16"
    return socket.inet_ntop(socket.AF_INET6, (value >> 96 << 96).to_bytes(16)) + "/32"


@cache
def _centroids() -> dict[str, tuple[float, float]]:
    with CENTROIDS_PATH.open(encoding="utf-8", newline="") as f:
        rows = csv.DictReader(line for line in f if not line.startswith("#"))
        return {row["code"]: (float(row["lat"]), float(row["lon"])) for row in rows}


def centroid(country_code: str) -> tuple[float, float] | None:
    """(latitude, longitude) in degrees of a country's centre, or None for a code the file does not have
    (a label such as "private", "", an unknown code)."""
    return _centroids().get(country_code.strip().upper())


def distance_km(a: str, b: str) -> float | None:
    """Great-circle distance between two countries' centroids (haversine), None if either is unknown."""
    pa, pb = centroid(a), centroid(b)
    if pa is None or pb is None:
        return None
    lat1, lon1, lat2, lon2 = map(math.radians, (*pa, *pb))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))
