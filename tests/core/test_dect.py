"""DECT across lines (issue 14 point 3): a handset on any base of its vPBX whose model accepts it, within the
base's handset limit; the base's file carries every handset's own account; its revision follows them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core import devices, lines
from core.catalogue import default_catalogue
from core.db import transaction
from core.errors import ValidationError
from core.models import Device, Line
from core.render import Renderer
from tests.core.test_statement_counts import counting

pytestmark = pytest.mark.db


def _add(engine, actor, line, model, **kw):
    with transaction(engine) as s:
        return devices.add_device(s, actor, line, model, **kw)


def _revision(engine, device_id):
    with transaction(engine) as s:
        return s.get(Device, device_id).config_revision


def _render(engine, settings, device_id):
    with transaction(engine) as s:
        return Renderer(settings).render(s.get(Device, device_id)).content.decode()


def test_a_handset_joins_a_base_on_another_line_of_its_vpbx(engine, provider, seed):
    base = _add(engine, provider, seed.line_a1, "yealink-w70b", mac="805EC0000A01", label="Hall")
    h = _add(engine, seed.admin_a, seed.line_a2, "yealink-w56h", base=base["id"], label="Bob's")
    assert (h["line"], h["base_station"]) == ("+41215550102", base["id"])
    assert h["base"] == {"id": base["id"], "model_label": base["model_label"], "label": "Hall", "mac": "805EC0000A01",
                         "line": "+41215550101", "line_id": seed.line_a1, "extension": "101",
                         "display_name": "Alice"}  # fmt: skip
    with transaction(engine) as s:
        shown = devices.get_device(s, provider, base["id"])
        line_b = lines.get_line(s, provider, seed.line_a2)
    assert shown["handsets"] == [h["id"]]
    assert [(d["line"], d["label"], d["display_name"]) for d in shown["handset_details"]] == [
        ("+41215550102", "Bob's", "Bob")
    ]
    assert [d["base"]["line"] for d in line_b["devices"]] == ["+41215550101"]  # the line view names the base


@pytest.mark.parametrize("where", ["other_vpbx", "missing"])
def test_a_base_of_another_vpbx_is_the_same_unknown_base_as_a_missing_one(engine, provider, seed, where):
    other = _add(engine, provider, seed.line_b1, "yealink-w70b", mac="805EC0000A02")
    base_id = other["id"] if where == "other_vpbx" else other["id"] + 100
    for actor in (provider, seed.admin_a):  # even the provider: a handset's base is of the handset's vPBX
        with pytest.raises(ValidationError) as err:
            _add(engine, actor, seed.line_a1, "yealink-w56h", base=base_id)
        assert (err.value.field, err.value.code, err.value.params) == ("base", "base_unknown", {"base": base_id})
        assert "805EC0000A02" not in str(err.value)
    with transaction(engine) as s:
        assert s.scalars(select(Device.id).where(Device.model_id == "yealink-w56h")).all() == []


def test_an_end_user_may_not_put_a_handset_on_a_base_of_another_line(engine, provider, seed):
    """Their lines are not theirs to see; once the vPBX admin has attached it, the user may still edit it."""
    base = _add(engine, provider, seed.line_a2, "yealink-w70b")
    with pytest.raises(ValidationError) as err:
        _add(engine, seed.user_a1, seed.line_a1, "yealink-w56h", base=base["id"])
    assert err.value.code == "base_unknown"
    h = _add(engine, seed.admin_a, seed.line_a1, "yealink-w56h", base=base["id"])
    with transaction(engine) as s:
        offered = devices.compatible_bases(s, seed.user_a1, seed.line_a1, "yealink-w56h", h["id"])
        assert [b["id"] for b in offered] == [base["id"]]  # its current base, so a form never moves it
        assert devices.compatible_bases(s, seed.user_a1, seed.line_a1, "yealink-w56h") == []
        devices.update_device(s, seed.user_a1, h["id"], base=base["id"], label="Mine")


def test_limit_and_compatibility_count_every_line(engine, provider, seed):
    base = _add(engine, provider, seed.line_a1, "yealink-w70b")
    limit = default_catalogue().get("yealink-w70b").max_handsets
    for i in range(limit):
        _add(engine, provider, seed.line_a1 if i % 2 else seed.line_a2, "yealink-w56h", base=base["id"])
    with pytest.raises(ValidationError) as err:
        _add(engine, provider, seed.line_a2, "yealink-w56h", base=base["id"])
    assert (err.value.code, err.value.params) == ("base_full", {"max": limit})
    snom = _add(engine, provider, seed.line_a2, "snom-m700")
    with pytest.raises(ValidationError) as err:
        _add(engine, provider, seed.line_a1, "yealink-w56h", base=snom["id"])
    assert err.value.code == "base_incompatible"
    with transaction(engine) as s:
        assert devices.compatible_bases(s, provider, seed.line_a1, "yealink-w56h") == []  # the only one is full


def test_compatible_bases_of_the_vpbx_with_free_slots_own_line_first(engine, provider, seed):
    theirs = _add(engine, provider, seed.line_a2, "yealink-w70b", mac="805EC0000A03")
    own = _add(engine, provider, seed.line_a1, "yealink-w80", mac="805EC0000A04")
    _add(engine, provider, seed.line_b1, "yealink-w70b", mac="805EC0000A05")  # another vPBX's: never offered
    _add(engine, provider, seed.line_a2, "snom-m700")  # not a W56H's base
    _add(engine, provider, seed.line_a2, "yealink-w56h", base=theirs["id"])
    with transaction(engine) as s:
        with counting(engine) as few:
            offered = devices.compatible_bases(s, seed.admin_a, seed.line_a1, "yealink-w56h")
    assert [(b["id"], b["line"], b["mac"], b["free"]) for b in offered] == [
        (own["id"], "+41215550101", "805EC0000A04", 30),
        (theirs["id"], "+41215550102", "805EC0000A03", 9),
    ]
    assert len(few) <= 5


def test_moving_a_handset_bumps_both_bases(engine, provider, seed):
    first = _add(engine, provider, seed.line_a1, "yealink-w70b")
    second = _add(engine, provider, seed.line_a2, "yealink-w80")
    h = _add(engine, provider, seed.line_a2, "yealink-w56h", base=first["id"])
    before = (_revision(engine, first["id"]), _revision(engine, second["id"]))
    with transaction(engine) as s:
        moved = devices.update_device(s, provider, h["id"], base=second["id"])
    assert moved["base"]["id"] == second["id"]
    assert _revision(engine, first["id"]) > before[0] and _revision(engine, second["id"]) > before[1]
    with transaction(engine) as s:
        assert devices.get_device(s, provider, first["id"])["handsets"] == []
        with pytest.raises(ValidationError) as err:  # a base with handsets still cannot be deleted
            devices.delete_device(s, provider, second["id"])
    assert err.value.code == "base_has_handsets"


def test_a_change_to_a_handsets_line_bumps_its_base_on_another_line(engine, provider, seed, settings):
    base = _add(engine, provider, seed.line_a1, "yealink-w70b")
    _add(engine, provider, seed.line_a2, "yealink-w56h", base=base["id"])
    before = _revision(engine, base["id"])
    with transaction(engine) as s:
        lines.new_sip_credentials(s, provider, seed.line_a2)
    after_password = _revision(engine, base["id"])
    with transaction(engine) as s:
        lines.update_line(s, provider, seed.line_a2, display_name="Robert")
        password = s.get(Line, seed.line_a2).sip_password
    assert before < after_password < _revision(engine, base["id"])
    text = _render(engine, settings, base["id"])
    assert f"account.1.password = {password}" in text and "account.1.display_name = Robert" in text


def _two_line_base(engine, provider, seed, family_base, handset):
    base = _add(engine, provider, seed.line_a1, family_base, mac="805EC0000A10")
    on_a1 = _add(engine, provider, seed.line_a1, handset, base=base["id"], label="Alice HS")
    on_a2 = _add(engine, provider, seed.line_a2, handset, base=base["id"], label="Bob HS")
    with transaction(engine) as s:
        creds = {n: (s.get(Line, n).sip_username, s.get(Line, n).sip_password) for n in (seed.line_a1, seed.line_a2)}
    return base, (on_a1, on_a2), creds


@pytest.mark.parametrize(
    ("base_model", "handset", "account"),
    [
        ("yealink-w70b", "yealink-w56h", "account.{slot}.user_name = {user}\naccount.{slot}.password = {password}"),
        ("snom-m700", "snom-m85", '<user_name idx="{slot}" perm="R">{user}</user_name>'),
        ("gigaset-n670", "gigaset-s700h-pro", '<param name="SipAccount.0000{slot}.UserName" value="{user}"/>'),
    ],
)
def test_the_bases_file_carries_each_handsets_own_account(engine, provider, seed, settings, base_model, handset,
                                                          account):  # fmt: skip
    if handset not in {m.id for m in default_catalogue().models("dect_handset")}:
        pytest.fail(f"{handset} left the catalogue")
    base, _, creds = _two_line_base(engine, provider, seed, base_model, handset)
    text = _render(engine, settings, base["id"])
    for slot, line_id in ((1, seed.line_a1), (2, seed.line_a2)):
        user, password = creds[line_id]
        assert account.format(slot=slot, user=user, password=password) in text
        assert password in text
    assert "Bob" in text and "Alice" in text


def test_rendering_a_base_reads_its_handsets_lines_in_the_same_statements_whatever_their_number(
    engine, provider, seed, settings
):
    from core import vpbx

    with transaction(engine) as s:
        for i in range(12):
            lines.add_line(s, provider, "acme", f"+4121555090{i:02d}", extension=f"9{i:02d}", display_name=f"U{i}")
        many = s.scalars(select(Line.id).where(Line.number.like("+4121555090%")).order_by(Line.id)).all()
        assert vpbx.find_vpbx(s, provider, "acme") is not None
    small = _add(engine, provider, seed.line_a1, "yealink-w70b")
    big = _add(engine, provider, seed.line_a1, "yealink-w80")
    _add(engine, provider, seed.line_a2, "yealink-w56h", base=small["id"])
    for line_id in many:
        _add(engine, provider, line_id, "yealink-w56h", base=big["id"])
    counts = {}
    for base in (small, big):
        with transaction(engine) as s, counting(engine) as seen:
            text = Renderer(settings).render(s.get(Device, base["id"])).content.decode()
        counts[base["id"]] = len(seen)
    assert "U11" in text and text.count(".password = ") >= 12
    assert counts[small["id"]] == counts[big["id"]], counts
    with transaction(engine) as s, counting(engine) as seen:
        view = devices.get_device(s, provider, big["id"])
    assert len(view["handset_details"]) == 12 and len(seen) <= 4


def test_the_diagnosis_finds_a_base_on_another_line(engine, provider, seed):
    from datetime import UTC, datetime

    from core import diagnosis

    base = _add(engine, provider, seed.line_a1, "yealink-w70b")
    h = _add(engine, provider, seed.line_a2, "yealink-w56h", base=base["id"])
    with transaction(engine) as s:
        facts = diagnosis.load_facts(s, provider, h["id"], datetime.now(UTC))
    assert facts.base is not None and facts.base.id == base["id"]
    assert base["id"] not in facts.line_device_ids
