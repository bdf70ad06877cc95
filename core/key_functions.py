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
    hint_fr: str  # the hint in French, for the dashboard
    # The manual's "Valeur: liste ou valeur libre": the editor offers the vPBX's lines as values (free entry stays),
    offers_lines: bool = False
    # and a value that is no line of the vPBX gets a warning, never a refusal (it may be dialled elsewhere).
    expects_line: bool = False


_DIAL = re.compile(r"^[0-9*#+]{1,32}$")
_EXT = re.compile(r"^[0-9]{1,16}$")
_DTMF = re.compile(r"^[0-9*#A-Da-d]{1,32}$")
_URL = re.compile(r"^https?://[^\s<>\"']{1,240}$")
_LINE = re.compile(r"^[0-9]{1,3}$")

KEY_FUNCTIONS: dict[str, KeyFunction] = {
    f.name: f
    for f in (
        KeyFunction(
            "line",
            False,
            _LINE,
            "SIP account number (empty = 1)",
            "Line",
            "Touche de ligne",
            "numéro de compte SIP (vide = 1)",
        ),
        KeyFunction("blf", True, _EXT, "extension to watch", "BLF", "BLF", "poste à surveiller", True, True),
        KeyFunction("speed_dial", True, _DIAL, "number or *#-code", "Speed dial", "Numéro abrégé", "numéro ou code *#"),
        KeyFunction(
            "voicemail",
            False,
            _DIAL,
            "number dialled (empty = the line's mailbox)",
            "Voicemail",
            "Messagerie",
            "numéro composé (vide = la boîte vocale de la ligne)",
        ),
        KeyFunction(
            "directory",
            False,
            _URL,
            "directory URL (optional)",
            "Directory",
            "Annuaire",
            "URL de l'annuaire (facultative)",
        ),
        # A team is a group number of the vPBX, which need not be a line: offered, never warned about.
        KeyFunction("team", True, _EXT, "group number", "Team", "Groupe", "numéro de groupe", True),
        KeyFunction("extension", True, _EXT, "extension", "Extension", "Poste", "numéro de poste", True, True),
        KeyFunction("dtmf", True, _DTMF, "digits sent in a call", "DTMF", "DTMF", "chiffres envoyés en communication"),
        KeyFunction(
            "park", False, _EXT, "park slot (optional)", "Park", "Parcage", "emplacement de parcage (facultatif)"
        ),
        KeyFunction(
            "pickup",
            False,
            _EXT,
            "extension to pick up (optional)",
            "Pickup",
            "Interception",
            "poste à intercepter (facultatif)",
            True,
            True,
        ),
        KeyFunction("intercom", True, _EXT, "extension", "Intercom", "Interphone", "numéro de poste", True, True),
        KeyFunction("url", True, _URL, "http(s) URL", "URL", "URL", "URL http(s)"),
    )
}


# A vPBX's voicemail access number (models.Vpbx.voicemail_access, e.g. "*86"): what a phone dials before a mailbox.
VOICEMAIL_ACCESS = re.compile(r"^[0-9*#]{1,16}$")


def voicemail_code(access: str, mailbox: str) -> str:
    """What a voicemail key with no value of its own dials: the vPBX's access number then the line's mailbox (its
    extension, else its number); empty when the vPBX has no access number (the phone's own voicemail key)."""
    access, mailbox = (access or "").strip(), (mailbox or "").strip()
    return f"{access}{mailbox.lstrip('+')}" if access else ""


def check_value(function: str, value: str | None, field: str = "value") -> str:
    """Validate and normalise a key's value for its function; raises ValidationError naming `field`."""
    spec = KEY_FUNCTIONS.get(function)
    if spec is None:
        raise ValidationError("key_function_unknown", "type", function=function)
    text = (value or "").strip()
    if not text:
        if spec.value_required:
            raise ValidationError("key_value_required", field, function=function, hint=function)
        return ""
    if spec.pattern is not None and not spec.pattern.match(text):
        raise ValidationError("key_value_invalid", field, value=text, function=function, hint=function)
    return text
