"""Téléphones' « TopStop » (issue 16 point 4): the line's and its vPBX's spend against their limits, a block said
with its limit and what was spent, « Débloquer » with a note for the vPBX administrator (recorded), the limits'
form for those who may set them, and an end user who sees their line's state and nothing to act on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.db import transaction
from core.models import AuditEvent, TopstopBlock, TopstopLimit
from core.settings import current_settings
from core.topstop import enforce, limits
from tests.topstop_calls import answered, hung_up


def _reached(engine, world, provider):
    """Alice's line: a 1.00 day limit, spent by a call to a premium number (rates of data/rates.yaml)."""
    with transaction(engine) as s:
        limits.set_limit(s, provider, "day", "1.00", line_ref=world.seed.line_a1)
    start = datetime.now(UTC) - timedelta(minutes=3)
    callid = answered(engine, world.seed.line_a1, "0041900123456", start)
    hung_up(engine, callid, start + timedelta(seconds=30))  # 0.50 setup + 2.50/min x 0.5 = 1.75
    return enforce.run_pass(engine, current_settings())


def test_the_admin_sees_the_block_and_unblocks_it_with_a_note(app, world, engine, provider):
    assert len(_reached(engine, world, provider).blocked) == 1
    at = app(world.admin_a_id, "pages/phones.py", lang="fr", line=str(world.seed.line_a1))
    assert "TopStop" in [h.value for h in at.subheader]
    assert [p.proto.text for p in at.get("progress")][:1] == ["Aujourd'hui : 1.75 sur 1.00 EUR (reste 0.00)"]
    blocked = [e.value for e in at.error]
    assert len(blocked) == 1 and "limite Aujourd'hui de 1.00 EUR (1.75 dépensés)" in blocked[0]
    key = f"ts_line_{world.seed.line_a1}"
    at.text_input(key=f"{key}_note").input("client joint, voyage d'affaires").run()
    at.button(key=f"{key}_unblock").click().run()
    assert not at.exception
    assert at.success[0].value.startswith("Blocage TopStop levé")
    with transaction(engine) as s:
        block = s.scalars(select(TopstopBlock)).one()
        entry = s.scalars(select(AuditEvent).where(AuditEvent.action == "topstop.unblock")).one()
    assert (block.lifted_by, block.note) == ("admin-acme", "client joint, voyage d'affaires")
    assert entry.actor == "admin-acme" and json.loads(entry.detail)["note"] == "client joint, voyage d'affaires"


def test_the_admin_sets_the_line_limits_and_a_bad_amount_is_said_next_to_the_form(app, world, engine):
    at = app(world.admin_a_id, "pages/phones.py", lang="en", line=str(world.seed.line_a2))
    key = f"ts_line_{world.seed.line_a2}"
    at.text_input(key=f"{key}_day").input("ten")  # in a form: sent with its button
    at.button(key=f"FormSubmitter:{key}_form-Save").click().run()
    assert "'ten' is not an amount: give 20, 20.50 or none" in [e.value for e in at.error]
    at.text_input(key=f"{key}_day").input("12.5")
    at.text_input(key=f"{key}_month").input("100")
    at.button(key=f"FormSubmitter:{key}_form-Save").click().run()
    assert not at.exception and at.success[0].value == "TopStop limits saved."
    with transaction(engine) as s:
        got = {(r.period, r.amount_cents) for r in s.scalars(select(TopstopLimit))}
    assert got == {("day", 1250), ("month", 10000)}
    # the vPBX's limits are the provider's: no form for the administrator on that side
    assert not [w for w in at.text_input if w.key and w.key.startswith("ts_vpbx_")]


def test_the_end_user_sees_their_line_blocked_and_nothing_to_act_on(app, world, engine, provider):
    _reached(engine, world, provider)
    at = app(world.alice_id, "pages/phones.py", lang="fr")
    assert len(at.error) == 1 and "TopStop atteint" in at.error[0].value
    assert not [b for b in at.button if b.key and b.key.startswith("ts_")]
    assert not [w for w in at.text_input if w.key and w.key.startswith("ts_")]
    assert not [m for m in at.markdown if "vPBX" in m.value]  # the vPBX's spend is not the user's to see


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_the_panel_with_a_block_speaks_one_language(app, world, engine, provider, lang):
    from tests.dashboard.test_one_language import problems

    _reached(engine, world, provider)
    found = []
    for who in (world.provider_id, world.admin_a_id, world.alice_id):
        found += problems(app(who, "pages/phones.py", lang=lang, line=str(world.seed.line_a1)), lang, f"{who}")
    assert not found, "\n".join(found)
