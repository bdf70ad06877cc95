"""Résoudre les problèmes, from what the user says (issue 14 point 7): a support agent starts at « Par où
commencer » and five symptoms (no download, no registration, no calls, 404 on its URL, banned address), each
naming what to look at in the AdminCenter (État, Dernier accès, the verdict) with the screen's own words."""

from __future__ import annotations

import re

import pytest

from core.cli import build_parser
from dashboard.i18n import TEXTS
from dashboard.troubleshooting import troubleshooting
from tests.core.test_cli_every_command import all_commands

SYMPTOMS = ("start_here", "symptom_no_download", "symptom_not_registering", "symptom_no_calls",
            "symptom_url_not_found", "symptom_address_banned")  # fmt: skip
# The screen's words the agent is sent to, by section: each must be what the dashboard shows (dashboard.i18n).
LABELS = {
    "start_here": ("phones", "last_access", "status", "device", "tl_title", "home"),
    "symptom_no_download": ("last_access", "dv_do_setup", "provisioning_mac", "setup", "tl_title"),
    "symptom_not_registering": ("last_access", "status", "dv_do_resync", "dv_do_reboot", "tl_title"),
    "symptom_no_calls": ("status", "keys", "device"),
    "symptom_url_not_found": ("tl_title", "rs_old_key", "rs_key_mac_mismatch", "fraud", "setup", "dv_do_fix_mac"),
    "symptom_address_banned": ("dv_do_unban", "fraud", "tl_title"),
}


def flat(text: str) -> str:
    return " ".join(text.split())  # the markdown's line breaks are no part of what the reader sees


@pytest.mark.parametrize("lang", ("fr", "en"))
def test_the_symptoms_come_first_and_name_the_screens_words(lang):
    doc = troubleshooting(lang)
    assert tuple(s.code for s in doc.sections[: len(SYMPTOMS)]) == SYMPTOMS
    assert all(s.by_symptom for s in doc.sections[: len(SYMPTOMS)])
    assert not any(s.by_symptom for s in doc.sections[len(SYMPTOMS) :])
    for code, keys in LABELS.items():
        body = flat(doc.get(code).body)
        for key in keys:
            label = TEXTS[lang][key]
            assert label in body, f"{lang} {code}: the screen says {label!r}"


@pytest.mark.parametrize("lang", ("fr", "en"))
def test_the_verdicts_and_findings_it_cites_are_the_real_ones(lang):
    doc = troubleshooting(lang)
    start = flat(doc.get("start_here").body)
    for key in ("verdict_ok", "verdict_fault"):
        assert TEXTS[lang][key].rstrip(".") in start
    titles = {s.title for s in doc.sections if not s.by_symptom}
    quoted = r"[«\"“] ?([^»\"”]+?) ?[»\"”]"
    cited = {title for s in doc.sections if s.by_symptom for title in re.findall(quoted, flat(s.body))}
    findings = {c for c in cited if c in titles}
    assert len(findings) >= 5, findings  # the causes are named as the diagnosis names them
    assert TEXTS[lang]["block_state_none"].split(":")[0].strip() in flat(doc.get("symptom_no_calls").body)


def test_the_commands_it_cites_exist():
    commands = all_commands(build_parser())
    for lang in ("fr", "en"):
        for section in troubleshooting(lang).sections:
            for cited in re.findall(r"`python -m core ([a-z -]+?)(?: [A-Z]+)?`", section.body):
                assert cited.strip() in commands, (lang, section.code, cited)


def test_the_help_page_groups_symptoms_before_findings(app, world):
    at = app(world.admin_a_id, "pages/help.py", lang="fr")
    assert [h.value for h in at.header] == ["Selon ce que dit l'utilisateur", "Selon le constat du diagnostic"]
    assert at.subheader[0].value == "Par où commencer : ce que dit l'utilisateur"
    assert at.subheader[3].value == "Enregistré, mais les appels ne passent pas"


def test_a_symptoms_link_opens_it_first(app, world):
    at = app(world.alice_id, "pages/help.py", lang="en", code="symptom_url_not_found")
    assert at.subheader[0].value == "The phone's URL answers 404"
    assert [h.value for h in at.header] == ["Other problems", "By what the user says", "By diagnosis finding"]
    assert "429" in at.markdown[0].value and "403" in at.markdown[0].value
