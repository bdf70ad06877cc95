"""The vendor-neutral function-key vocabulary and each function's value rule.

Templates map these names to vendor codes; the catalogue says which names a model supports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.errors import ValidationError


@dataclass(frozen=True)
class KeyFunction:
    name: str
    value_required: bool
    pattern: re.Pattern[str] | None
    hint: str  # what the value is, for error messages and the UI
    label_en: str
    label_fr: str


_DIAL = re.compile(r"^[0-9*#+]{1,32}$")
_EXT = re.compile(r"^[0-9]{1,16}$")
_DTMF = re.compile(r"^[0-9*#A-Da-d]{1,32}$")
_URL = re.compile(r"^https?://[^\s<>\"']{1,240}$")
_LINE = re.compile(r"^[0-9]{1,3}$")

KEY_FUNCTIONS: dict[str, KeyFunction] = {
    f.name: f
    for f in (
        KeyFunction("line", False, _LINE, "SIP account number (empty = 1)", "Line", "Touche de ligne"),
        KeyFunction("blf", True, _EXT, "extension to watch", "BLF", "BLF"),
        KeyFunction("speed_dial", True, _DIAL, "number or *#-code", "Speed dial", "Numéro abrégé"),
        KeyFunction("voicemail", False, _DIAL, "voicemail number (optional)", "Voicemail", "Messagerie"),
        KeyFunction("directory", False, _URL, "directory URL (optional)", "Directory", "Annuaire"),
        KeyFunction("team", True, _EXT, "group number", "Team", "Groupe"),
        KeyFunction("extension", True, _EXT, "extension", "Extension", "Poste"),
        KeyFunction("dtmf", True, _DTMF, "digits sent in a call", "DTMF", "DTMF"),
        KeyFunction("park", False, _EXT, "park slot (optional)", "Park", "Parcage"),
        KeyFunction("pickup", False, _EXT, "extension to pick up (optional)", "Pickup", "Interception"),
        KeyFunction("intercom", True, _EXT, "extension", "Intercom", "Interphone"),
        KeyFunction("url", True, _URL, "http(s) URL", "URL", "URL"),
    )
}


def check_value(function: str, value: str | None, field: str = "value") -> str:
    """Validate and normalise a key's value for its function; raises ValidationError naming `field`."""
    spec = KEY_FUNCTIONS.get(function)
    if spec is None:
        raise ValidationError(f"unknown key function {function!r}", "type")
    text = (value or "").strip()
    if not text:
        if spec.value_required:
            raise ValidationError(f"a {function} key needs a value ({spec.hint})", field)
        return ""
    if spec.pattern is not None and not spec.pattern.match(text):
        raise ValidationError(f"{text!r} is not valid for a {function} key ({spec.hint})", field)
    return text
