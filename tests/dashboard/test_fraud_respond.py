"""The data loss / abuse procedure in the dashboard (issue 13 point 3) and "block means blocked" (point 4).

Fraude: a line's procedure started after a question that says the six steps, then its steps with their time,
the waiting reason in words, each device's push and what is left, « Compter comme fait » asked first, the
outcome in words; the database checked through core (respond.status, lines.get_line, devices.get_device).
Téléphones: an end user's « J'ai perdu mes données », then their administrator sees the request, another vPBX's
administrator does not. The block said as it is, with VOIPADMIN_SWITCH builtin (nothing enforces) and kamailio.

The registrar's settle time (respond.CREDENTIALS_SETTLE) is set to 0 where a test goes past the push, as a
later advance would find it: the page calls respond.advance on each run while the procedure runs."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select

from core import alerts, devices, lines, respond
from core.db import transaction
from core.errors import NotFound
from core.models import AuditEvent
from core.permissions import system_actor
from core.settings import current_settings
from dashboard.i18n import TEXTS
from tests.dashboard.test_one_language import problems

PROVIDER = system_actor("pytest")


def run_of(engine: Engine, line_id: int) -> dict[str, Any]:
    with transaction(engine) as s:
        return respond.status(s, PROVIDER, line_id)


def no_run(engine: Engine, line_id: int) -> bool:
    with transaction(engine) as s, pytest.raises(NotFound) as caught:
        respond.status(s, PROVIDER, line_id)
    return caught.value.code == "response_not_found"


def line_of(engine: Engine, line_id: int) -> dict[str, Any]:
    with transaction(engine) as s:
        return lines.get_line(s, PROVIDER, line_id)


def secrets_of(engine: Engine, line_id: int) -> tuple[str, dict[int, str]]:
    """The line's SIP password and its devices' access keys, read through core (never shown by a view)."""
    with transaction(engine) as s:
        password = lines.line_credentials(s, PROVIDER, line_id)["sip_password"]
        keys = {d["id"]: d["url"] for d in lines.get_line(s, PROVIDER, line_id)["devices"]}
    return password, keys


def markdown(at) -> list[str]:
    return [str(m.value) for m in at.markdown]


def step_line(at, step: str) -> str:
    """The markdown line that says one step, with its state."""
    label = TEXTS[at.session_state["lang"]][f"rp_step_{step}"]
    return next(m for m in markdown(at) if f"**{label}** — " in m)


def click(at, key: str):
    at.button(key=key).click().run()
    assert not at.exception, at.exception
    return at


def open_procedure(app, account_id: int, line_id: int, lang: str = "fr", query: str = "Bob"):
    """Fraude, the line found by the Actions search, then its « Procédure perte de données / abus » button."""
    at = app(account_id, "pages/fraud.py", lang=lang)
    at.text_input(key="fraud_q").input(query).run()
    return click(at, f"fraud_respond_line_{line_id}")


def test_start_asks_first_then_the_steps_run_and_the_wait_is_said_in_french(app, world, engine):
    bob, desk = world.seed.line_a2, world.desk_a2
    password, keys = secrets_of(engine, bob)
    at = open_procedure(app, world.admin_a_id, bob)
    assert at.query_params["respond"] == str(bob)
    assert TEXTS["fr"]["rp_none_yet"] in [c.value for c in at.caption]
    click(at, f"rp_start_{bob}")
    # The question names the line and says the six steps, the block as it is: nothing enforces it here.
    question = [w.value for w in at.warning]
    assert any("Lancer la procédure perte de données / abus pour Poste 102 — +41215550102 Bob" in q for q in question)
    steps = next(m for m in markdown(at) if m.startswith("1. "))
    assert steps.splitlines() == [
        "1. Blocage des appels vers le réseau public : demandé, mais non appliqué : aucun commutateur d'appels ne "
        "traite les appels de cette installation.",
        f"2. {TEXTS['fr']['rp_what_credentials']}",
        f"3. {TEXTS['fr']['rp_what_keys']}",
        f"4. {TEXTS['fr']['rp_what_push']}",
        f"5. {TEXTS['fr']['rp_what_verify']}",
        f"6. {TEXTS['fr']['rp_what_unblock']}",
    ]
    assert no_run(engine, bob)  # asked, nothing done
    assert line_of(engine, bob)["pstn_blocked"] is False

    click(at, f"rp_start_yes_{bob}")
    run = run_of(engine, bob)
    assert (run["state"], run["started_by"], run["next_step"]) == ("running", "admin-acme", "push")
    assert line_of(engine, bob)["pstn_blocked"] is True
    new_password, new_keys = secrets_of(engine, bob)
    assert new_password != password and new_keys[desk] != keys[desk]
    # Block, credentials and keys done with their time; the push waits for the registrar, said in French.
    assert step_line(at, "block").startswith(":material/check_circle: **Blocage** — fait le ")
    assert step_line(at, "keys").startswith(":material/check_circle: **Nouvelle clé pour chaque appareil** — fait le ")
    assert step_line(at, "push") == (
        ":material/hourglass_top: **Envoi de la configuration** — en attente : le registrar charge le nouveau mot "
        "de passe SIP (quelques secondes)"
    )
    assert step_line(at, "unblock") == ":material/radio_button_unchecked: **Déblocage** — à faire"
    assert TEXTS["fr"]["rp_out_credentials_loading"] in [i.value for i in at.info]
    assert TEXTS["fr"]["block_state_none"] in [c.value for c in at.caption]  # under the block step
    assert "**Reste : Envoi de la configuration, Vérification, Déblocage.**" in markdown(at)
    assert not [b for b in at.button if (b.key or "").startswith("rp_start")]  # running: no second start


def test_past_the_push_each_device_says_what_is_left_and_one_is_counted_as_done(app, world, engine, monkeypatch):
    bob, desk = world.seed.line_a2, world.desk_a2
    at = open_procedure(app, world.admin_a_id, bob)
    click(at, f"rp_start_{bob}")
    click(at, f"rp_start_yes_{bob}")
    monkeypatch.setattr(respond, "CREDENTIALS_SETTLE", 0.0)  # the registrar has loaded the new password
    at.run()
    run = run_of(engine, bob)
    assert [d["push"] for d in run["devices"]] == ["redirection"]  # not registered; Snom has a service
    assert run["next_step"] == "verify"
    assert step_line(at, "push").startswith(":material/check_circle: **Envoi de la configuration** — fait le ")
    assert step_line(at, "verify") == (
        ":material/hourglass_top: **Vérification** — en attente : 1 appareil(s) n'ont pas encore montré leur "
        "nouvelle configuration"
    )
    assert TEXTS["fr"]["rp_out_devices_left"].format(n=1) in [w.value for w in at.warning]
    text = "\n".join([*markdown(at), *(c.value for c in at.caption)])
    assert "**Snom D785 — Bureau Bob**" in text
    assert TEXTS["fr"]["rp_push_redirection"] in text
    assert ":material/radio_button_unchecked: Configuration pas encore lue avec sa nouvelle clé" in text
    assert ":material/radio_button_unchecked: Pas encore enregistré avec les nouveaux identifiants" in text
    assert (
        "**Reste : lire sa configuration avec la nouvelle clé, s'enregistrer avec les nouveaux identifiants**" in text
    )
    assert at.button(key=f"rp_skip_{run['id']}_{desk}").label == "Compter comme fait …"

    click(at, f"rp_skip_{run['id']}_{desk}")  # asked first
    assert any(w.value.startswith("Compter Snom D785 — Bureau Bob comme fait ?") for w in at.warning)
    assert run_of(engine, bob)["devices"][0]["skipped_by"] == ""
    click(at, f"rp_skip_yes_{run['id']}_{desk}")
    run = run_of(engine, bob)
    assert (run["state"], run["devices"][0]["skipped_by"], run["pstn_blocked"]) == ("done", "admin-acme", False)
    assert (
        "Procédure terminée : poste débloqué (le blocage était demandé, non appliqué : aucun commutateur d'appels "
        "ne traite les appels de cette installation)." in [s.value for s in at.success]
    )
    assert ":material/check_circle: Compté comme fait par admin-acme" in markdown(at)
    assert TEXTS["fr"]["rp_nothing_left"] in markdown(at)
    assert at.button(key=f"rp_start_{bob}")  # done: a new procedure may start
    with transaction(engine) as s:
        trail = s.execute(select(AuditEvent.action, AuditEvent.actor).where(AuditEvent.action.like("line.respond.%"))
                          .order_by(AuditEvent.id)).all()  # fmt: skip
    assert ("line.respond.skip_device", "admin-acme") in trail
    assert trail[-1] == ("line.respond.unblock", "admin-acme")


def test_a_manual_device_links_its_configuration_manuelle(app, world, engine, monkeypatch):
    monkeypatch.setattr(respond, "CREDENTIALS_SETTLE", 0.0)
    alice, soft = world.seed.line_a1, world.soft_a1
    at = open_procedure(app, world.provider_id, alice, lang="en", query="Alice")
    click(at, f"rp_start_{alice}")
    click(at, f"rp_start_yes_{alice}")
    pushed = {d["device_id"]: d["push"] for d in run_of(engine, alice)["devices"]}
    assert pushed == {world.desk_a1: "redirection", soft: "manual"}  # a softphone: entered by hand
    assert "To enter on the phone" in [c.value for c in at.caption]
    click(at, f"rp_setup_{soft}")  # the dialog, with the device's new URL
    with transaction(engine) as s:
        url = devices.get_device(s, PROVIDER, soft)["url"]
    assert url in [c.value for c in at.code]


def test_a_users_request_reaches_their_admin_only(app, world, engine):
    alice = world.seed.line_a1
    at = app(world.alice_id, "pages/phones.py", lang="fr")
    assert not [b for b in at.button if (b.key or "").startswith("rp_")]  # a user never starts it
    at.text_area(key=f"lost_data_note_{alice}_0").input("Téléphone volé dans le train")
    click(at, f"lost_data_{alice}")
    assert any("Signaler la perte de données du poste Poste 101 — +41215550101 Alice" in w.value for w in at.warning)
    assert no_run(engine, alice)  # asked, nothing sent
    click(at, f"lost_data_yes_{alice}")
    run = run_of(engine, alice)
    assert (run["state"], run["requested_by"], run["note"]) == ("requested", "alice", "Téléphone volé dans le train")
    assert "Votre administrateur a été alerté." in [s.value for s in at.success]
    (state,) = [i.value for i in at.info if i.value.startswith("Demandée par alice le ")]
    assert state.endswith(" UTC : votre administrateur a été alerté, il lancera la procédure.")
    assert not [b for b in at.button if (b.key or "").startswith("lost_data_")]  # asked once
    with transaction(engine) as s:
        (alert,) = alerts.list_alerts(s, PROVIDER, line_id=alice)
    assert (alert["rule"], alert["severity"], alert["state"]) == ("data_loss_reported", "high", "open")

    # Their administrator: the request at the top of the section, its button opens the question for that line.
    at = app(world.admin_a_id, "pages/fraud.py", lang="fr")
    assert "**Demandes des utilisateurs (1)**" in markdown(at)
    assert any(m.startswith("Poste 101 — +41215550101 Alice (acme) — demandée par alice le ") for m in markdown(at))
    assert "Note : Téléphone volé dans le train" in [x.value for x in at.text]
    click(at, f"rp_request_start_{alice}")
    assert at.button(key=f"rp_start_yes_{alice}")
    # The notifier's link (?alert=) opens the line's procedure too.
    at = app(world.admin_a_id, "pages/fraud.py", lang="fr", alert=str(alert["id"]))
    assert at.query_params["respond"] == str(alice)
    assert any(m.value.startswith("Demandée par alice le ") for m in at.info)
    # Another vPBX's administrator: no request, and neither the link nor the line's id shows anything of it.
    for query in ({}, {"alert": str(alert["id"])}, {"respond": str(alice)}):
        at = app(world.admin_b_id, "pages/fraud.py", lang="fr", **query)
        assert not [m for m in markdown(at) if "Demandes des utilisateurs" in m or "+41215550101" in m]
        assert not [b for b in at.button if (b.key or "").startswith("rp_")]
        assert TEXTS["fr"]["rp_pick"] in [c.value for c in at.caption]
        assert "respond" not in at.query_params


@pytest.mark.parametrize("enforced", [None, "kamailio"])
def test_a_block_is_said_as_it_is(app, world, engine, monkeypatch, enforced):
    monkeypatch.setenv("VOIPADMIN_SWITCH", enforced or "builtin")
    current_settings.cache_clear()
    bob = world.seed.line_a2
    at = app(world.admin_a_id, "pages/fraud.py", lang="fr")
    at.text_input(key="fraud_q").input("Bob").run()
    click(at, f"fraud_block_line_{bob}")
    question = next(m for m in markdown(at) if "+41215550102" in m and "?" in m)
    click(at, f"fraud_yes_line_{bob}")
    assert line_of(engine, bob)["pstn_blocked"] is True
    (done,) = [s.value for s in at.success]
    if enforced is None:
        assert question.startswith("Demander le blocage des appels vers le réseau public pour Poste 102")
        assert "Il ne sera pas appliqué : aucun commutateur d'appels ne traite les appels de cette installation" in (
            question
        )
        assert done == (
            "Poste 102 — +41215550102 Bob (acme) : blocage demandé — non appliqué : aucun commutateur d'appels ne "
            "traite les appels de cette installation."
        )
        state = "Blocage demandé — non appliqué : aucun commutateur d'appels ne traite les appels de cette installation"
    else:
        assert question.endswith("Le blocage est appliqué par kamailio.")
        assert done == "Poste 102 — +41215550102 Bob (acme) : bloqué (appliqué par kamailio)."
        state = "Bloqué (appliqué par kamailio)"
    assert f"**{state}**" in markdown(at)  # the line under Actions
    assert not [m for m in markdown(at) if "**bloqué**" in m.lower()]  # never a bare "bloqué"
    # The Appareil view says the same, and so does the procedure's block step.
    dv = app(world.admin_a_id, "pages/device.py", lang="fr", device=str(world.desk_a2))
    assert any(f"**Appels vers le réseau public** : {state}" in m for m in markdown(dv))
    at = open_procedure(app, world.admin_a_id, bob)
    click(at, f"rp_start_{bob}")
    click(at, f"rp_start_yes_{bob}")
    assert state in [c.value for c in at.caption]
    assert run_of(engine, bob)["pstn_block_enforced_by"] == enforced  # what the page read it from


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_procedure_speaks_one_language(app, world, engine, monkeypatch, lang):
    monkeypatch.setattr(respond, "CREDENTIALS_SETTLE", 0.0)
    with transaction(engine) as s:
        respond.request(s, PROVIDER, world.seed.line_a2, "lost")  # a request listed above the procedure
    alice = world.seed.line_a1
    user = app(world.alice_id, "pages/phones.py", lang=lang)
    found = problems(user, lang, "a user's page")
    click(user, f"lost_data_{alice}")
    found += problems(user, lang, "a user's question")
    at = open_procedure(app, world.provider_id, alice, lang=lang, query="Alice")
    found += problems(at, lang, "no procedure yet")
    click(at, f"rp_start_{alice}")
    found += problems(at, lang, "the question")
    click(at, f"rp_start_yes_{alice}")
    found += problems(at, lang, "devices left")
    run = run_of(engine, alice)
    click(at, f"rp_skip_{run['id']}_{world.desk_a1}")
    found += problems(at, lang, "skip asked")
    user.run()  # the user's page while the procedure runs
    found += problems(user, lang, "a user's procedure running")
    assert not found, "\n".join(found)
