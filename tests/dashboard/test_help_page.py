"""Résoudre les problèmes (pages/help.py, docs/troubleshooting/): a section per diagnosis finding in both
languages, the finding's section first when a finding's link names it, for every role, in one language."""

from __future__ import annotations

import pytest

from core.messages import FINDINGS
from dashboard.troubleshooting import parse, troubleshooting
from tests.dashboard.test_one_language import leaks, on_screen

# Every code core.diagnosis reports (issue 12), whether or not its text is in core.messages yet.
CODES = {
    "never_fetched", "old_key_used", "mac_mismatch", "pending_changes", "fetched_not_registered", "auth_failing",
    "registration_expired", "stale_binding", "fetched_from_unusual_address", "redirection_pending",
    "redirection_failed", "handset_without_base", "base_offline", "line_blocked", "source_banned", "reboot_failed",
    "registrar_not_running",
}  # fmt: skip
PARTS = {
    "fr": ("**Ce que cela veut dire.**", "**Que demander à l'utilisateur.**", "**Dans l'AdminCenter.**",
           "**Sur le téléphone.**"),
    "en": ("**What it means.**", "**What to ask the user.**", "**In the AdminCenter.**", "**On the phone.**"),
}  # fmt: skip


@pytest.mark.parametrize("lang", ("fr", "en"))
def test_every_finding_has_a_section_saying_what_to_ask_and_how_to_fix(lang):
    sections = {s.code: s for s in troubleshooting(lang).sections}
    assert set(FINDINGS["fr"]) | CODES <= set(sections)
    assert len(sections) == len(troubleshooting(lang).sections)  # one section per code
    for code, section in sections.items():
        assert all(part in section.body for part in PARTS[lang]), f"{lang}: {code} lacks a part"


def test_both_languages_have_the_same_sections_in_the_same_order():
    assert [s.code for s in troubleshooting("fr").sections] == [s.code for s in troubleshooting("en").sections]


def test_a_section_runs_to_the_next_heading():
    doc = parse("# T\n\nIntro.\n\n## One {#a}\n\nBody a.\n\n## Two {#b}\n\nBody b.\n")
    assert doc.intro == "Intro." and [(s.code, s.title, s.body) for s in doc.sections] == [
        ("a", "One", "Body a."),
        ("b", "Two", "Body b."),
    ]


@pytest.mark.parametrize("role", ("provider_id", "admin_a_id", "alice_id"))
def test_every_role_opens_the_help_page(app, world, role):
    at = app(getattr(world, role), "pages/help.py", lang="fr")
    assert at.title[0].value == "Résoudre les problèmes"
    assert len(at.subheader) == len(troubleshooting("fr").sections)


def test_a_findings_link_shows_its_section_first(app, world):
    at = app(world.alice_id, "pages/help.py", code="mac_mismatch")
    first = at.subheader[0]
    assert first.value == "The phone's MAC does not match" and first.proto.anchor == "mac_mismatch"
    assert at.header[0].value == "Other problems"
    assert [s.value for s in at.subheader].count(first.value) == 1  # not drawn twice
    assert "Correct the MAC" in at.markdown[0].value


def test_an_unknown_code_says_so_and_shows_every_section(app, world):
    at = app(world.alice_id, "pages/help.py", code="no_such_code")
    assert at.info[0].value == "No section for “no_such_code”: here are all sections."
    assert len(at.subheader) == len(troubleshooting("en").sections)
    at = app(world.alice_id, "pages/help.py", code="[x](http://evil.example)")
    assert not at.info  # text from the URL that is no code is not echoed


def test_the_device_views_help_links_open_sections_that_exist(app, world):
    at = app(world.provider_id, "pages/device.py", device=str(world.desk_a1))
    links = [p.proto for p in at.page_link if p.proto.label == "Troubleshooting"]
    codes = {s.code for s in troubleshooting("en").sections}
    assert links and all(link.query_string.removeprefix("code=") in codes for link in links)
    assert all(link.page.endswith("help") for link in links)


@pytest.mark.parametrize("lang", ("fr", "en"))
def test_the_help_page_speaks_one_language(app, world, lang):
    anchors = {s.code for s in troubleshooting(lang).sections}  # the headings' ids: in the URL, not on screen
    for query in ({}, {"code": "source_banned"}):
        at = app(world.alice_id, "pages/help.py", lang=lang, **query)
        found = leaks([text for text in on_screen(at) if text not in anchors], lang)
        assert not found, "\n".join(found)
