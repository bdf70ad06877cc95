"""Every refusal core raises has a stable code with an English text and French and English dashboard texts.

The raise sites are read from the source (AST), so a new `ValidationError("some words", ...)` fails here
before it reaches a French screen in English.
"""

from __future__ import annotations

import ast
import string
from pathlib import Path

import pytest

from core.errors import NotFound, ValidationError
from core.messages import DOING, MESSAGES, english, placeholders
from dashboard import error_texts

CORE = Path(__file__).resolve().parents[2] / "core"
ERRORS = {"ValidationError", "PermissionDenied", "NotFound"}
OTHERS = ("sip", "provisioning")  # other owners' packages, which raise none of these


def raise_sites() -> list[tuple[str, int, ast.Call]]:
    sites = []
    for path in sorted(CORE.rglob("*.py")):
        rel = path.relative_to(CORE)
        if rel.parts[0] in OTHERS or rel.name in ("errors.py", "messages.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ERRORS:
                sites.append((str(rel), node.lineno, node))
    return sites


SITES = raise_sites()


def test_the_scan_finds_the_raise_sites():
    assert len(SITES) > 80  # the scan itself works (a broken walk would pass everything below)


@pytest.mark.parametrize(("path", "line", "call"), SITES, ids=[f"{p}:{n}" for p, n, _ in SITES])
def test_each_raise_site_names_a_known_code_with_its_parameters(path, line, call):
    assert call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str), (
        f"{path}:{line}: the first argument must be a code from core/messages.py"
    )
    code = call.args[0].value
    assert code in MESSAGES, f"{path}:{line}: {code!r} is not in core.messages.MESSAGES"
    given = {k.arg for k in call.keywords}
    assert None not in given, f"{path}:{line}: parameters by name, not **kwargs"
    assert placeholders(MESSAGES[code]) <= given, f"{path}:{line}: {code} needs {placeholders(MESSAGES[code])}"


def test_every_code_is_said_in_both_dashboard_languages_with_the_same_parameters():
    raised = {call.args[0].value for _, _, call in SITES}
    assert raised <= set(MESSAGES)
    for code, template in MESSAGES.items():
        for lang in ("fr", "en"):
            text = error_texts.TEXTS[lang].get(code)
            assert text, f"{code} has no {lang} dashboard text"
            assert placeholders(text) <= placeholders(template), f"{lang} {code} uses a parameter core does not give"
    assert set(error_texts.TEXTS["fr"]) == set(error_texts.TEXTS["en"]) == set(MESSAGES)


def test_every_action_code_is_said_in_english_and_both_dashboard_languages():
    assert "block_lines" in DOING
    for lang in ("fr", "en"):
        assert set(error_texts.WORDS[lang]["doing"]) == set(DOING)


def test_the_english_text_is_made_from_the_code_and_parameters():
    err = ValidationError("password_digits", "admin_password", min=4, max=9)
    assert (err.code, err.params, err.field) == ("password_digits", {"min": 4, "max": 9}, "admin_password")
    assert err.message == "must be 4 to 9 digits, or empty for a generated password"
    assert str(err) == "admin_password: must be 4 to 9 digits, or empty for a generated password"
    assert english("role_forbidden", {"role": "user", "doing": "block_lines"}) == "a user account may not block lines"
    hint = english("key_value_required", {"function": "blf", "hint": "blf"})
    assert hint == "a blf key needs a value (extension to watch)"
    assert str(NotFound("device_not_found", "device")) == "device: no such device"


def test_templates_are_well_formed():
    for table in (MESSAGES, error_texts.TEXTS["fr"], error_texts.TEXTS["en"]):
        for code, text in table.items():
            list(string.Formatter().parse(text))  # raises on a stray brace
            assert text.strip() == text and text, code


def test_password_refusals_never_carry_what_was_typed():
    """Refusal parameters are shown to the caller and logged: a typed password must not be one of them."""
    from core.credentials import device_password, sip_password

    for call, typed in ((lambda v: device_password(v, "admin_password"), "12ab"), (sip_password, "short pw"),
                        (sip_password, "x" * 11 + " <&>")):  # fmt: skip
        with pytest.raises(ValidationError) as err:
            call(typed)
        assert typed not in str(err.value.params) and typed not in err.value.message
        for lang in ("fr", "en"):
            assert typed not in error_texts.say(err.value.code, err.value.params, lang)
