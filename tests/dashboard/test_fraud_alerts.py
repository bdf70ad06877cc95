"""The Fraude page's alerts (issue 13 point 2): the open counts and the live list first, in French and in
English; a vPBX admin's own alerts only; one alert's evidence and its CSV; acknowledging and resolving,
checked in the database through core.alerts.get_alert; refusals in the reader's language, nothing changed.

Alerts are raised the way serve raises them: raw rows (an old key asked for a device, ten failed SIP
authentications against a line), then `core.alerts.scan` a few seconds later."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, insert, select
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

from core import alerts
from core import event_kinds as ek
from core.db import transaction
from core.models import AccessLog, Alert, AuditEvent, SecurityEvent
from core.permissions import system_actor
from dashboard.alerts_panel import CSV_COLUMNS, evidence_csv
from dashboard.i18n import TEXTS
from tests.core.test_statement_counts import counting
from tests.dashboard.test_one_language import problems

NOW = datetime.now(UTC).replace(microsecond=0)
OFFICE = "198.51.100.7"
ATTACKER = "203.0.113.9"
UA = "Yealink SIP-T46U 108.86.0.20 80:5e:c0:11:22:33"
PROVIDER = system_actor("pytest")


def raise_alerts(engine: Engine, world: Any) -> dict[str, int]:
    """Alice's desk phone asked with its old key (high), ten failed SIP logins on Bob's line (high), Carol's
    phone of globex asked with its old key (another vPBX). Returns the alert ids by name."""
    start = NOW - timedelta(minutes=5)
    with transaction(engine) as s:
        s.execute(insert(AccessLog), [
            {"at": start + timedelta(seconds=i), "source_ip": OFFICE, "user_agent": UA, "path": "/p/abcdef…/x.cfg",
             "status": 404, "reason": ek.OLD_KEY, "device_id": world.desk_a1} for i in range(2)]
            + [{"at": start, "source_ip": OFFICE, "user_agent": "=cmd|' /C calc'!A0", "path": "/p/123456…/y.cfg",
                "status": 404, "reason": ek.OLD_KEY, "device_id": world.desk_b1}])  # fmt: skip
        s.execute(insert(SecurityEvent), [
            {"at": start + timedelta(seconds=10 + i), "kind": ek.SIP_AUTH_FAILED, "source_ip": ATTACKER,
             "user_agent": "friendly-scanner", "username": "41215550102", "line_id": world.seed.line_a2}
            for i in range(10)])  # fmt: skip
    alerts.scan(engine, None, now=NOW + timedelta(seconds=5))
    with transaction(engine) as s:
        found = {(a["rule"], a["subject"]): a["id"] for a in alerts.list_alerts(s, PROVIDER)}
    return {
        "desk": found[("retired_key_used", f"device:{world.desk_a1}")],
        "carol": found[("retired_key_used", f"device:{world.desk_b1}")],
        "bob": found[("sip_brute_force", f"line:{world.seed.line_a2}")],
    }


def get(engine: Engine, alert_id: int) -> dict[str, Any]:
    with transaction(engine) as s:
        return alerts.get_alert(s, PROVIDER, alert_id)


def metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def choose(at, row: int) -> None:
    at.session_state["fraud_alerts_table"] = {"selection": {"rows": [row], "columns": [], "cells": []}}
    at.run()
    assert not at.exception, at.exception


def test_no_alert_says_so_and_the_rest_of_the_page_stays(app, world):
    at = app(world.provider_id, "pages/fraud.py")
    assert metrics(at) == {"High": "0", "Medium": "0", "Low": "0"}
    assert "No alert." in [c.value for c in at.caption]
    assert [h.value for h in at.subheader][:2] == ["Open alerts", "Alerts"]
    assert TEXTS["en"]["downloads"] in [h.value for h in at.subheader]  # the charts are still there, after


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_counts_and_the_live_list_lead_the_page_in_the_readers_language(app, world, engine, lang):
    raise_alerts(engine, world)
    at = app(world.provider_id, "pages/fraud.py", lang=lang)
    high, medium, low = (TEXTS[lang][f"al_sev_{s}"].capitalize() for s in ("high", "medium", "low"))
    assert metrics(at) == {high: "3", medium: "0", low: "0"}
    table = at.dataframe[0].value
    assert list(table.columns) == [TEXTS[lang][k] for k in ("al_severity", "al_alert", "al_subject", "al_state",
                                   "count", "fraud_first_seen", "fraud_last_seen", "al_acted")]  # fmt: skip
    assert len(table) == 3
    assert set(table[TEXTS[lang]["al_severity"]]) == {TEXTS[lang]["al_sev_high"]}
    assert set(table[TEXTS[lang]["al_state"]]) == {TEXTS[lang]["al_st_open"]}
    titles = set(table[TEXTS[lang]["al_alert"]])
    assert titles == {alerts.alert_rules.BY_CODE[r].title(lang) for r in ("retired_key_used", "sip_brute_force")}
    subjects = set(table[TEXTS[lang]["al_subject"]])
    bob = TEXTS[lang]["line_label"].format(extension="102", number="+41215550102", name="Bob", vpbx="acme")
    assert {"Yealink T46U — Bureau Alice · +41215550101", "Yealink T46U — Carol · +41225550201", bob} == subjects
    assert all(cell.endswith(" UTC") for cell in table[TEXTS[lang]["fraud_first_seen"]])
    assert sorted(table[TEXTS[lang]["count"]]) == [1, 2, 10]  # Carol 1 old key, Alice 2, Bob 10 failures
    assert TEXTS[lang]["al_pick"] in [c.value for c in at.caption]
    found = problems(at, lang, "fraud alerts")
    for row in range(3):  # each alert's detail and evidence, one language too
        choose(at, row)
        found += problems(at, lang, f"fraud alert row {row}")
    assert not found, "\n".join(found)


def test_a_vpbx_admin_sees_only_its_vpbx_alerts(app, world, engine):
    ids = raise_alerts(engine, world)
    at = app(world.admin_a_id, "pages/fraud.py")
    assert metrics(at) == {"High": "2", "Medium": "0", "Low": "0"}
    text = at.dataframe[0].value.to_string()
    assert "Bureau Alice" in text and "+41215550102" in text and "Carol" not in text
    at = app(world.admin_b_id, "pages/fraud.py")
    assert metrics(at) == {"High": "1", "Medium": "0", "Low": "0"}
    assert "Carol" in at.dataframe[0].value.to_string() and "Alice" not in at.dataframe[0].value.to_string()
    # Another vPBX's alert by URL: the same answer as a missing one, nothing of it shown.
    at = app(world.admin_b_id, "pages/fraud.py", alert=str(ids["desk"]))
    assert [w.value for w in at.warning] == ["No such alert"]
    assert not [b for b in at.button if (b.key or "").startswith("fraud_alert_")]
    assert "Bureau Alice" not in "\n".join(str(m.value) for m in [*at.markdown, *at.text])


def test_choosing_an_alert_shows_its_evidence_and_its_csv(app, world, engine):
    ids = raise_alerts(engine, world)
    at = app(world.provider_id, "pages/fraud.py", lang="fr")
    rows = at.session_state["fraud_alert_ids"]
    choose(at, rows.index(ids["bob"]))
    assert at.query_params["alert"] == str(ids["bob"])  # the URL names the alert shown
    evidence = at.dataframe[1].value
    assert list(evidence.columns) == ["Heure", "Origine", "Adresse", "Pays", "Événement", "User-Agent", "Chemin"]
    assert len(evidence) == 10
    assert set(evidence["Origine"]) == {"événement de sécurité"}
    assert set(evidence["Événement"]) == {"échec d'authentification SIP"}
    assert set(evidence["Adresse"]) == {ATTACKER} and set(evidence["Pays"]) == {"—"}  # TEST-NET: no country
    assert any("10 en 10 min" in c.value for c in at.caption)
    (download,) = at.get("download_button")
    assert download.proto.label == "Télécharger CSV"
    data = get(engine, ids["bob"])["evidence"]
    parsed = list(csv.DictReader(io.StringIO(evidence_csv(data).decode("utf-8"))))
    assert tuple(parsed[0]) == CSV_COLUMNS  # English headers whatever the reader's language
    assert [(r["at"], r["origin"], r["source_ip"], r["what"], r["user_agent"]) for r in parsed] == [
        ((NOW - timedelta(minutes=5) + timedelta(seconds=10 + i)).isoformat(), "security_event", ATTACKER,
         "sip_auth_failed", "friendly-scanner") for i in range(10)]  # fmt: skip


def test_the_csv_button_serves_those_rows_and_defuses_formulas(app, world, engine, monkeypatch):
    served: dict[str, bytes] = {}
    load = MemoryMediaFileStorage.load_and_get_id

    def record(self, path_or_data, mimetype, kind, filename=None):  # what the download button hands Streamlit
        if isinstance(path_or_data, bytes) and filename:
            served[filename] = path_or_data
        return load(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", record)
    ids = raise_alerts(engine, world)
    at = app(world.provider_id, "pages/fraud.py", alert=str(ids["carol"]))
    assert at.get("download_button")[0].proto.label == "Download CSV"
    parsed = list(csv.DictReader(io.StringIO(served[f"alert-{ids['carol']}-evidence.csv"].decode("utf-8"))))
    assert len(parsed) == 1 and tuple(parsed[0]) == CSV_COLUMNS
    row = parsed[0]
    assert (row["origin"], row["what"], row["source_ip"], row["path"]) == ("access_log", "old_key", OFFICE,
                                                                          "/p/123456…/y.cfg")  # fmt: skip
    assert row["at"] == (NOW - timedelta(minutes=5)).isoformat()
    assert row["user_agent"] == "'=cmd|' /C calc'!A0"  # a spreadsheet shows it, never runs it


def test_acknowledge_then_resolve_change_the_database_and_show_who(app, world, engine):
    ids = raise_alerts(engine, world)
    at = app(world.provider_id, "pages/fraud.py", alert=str(ids["desk"]))
    at.text_area(key=f"fraud_alert_note_{ids['desk']}_0").input("J'appelle Alice")
    at.button(key=f"fraud_alert_ack_{ids['desk']}").click().run()
    assert not at.exception
    after = get(engine, ids["desk"])
    assert (after["state"], after["acted_by"], after["note"]) == ("acknowledged", "support", "J'appelle Alice")
    acted = after["acted_at"][:16].replace("T", " ")
    assert [s.value for s in at.success] == [f"Alert acknowledged by support ({acted} UTC)."]
    assert metrics(at)["High"] == "2"  # no longer open
    assert not [b for b in at.button if b.key == f"fraud_alert_ack_{ids['desk']}"]  # taken on: only Resolve
    assert at.text_area(key=f"fraud_alert_note_{ids['desk']}_1").value == ""  # a fresh note field
    at.text_area(key=f"fraud_alert_note_{ids['desk']}_1").input("Téléphone réinitialisé, nouvelle clé")
    at.button(key=f"fraud_alert_resolve_{ids['desk']}").click().run()
    after = get(engine, ids["desk"])
    assert (after["state"], after["acted_by"]) == ("resolved", "support")
    assert after["note"] == "Téléphone réinitialisé, nouvelle clé"
    assert at.success[0].value.startswith("Alert resolved by support (")
    assert "Bureau Alice" not in at.dataframe[0].value.to_string()  # gone from the live list...
    assert any("Téléphone réinitialisé" in str(x.value) for x in at.text)  # ...its detail still shown
    assert not [b for b in at.button if (b.key or "").startswith("fraud_alert_")]
    with transaction(engine) as s:
        audit = s.execute(select(AuditEvent.action, AuditEvent.target_id).where(
            AuditEvent.action.like("alert.%")).order_by(AuditEvent.id)).all()  # fmt: skip
    assert audit == [("alert.ack", str(ids["desk"])), ("alert.resolve", str(ids["desk"]))]


def test_a_too_long_note_is_refused_in_french_and_nothing_changes(app, world, engine):
    ids = raise_alerts(engine, world)
    at = app(world.admin_a_id, "pages/fraud.py", lang="fr", alert=str(ids["bob"]))
    at.text_area(key=f"fraud_alert_note_{ids['bob']}_0").input("x" * (alerts.NOTE_MAX + 1))
    at.button(key=f"fraud_alert_resolve_{ids['bob']}").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == [f"au plus {alerts.NOTE_MAX} caractères"]
    assert not at.success
    after = get(engine, ids["bob"])
    assert (after["state"], after["acted_by"], after["note"]) == ("open", "", "")
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("alert.%"))) == 0


def test_an_alert_resolved_meanwhile_is_refused_in_words(app, world, engine):
    ids = raise_alerts(engine, world)
    at = app(world.provider_id, "pages/fraud.py", lang="fr", alert=str(ids["bob"]))
    with transaction(engine) as s:  # someone else, in another tab
        alerts.resolve(s, PROVIDER, ids["bob"], "déjà vu")
    at.button(key=f"fraud_alert_ack_{ids['bob']}").click().run()
    assert not at.exception
    assert [e.value for e in at.error] == ["cette alerte est déjà résolue : une répétition en ouvre une nouvelle"]
    after = get(engine, ids["bob"])
    assert (after["state"], after["note"]) == ("resolved", "déjà vu")


def test_filters_by_severity_and_state(app, world, engine):
    ids = raise_alerts(engine, world)
    with transaction(engine) as s:
        alerts.resolve(s, PROVIDER, ids["carol"], "")
    at = app(world.provider_id, "pages/fraud.py")
    assert len(at.dataframe[0].value) == 2
    at.segmented_control(key="fraud_alert_states").set_value(["resolved"]).run()
    table = at.dataframe[0].value
    assert len(table) == 1 and "Carol" in table.to_string() and set(table["State"]) == {"resolved"}
    at.segmented_control(key="fraud_alert_states").set_value(["open", "acknowledged"]).run()
    at.segmented_control(key="fraud_alert_severity").set_value("low").run()
    assert "No alert." in [c.value for c in at.caption]
    at.segmented_control(key="fraud_alert_severity").set_value("high").run()
    assert len(at.dataframe[0].value) == 2


def test_the_chosen_alert_stays_when_a_new_one_arrives_on_top(app, world, engine):
    ids = raise_alerts(engine, world)
    at = app(world.provider_id, "pages/fraud.py")
    shown = at.session_state["fraud_alert_ids"]
    choose(at, shown.index(ids["desk"]))
    with transaction(engine) as s:  # a newer high alert: every row moves down one
        s.execute(insert(Alert), [
            {"rule": "key_mac_mismatch", "severity": "high", "subject": f"device:{world.soft_a1}", "state": "open",
             "vpbx_id": world.seed.vpbx_a, "line_id": world.seed.line_a1, "device_id": world.soft_a1,
             "first_seen": NOW, "last_seen": NOW, "count": 1}])  # fmt: skip
    at.run()
    assert at.query_params["alert"] == str(ids["desk"])
    assert any(m.value.startswith("**Retired key used") for m in at.markdown)
    assert "Yealink T46U — Bureau Alice · +41215550101" in [x.value for x in at.text]  # still Alice's phone


def test_a_link_to_an_alert_opens_it_after_a_visit_elsewhere(app, world, engine):
    ids = raise_alerts(engine, world)
    at = app(world.provider_id, "pages/fraud.py")
    choose(at, at.session_state["fraud_alert_ids"].index(ids["desk"]))
    at.switch_page("pages/home.py").run()
    at.switch_page("pages/fraud.py")
    at.query_params["alert"] = str(ids["bob"])  # the notifier's link: /fraud?alert=<id>
    at.run()
    assert not at.exception
    assert at.get("download_button")[0].proto.label == "Download CSV"
    assert any(m.value.startswith("**SIP passwords tried") for m in at.markdown)


def test_a_rerun_costs_the_same_statements_for_three_alerts_or_forty(app, world, engine):
    ids = raise_alerts(engine, world)
    at = app(world.provider_id, "pages/fraud.py", alert=str(ids["bob"]))

    def statements_of_a_rerun() -> int:
        with counting(Engine) as seen:  # every engine: the page makes its own
            at.run()
        assert not at.exception
        return len(seen)

    few = statements_of_a_rerun()
    with transaction(engine) as s:  # 37 more, on sources, lines and devices: no statement per row
        s.execute(insert(Alert), [
            {"rule": "unknown_key_probing", "severity": "medium", "subject": f"source:192.0.2.{i}", "state": "open",
             "vpbx_id": 0, "source_ip": f"192.0.2.{i}", "first_seen": NOW, "last_seen": NOW, "count": 30}
            for i in range(30)] + [
            {"rule": rule, "severity": "high", "subject": f"device:{device}", "state": "open",
             "vpbx_id": world.seed.vpbx_a, "device_id": device, "line_id": world.seed.line_a1, "first_seen": NOW,
             "last_seen": NOW, "count": 1}
            for rule in ("key_mac_mismatch", "fetch_new_country", "fetch_new_network")
            for device in (world.desk_a1, world.soft_a1)] + [
            {"rule": "register_new_country", "severity": "high", "subject": f"line:{world.seed.line_a1}",
             "state": "open", "vpbx_id": world.seed.vpbx_a, "line_id": world.seed.line_a1, "first_seen": NOW,
             "last_seen": NOW, "count": 1}])  # fmt: skip
    many = statements_of_a_rerun()
    assert len(at.dataframe[0].value) == 40
    assert few > 5 and many == few, (few, many)
