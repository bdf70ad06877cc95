"""core.geo: addresses labelled (never looked up when not public), countries from the registries' data
shipped in iptocc's wheel, networks, and the countries' centroids of data/country_centroids.csv."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
from collections.abc import Iterator

import iptocc
import pytest

from core import geo
from core.settings import ROOT


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    """Each test sees lookups happen: nothing remembered from another test (or from a patched lookup)."""
    for cached in (geo.label, geo.country, geo.provider_network):
        cached.cache_clear()
    yield
    for cached in (geo.label, geo.country, geo.provider_network):
        cached.cache_clear()


@pytest.fixture
def no_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(addr: object) -> str:
        raise AssertionError(f"looked up {addr!r}")

    monkeypatch.setattr(iptocc, "country_code", boom)


NOT_PUBLIC = {
    "127.0.0.1": "loopback",
    "127.255.0.9": "loopback",
    "::1": "loopback",
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "172.31.255.254": "private",
    "192.168.1.10": "private",
    "100.64.0.1": "private",  # CGNAT (RFC 6598)
    "100.127.255.254": "private",
    "fd12:3456::1": "private",  # fc00::/7
    "fc00::1": "private",
    "169.254.10.20": "link-local",
    "fe80::1": "link-local",
    "fe80::1%eth0": "link-local",
    "::ffff:127.0.0.1": "loopback",  # IPv4-mapped: its IPv4 address
    "::ffff:10.0.0.7": "private",
    "::ffff:100.64.3.4": "private",
    "::ffff:169.254.1.1": "link-local",
    "0.0.0.0": "reserved",
    "192.0.0.8": "reserved",
    "198.18.0.1": "reserved",
    "224.0.0.1": "reserved",
    "255.255.255.255": "reserved",
    "::": "reserved",
    "ff02::1": "reserved",
    "not an address": "invalid",
    "": "invalid",
    "1.2.3": "invalid",
    "01.2.3.4": "invalid",
    "1.2.3.4%eth0": "invalid",
    "1.2.3.4\x00": "invalid",
    "[::1]": "invalid",
}


@pytest.mark.parametrize(("ip", "expected"), NOT_PUBLIC.items())
def test_an_address_that_is_not_public_is_labelled_and_never_looked_up(no_lookup, ip, expected):
    assert geo.label(ip) == expected
    assert geo.country(ip) == expected  # the label stands for the country


@pytest.mark.parametrize("ip", ["172.15.255.1", "172.32.0.1", "100.63.255.255", "100.128.0.1", "fbff::1", "11.0.0.1"])
def test_the_edges_of_the_private_ranges_are_public(ip):
    assert geo.label(ip) == ""


@pytest.mark.parametrize(
    "ip",
    ["192.0.2.1", "198.51.100.7", "203.0.113.200", "2001:db8::1", "2001:db8:1:2::3", "3fff::1", "::ffff:192.0.2.5"],
)
def test_documentation_addresses_are_public_addresses_without_a_country(ip):
    """The product's tests use them as stand-ins for public addresses: looked up, not labelled."""
    assert geo.label(ip) == ""
    assert geo.country(ip) == ""


# Long-standing allocations: the registries' own blocks, a national registry, incumbents' blocks.
STABLE = {
    "193.0.0.1": "NL",  # RIPE NCC's own 193.0.0.0/21
    "193.0.7.254": "NL",
    "2001:67c:2e8::1": "NL",  # RIPE NCC's own /48
    "::ffff:193.0.0.1": "NL",  # IPv4-mapped: looked up as its IPv4 address
    "196.216.2.1": "ZA",  # AFRINIC's own
    "1.0.16.1": "JP",  # APNIC
    "2001:200::1": "JP",  # WIDE
    "200.160.0.1": "BR",  # NIC.br
    "8.8.8.8": "US",
    "2001:4860:4860::8888": "US",
    "90.1.2.3": "FR",  # Orange 90.0.0.0/9
    "2a01:cb00::1": "FR",  # Orange
    "217.0.0.1": "DE",  # Deutsche Telekom
    "2003::1": "DE",
}


@pytest.mark.parametrize(("ip", "code"), STABLE.items())
def test_stable_public_allocations_give_their_country(ip, code):
    assert geo.label(ip) == ""
    assert geo.country(ip) == code
    assert geo.centroid(code) is not None


def test_a_lookup_is_cached_per_process(monkeypatch):
    seen: list[str] = []
    real = iptocc.country_code

    def counting(addr: str) -> str | None:
        seen.append(addr)
        return real(addr)

    monkeypatch.setattr(iptocc, "country_code", counting)
    assert [geo.country("193.0.0.1") for _ in range(3)] == ["NL"] * 3
    assert geo.country("::ffff:193.0.0.1") == "NL"  # another text: its own entry, the IPv4 text looked up
    assert seen == ["193.0.0.1", "193.0.0.1"]
    assert geo.country.cache_info().hits == 2


def test_nothing_is_loaded_before_the_first_public_lookup():
    code = (
        "import sys; from core import geo; a = 'iptocc' in sys.modules; "
        "geo.country('10.0.0.1'); geo.country('::1'); geo.provider_network('192.0.2.1'); b = 'iptocc' in sys.modules; "
        "geo.country('193.0.0.1'); print(a, b, 'iptocc' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "True"]


# -- networks ----------------------------------------------------------------------------------


def test_two_addresses_of_one_isp_network_are_one_network_and_another_isp_another():
    """A public address's network is its /16 or /32 (iptocc has no allocations to give): one ISP's pool
    renumbering a line within it stays one network; another ISP's address is another."""
    orange = geo.provider_network("90.1.2.3")
    assert orange == geo.provider_network("90.1.250.9") == geo.provider_network("::ffff:90.1.7.9") == "90.1.0.0/16"
    assert geo.provider_network("217.0.0.1") == "217.0.0.0/16" != orange  # Deutsche Telekom
    orange6 = geo.provider_network("2a01:cb00:1:2::1")
    assert orange6 == geo.provider_network("2a01:cb00:ffff:2:abcd::9") == "2a01:cb00::/32"
    assert geo.provider_network("2003::1") == "2003::/32" != orange6


def test_non_public_addresses_keep_their_lan_network():
    assert geo.provider_network("192.168.1.20") == "192.168.1.0/24"
    assert geo.provider_network("fe80::1") == "fe80::/64"


@pytest.mark.parametrize(
    ("ip", "network"),
    [
        ("192.0.2.77", "192.0.0.0/16"),  # documentation: public (a provider-sized block), unknown to the data
        ("203.0.113.5", "203.0.0.0/16"),
        ("2001:db8::1", "2001:db8::/32"),
        ("2001:db8:0:1:2:3:4:5", "2001:db8::/32"),
        ("192.168.1.10", "192.168.1.0/24"),  # not public: never looked up either
        ("10.20.30.40", "10.20.30.0/24"),
        ("127.0.0.1", "127.0.0.0/24"),
        ("::ffff:192.168.1.2", "192.168.1.0/24"),
        ("fe80::1%eth0", "fe80::/64"),
        ("::1", "::/64"),
        ("nonsense", "invalid"),
    ],
)
def test_the_network_is_provider_sized_if_public_else_the_lan(no_lookup, ip, network):
    assert geo.provider_network(ip) == network


# -- centroids ---------------------------------------------------------------------------------


def _csv_rows() -> list[dict[str, str]]:
    with geo.CENTROIDS_PATH.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(line for line in f if not line.startswith("#")))


def test_the_centroid_file_has_each_code_once_with_a_point_on_earth():
    rows = _csv_rows()
    codes = [row["code"] for row in rows]
    assert len(codes) == len(set(codes)) == 250  # the 249 ISO 3166-1 alpha-2 codes and EU
    assert all(re.fullmatch(r"[A-Z]{2}", code) for code in codes)
    assert all(row["name"] and -90 <= float(row["lat"]) <= 90 and -180 <= float(row["lon"]) <= 180 for row in rows)
    assert {"FR", "DE", "US", "AQ", "UM", "XK"} & set(codes) == {"FR", "DE", "US", "AQ", "UM"}  # XK is no ISO code


def test_every_code_the_geo_data_returns_has_a_centroid():
    """One address in every IPv4 /22 (4 million lookups, ~2 s) and every IPv6 /24 of 2000::/6 finds every
    country code the data holds (239 IPv4, 232 IPv6 with 3.3.170, EU among them); each is in the file."""
    octet = [str(i) for i in range(256)]
    v4 = [f"{a}.{b}.{c}.1" for a in octet for b in octet for c in octet[::4]]
    v6 = [f"{a:x}:{b:x}::1" for a in range(0x2000, 0x2C00) for b in range(0, 0x10000, 0x100)]
    returned = (set(iptocc.country_code(v4)) | set(iptocc.country_code(v6))) - {None}
    assert len(returned) > 200 and "EU" in returned
    assert sorted(code for code in returned if code and geo.centroid(code) is None) == []


def test_centroid_and_distance():
    assert geo.centroid("FR") == geo.centroid("fr") == (46.0, 2.0)
    assert geo.centroid("EU") is not None
    for unknown in ("XX", "", "private", "invalid", "XK"):
        assert geo.centroid(unknown) is None
        assert geo.distance_km("FR", unknown) is None
        assert geo.distance_km(unknown, "FR") is None
    fr_de = geo.distance_km("FR", "DE")
    assert fr_de is not None and 300 < fr_de < 1200
    assert geo.distance_km("DE", "FR") == fr_de
    assert geo.distance_km("FR", "FR") == 0.0
    fr_au = geo.distance_km("FR", "AU")
    assert fr_au is not None and 14_000 < fr_au < 16_000
    pole_to_norway = geo.distance_km("AQ", "NO")  # the south pole to 62° N: 152° of a meridian
    assert pole_to_norway is not None and abs(pole_to_norway - 152 / 180 * 20_015) < 50
