import json

import pytest
from sqlalchemy import select

from core import lines, vpbx
from core.db import transaction
from core.errors import NotFound, PermissionDenied, ValidationError
from core.models import AuditEvent, Line

pytestmark = pytest.mark.db


def test_add_line_generates_strong_sip_password_once(engine, provider, seed):
    with transaction(engine) as s:
        result = lines.add_line(s, provider, "acme", "+41 21 555 01 99", extension="199", display_name="Zoé")
    assert result["line"]["number"] == "+41215550199"
    assert result["line"]["sip_username"] == "41215550199"
    assert len(result["sip_password"]) == 24
    with transaction(engine) as s:
        view = lines.get_line(s, provider, "+41215550199")
        assert "sip_password" not in json.dumps(view)
        assert result["sip_password"] not in json.dumps(view)
        audit = s.scalars(select(AuditEvent.detail)).all()
    assert not any(result["sip_password"] in d for d in audit)


def test_given_sip_password_is_kept_and_not_echoed(engine, provider, seed):
    with transaction(engine) as s:
        result = lines.add_line(s, provider, "acme", "+41215550150", sip_password="Given-Passw0rd")
        assert result["sip_password"] is None
        assert s.scalar(select(Line.sip_password).where(Line.number == "+41215550150")) == "Given-Passw0rd"


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"number": "12"}, "number"),
        ({"number": "+41215550101"}, "number"),  # taken
        ({"number": "+41215550160", "extension": "101"}, "extension"),  # taken in acme
        ({"number": "+41215550160", "extension": "1x"}, "extension"),
        ({"number": "+41215550160", "display_name": "a\nb"}, "name"),
        ({"number": "+41215550160", "sip_password": "short"}, "sip_password"),
    ],
)
def test_add_line_refusals_name_the_field(engine, provider, seed, kwargs, field):
    with pytest.raises(ValidationError) as err, transaction(engine) as s:
        lines.add_line(s, provider, "acme", **kwargs)
    assert err.value.field == field
    with transaction(engine) as s:
        assert s.scalar(select(Line).where(Line.number == "+41215550160")) is None


def test_extension_may_repeat_across_vpbx(engine, provider, seed):
    with transaction(engine) as s:
        assert lines.add_line(s, provider, "globex", "+41225550299", extension="101")["line"]["extension"] == "101"


def test_roles_on_lines(engine, seed):
    with transaction(engine) as s:
        assert {r["number"] for r in lines.list_lines(s, seed.admin_a)} == {"+41215550101", "+41215550102"}
        assert [r["number"] for r in lines.list_lines(s, seed.user_a1)] == ["+41215550101"]
        with pytest.raises(NotFound):
            lines.get_line(s, seed.user_a1, "+41215550102")
        with pytest.raises(NotFound):
            lines.get_line(s, seed.admin_a, "+41225550201")
        with pytest.raises(NotFound):
            lines.add_line(s, seed.admin_a, "globex", "+41225550300")
        with pytest.raises(PermissionDenied):
            lines.add_line(s, seed.user_a1, "acme", "+41215550300")
        with pytest.raises(PermissionDenied):
            lines.line_credentials(s, seed.user_a1, "+41215550101")
        with pytest.raises(PermissionDenied):
            vpbx.add_vpbx(s, seed.admin_a, "other", "other.example")


def test_credentials_are_audited_without_the_password(engine, seed):
    with transaction(engine) as s:
        creds = lines.line_credentials(s, seed.admin_a, "+41215550101")
    assert set(creds) >= {"sip_username", "domain", "sip_password"}
    with transaction(engine) as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "line.credentials.read")).all()
    assert [e.actor for e in events] == ["admin-acme"]
    assert creds["sip_password"] not in events[0].detail


def test_new_sip_credentials_and_block(engine, provider, seed):
    with transaction(engine) as s:
        before = lines.line_credentials(s, provider, seed.line_a1)["sip_password"]
        out = lines.new_sip_credentials(s, seed.admin_a, seed.line_a1)
        assert out["changed"] and "sip_password" not in out["line"]
        assert lines.line_credentials(s, provider, seed.line_a1)["sip_password"] != before
        assert lines.set_blocked(s, seed.admin_a, seed.line_a1, True)["pstn_blocked"] is True
        with pytest.raises(PermissionDenied):
            lines.set_blocked(s, seed.user_a1, seed.line_a1, False)


def test_vpbx_validation(engine, provider):
    with transaction(engine) as s:
        vpbx.add_vpbx(s, provider, "one", "one.example")
    for name, domain, field in (("one", "x.example", "name"), ("two", "one.example", "domain"), ("t", "bad", "domain")):
        with pytest.raises(ValidationError) as err, transaction(engine) as s:
            vpbx.add_vpbx(s, provider, name, domain)
        assert err.value.field == field


def _numbers(found):
    return [line["number"] for line in found]


def test_search_lines_by_number_extension_name_and_vpbx(engine, provider, seed):
    with transaction(engine) as s:
        assert _numbers(lines.search_lines(s, provider, "+41 21 555 01 02")) == ["+41215550102"]
        assert _numbers(lines.search_lines(s, provider, "021 555 01 02")) == ["+41215550102"]  # national form
        assert _numbers(lines.search_lines(s, provider, "10")) == ["+41215550101", "+41215550102"]  # extension prefix
        assert _numbers(lines.search_lines(s, provider, "carol")) == ["+41225550201"]  # name, any case
        assert _numbers(lines.search_lines(s, provider, "GLOB")) == ["+41225550201"]  # vPBX
        assert _numbers(lines.search_lines(s, provider, "acme bob")) == ["+41215550102"]  # every word matches
        assert lines.search_lines(s, provider, "100%") == []  # LIKE wildcards are plain characters
        assert lines.search_lines(s, provider, "acme", limit=1)[0]["devices"] == 0


def test_search_lines_sees_only_what_the_actor_may(engine, seed):
    with transaction(engine) as s:
        assert _numbers(lines.search_lines(s, seed.admin_a, "")) == ["+41215550101", "+41215550102"]
        assert lines.search_lines(s, seed.admin_a, "carol") == []  # globex's line
        assert _numbers(lines.search_lines(s, seed.user_a1, "")) == ["+41215550101"]
        assert lines.search_lines(s, seed.user_a1, "bob") == []
        assert lines.visible_line(s, seed.admin_a, seed.line_b1) is None
        assert lines.visible_line(s, seed.admin_b, seed.line_b1)["number"] == "+41225550201"
