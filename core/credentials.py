"""Access keys, generated passwords and the validation rules for MACs and device passwords.

The one place for these rules: services, CLI, dashboard and templates all call here.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
from enum import StrEnum

from core.errors import ValidationError

ACCESS_KEY_BYTES = 24  # 192 bits
ACCESS_KEY_LENGTH = 2 * ACCESS_KEY_BYTES  # lowercase hex: the column's size, and what is_access_key takes
ACCESS_KEY_RE = re.compile(rf"^[0-9a-f]{{{ACCESS_KEY_LENGTH}}}$")
DEVICE_PASSWORD_RE = re.compile(r"^[0-9]{4,9}$")
GENERATED_DEVICE_PASSWORD_DIGITS = 40
_MAC_SEPARATORS = re.compile(r"[\s:.\-]")
_MAC_RE = re.compile(r"^[0-9A-F]{12}$")


class ProvisioningMac(StrEnum):
    """Provisioning MAC: may the device bootstrap by its MAC-named file? Never, once (until its first
    key fetch, which sets done), or done. The values are what the database stores."""

    NO = "no"
    ONCE = "once"
    DONE = "done"


# What a person may choose; `done` is set only by the device's first key fetch (provisioning/directory).
CHOSEN_PROVISIONING_MAC = (ProvisioningMac.NO, ProvisioningMac.ONCE)


def new_access_key() -> str:
    return secrets.token_hex(ACCESS_KEY_BYTES)


def is_access_key(text: str) -> bool:
    return bool(ACCESS_KEY_RE.match(text))


def key_hash(key: str) -> str:
    """The SHA-256 (lowercase hex) of an access key, as `retired_key.key_hash` keeps it: the one form
    a retired key is stored in (devices.new_key) and looked up by (provisioning/directory). A key has
    192 random bits, so an unsalted hash cannot be reversed; only the hash: the old URL stays unusable
    even to someone who reads the database."""
    return hashlib.sha256(key.encode()).hexdigest()


def generated_device_password() -> str:
    """A random 40-digit password: rendered into configs, never shown or logged. One draw below 10^40,
    zero-padded: every 40-digit string equally likely, as 40 draws of a digit, in one call."""
    return f"{secrets.randbelow(10**GENERATED_DEVICE_PASSWORD_DIGITS):0{GENERATED_DEVICE_PASSWORD_DIGITS}d}"


def chosen_device_password(value: str | None, field: str) -> str | None:
    """Validate a device admin/user password: 4-9 digits, or None when empty (one is to be generated)."""
    if value is None or value.strip() == "":
        return None
    if not DEVICE_PASSWORD_RE.match(value):
        raise ValidationError("password_digits", field, min=4, max=9)
    return value


def device_password(value: str | None, field: str) -> tuple[str, bool]:
    """Validate a device admin/user password: 4-9 digits, or empty for a generated one.

    Returns (password, generated).
    """
    chosen = chosen_device_password(value, field)
    return (generated_device_password(), True) if chosen is None else (chosen, False)


def normalize_mac(value: str | None, field: str = "mac") -> str | None:
    """12 hex characters, upper case, separators (: - . space) accepted; empty means no MAC."""
    if value is None or value.strip() == "":
        return None
    mac = _MAC_SEPARATORS.sub("", value.strip()).upper()
    if not _MAC_RE.match(mac):
        raise ValidationError("mac_invalid", field, value=value)
    if mac == "000000000000" or mac == "FFFFFFFFFFFF":
        raise ValidationError("mac_reserved", field, value=value)
    return mac


def find_mac(text: str) -> str | None:
    """The first MAC-looking token in a User-Agent or file name (with or without separators)."""
    m = re.search(r"(?<![0-9A-Fa-f])((?:[0-9A-Fa-f]{2}[:\-]){5}[0-9A-Fa-f]{2}|[0-9A-Fa-f]{12})(?![0-9A-Fa-f])", text)
    if not m:
        return None
    try:
        return normalize_mac(m.group(1))
    except ValidationError:
        return None


def provisioning_mac_state(value: str, field: str = "provisioning_mac") -> ProvisioningMac:
    try:
        return ProvisioningMac((value or "").strip().lower())
    except ValueError:
        raise ValidationError("pm_state", field, value=value) from None


def new_sip_password() -> str:
    """A strong SIP password: 24 characters from letters and digits (no quoting issues in any format)."""
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(24))


def sip_password(value: str | None, field: str = "sip_password") -> tuple[str, bool]:
    """A given SIP password must be strong enough to survive online guessing; empty = generated."""
    if value is None or value == "":
        return new_sip_password(), True
    if len(value) < 12:
        raise ValidationError("sip_password_short", field, min=12)
    if len(value) > 128 or any(c.isspace() or not c.isprintable() or c in "\"'<>&\\" for c in value):
        raise ValidationError("sip_password_chars", field)
    return value, False
