"""dashboard.i18n: both languages say everything, and French uses the manual's words."""

from __future__ import annotations

import string

from dashboard.i18n import TEXTS


def test_both_languages_have_the_same_keys():
    assert set(TEXTS["fr"]) == set(TEXTS["en"])


def test_placeholders_agree_between_languages():
    fields = string.Formatter()
    for key in TEXTS["fr"]:
        fr = {f for _, f, _, _ in fields.parse(TEXTS["fr"][key]) if f}
        en = {f for _, f, _, _ in fields.parse(TEXTS["en"][key]) if f}
        assert fr == en, key


def test_french_terms_of_the_manual():
    fr = TEXTS["fr"]
    assert fr["phones"] == "Téléphones" and fr["keys"] == "Touches" and fr["status"] == "État"
    assert fr["reboot"] == "Redémarrage" and fr["refresh"] == "Actualiser" and fr["new_key"] == "Nouveau clé"
    assert fr["setup"] == "Configuration manuelle" and fr["base_station"] == "Station de base"
    assert (fr["pm_no"], fr["pm_once"], fr["pm_done"], fr["once_more"]) == (
        "non",
        "une fois",
        "fini",
        "une fois de plus",
    )
    assert fr["admin_password"] == 'Mot de passe "admin"' and fr["user_password"] == 'Mot de passe "utilisateur"'
    assert fr["last_access"] == "Dernier accès" and fr["registrations"] == "Enregistrements"


def test_refusals_name_fields_with_the_forms_words_in_both_languages():
    from dashboard.error_texts import FIELD_LABELS, WORDS, field_name, say

    assert set(FIELD_LABELS.values()) <= set(TEXTS["fr"])  # each maps to a label the forms use
    assert set(WORDS["fr"]["field"]) == set(WORDS["en"]["field"])
    assert field_name("keys[2].value", "fr") == "Valeur" and field_name("base", "en") == "Base station"
    # Identifier parameters are named in the reader's language, the rest kept as given.
    assert say("key_value_required", {"function": "speed_dial", "hint": "speed_dial"}, "fr") == (
        "une touche Numéro abrégé demande une valeur (numéro ou code *#)"
    )
    assert say("role_forbidden", {"role": "user", "doing": "block_lines"}, "fr") == (
        "un compte Utilisateur ne peut pas bloquer des postes"
    )
    assert say("role_forbidden", {"role": "vpbx_admin", "doing": "create_vpbx"}, "en") == (
        "a vPBX administrator account may not create a vPBX"
    )
