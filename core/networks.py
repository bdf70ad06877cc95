"""What "the same network" means for an address, in one place: its IPv4 /24 or its IPv6 /64.

The diagnosis (a phone that fetched and registered from different places) and the fraud rules
(core.alert_rules) compare addresses by it. An IPv4-mapped IPv6 address is its IPv4 address;
text that is no address is its own network (it then only equals itself).
"""

from __future__ import annotations

import ipaddress


def network(ip: str) -> str:
    """The address's /24 (IPv4) or /64 (IPv6) as CIDR text, e.g. "192.0.2.0/24"."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    prefix = 24 if addr.version == 4 else 64
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))
