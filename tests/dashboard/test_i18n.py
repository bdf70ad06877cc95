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
