"""Function keys from the vPBX (issue 14 point 4): the lines a key may name, the warning for an unknown
extension, and the voicemail key dialling the line's mailbox in each vendor's file."""

import pytest
from sqlalchemy import select

from core import devices, keys, lines, vpbx
from core.db import transaction
from core.errors import NotFound, PermissionDenied, ValidationError
from core.models import Device
from core.render import Renderer
from tests.core.test_statement_counts import counting

pytestmark = pytest.mark.db


@pytest.fixture
def phone(engine, provider, seed):
    with transaction(engine) as s:
        lines.add_line(s, provider, "acme", "+41215550109", display_name="Fax")  # no extension: its number
        return devices.add_device(s, provider, seed.line_a1, "yealink-t46u", mac="805EC0112233")["id"]


def test_choices_are_the_devices_vpbx_lines_in_one_statement(engine, provider, seed, phone):
    with transaction(engine) as s, counting(engine) as statements:
        choices = keys.key_choices(s, seed.user_a1, phone)
    assert len(statements) == 1
    assert choices["lines"] == [
        {"value": "101", "extension": "101", "number": "+41215550101", "name": "Alice"},
        {"value": "102", "extension": "102", "number": "+41215550102", "name": "Bob"},
        {"value": "+41215550109", "extension": None, "number": "+41215550109", "name": "Fax"},
    ]  # globex's 201 (Carol) is never offered
    assert choices["voicemail"] == "*86101"
    with transaction(engine) as s:
        carol = devices.add_device(s, provider, seed.line_b1, "snom-d785", mac="000413AABBCC")["id"]
        assert [c["value"] for c in keys.key_choices(s, seed.admin_b, carol)["lines"]] == ["201"]


@pytest.mark.parametrize("who", ["admin_b", "user_a2"])
def test_choices_of_a_device_the_actor_may_not_see_are_not_found(engine, provider, seed, phone, who):
    from core.permissions import Actor

    actor = seed.admin_b if who == "admin_b" else Actor("bob", "user", vpbx_id=seed.vpbx_a, line_id=seed.line_a2)
    with pytest.raises(NotFound), transaction(engine) as s:
        keys.key_choices(s, actor, phone)
    with pytest.raises(NotFound), transaction(engine) as s:
        keys.key_choices(s, provider, 999_999)


def test_an_unknown_extension_is_warned_about_and_saved_all_the_same(engine, provider, seed, phone):
    rows = [
        {"index": 1, "type": "blf", "value": "102"},  # Bob: a line of the vPBX
        {"index": 2, "type": "blf", "value": "999"},  # no such extension: a warning
        {"index": 3, "type": "extension", "value": "41215550109"},  # not the number as stored (+)
        {"index": 4, "type": "team", "value": "999"},  # a group number need not be a line
        {"index": 5, "type": "speed_dial", "value": "999"},  # any number
        {"index": 6, "type": "intercom", "value": "+41215550109"},  # pattern aside: a number of the vPBX is known
    ]
    with transaction(engine) as s:
        choices = keys.key_choices(s, seed.user_a1, phone)
    assert keys.unknown_lines(rows, choices) == [(2, "999"), (3, "41215550109")]
    with transaction(engine) as s:  # a warning, not a refusal: free entry stays possible
        saved = keys.replace_keys(s, seed.user_a1, phone, 0, rows[:5])
    assert [k["value"] for k in saved] == ["102", "999", "41215550109", "999", "999"]


def _render(engine, settings, device_id):
    with transaction(engine) as s:
        device = s.scalars(select(Device).where(Device.id == device_id)).one()
        return Renderer(settings).render(device).content.decode()


def test_the_voicemail_key_dials_the_lines_mailbox_on_yealink_and_snom(engine, settings, provider, seed, phone):
    with transaction(engine) as s:
        snom = devices.add_device(s, provider, seed.line_a2, "snom-d785", mac="000413AABBCC")["id"]
        grand = devices.add_device(s, provider, seed.line_a2, "grandstream-grp2614", mac="000B82112233")["id"]
        keys.set_key(s, provider, phone, 1, "voicemail")
        keys.set_key(s, provider, phone, 2, "voicemail", "*55")  # a value of its own is kept
        keys.set_key(s, provider, snom, 1, "voicemail")
        keys.set_key(s, provider, grand, 1, "voicemail")
    yealink = _render(engine, settings, phone)
    assert "linekey.1.type = 12\nlinekey.1.line = 1\nlinekey.1.value = *86101\n" in yealink
    assert "linekey.2.value = *55\n" in yealink
    assert '<fkey idx="0" context="active" label="" perm="R">speed *86102</fkey>' in _render(engine, settings, snom)
    assert '<item name="pks.vpk.1.value">*86102</item>' in _render(engine, settings, grand)

    with transaction(engine) as s:
        before = s.get(Device, snom).config_revision
        assert vpbx.set_voicemail_access(s, seed.admin_a, "acme", "")["voicemail_access"] == ""
        assert s.get(Device, snom).config_revision == before + 1  # the endpoint's cached file is stale
    assert "linekey.1.value = %NULL%" in _render(engine, settings, phone)  # the phone's own voicemail number
    assert ">keyevent F_RETRIEVE</fkey>" in _render(engine, settings, snom)
    with transaction(engine) as s:
        vpbx.set_voicemail_access(s, seed.admin_a, "acme", "#9")
        assert keys.key_choices(s, seed.user_a1, phone)["voicemail"] == "#9101"


def test_only_the_vpbxs_admin_or_the_provider_sets_the_voicemail_access(engine, provider, seed):
    with pytest.raises(NotFound), transaction(engine) as s:
        vpbx.set_voicemail_access(s, seed.admin_b, "acme", "*97")  # another tenant's vPBX: as if missing
    with pytest.raises(PermissionDenied), transaction(engine) as s:
        vpbx.set_voicemail_access(s, seed.user_a1, "acme", "*97")
    with pytest.raises(ValidationError) as err, transaction(engine) as s:
        vpbx.set_voicemail_access(s, provider, "acme", "*97 1")
    assert (err.value.code, err.value.field) == ("voicemail_access_invalid", "voicemail_access")
    with transaction(engine) as s:
        assert [v["voicemail_access"] for v in vpbx.list_vpbx(s, provider)] == ["*86", "*86"]
