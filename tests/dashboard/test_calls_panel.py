"""Téléphones' « Appels » (issue 16 point 3): the chosen line's calls as the switch recorded them, in the reader's
language; an end user sees their own line's; nothing recorded is said so."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from core.db import transaction
from core.models import AccRecord, MissedCall

T0 = datetime(2026, 12, 7, 9, 0, 0, tzinfo=UTC)


def _calls(engine, world) -> None:
    seed = world.seed
    common = {"from_tag": "f", "to_tag": "t", "src_user": "41215550101", "src_ip": "192.0.2.10", "src_port": 5062}
    with transaction(engine) as s:
        s.add(AccRecord(method="INVITE", callid="talk", sip_code="200", sip_reason="OK", time=T0 + timedelta(seconds=3),
                        start_time=T0, line_id=seed.line_a1, callee_line_id=seed.line_a2, call_kind="internal",
                        dst_ouser="102", **common))  # fmt: skip
        s.add(AccRecord(method="BYE", callid="talk", sip_code="200", sip_reason="OK", time=T0 + timedelta(seconds=63),
                        **common))  # fmt: skip
        s.add(MissedCall(method="INVITE", callid="premium", sip_code="403", sip_reason="Destination blocked",
                         time=T0 + timedelta(minutes=5), start_time=T0 + timedelta(minutes=5), line_id=seed.line_a1,
                         call_kind="pstn", dst_ouser="00882123456", **common))  # fmt: skip


def _table(at):
    """The « Appels » table: the one with a call's start column (Téléphones' devices table comes first)."""
    return next(df.value for df in at.dataframe if {"Début", "Start"} & set(df.value.columns))


def test_the_line_calls_in_french(app, world, engine):
    _calls(engine, world)
    at = app(world.admin_a_id, "pages/phones.py", lang="fr", line=str(world.seed.line_a1))
    assert "Appels" in [h.value for h in at.subheader]
    table = _table(at)
    assert list(table.columns) == ["Début", "Sens", "Appelant", "Appelé", "Type", "Issue", "Décroché", "Fin",
                                   "Durée (s)", "Adresse source"]  # fmt: skip
    premium, talk = table.to_dict("records")
    assert (premium["Sens"], premium["Type"]) == ("Sortant", "Réseau public")
    assert premium["Issue"] == "Refusé (destination bloquée par le vPBX)"
    assert (premium["Appelé"], premium["Adresse source"]) == ("00882123456", "192.0.2.10:5062")
    assert premium["Durée (s)"] == ""  # not answered: no length, and no "None" on screen
    assert (talk["Appelé"], talk["Issue"], talk["Durée (s)"]) == ("+41215550102", "Répondu", "60")
    assert talk["Début"] == "2026-12-07 09:00:00 UTC" and talk["Fin"] == "2026-12-07 09:01:03 UTC"


def test_the_called_line_sees_it_incoming_in_english(app, world, engine):
    _calls(engine, world)
    at = app(world.provider_id, "pages/phones.py", lang="en", line=str(world.seed.line_a2))
    (talk,) = _table(at).to_dict("records")
    assert (talk["Direction"], talk["Caller"]) == ("Incoming", "+41215550101")
    assert (talk["Outcome"], talk["Type"]) == ("Answered", "Internal")


def test_the_end_user_sees_their_line_and_an_empty_line_says_so(app, world, engine):
    _calls(engine, world)
    at = app(world.alice_id, "pages/phones.py", lang="fr")
    assert len(_table(at)) == 2
    at = app(world.admin_b_id, "pages/phones.py", lang="en", line=str(world.seed.line_b1))
    assert "No call recorded for this extension." in [i.value for i in at.info]
