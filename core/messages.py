"""The one catalogue of core's refusals: a stable code -> its English text, for the CLI and the logs.

Core raises `ValidationError(code, field, **params)`; the text is made here from the code and its
parameters. The dashboard says the same codes in the reader's language (dashboard/error_texts.py);
tests/core/test_messages.py checks that every code raised in core is in both.

Parameters are data, never prose: numbers, what the user typed, model labels, and a few identifiers
("words") that each reader names in its own language: `function` / `functions` (key functions),
`hint` (a key function's value rule, by function name), `role`, `kind`, `what` (a field name), `doing`
(an action code below) and `action` (reboot / resync).
"""

from __future__ import annotations

import string
from typing import Any

MESSAGES: dict[str, str] = {
    # generic
    "one_of": "must be one of {choices}",
    "too_long": "at most {max} characters",
    "control_chars": "may not hold control characters (newlines, tabs...)",
    "nothing_to_change": "nothing to change: give {options}",
    "display_name_chars": "may not hold {chars} (phones put the name into SIP headers)",
    # accounts
    "account_not_found": "no such account",
    "account_not_found_named": "no such account '{username}'",
    "username_format": "{min}-{max} letters, digits or . _ @ -",
    "username_taken": "'{username}' is taken",
    "provider_no_scope": "a provider account belongs to no vPBX or line",
    "vpbx_admin_needs_vpbx": "a vpbx_admin account needs --vpbx (and no --line)",
    "user_needs_line": "a user account needs --line",
    "password_short": "must be at least {min} characters",
    # permissions
    "line_not_found": "no such line",
    "device_not_found": "no such device",
    "vpbx_forbidden": "this account may not manage that vPBX",
    "role_forbidden": "a {role} account may not {doing}",
    "ask_vpbx_admin": "only your vPBX administrator (or the provider) may {doing}: ask your vPBX administrator",
    # alerts
    "alert_not_found": "no such alert",
    "alert_resolved": "this alert is resolved already: a repeat opens a new one",
    # the fraud procedure (core.respond)
    "response_not_found": "this line has no fraud procedure",
    "response_not_running": "this procedure is not running (only asked for, or finished): start it",
    # credentials
    "password_digits": "must be {min} to {max} digits, or empty for a generated password",
    "mac_invalid": "'{value}' is not a MAC address (12 hex characters, e.g. 00041345C9BF)",
    "mac_reserved": "'{value}' is not a device's MAC address",
    "pm_state": "must be one of no, once, done; got '{value}'",
    "sip_password_short": "must be at least {min} characters (or omitted to generate one)",
    "sip_password_chars": "may hold printable characters except spaces, quotes, < > & and \\",
    # vPBX
    "vpbx_name_format": "1-100 letters, digits, spaces or . _ -",
    "domain_invalid": "'{domain}' is not a DNS domain name",
    "vpbx_exists": "a vPBX named '{name}' exists",
    "vpbx_unknown": "no vPBX named '{name}'",
    "domain_taken": "the domain '{domain}' belongs to another vPBX",
    "voicemail_access_invalid": "'{value}' is not a voicemail access number (1-16 digits, * or #, e.g. *86)",
    "blocked_prefix_invalid": "'{value}' is not a number prefix (1-15 digits, a leading + or 00 for international)",
    "blocked_prefix_exists": "{prefix} is blocked already",
    "blocked_prefix_unknown": "{prefix} is not a blocked prefix of this vPBX",
    # lines
    "number_invalid": "'{value}' is not a phone number (digits, optional leading +)",
    "number_taken": "the number {number} is already a line",
    "extension_format": "an extension is {min}-{max} digits",
    "extension_taken": "extension {extension} is taken in {vpbx}",
    # devices
    "model_unknown": "'{model}' is not in the catalogue (see `python -m core models`)",
    "model_is_module": "{model} is an expansion module: attach it to a phone with --expansion",
    "mac_taken": "MAC {mac} belongs to another device",
    "no_expansion": "{model} takes no expansion module",
    "module_misfit": "'{module}' does not fit a {model} (it takes {modules})",
    "module_count_invalid": "'{value}' is not a module count",
    "module_count_range": "a {model} takes {min} to {max} {module} modules",
    "model_lacks_field": "a {model} has no {what}",
    "base_required": "a DECT handset needs its base station",
    "base_unknown": "there is no base station {base} among this vPBX's devices",
    "base_incompatible": "a {model} does not work with a {base}",
    "base_full": "this base already has its {max} handsets",
    "base_only_handsets": "only DECT handsets have a base station",
    "base_has_handsets": "delete or move this base station's handsets first",
    "not_a_handset": "'{model}' is not a DECT handset",
    "pm_new_state": "a new device starts at no or once",
    "pm_needs_mac": "Provisioning MAC needs the device's MAC",
    "pm_no_url": "a {model} is not provisioned by MAC",
    "pm_done_by_fetch": "done is set by the device's first fetch of its key URL",
    # bulk import (core.device_import; docs/DEVICE-IMPORT.md)
    "import_empty": "the file is empty: its first row names the columns ({columns})",
    "import_column_unknown": "unknown column '{column}' (the columns: {columns})",
    "import_column_twice": "the column '{column}' appears twice",
    "import_column_missing": "the column '{column}' is missing",
    "import_row_long": "this row has {cells} cells, the header {columns} columns",
    "import_required": "{column} is required",
    "import_mac_twice": "MAC {mac} is already on row {row} of this file",
    "import_base_unknown": "no DECT base with MAC {mac} in this file or in the vPBX",
    "import_key_format": "'{key}': a key is written position:type[:value[:label]]",
    "import_key_position": "'{position}' is not a key position (N, or MODULE.N on an expansion module)",
    "import_not_text": "the file is not UTF-8 text (save it as CSV UTF-8)",
    "pm_once_more": "only a device whose Provisioning MAC is done can do it once more",
    "not_a_parameter": "is not a device parameter",
    "kind_change": "a {kind} can only become another {kind}",
    "no_url": "this device has no URL of its own",
    # rendering
    "no_config_file": "a {model} has no configuration file of its own",
    "no_such_file": "a {model} does not ask for '{name}'",
    "family_unknown": "no templates for the '{family}' family",
    # keys
    "key_function_unknown": "unknown key function '{function}'",
    "key_value_required": "a {function} key needs a value ({hint})",
    "key_value_invalid": "'{value}' is not valid for a {function} key ({hint})",
    "module_missing": "module {module} does not exist on this device ({attached} expansion module(s) attached)",
    "no_keys": "this device has no programmable keys",
    "key_index_range": "key {index} does not exist: {model} keys are 1 to {max}",
    "key_function_unsupported": "a {model} key cannot be '{function}' (it can be: {functions})",
    "key_account_range": "account {value} does not exist (1 to {max})",
    "key_label_long": "at most {max} printable characters",
    "key_not_set": "key {index} on module {module} is not set",
    "key_index_invalid": "must be a key number",
    "key_twice": "key {index} appears twice",
    "key_needs_type": "key {index} has a value or label but no type",
    # the vPBX phone book (core.phonebook)
    "phonebook_name_required": "a phone book entry needs a name",
    "phonebook_number_invalid": "'{value}' is not a number a phone can dial (digits, optional leading +, * and #)",
    "phonebook_contact_exists": "the phone book already has {name} with {number}",
    "phonebook_contact_not_found": "no such phone book contact",
    "phonebook_vpbx_required": "say which vPBX's phone book (--vpbx)",
    "phonebook_row_twice": "the same name and number as row {row}",
    "phonebook_csv_column_missing": "the header has no '{column}' column",
    "phonebook_csv_column_unknown": "'{column}' is not a phone book column (name, number, organisation)",
    "phonebook_csv_row_cells": "{count} cells, the header has {max}",
    "phonebook_csv_too_many_rows": "at most {max} rows in one file",
    # device commands
    "command_unsupported": "{model} cannot be told to {action} remotely",
    "command_not_found": "no such command",
    # bans
    "ip_invalid": "'{value}' is not an IP address",
    "ban_not_found": "{ip} is not banned",
    "ban_not_yours": "{ip} is not an address of your vPBX's phones (last access or live registration)",
    "ban_duration": "a ban lasts {min} to {max} minutes",
    # TopStop
    "topstop_amount": "'{value}' is not an amount: give 20, 20.50 or none",
    "topstop_amount_range": "a limit is more than 0 and at most {max}",
    "topstop_subject": "give one line or one vPBX",
    "topstop_not_blocked": "TopStop has not blocked it",
}

# What an account may not do (`doing` of role_forbidden), in English.
DOING: dict[str, str] = {
    "end_sessions": "end another account's sessions",
    "create_accounts": "create accounts",
    "create_provider_accounts": "create provider accounts",
    "change_password": "change another account's password",
    "create_lines": "create lines",
    "read_sip_credentials": "read SIP credentials",
    "change_sip_credentials": "change SIP credentials",
    "block_lines": "block lines",
    "new_key": "give a device a new key",
    "change_lines": "change lines",
    "create_vpbx": "create a vPBX",
    "set_voicemail_access": "change a vPBX's voicemail access number",
    "manage_blocked_prefixes": "see or change a vPBX's blocked destinations",
    "manage_bans": "list or lift bans",
    "add_bans": "ban addresses",
    "manage_alerts": "see or handle fraud alerts",
    "respond_lines": "run the fraud procedure on lines",
    "import_devices": "import devices",
    "export_devices": "export devices",
    "edit_phonebook": "change the phone book",
    "set_topstop": "set a line's TopStop limit",
    "set_vpbx_topstop": "set a vPBX's TopStop limit",
    "unblock_topstop": "lift a TopStop block",
}


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def english_params(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters as English prose needs them: action codes and key-function hints spelled out."""
    out = dict(params)
    if "doing" in out:
        out["doing"] = DOING.get(out["doing"], out["doing"])
    if "hint" in out:
        from core.key_functions import KEY_FUNCTIONS  # late: key_functions raises these errors

        spec = KEY_FUNCTIONS.get(out["hint"])
        out["hint"] = spec.hint if spec else out["hint"]
    return out


def english(code: str, params: dict[str, Any]) -> str:
    """The English text of a refusal; an unknown code reads as itself (tests keep that from happening)."""
    template = MESSAGES.get(code)
    if template is None:
        return code
    return template.format(**english_params(params))


# What core.diagnosis finds, in the words a support agent reads aloud to a customer: code -> text per
# language (the CLI prints them; the device view will say them in the reader's language).
FINDINGS: dict[str, dict[str, str]] = {
    "fr": {
        "never_fetched": "Le téléphone n'a encore jamais téléchargé sa configuration ({tries} tentative(s) refusée(s)"
        " ou autres accès enregistrés) : son adresse de provisionnement n'y est pas saisie ou il n'atteint pas le"
        " serveur.",
        "mac_mismatch": "La configuration a été refusée {count} fois : le téléphone qui la demande a l'adresse MAC"
        " {ua_mac}, alors que cet appareil est enregistré avec la MAC {mac}.",
        "pending_changes": "La configuration a changé le {changed}, après le dernier téléchargement du téléphone"
        " ({fetched}) : il ne l'a pas encore reçue.",
        "fetched_not_registered": "Le téléphone a téléchargé sa configuration ({fetched}) mais ne s'est pas"
        " enregistré auprès du serveur SIP.",
        "auth_failing": "Le serveur SIP a refusé {count} fois le mot de passe de ce poste en 24 h (dernière fois"
        " {last}) : le téléphone utilise d'anciens identifiants SIP.",
        "registration_expired": "L'enregistrement SIP du téléphone a expiré le {since} (dernière adresse {ip}) et"
        " n'a pas été renouvelé : il est éteint ou n'a plus de réseau.",
        "redirection_pending": "La demande au service de redirection {service} ({action}) est en attente"
        " ({attempts} essai(s)).",
        "redirection_failed": "La demande au service de redirection {service} ({action}) a échoué après {attempts}"
        " essai(s) : {error}.",
        "handset_without_base": "Ce combiné DECT n'est rattaché à aucune station de base : il ne reçoit aucune"
        " configuration.",
        "base_offline": "La station de base {base} de ce combiné n'est pas en ligne (dernier téléchargement :"
        " {fetched}) : le combiné ne peut pas téléphoner.",
        "line_blocked": "Le blocage des appels vers le réseau public est demandé pour le poste {line}{enforced}.",
        "source_banned": "L'adresse {ip} du téléphone est bannie ({scope}) jusqu'au {until}, par exemple après des"
        " échecs d'un autre appareil du même site.",
        "reboot_failed": "La dernière demande « {action} » n'a pas abouti ({state}).",
        "old_key_used": "Ce téléphone demande encore sa configuration avec l'adresse d'avant le « Nouveau clé » du"
        " {date} ({count} demande(s), la dernière le {last}) : saisissez la nouvelle adresse sur le téléphone"
        " (Configuration manuelle) ou réinitialisez-le.",
        "stale_binding": "Un ancien enregistrement du téléphone ({ip}:{port}) est resté après son nouvel"
        " enregistrement du {since} : les appels sonnent aussi vers cette ancienne adresse, qui ne répond plus,"
        " jusqu'au {until}.",
        "fetched_from_unusual_address": "Le téléphone ne se connecte pas toujours depuis le même réseau (adresses"
        " {addresses}) : s'il a changé de site, c'est normal ; sinon, quelqu'un d'autre utilise peut-être son"
        " adresse de configuration.",
        "registrar_not_running": "Le serveur SIP (registrar) ne fonctionne pas en ce moment : aucun téléphone ne"
        " peut s'enregistrer ni recevoir d'appel. Ce n'est pas la faute du téléphone ; il faut redémarrer le"
        " service.",
    },
    "en": {
        "never_fetched": "The phone has never downloaded its configuration ({tries} refused tries or other accesses"
        " recorded): its provisioning address is not set on it, or it cannot reach the server.",
        "mac_mismatch": "The configuration was refused {count} time(s): the phone asking for it has MAC address"
        " {ua_mac}, but this device is set up with MAC {mac}.",
        "pending_changes": "The configuration changed at {changed}, after the phone's last download ({fetched}):"
        " it does not have it yet.",
        "fetched_not_registered": "The phone downloaded its configuration ({fetched}) but has not registered with"
        " the SIP server.",
        "auth_failing": "The SIP server refused this line's password {count} time(s) in 24 h (last at {last}): the"
        " phone uses old SIP credentials.",
        "registration_expired": "The phone's SIP registration expired at {since} (last address {ip}) and was not"
        " renewed: it is switched off or has lost its network.",
        "redirection_pending": "The request to the {service} redirection service ({action}) is waiting"
        " ({attempts} attempt(s)).",
        "redirection_failed": "The request to the {service} redirection service ({action}) failed after"
        " {attempts} attempt(s): {error}.",
        "handset_without_base": "This DECT handset belongs to no base station: it gets no configuration.",
        "base_offline": "This handset's base station {base} is not online (last download: {fetched}): the handset"
        " cannot make calls.",
        "line_blocked": "Blocking calls to the public network is asked for line {line}{enforced}.",
        "source_banned": "The phone's address {ip} is banned ({scope}) until {until}, e.g. after failures of"
        " another device at the same site.",
        "reboot_failed": "The last '{action}' request did not succeed ({state}).",
        "old_key_used": "This phone still asks for its configuration with the address from before the New key of"
        " {date} ({count} request(s), the last at {last}): enter the new address on the phone (Manual setup)"
        " or reset it.",
        "stale_binding": "An old registration of the phone ({ip}:{port}) stayed after its new registration at"
        " {since}: calls also ring that old address, which no longer answers, until {until}.",
        "fetched_from_unusual_address": "The phone does not always connect from the same network (addresses"
        " {addresses}): if it moved to another site, that is expected; otherwise someone else may be using its"
        " configuration address.",
        "registrar_not_running": "The SIP server (registrar) is not running: no phone can register or receive"
        " calls. It is not the phone's fault; the service must be started again.",
    },
}


# A ban's scope (ban.scope) in words; the dashboard's evidence rows say it the same way.
BAN_SCOPES: dict[str, dict[str, str]] = {
    "fr": {"sip": "SIP", "provisioning": "provisioning", "all": "SIP et provisioning"},
    "en": {"sip": "SIP", "provisioning": "provisioning", "all": "SIP and provisioning"},
}


def finding_text(code: str, params: dict[str, Any], lang: str = "en") -> str:
    """A diagnosis finding said in `lang` (fr/en; anything else reads as English)."""
    lang = "fr" if lang == "fr" else "en"
    template = FINDINGS[lang].get(code)
    if template is None:
        return code
    words = {k: "—" if v is None else v for k, v in params.items()}
    if "scope" in words:
        words["scope"] = BAN_SCOPES[lang].get(words["scope"], words["scope"])
    if "enforced_by" in params:
        words["enforced"] = block_enforcement_text(params["enforced_by"], lang)
    return template.format(**words)


def block_enforcement_text(enforced_by: str | None, lang: str = "en") -> str:
    """Where a PSTN block is carried out (core.call_control), said after "blocked": never a block shown as
    working where nothing enforces it."""
    if enforced_by:
        return f" (appliqué par {enforced_by})" if lang == "fr" else f" (enforced by {enforced_by})"
    if lang == "fr":
        return " ; aucun commutateur d'appels ne l'applique dans cette installation : les appels ne sont pas arrêtés"
    return "; nothing that handles calls enforces it in this installation: calls are not stopped"
