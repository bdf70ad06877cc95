"""Core's refusals (core.errors: a code and parameters) said in the reader's language.

One text per code of core.messages.MESSAGES in each language, with the same `{params}`; parameters
that are identifiers (key functions, roles, kinds of device, actions, field names) are named in
the language too. Pages keep the code and parameters and translate when they draw, so switching
the language re-translates a message already on screen.
"""

from __future__ import annotations

from typing import Any

from core.errors import VoipAdminError
from core.key_functions import KEY_FUNCTIONS
from core.messages import MESSAGES
from dashboard.i18n import TEXTS as UI
from dashboard.i18n import lang as current_lang

TEXTS: dict[str, dict[str, str]] = {
    "fr": {
        "one_of": "doit valoir : {choices}",
        "too_long": "au plus {max} caractères",
        "control_chars": "ne doit contenir aucun caractère de contrôle (retour à la ligne, tabulation…)",
        "nothing_to_change": "rien à modifier : indiquez {options}",
        "display_name_chars": "ne doit contenir aucun de ces caractères : {chars} (les téléphones mettent le nom"
        " dans les en-têtes SIP)",
        "account_not_found": "compte introuvable",
        "account_not_found_named": "compte « {username} » introuvable",
        "username_format": "{min} à {max} lettres, chiffres ou . _ @ -",
        "username_taken": "« {username} » est déjà pris",
        "provider_no_scope": "un compte Support n'appartient à aucun vPBX ni poste",
        "vpbx_admin_needs_vpbx": "un compte administrateur vPBX appartient à un vPBX (et à aucun poste)",
        "user_needs_line": "un compte utilisateur appartient à un poste",
        "password_short": "au moins {min} caractères",
        "line_not_found": "poste introuvable",
        "device_not_found": "appareil introuvable",
        "vpbx_forbidden": "ce compte ne gère pas ce vPBX",
        "role_forbidden": "un compte {role} ne peut pas {doing}",
        "ask_vpbx_admin": "seul l'administrateur de votre vPBX (ou l'opérateur) peut {doing} : demandez-le à"
        " l'administrateur de votre vPBX",
        "alert_not_found": "alerte introuvable",
        "alert_resolved": "cette alerte est déjà résolue : une répétition en ouvre une nouvelle",
        "response_not_found": "ce poste n'a pas de procédure de fraude",
        "response_not_running": "cette procédure n'est pas en cours (seulement demandée, ou terminée) : lancez-la",
        "password_digits": "{min} à {max} chiffres, ou vide pour un mot de passe généré",
        "mac_invalid": "« {value} » n'est pas une adresse MAC (12 caractères hexadécimaux, p. ex. 00041345C9BF)",
        "mac_reserved": "« {value} » ne peut pas être l'adresse MAC d'un appareil",
        "pm_state": "doit valoir non, une fois ou fini (reçu : « {value} »)",
        "sip_password_short": "au moins {min} caractères (ou vide pour en générer un)",
        "sip_password_chars": "caractères imprimables, sauf espaces, guillemets, < > & et \\",
        "vpbx_name_format": "1 à 100 lettres, chiffres, espaces ou . _ -",
        "domain_invalid": "« {domain} » n'est pas un nom de domaine DNS",
        "vpbx_exists": "un vPBX nommé « {name} » existe déjà",
        "vpbx_unknown": "aucun vPBX nommé « {name} »",
        "domain_taken": "le domaine « {domain} » appartient à un autre vPBX",
        "voicemail_access_invalid": (
            "« {value} » n'est pas un numéro d'accès à la messagerie (1 à 16 chiffres, * ou #, p. ex. *86)"
        ),
        "blocked_prefix_invalid": (
            "« {value} » n'est pas un préfixe de numéro (1 à 15 chiffres, + ou 00 initial pour l'international)"
        ),
        "blocked_prefix_exists": "{prefix} est déjà bloqué",
        "blocked_prefix_unknown": "{prefix} n'est pas un préfixe bloqué de ce vPBX",
        "number_invalid": "« {value} » n'est pas un numéro de téléphone (chiffres, + initial facultatif)",
        "number_taken": "le numéro {number} est déjà un poste",
        "extension_format": "un numéro de poste a de {min} à {max} chiffres",
        "extension_taken": "le poste {extension} est déjà pris dans {vpbx}",
        "model_unknown": "« {model} » ne figure pas au catalogue",
        "model_is_module": "{model} est un module d'extension : ajoutez-le à un téléphone",
        "mac_taken": "la MAC {mac} appartient à un autre appareil",
        "no_expansion": "{model} : pas de module d'extension possible",
        "module_misfit": "« {module} » ne va pas sur {model} (modules possibles : {modules})",
        "module_count_invalid": "« {value} » n'est pas un nombre de modules",
        "module_count_range": "{model} : de {min} à {max} modules {module}",
        "model_lacks_field": "{model} : pas de champ « {what} »",
        "base_required": "un combiné DECT a besoin de sa station de base",
        "base_unknown": "il n'y a pas de station de base {base} parmi les appareils de ce vPBX",
        "base_incompatible": "{model} ne fonctionne pas avec {base}",
        "base_full": "cette station de base a déjà ses {max} combinés",
        "base_only_handsets": "seuls les combinés DECT ont une station de base",
        "base_has_handsets": "supprimez ou déplacez d'abord les combinés de cette station de base",
        "not_a_handset": "« {model} » n'est pas un combiné DECT",
        "pm_new_state": "un nouvel appareil commence à « non » ou « une fois »",
        "pm_needs_mac": "Provisioning MAC demande la MAC de l'appareil",
        "pm_no_url": "{model} : pas de Provisioning MAC pour ce modèle",
        "pm_done_by_fetch": "« fini » vient de la première lecture de l'URL de l'appareil",
        "import_empty": "le fichier est vide : sa première ligne nomme les colonnes ({columns})",
        "import_column_unknown": "colonne inconnue « {column} » (les colonnes : {columns})",
        "import_column_twice": "la colonne « {column} » figure deux fois",
        "import_column_missing": "il manque la colonne « {column} »",
        "import_row_long": "cette ligne a {cells} cellules, l'en-tête {columns} colonnes",
        "import_required": "« {column} » est obligatoire",
        "import_mac_twice": "la MAC {mac} figure déjà à la ligne {row} du fichier",
        "import_base_unknown": "aucune station de base DECT de MAC {mac} dans le fichier ni dans le vPBX",
        "import_key_format": "« {key} » : une touche s'écrit position:type[:valeur[:libellé]]",
        "import_key_position": "« {position} » n'est pas une position de touche (N, ou MODULE.N sur un module)",
        "import_not_text": "le fichier n'est pas du texte UTF-8 (enregistrez-le en CSV UTF-8)",
        "pm_once_more": "« une fois de plus » : seulement pour un appareil dont le Provisioning MAC est fini",
        "not_a_parameter": "ce paramètre n'existe pas pour un appareil",
        "kind_change": "{kind} : le modèle ne peut changer que pour un autre du même type",
        "no_url": "cet appareil n'a pas d'URL propre",
        "no_config_file": "{model} : pas de fichier de configuration propre",
        "no_such_file": "{model} : aucun fichier « {name} »",
        "family_unknown": "aucun modèle de configuration pour la famille « {family} »",
        "key_function_unknown": "fonction de touche inconnue : « {function} »",
        "key_value_required": "une touche {function} demande une valeur ({hint})",
        "key_value_invalid": "« {value} » ne convient pas à une touche {function} ({hint})",
        "module_missing": "le module {module} n'existe pas sur cet appareil (modules d'extension : {attached})",
        "no_keys": "cet appareil n'a pas de touches programmables",
        "key_index_range": "la touche {index} n'existe pas : touches 1 à {max} sur {model}",
        "key_function_unsupported": "{model} : une touche ne peut pas être « {function} » (possibles : {functions})",
        "key_account_range": "le compte {value} n'existe pas (1 à {max})",
        "key_label_long": "au plus {max} caractères imprimables",
        "key_not_set": "la touche {index} du module {module} est libre",
        "key_index_invalid": "doit être un numéro de touche",
        "key_twice": "la touche {index} figure deux fois",
        "key_needs_type": "la touche {index} a une valeur ou un libellé mais pas de type",
        "phonebook_name_required": "une entrée de l'annuaire a besoin d'un nom",
        "phonebook_number_invalid": "« {value} » n'est pas un numéro qu'un téléphone peut composer (chiffres, + initial"
        " facultatif, * et #)",
        "phonebook_contact_exists": "l'annuaire contient déjà {name} avec le {number}",
        "phonebook_contact_not_found": "contact de l'annuaire introuvable",
        "phonebook_vpbx_required": "indiquez l'annuaire de quel vPBX",
        "phonebook_row_twice": "même nom et même numéro qu'à la ligne {row}",
        "phonebook_csv_column_missing": "l'en-tête n'a pas de colonne « {column} »",
        "phonebook_csv_column_unknown": "« {column} » n'est pas une colonne de l'annuaire (nom, numéro, organisation)",
        "phonebook_csv_row_cells": "{count} cellules, l'en-tête en a {max}",
        "phonebook_csv_too_many_rows": "au plus {max} lignes par fichier",
        "command_unsupported": "{model} : « {action} » à distance impossible",
        "command_not_found": "demande introuvable",
        "ip_invalid": "« {value} » n'est pas une adresse IP",
        "ban_not_found": "l'adresse {ip} n'est pas bannie",
        "ban_not_yours": "l'adresse {ip} n'est celle d'aucun téléphone de votre vPBX (dernier accès ou"
        " enregistrement en cours)",
        "ban_duration": "un bannissement dure de {min} à {max} minutes",
        "topstop_amount": "« {value} » n'est pas un montant : indiquez 20, 20.50 ou aucune",
        "topstop_amount_range": "une limite est supérieure à 0 et d'au plus {max}",
        "topstop_subject": "indiquez un poste ou un vPBX",
        "topstop_not_blocked": "TopStop ne l'a pas bloqué",
    },
    # English: core.messages (the CLI's words) except where the dashboard says it its own way.
    "en": MESSAGES
    | {
        "control_chars": "may not hold control characters (newlines, tabs…)",
        "provider_no_scope": "a Support account belongs to no vPBX or extension",
        "vpbx_admin_needs_vpbx": "a vPBX administrator account belongs to a vPBX (and to no extension)",
        "user_needs_line": "a user account belongs to an extension",
        "line_not_found": "no such extension",
        "phonebook_vpbx_required": "say which vPBX's phone book",
        "pm_state": "must be no, once or done (got '{value}')",
        "sip_password_short": "must be at least {min} characters (or empty to generate one)",
        "number_taken": "the number {number} is already an extension",
        "extension_format": "an extension number is {min}-{max} digits",
        "model_unknown": "'{model}' is not in the catalogue",
        "model_is_module": "{model} is an expansion module: add it to a phone",
        "pm_done_by_fetch": "done is set by the device's first fetch of its URL",
        "command_unsupported": "{model} cannot be sent a {action} remotely",
        "command_not_found": "no such request",
    },
}

# Identifier parameters named in each language (the rest come from dashboard.i18n and core.key_functions).
WORDS: dict[str, dict[str, dict[str, str]]] = {
    "fr": {
        "doing": {
            "end_sessions": "fermer les sessions d'un autre compte",
            "create_accounts": "créer des comptes",
            "create_provider_accounts": "créer des comptes Support",
            "change_password": "changer le mot de passe d'un autre compte",
            "create_lines": "créer des postes",
            "read_sip_credentials": "lire les identifiants SIP",
            "change_sip_credentials": "changer les identifiants SIP",
            "block_lines": "bloquer des postes",
            "new_key": "donner une nouvelle clé à un appareil",
            "change_lines": "modifier des postes",
            "create_vpbx": "créer un vPBX",
            "set_voicemail_access": "changer le numéro d'accès à la messagerie d'un vPBX",
            "manage_blocked_prefixes": "consulter ou modifier les destinations bloquées d'un vPBX",
            "manage_bans": "consulter ou lever les bannissements",
            "add_bans": "bannir des adresses",
            "manage_alerts": "consulter ou traiter les alertes de fraude",
            "respond_lines": "lancer la procédure de fraude sur des postes",
            "import_devices": "importer des appareils",
            "export_devices": "exporter des appareils",
            "edit_phonebook": "modifier l'annuaire",
            "set_topstop": "fixer la limite TopStop d'un poste",
            "set_vpbx_topstop": "fixer la limite TopStop d'un vPBX",
            "unblock_topstop": "lever un blocage TopStop",
        },
        "field": {
            "extension": "Poste",
            "domain": "Domaine SIP",
            "voicemail_access": "Accès à la messagerie",
            "prefix": "Préfixe",
            "vpbx": "vPBX",
            "role": "Rôle",
            "password": "Mot de passe",
            "sip_password": "Mot de passe SIP",
            "action": "Commande",
            "command": "Demande",
            "file": "Fichier",
            "family": "Famille",
            "module": "Module",
            "account": "Compte",
            "source_ip": "Adresse",
            "note": "Note",
            "alert": "Alerte",
            "state": "État",
            "severity": "Gravité",
            "response": "Procédure",
            "step": "Étape",
        },
    },
    "en": {
        "doing": {
            "end_sessions": "end another account's sessions",
            "create_accounts": "create accounts",
            "create_provider_accounts": "create Support accounts",
            "change_password": "change another account's password",
            "create_lines": "create extensions",
            "read_sip_credentials": "read SIP credentials",
            "change_sip_credentials": "change SIP credentials",
            "block_lines": "block extensions",
            "new_key": "give a device a new key",
            "change_lines": "change extensions",
            "create_vpbx": "create a vPBX",
            "set_voicemail_access": "change a vPBX's voicemail access number",
            "manage_blocked_prefixes": "see or change a vPBX's blocked destinations",
            "manage_bans": "list or lift bans",
            "add_bans": "ban addresses",
            "manage_alerts": "see or handle fraud alerts",
            "respond_lines": "run the fraud procedure on extensions",
            "import_devices": "import devices",
            "export_devices": "export devices",
            "edit_phonebook": "change the phone book",
            "set_topstop": "set an extension's TopStop limit",
            "set_vpbx_topstop": "set a vPBX's TopStop limit",
            "unblock_topstop": "lift a TopStop block",
        },
        "field": {
            "extension": "Extension",
            "domain": "SIP domain",
            "voicemail_access": "Voicemail access",
            "prefix": "Prefix",
            "vpbx": "vPBX",
            "role": "Role",
            "password": "Password",
            "sip_password": "SIP password",
            "action": "Command",
            "command": "Request",
            "file": "File",
            "family": "Family",
            "module": "Module",
            "account": "Account",
            "source_ip": "Address",
            "note": "Note",
            "alert": "Alert",
            "state": "State",
            "severity": "Severity",
            "response": "Procedure",
            "step": "Step",
        },
    },
}

# Field names that the forms already label: the error names them with the same words (dashboard.i18n keys).
FIELD_LABELS = {
    "mac": "mac",
    "label": "label",
    "model": "model",
    "model_id": "model",
    "admin_password": "admin_password",
    "user_password": "user_password",
    "username": "username",
    "base": "base_station",
    "expansion": "expansion",
    "provisioning_mac": "provisioning_mac",
    "line": "line",
    "device": "device",
    "number": "number",
    "name": "name",
    "language": "language",
    "lang": "language",
    "index": "key",
    "type": "key_type",
    "value": "key_value",
}


def field_name(field: str, lang: str | None = None) -> str:
    """A core field ("mac", "keys[2].value") as the form labels it; "" when it has no name on screen."""
    lang = lang or current_lang()
    name = field.rsplit(".", 1)[-1] if field.startswith("keys[") else field
    if name in FIELD_LABELS:
        return UI[lang][FIELD_LABELS[name]]
    return WORDS[lang]["field"].get(name, "")


def _function(name: str, lang: str) -> str:
    spec = KEY_FUNCTIONS.get(name)
    if spec is None:
        return name  # what the caller typed: shown as typed
    return spec.label_fr if lang == "fr" else spec.label_en


def function_hint(name: str, lang: str | None = None) -> str:
    """What a key function's value is (core.key_functions), in the reader's language."""
    spec = KEY_FUNCTIONS.get(name)
    if spec is None:
        return ""
    return spec.hint_fr if (lang or current_lang()) == "fr" else spec.hint


def _words(params: dict[str, Any], lang: str) -> dict[str, Any]:
    """The identifier parameters named in `lang`; the others (numbers, typed values, model labels) as given."""
    out = dict(params)
    ui = UI[lang]
    for key, value in params.items():
        if key == "function":
            out[key] = _function(str(value), lang)
        elif key == "functions":
            out[key] = ", ".join(_function(f.strip(), lang) for f in str(value).split(","))
        elif key == "hint" and value in KEY_FUNCTIONS:
            out[key] = function_hint(str(value), lang)
        elif key == "role":
            out[key] = ui.get(f"role_{value}", value)
        elif key == "kind":
            out[key] = ui.get(f"kind_{value}", value)
        elif key == "action":
            out[key] = ui.get(str(value), value)
        elif key == "doing":
            out[key] = WORDS[lang]["doing"].get(value, value)
        elif key == "what":
            out[key] = field_name(str(value), lang) or value
    return out


def say(code: str, params: dict[str, Any] | None = None, lang: str | None = None) -> str:
    """The refusal `code` in `lang` (default: the session's language)."""
    lang = lang or current_lang()
    template = TEXTS[lang].get(code)
    if template is None:  # a code this table misses (tests/core/test_messages.py keeps it from happening)
        return code
    return template.format(**_words(params or {}, lang))


def say_error(exc: VoipAdminError, lang: str | None = None) -> str:
    return say(exc.code, exc.params, lang)


def refusal(exc: VoipAdminError) -> dict[str, Any]:
    """What a page keeps of a refusal to show it later, in whatever language is chosen by then."""
    return {"code": exc.code, "params": dict(exc.params), "field": exc.field or ""}


def say_refusal(stored: dict[str, Any], with_field: bool = False, lang: str | None = None) -> str:
    """A kept refusal as text; `with_field` names the field first (for messages shown away from it)."""
    lang = lang or current_lang()
    text = say(stored["code"], stored["params"], lang)
    name = field_name(stored["field"], lang) if with_field and stored["field"] else ""
    if not name:
        return text
    return f"{name} : {text}" if lang == "fr" else f"{name}: {text}"  # French typography: space before a colon
