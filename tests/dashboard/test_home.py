"""Aperçu (issue 10, point 6): per vPBX the devices that need a look, each count a link to the filtered list;
no stray output. The counts come from core.overview, also checked here against the same data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from core import overview
from core.db import transaction
from core.models import Device, Registration, SecurityEvent
from core.permissions import system_actor
from core.tls import ensure_certificate

NOW = datetime.now(UTC)


@pytest.fixture
def states(world, engine):
    """acme: Alice's desk phone fetched and registered, her softphone never fetched, Bob's desk phone
    changed since its fetch and on a line with a failed SIP auth an hour ago (an old one on Alice's)."""
    with transaction(engine) as s:
        s.execute(
            update(Device)
            .where(Device.id == world.desk_a1)
            .values(
                last_access_at=NOW - timedelta(hours=1), last_access_ip="10.1.1.1", updated_at=NOW - timedelta(days=1)
            )
        )
        s.execute(
            update(Device)
            .where(Device.id == world.desk_a2)
            .values(
                last_access_at=NOW - timedelta(hours=3), last_access_ip="10.1.1.2", updated_at=NOW - timedelta(hours=2)
            )
        )
        s.execute(update(Device).where(Device.id == world.desk_b1).values(
            last_access_at=NOW - timedelta(hours=3), updated_at=NOW - timedelta(days=2)))  # fmt: skip
        s.add(Registration(aor="41215550101@acme.voip.example", contact="sip:101@10.1.1.1:5060",
                           line_id=world.seed.line_a1, source_ip="10.1.1.1", source_port=5060, transport="udp",
                           user_agent="Yealink SIP-T46U 66.86.0.15 80:5e:c0:11:22:33", call_id="c1", cseq=1,
                           expires_at=NOW + timedelta(hours=1)))  # fmt: skip
        s.add(SecurityEvent(at=NOW - timedelta(hours=1), kind="sip_auth_failed", source_ip="45.0.0.1",
                            username="41215550102", line_id=world.seed.line_a2))  # fmt: skip
        s.add(SecurityEvent(at=NOW - timedelta(days=3), kind="sip_auth_failed", source_ip="45.0.0.1",
                            username="41215550101", line_id=world.seed.line_a1))  # fmt: skip
    return world


def test_overview_counts_each_condition_per_vpbx(states, engine):
    with transaction(engine) as s:
        rows = {r["vpbx"]: r for r in overview.vpbx_overview(s, system_actor("t"))}
    acme = rows["acme"]
    assert (acme["lines"], acme["devices"]) == (2, 3)
    assert acme["never_fetched"] == 1  # the softphone
    assert acme["not_registered"] == 2  # softphone and Bob's phone; Alice's desk phone has a binding
    assert acme["alerts"] == 1  # Bob's phone: Alice's failed auth is three days old
    assert acme["pending"] == 1  # Bob's phone
    globex = rows["globex"]
    assert (globex["never_fetched"], globex["not_registered"], globex["alerts"], globex["pending"]) == (0, 1, 0, 0)


def test_aperçu_links_every_count_to_its_list(app, states):
    at = app(states.provider_id)
    links = {(link.label, link.proto.query_string) for link in at.get("page_link")}
    vpbx_a = states.seed.vpbx_a
    assert ("1", f"vpbx={vpbx_a}&show=pending") in links
    assert ("2", f"vpbx={vpbx_a}&show=not_registered") in links
    assert ("1", f"vpbx={vpbx_a}&show=alerts") in links
    assert not at.dataframe  # no table of every line


def test_filtered_list_shows_only_those_devices(app, states, shown):
    at = app(states.provider_id, "pages/home.py", vpbx=str(states.seed.vpbx_a), show="pending")
    text = shown(at)
    assert "Pending changes — acme: 1 device(s)" in text
    assert "Bureau Bob" in text and "Bureau Alice" not in text and "Mobile Alice" not in text
    table = at.dataframe[0].value
    assert list(table["Phones"]) == [f"/phones?line={states.seed.line_a2}"]


def test_a_vpbx_admin_sees_only_its_vpbx(app, states, shown):
    at = app(states.admin_b_id)
    assert "globex" in shown(at) and "acme" not in shown(at)
    at = app(states.admin_b_id, "pages/home.py", vpbx=str(states.seed.vpbx_a), show="pending")
    assert "Bureau Bob" not in shown(at) and not at.dataframe  # another vPBX's list: the overview instead


def test_no_stray_output_under_the_certificate_fingerprint(app, states, settings):
    ensure_certificate(settings)
    at = app(states.admin_a_id)
    assert len(at.code) == 1
    assert not at.get("help_info")  # what an expression statement rendered by magic looks like
