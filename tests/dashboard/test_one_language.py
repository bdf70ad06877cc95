"""One language on screen (issue 10, point 4): every page, for every role, in French and in English,
and every form refusal the pages can show, contain no text of the other language.

What is "on screen" is read from the element tree AppTest holds, not from a list of widget kinds:
every string of every element's protobuf (labels, bodies, options, placeholders, help texts, tab and
expander labels...) plus every header and cell of every table. Two checks run on it:

- words typical of the other language (WORDS below; product words like "Provisioning MAC", "BLF",
  "Support" or model names are in neither list);
- every text of the other language's tables (dashboard.i18n.TEXTS, dashboard.error_texts.TEXTS)
  that differs from this language's, cut at its `{placeholders}`.

A selectbox without a placeholder shows Streamlit's own English "Choose an option" in the browser,
so each one must carry a placeholder in the page's language.
"""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from google.protobuf.message import Message
from streamlit.testing.v1 import AppTest

from core import devices
from core.db import transaction
from dashboard import error_texts
from dashboard.i18n import TEXTS

LANGS = ("fr", "en")
PAGES = (
    "pages/home.py",
    "pages/phones.py",
    "pages/keys.py",
    "pages/status.py",
    "pages/device.py",
    "pages/fraud.py",
    "pages/phonebook.py",
    "pages/bulk.py",
)
ROLES = ("provider_id", "admin_a_id", "alice_id")

# Words that give the other language away (whole words, case-insensitive).
WORDS = {
    "fr": {  # English on a French screen
        "the",
        "is",
        "are",
        "must",
        "not",
        "none",
        "nan",
        "nat",
        "true",
        "false",
        "choose",
        "of",
        "and",
        "with",
        "this",
        "that",
        "has",
        "have",
        "may",
        "can",
        "cannot",
        "needs",
        "no",
        "to",
        "for",
        "an",
        "be",
        "at",
        "or",
        "only",
        "already",
        "another",
        "digits",
        "characters",
        "empty",
        "device",
        "devices",
        "key",
        "keys",
        "save",
        "saved",
        "delete",
        "never",
        "select",
        "press",
        "enter",
        "search",
        "phone",
        "phones",
        "number",
        "password",
        "label",
        "model",
        "request",
        "state",
        "pending",
        "done",
        "failed",
        "error",
        "attempts",
        "updated",
        "register",
        "withdraw",
    },
    "en": {  # French on an English screen
        "le",
        "la",
        "les",
        "des",
        "du",
        "de",
        "un",
        "une",
        "est",
        "pas",
        "doit",
        "aucun",
        "aucune",
        "poste",
        "postes",
        "appareil",
        "appareils",
        "touche",
        "touches",
        "enregistrer",
        "supprimer",
        "jamais",
        "chiffres",
        "caractères",
        "vide",
        "avec",
        "pour",
        "sur",
        "dans",
        "ou",
        "et",
        "ce",
        "cette",
        "mot",
        "passe",
        "modèle",
        "libellé",
        "numéro",
        "nouveau",
        "nouvelle",
        "choisir",
        "oui",
        "non",
        "fini",
        "fois",
    },
}
# Strings of the element protos that are not text for people: ids, icons, formats, scripts, URLs.
NOT_TEXT = {"id", "form_id", "icon", "type", "format", "tag", "autocomplete", "default", "value", "code_text",
            "url", "page_script_hash", "columns", "arrow_data", "data", "language", "width", "height", "key",
            "fragment_id", "src", "spec", "theme", "selection_mode", "query_string", "page", "config"}  # fmt: skip
HTML_OR_CODE = ("Html", "Code", "Json", "PlotlyChart", "Image", "Imgs")


def _proto_strings(msg: Message) -> Iterator[str]:
    for field, value in msg.ListFields():
        if field.name in NOT_TEXT:
            continue
        values = list(value) if type(value).__name__.startswith("Repeated") else [value]
        for v in values:
            if isinstance(v, Message):
                yield from _proto_strings(v)
            elif isinstance(v, str):
                yield v


def _nodes(node: Any) -> Iterator[Any]:
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _nodes(child)


def _cells(frame: pd.DataFrame, titled: set[str]) -> Iterator[str]:
    """Headers and cells as drawn; a column with a column_config title shows that title, not its name."""
    yield from (str(c) for c in frame.columns if str(c) not in titled)
    for column in frame.columns:
        series = frame[column]
        if series.dtype == bool:
            continue  # drawn as check boxes: no words
        for cell in series:
            yield "None" if cell is None or (not isinstance(cell, str | list | dict) and pd.isna(cell)) else str(cell)


def _column_titles(proto: Any) -> Iterator[str]:
    """Column titles and help of a table's column_config (the JSON the browser draws headers from)."""
    raw = getattr(proto, "columns", "")
    config = json.loads(raw) if raw else {}

    def walk(obj: Any) -> Iterator[str]:
        if isinstance(obj, dict):
            for name, value in obj.items():
                if name in ("label", "help", "placeholder") and isinstance(value, str):
                    yield value
                elif name == "options" and isinstance(value, list):
                    yield from (str(v["label"] if isinstance(v, dict) else v) for v in value)
                else:
                    yield from walk(value)
        elif isinstance(obj, list):
            for value in obj:
                yield from walk(value)

    yield from walk(config)


def on_screen(at: AppTest) -> list[str]:
    """Every text the run put on screen (see the module docstring)."""
    texts: list[str] = []
    for node in _nodes(at._tree):
        kind = type(node).__name__
        proto = getattr(node, "proto", None)
        if proto is None or kind in HTML_OR_CODE:
            continue
        texts += [s for s in _proto_strings(proto) if s.strip()]
        if kind in ("Dataframe", "DataEditor") or hasattr(proto, "arrow_data"):
            texts += list(_column_titles(proto))
            try:
                frame = node.value
            except Exception:  # noqa: BLE001 - an element kind without a frame value
                frame = None
            if isinstance(frame, pd.DataFrame):
                config = json.loads(proto.columns) if getattr(proto, "columns", "") else {}
                texts += list(_cells(frame, {name for name, c in config.items() if c.get("label")}))
    return texts


def placeholders_missing(at: AppTest) -> list[str]:
    """Selectboxes that would show Streamlit's English placeholder ("Choose an option", "No options...")."""
    return [f"{s.label} ({s.key})" for s in at.selectbox if not s.proto.placeholder.strip()]


def _literal_parts(template: str) -> list[str]:
    return [part.strip(" :()—·-,.;!?'\"«»") for part, *_ in string.Formatter().parse(template)]


def _vocabulary(lang: str) -> set[str]:
    words = set()
    for table in (TEXTS, error_texts.TEXTS):
        for text in table[lang].values():
            words |= {w.lower() for w in re.findall(r"[^\W\d_]+", text)}
    return words


def _other_language_texts(lang: str) -> set[str]:
    other = "en" if lang == "fr" else "fr"
    own_words = _vocabulary(lang)
    found = set()
    for table in (TEXTS, error_texts.TEXTS):
        for key, text in table[other].items():
            if text == table[lang].get(key):
                continue
            own = set(_literal_parts(table[lang].get(key, "")))
            for part in _literal_parts(text):
                # Short or shared pieces ("IP", "vPBX", "MAC") say nothing about the language.
                one_word = re.fullmatch(r"[^\W\d_]+", part)
                if one_word and part.lower() in own_words:  # "extension", "Type": words of both languages
                    continue
                if len(part) >= 5 and re.search(r"[^\W\d_]{3}", part) and part not in own:
                    found.add(part)
    return found


OTHER_TEXTS = {lang: _other_language_texts(lang) for lang in LANGS}
PRODUCT = re.compile(
    r"Provisioning MAC|User-Agent|voipadmin Web phone|Yealink|Snom|Fanvil|Gigaset|Grandstream|Linphone|IP-Phone", re.I
)
# Names quoted in the manual steps are the phone's own menus and buttons, in the phone's language:
# **Settings → Auto Provision**, `code`, « Only Accept Trusted Certificates ».
QUOTED = re.compile(r"\*\*[^*]+\*\*|`[^`]*`|«[^»]*»")
HEX_ID = re.compile(r"\b[0-9a-f]{16,}\b")  # an element's random id (a download's file): "…01be3d…" is no word


LANGUAGE_NAMES = {TEXTS[code]["language_name"] for code in LANGS}  # each language named in itself


def leaks(texts: list[str], lang: str) -> list[str]:
    """The texts that hold a word or a text of the other language."""
    bad = []
    for text in texts:
        if text in LANGUAGE_NAMES:
            continue
        plain = PRODUCT.sub(" ", QUOTED.sub(" ", HEX_ID.sub(" ", text)))
        words = {w.lower() for w in re.findall(r"[^\W\d_]+(?:'[^\W\d_]+)?", plain)}
        words |= {w.split("'")[-1] for w in words if "'" in w}  # d'appareil -> appareil
        hits = sorted(words & WORDS[lang])
        hits += sorted(p for p in OTHER_TEXTS[lang] if re.search(rf"(?<!\w){re.escape(p)}(?!\w)", plain))
        if hits:
            bad.append(f"{text!r}: {hits}")
    return bad


def problems(at: AppTest, lang: str, where: str) -> list[str]:
    assert not at.exception, at.exception
    found = leaks(on_screen(at), lang) + [f"no placeholder: {s}" for s in placeholders_missing(at)]
    return [f"{where} [{lang}]: {p}" for p in found]


def assert_one_language(at: AppTest, lang: str, where: str) -> None:
    found = problems(at, lang, where)
    assert not found, "\n".join(found)


# -- the checker itself ---------------------------------------------------------------------------------


def test_the_checker_catches_each_language_in_the_other():
    assert leaks(["must be 4 to 9 digits, or empty for a generated password"], "fr")
    assert leaks(["None"], "fr") and leaks(["Choose an option"], "fr")
    assert leaks(["4 à 9 chiffres, ou vide pour un mot de passe généré"], "en")
    assert leaks(["Poste 101 — +41215550101 Alice (acme)"], "en")
    assert leaks(["Unblock the extension"], "fr") and leaks(["Débloquer le poste"], "en")
    assert not leaks(["Provisioning MAC", "Yealink T46U — Bureau Alice · 805EC0112233", "BLF", "Support"], "fr")
    assert not leaks(["Provisioning MAC", "Yealink T46U", "BLF", "Support", "IP", "vPBX"], "en")


def test_the_checker_reads_the_whole_screen(app, world):
    at = app(world.provider_id, "pages/phones.py", lang="en")
    texts = "\n".join(on_screen(at))
    for expected in ("Phones", "Add a device", "Kind of device", "Desk phone", "Generate a new password", "Never"):
        assert expected.lower() in texts.lower(), expected


# -- every page, every role, both languages --------------------------------------------------------------


def _pages_of(role: str) -> tuple[str, ...]:
    return tuple(p for p in PAGES if not (role == "alice_id" and p in ("pages/fraud.py", "pages/bulk.py")))


@pytest.mark.sqlite_only  # the words of a page do not depend on the database: once is enough (minutes each)
@pytest.mark.timeout(900)  # every page of a role in AppTest: minutes on a busy 2-core machine
@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("role", ROLES)
def test_every_page_speaks_one_language(app, world, role, lang):
    found = []
    for page in _pages_of(role):
        found += problems(app(getattr(world, role), page, lang=lang), lang, f"{page} as {role}")
    assert not found, "\n".join(found)


@pytest.mark.parametrize("lang", LANGS)
def test_login_form_speaks_one_language(app, world, lang):
    assert_one_language(app(None, lang=lang), lang, "login")


@pytest.mark.parametrize("lang", LANGS)
def test_switching_the_language_retranslates_a_refusal_on_screen(app, world, lang):
    other = "en" if lang == "fr" else "fr"
    at = app(world.provider_id, "pages/phones.py", lang=lang)
    _add(at, "desk_phone", mac="zz")
    shown = _errors(at)
    assert len(shown) == 1 and _said("mac_invalid", lang) in shown[0], shown
    assert_one_language(at, lang, "add: bad MAC")
    at.session_state["lang"] = other
    at.run()
    assert_one_language(at, other, "add: bad MAC after the switch")
    assert _errors(at) != shown and len(at.error) == 1 and _said("mac_invalid", other) in _errors(at)[0]


# -- every form refusal, both languages ------------------------------------------------------------------


def _widget(widgets: Any, prefix: str, suffix: str) -> Any:
    found = [w for w in widgets if (w.key or "").startswith(prefix) and (w.key or "").endswith(suffix)]
    assert found, f"no widget {prefix}*{suffix}"
    return found[0]


def _add(at: AppTest, kind: str, model: str | None = None, **fields: str) -> None:
    at.selectbox(key="add_kind").set_value(kind).run()
    if model:
        at.selectbox(key="add_model").set_value(model).run()
    for name, value in fields.items():
        if name == "pm":
            _widget(at.selectbox, "add_", "_pm").set_value(value)
        elif name == "exp":
            module, _, count = value.partition(":")
            _widget(at.selectbox, "add_", "_exp").set_value(module).run()
            _widget(at.number_input, "add_", f"_exp_n_{module}").set_value(int(count))
        else:
            _widget(at.text_input, "add_", f"_{name}").input(value)
    at.button(key="add_save").click().run()


def _edit(at: AppTest, device_id: int, **fields: str) -> None:
    prefix = f"edit{device_id}_"
    for name, value in fields.items():
        _widget(at.text_input, prefix, f"_{name}").input(value)
    _widget(at.button, prefix, "_save").click().run()


ADD_REFUSALS = [
    ("mac_invalid", {"kind": "desk_phone", "mac": "zz"}),
    ("mac_reserved", {"kind": "desk_phone", "mac": "00:00:00:00:00:00"}),
    ("mac_taken", {"kind": "desk_phone", "mac": "805EC0112233"}),
    ("pm_needs_mac", {"kind": "desk_phone", "pm": "once"}),
    ("too_long", {"kind": "desk_phone", "label": "x" * 300}),
    ("control_chars", {"kind": "desk_phone", "label": "a\tb"}),
    ("base_required", {"kind": "dect_handset", "model": "yealink-w56h"}),
]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(("code", "form"), ADD_REFUSALS, ids=[c for c, _ in ADD_REFUSALS])
def test_add_form_refusals_speak_one_language(app, world, lang, code, form):
    at = app(world.provider_id, "pages/phones.py", lang=lang)
    form = dict(form)
    _add(at, form.pop("kind"), form.pop("model", None), **form)
    assert any(_said(code, lang) in e for e in _errors(at)), _errors(at)
    assert_one_language(at, lang, f"add form: {code}")


EDIT_REFUSALS = [
    ("password_digits", {"admin_password": "12"}),
    ("password_digits", {"user_password": "abc"}),
    ("mac_invalid", {"mac": "12-34"}),
    ("too_long", {"label": "y" * 300}),
]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(("code", "form"), EDIT_REFUSALS, ids=[f"{c}-{next(iter(f))}" for c, f in EDIT_REFUSALS])
def test_edit_form_refusals_speak_one_language(app, world, lang, code, form):
    at = app(world.alice_id, "pages/phones.py", lang=lang)
    _edit(at, world.desk_a1, **form)
    assert any(_said(code, lang) in e for e in _errors(at)), _errors(at)
    assert_one_language(at, lang, f"edit form: {code}")


@pytest.mark.parametrize("lang", LANGS)
def test_delete_refusal_names_its_object_in_one_language(app, world, engine, provider, lang):
    with transaction(engine) as s:
        base = devices.add_device(s, provider, world.seed.line_a1, "yealink-w70b", mac="805EC0445566")
        devices.add_device(s, provider, world.seed.line_a1, "yealink-w56h", base=base["id"])
    at = app(world.provider_id, "pages/phones.py", lang=lang)
    assert_one_language(at, lang, "phones with a DECT base and handset")
    at.button(key=f"del_{base['id']}").click().run()
    assert_one_language(at, lang, "delete dialog")
    at.button(key="delete_confirm").click().run()
    device = TEXTS[lang]["device"]
    assert any(e.startswith(device) and _said("base_has_handsets", lang) in e for e in _errors(at)), _errors(at)
    assert_one_language(at, lang, "delete refused")


KEY_REFUSALS = [
    ("key_value_invalid", {"type": "blf", "value": "abc"}),
    ("key_value_required", {"type": "blf", "value": ""}),
    ("key_label_long", {"type": "line", "value": "1", "label": "z" * 40}),
]


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(("code", "row"), KEY_REFUSALS, ids=[c for c, _ in KEY_REFUSALS])
def test_key_grid_refusals_speak_one_language(app, world, lang, code, row):
    at = app(world.alice_id, "pages/keys.py", lang=lang, device=str(world.desk_a1))
    assert_one_language(at, lang, "keys page")
    editor = next(e for e in at.data_editor if str(e.key).startswith(f"keys_{world.desk_a1}_0"))
    at.session_state[editor.key] = {"edited_rows": {3: row}, "added_rows": [], "deleted_rows": []}
    at.run()
    at.button(key=f"save_keys_{world.desk_a1}_0").click().run()
    assert _errors(at), "the bad key was not refused"
    assert_one_language(at, lang, f"key grid: {code}")


@pytest.mark.parametrize("lang", LANGS)
def test_setup_dialog_speaks_one_language(app, world, engine, provider, lang):
    with transaction(engine) as s:
        devices.update_device(s, provider, world.desk_a1, provisioning_mac="once")
    at = app(world.alice_id, "pages/phones.py", lang=lang)
    at.button(key=f"setup_{world.desk_a1}").click().run()
    assert_one_language(at, lang, "setup dialog with a redirection request")
    at = app(world.alice_id, "pages/phones.py", lang=lang)
    at.button(key=f"setup_{world.soft_a1}").click().run()
    assert_one_language(at, lang, "setup dialog of a softphone")


# -- helpers ---------------------------------------------------------------------------------------------


def _errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def _said(code: str, lang: str) -> str:
    """The longest literal piece of a refusal's text in `lang` (what shows whatever the parameters)."""
    return max((part for part, *_ in string.Formatter().parse(error_texts.TEXTS[lang][code])), key=len).strip()


@pytest.mark.parametrize("lang", LANGS)
def test_manual_steps_of_every_family_speak_one_language(world, engine, provider, lang):
    """The setup dialog's steps, for one model of each family (the dialog test above sees two)."""
    from core.catalogue import default_catalogue

    catalogue = default_catalogue()
    first: dict[str, str] = {}
    for model in sorted(catalogue.models(), key=lambda m: m.id):
        if model.kind in ("desk_phone", "dect_base", "ata", "softphone", "webphone"):
            first.setdefault(model.family, model.id)
    assert len(first) >= 8
    found = []
    with transaction(engine) as s:
        for family, model_id in sorted(first.items()):
            device = devices.add_device(s, provider, world.seed.line_a1, model_id)
            steps = devices.manual_steps(s, provider, device["id"], lang)
            found += [f"{family} ({model_id}): {p}" for p in leaks([steps], lang)]
    assert not found, "\n".join(found)


def _chart_texts(at: AppTest) -> list[str]:
    """Titles, legend and trace names of the plotly charts (their hover and modebar are the browser's)."""
    texts = []
    for chart in at.get("plotly_chart"):
        fig = json.loads(chart.proto.spec)
        layout = fig.get("layout", {})
        for part in (layout.get("xaxis", {}), layout.get("yaxis", {}), layout.get("legend", {}), layout):
            title = part.get("title")
            texts.append(title.get("text", "") if isinstance(title, dict) else str(title or ""))
        texts += [str(trace.get("name", "")) for trace in fig.get("data", [])]
    return [t for t in texts if t.strip()]


@pytest.mark.parametrize("lang", LANGS)
def test_fraud_page_with_data_speaks_one_language(app, world, engine, lang):
    from datetime import UTC, datetime, timedelta

    from core.models import AccessLog

    now = datetime.now(UTC)
    with transaction(engine) as s:
        s.add_all([AccessLog(at=now - timedelta(minutes=m), source_ip=f"198.51.100.{m}", path="/****.cfg",
                             status=200, device_id=world.desk_a1) for m in range(1, 14)])  # fmt: skip
    at = app(world.provider_id, "pages/fraud.py", lang=lang)
    assert _chart_texts(at), "no chart drawn: the test would check nothing of them"
    found = problems(at, lang, "fraud with data") + [f"chart: {p}" for p in leaks(_chart_texts(at), lang)]
    at.session_state["fraud_sources_table"] = {"selection": {"rows": [0], "columns": [], "cells": []}}
    at.run()
    found += problems(at, lang, "fraud with a source picked")
    at.text_input(key="fraud_q").input("Bureau Alice").run()
    found += problems(at, lang, "fraud search")
    at.button(key=f"fraud_new_key_device_{world.desk_a1}").click().run()
    found += problems(at, lang, "fraud new-key confirmation")
    assert not found, "\n".join(found)


@pytest.mark.parametrize("lang", LANGS)
def test_status_page_with_a_registered_phone_and_a_reboot_speaks_one_language(app, world, engine, lang):
    from datetime import UTC, datetime, timedelta

    from core import heartbeat
    from core.models import Registration

    heartbeat.beat(engine, "sip")
    with transaction(engine) as s:
        s.add(Registration(aor="101@acme.voip.example", contact="<sip:101@192.0.2.10:5062>", line_id=world.seed.line_a1,
                           device_id=world.desk_a1, source_ip="192.0.2.10", source_port=5062, transport="udp",
                           user_agent="Yealink SIP-T46U 108.86.0.20 80:5e:c0:11:22:33", call_id="c1", cseq=1,
                           expires_at=datetime.now(UTC) + timedelta(minutes=10)))  # fmt: skip
    at = app(world.alice_id, "pages/status.py", lang=lang)
    found = problems(at, lang, "status, registered")
    reboot = [b for b in at.button if (b.key or "") == f"reboot_{world.desk_a1}"]
    assert reboot, "no reboot offered: the test would not see a command's outcome"
    reboot[0].click().run()
    found += problems(at, lang, "status, reboot sent")
    assert not found, "\n".join(found)
