"""Appareil (pages/device.py): one device's parameters, its findings, the manual's buttons and its timeline,
for each role that may see it; every button goes through core as the acting account."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

from core import bans, devices, heartbeat, lines
from core import event_kinds as ek
from core.db import transaction
from core.diagnosis import Diagnosis
from core.models import AccessLog, AuditEvent, Ban, Device, DeviceCommand, Line, RegistrationEvent
from core.permissions import BAN_ROLES, ROLES, system_actor
from dashboard import device_diagnosis
from tests.dashboard.conftest import register, texts
from tests.dashboard.test_one_language import assert_one_language, on_screen


def access_key(engine, device_id: int) -> str | None:
    with transaction(engine) as s:
        device = s.get(Device, device_id)
        assert device is not None
        return device.access_key


def test_provider_sees_the_parameters_and_no_secret(app, world, engine, shown):
    at = app(world.provider_id, "pages/device.py", device=str(world.desk_a1))
    text = shown(at)
    for expected in ("Yealink T46U", "805EC0112233", "Bureau Alice", "+41215550101", "Provisioning MAC",
                     "Last access", "never", "not registered"):  # fmt: skip
        assert expected in text, expected
    key = access_key(engine, world.desk_a1)
    assert key and key not in text  # the URL's key is shown only in Configuration manuelle
    assert at.selectbox(key="device_view_pick").value == world.desk_a1


def test_vpbx_admin_and_end_user_see_their_device(app, world, shown):
    for account in (world.admin_a_id, world.alice_id):
        at = app(account, "pages/device.py", device=str(world.desk_a1))
        assert "Bureau Alice" in shown(at) and "805EC0112233" in shown(at)


def test_a_foreign_device_id_shows_nothing_of_it(app, world, shown):
    for account, foreign in ((world.alice_id, world.desk_a2), (world.admin_a_id, world.desk_b1)):
        at = app(account, "pages/device.py", device=str(foreign))
        text = shown(at)
        assert "No such device." in text
        for secret in ("Bureau Bob", "000413AABBCC", "Carol", "805EC0998877"):
            assert secret not in text, secret
        # The picker falls back on the account's own line.
        assert at.selectbox(key="device_view_pick").value not in (world.desk_a2, world.desk_b1)


def test_without_an_id_a_picker_chooses_the_lines_device(app, world, shown):
    at = app(world.alice_id, "pages/device.py")
    picker = at.selectbox(key="device_view_pick")
    assert picker.options == ["Yealink T46U — Bureau Alice", "IP-Phone IP-Phone app — Mobile Alice"]
    picker.set_value(world.soft_a1).run()
    assert not at.exception
    assert "Mobile Alice" in at.header[0].value
    assert at.query_params["device"] == str(world.soft_a1)  # the URL names the device shown


def test_end_user_gets_a_new_key_for_their_own_device_after_confirming(app, world, engine):
    before = access_key(engine, world.desk_a1)
    at = app(world.alice_id, "pages/device.py", device=str(world.desk_a1))
    at.button(key="dv_new_key").click().run()
    assert access_key(engine, world.desk_a1) == before  # asked first, nothing changed yet
    question = at.warning[0].value
    assert "Yealink T46U — Bureau Alice" in question and "current URL stops working at once" in question
    at.button(key="dv_confirm_yes").click().run()
    assert not at.exception
    assert access_key(engine, world.desk_a1) not in (None, before)
    assert at.success[0].value == "New key made: the old URL no longer answers."
    with transaction(engine) as s:
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "device.new_key"))
        assert event is not None and event.actor == "alice"


def test_cancel_keeps_the_key(app, world, engine):
    before = access_key(engine, world.desk_a1)
    at = app(world.provider_id, "pages/device.py", device=str(world.desk_a1))
    at.button(key="dv_new_key").click().run()
    at.button(key="dv_confirm_no").click().run()
    assert access_key(engine, world.desk_a1) == before and not at.warning


def test_resync_writes_a_command_and_shows_its_outcome(app, world, engine):
    register(engine, world)
    heartbeat.beat(engine, "sip")
    at = app(world.admin_a_id, "pages/device.py", device=str(world.desk_a1))
    assert any("**Registration**: registered" in m.value for m in at.markdown)
    at.button(key="dv_resync").click().run()
    assert not at.exception
    with transaction(engine) as s:
        command = s.scalar(select(DeviceCommand).where(DeviceCommand.device_id == world.desk_a1))
        assert command is not None and command.action == "resync" and command.requested_by == "admin-acme"
        command.state, command.result, command.finished_at = "ok", "200 OK from 192.0.2.10:5062", datetime.now(UTC)
    at.run()
    assert "Resync: the phone answered (200 OK)." in [e.value for e in at.success]


def test_reboot_asks_first_naming_the_phone(app, world, engine):
    register(engine, world)
    heartbeat.beat(engine, "sip")
    at = app(world.provider_id, "pages/device.py", device=str(world.desk_a1))
    at.button(key="dv_reboot").click().run()
    with transaction(engine) as s:
        assert s.scalar(select(DeviceCommand)) is None
    assert "Reboot Yealink T46U — Bureau Alice?" in at.warning[0].value
    at.button(key="dv_confirm_yes").click().run()
    with transaction(engine) as s:
        command = s.scalar(select(DeviceCommand))
        assert command is not None and command.action == "reboot" and command.requested_by == "support"
    assert "Reboot: request sent, waiting for the registrar…" in [e.value for e in at.info]


def test_without_registrar_the_commands_say_why(app, world):
    at = app(world.provider_id, "pages/device.py", device=str(world.desk_a1))
    assert not [b for b in at.button if b.key in ("dv_reboot", "dv_resync")]
    assert any("the registrar is not running" in c.value for c in at.caption)


def test_setup_opens_the_manual_setup_dialog(app, world, engine):
    at = app(world.alice_id, "pages/device.py", device=str(world.soft_a1))
    at.button(key="dv_setup").click().run()
    assert not at.exception
    with transaction(engine) as s:
        url = devices.get_device(s, system_actor("t"), world.soft_a1)["url"]
    assert [c.value for c in at.code] == [url]  # the dialog's URL with its copy button, and nowhere else


# -- the diagnosis: verdict, findings and their buttons, timeline (issue 12 points 3 and 6) --------------

DESK_UA = "Yealink SIP-T46U 108.86.0.20 80:5e:c0:11:22:33"
OTHER_UA = "Yealink SIP-T46U 108.86.0.20 80:5e:c0:99:99:01"  # a phone showing another MAC


def access(engine, device_id: int, ip: str, ua: str, status: int = 200, reason: str = "ok",
           ago: timedelta = timedelta(seconds=30)) -> None:  # fmt: skip
    """One access-log row of the device; a successful one is its last access too (as the endpoint does)."""
    at = datetime.now(UTC) - ago
    with transaction(engine) as s:
        s.add(AccessLog(at=at, source_ip=ip, user_agent=ua, path="/abc…", device_id=device_id, status=status,
                        reason=reason))  # fmt: skip
        if reason == "ok":  # as the endpoint writes it: updated_at is kept (it means "configuration changed")
            s.execute(update(Device).where(Device.id == device_id).values(
                last_access_at=at, last_access_ip=ip, last_access_ua=ua, updated_at=Device.updated_at))  # fmt: skip


def healthy(engine, world) -> None:
    """Alice's desk phone, last changed an hour ago, fetched its file since and is registered."""
    with transaction(engine) as s:
        s.execute(update(Device).where(Device.id == world.desk_a1).values(
            updated_at=datetime.now(UTC) - timedelta(hours=1)))  # fmt: skip
    access(engine, world.desk_a1, "192.0.2.10", DESK_UA)
    register(engine, world)
    heartbeat.beat(engine, "sip", now=datetime.now(UTC) + timedelta(minutes=10))  # a registrar runs (stays fresh)


def block_line(engine, line_id: int) -> None:
    with transaction(engine) as s:
        lines.set_blocked(s, system_actor("t"), line_id, True)


def secrets_of(engine, device_id: int) -> list[str]:
    """The device's passwords and access key, and its line's SIP password."""
    with transaction(engine) as s:
        device = s.get(Device, device_id)
        assert device is not None
        found = [device.access_key, device.admin_password, device.user_password, device.line.sip_password]
    return [v for v in found if v]


def test_a_healthy_device_shows_the_ok_verdict(app, world, engine):
    healthy(engine, world)
    at = app(world.provider_id, "pages/device.py", device=str(world.desk_a1))
    assert [s.value for s in at.success] == ["This phone works: nothing to report."]
    assert not at.error and not [b for b in at.button if (b.key or "").startswith("dv_line_blocked")]


def test_a_faulty_device_shows_its_finding_evidence_button_and_help_link(app, world, engine):
    access(engine, world.desk_a1, "198.51.100.7", OTHER_UA, status=404, reason="key_mac_mismatch")
    at = app(world.provider_id, "pages/device.py", device=str(world.desk_a1))
    assert at.error[0].value == "This phone does not work properly."
    text = texts(at)
    assert "the phone asking for it has MAC address 805EC0999901" in text  # the finding's own words
    assert "Evidence (1)" in [e.label for e in at.expander]
    evidence = next(
        df.value for df in at.dataframe if "Detail" in df.value and "MAC 805EC0999901" in df.value.to_string()
    )
    row = evidence.iloc[0].to_dict()
    assert row["User-Agent"] == OTHER_UA and "phone's MAC 805EC0999901" in row["Detail"]
    assert row["Time"].endswith(" UTC") and len(row["Time"]) == len("2026-11-26 10:00 UTC")  # widgets.when
    assert at.text_input(key="dv_mac_mismatch_mac").value == "805EC0999901"  # the MAC the phone showed
    links = {(p.proto.label, p.proto.query_string) for p in at.page_link}
    assert ("Troubleshooting", "code=mac_mismatch") in links and ("Troubleshooting", "code=never_fetched") in links


def test_fix_mac_saves_the_mac_the_phone_showed(app, world, engine):
    access(engine, world.desk_a1, "198.51.100.7", OTHER_UA, status=404, reason="key_mac_mismatch")
    at = app(world.admin_a_id, "pages/device.py", device=str(world.desk_a1))
    at.button(key="dv_mac_mismatch_fix_mac").click().run()
    assert not at.exception
    with transaction(engine) as s:
        device = s.get(Device, world.desk_a1)
        assert device is not None and device.mac == "805EC0999901"
    assert "MAC saved: the phone can download its configuration." in [e.value for e in at.success]


def test_a_bad_mac_is_refused_next_to_its_field(app, world, engine):
    access(engine, world.desk_a1, "198.51.100.7", OTHER_UA, status=404, reason="key_mac_mismatch")
    at = app(world.provider_id, "pages/device.py", device=str(world.desk_a1), lang="fr")
    at.text_input(key="dv_mac_mismatch_mac").input("zz")
    at.button(key="dv_mac_mismatch_fix_mac").click().run()
    assert len(at.error) == 2 and "MAC" in at.error[1].value  # the verdict, then the refusal in French
    with transaction(engine) as s:
        assert s.get(Device, world.desk_a1).mac == "805EC0112233"  # type: ignore[union-attr]


def test_vpbx_admin_unblocks_after_confirming_and_the_verdict_changes(app, world, engine):
    healthy(engine, world)
    block_line(engine, world.seed.line_a1)
    at = app(world.admin_a_id, "pages/device.py", device=str(world.desk_a1))
    assert at.warning[0].value == "This phone works, but one point needs your attention."
    at.button(key="dv_line_blocked_unblock").click().run()
    with transaction(engine) as s:
        assert s.get(Line, world.seed.line_a1).pstn_blocked  # type: ignore[union-attr]  # asked, not done
    # Nothing enforces the block here (core.call_control): the question says so rather than "unblock calls".
    assert (
        "Lift the block asked for extension +41215550101? It was not enforced: nothing handles calls in this "
        "installation." in texts(at)
    )
    at.button(key="dv_confirm_yes").click().run()
    with transaction(engine) as s:
        assert not s.get(Line, world.seed.line_a1).pstn_blocked  # type: ignore[union-attr]
    assert "This phone works: nothing to report." in [e.value for e in at.success]
    assert "The extension's block request is lifted (it was not enforced)." in [e.value for e in at.success]


def test_end_user_sees_their_verdict_and_timeline_but_cannot_unblock(app, world, engine):
    healthy(engine, world)
    block_line(engine, world.seed.line_a1)
    at = app(world.alice_id, "pages/device.py", device=str(world.desk_a1))
    text = texts(at)
    assert (  # core's words (core.messages): nothing enforces the block in this installation
        "Blocking calls to the public network is asked for line +41215550101; nothing that handles calls enforces it "
        "in this installation: calls are not stopped." in text
    )
    assert "Only the vPBX administrator or support can do this: ask them." in [c.value for c in at.caption]
    assert not [b for b in at.button if "unblock" in (b.key or "")]  # core.permissions.BLOCK_ROLES
    timeline = at.dataframe[-1].value
    assert list(timeline["Kind"]) == ["SIP registration", "Configuration fetch"]  # newest first
    assert list(timeline["Address"]) == ["192.0.2.10:5062", "192.0.2.10"]


OFFICE = "192.0.2.10"  # the address healthy() gives Alice's desk phone (its fetch and its binding)
ACCOUNT_OF_ROLE = {"provider": "provider_id", "vpbx_admin": "admin_a_id", "user": "alice_id"}


def ban(engine, ip: str, scope: str, hours: float = 1) -> None:
    with transaction(engine) as s:
        s.add(Ban(source_ip=ip, scope=scope, reason="5 failed SIP authentications",
                  expires_at=datetime.now(UTC) + timedelta(hours=hours)))  # fmt: skip


def banned_office(engine, world) -> None:
    """Alice's healthy desk phone behind an office address banned for SIP and for everything (one finding),
    an expired ban of it, and another address's ban that lifting the office's must leave alone."""
    healthy(engine, world)
    ban(engine, OFFICE, "sip")
    ban(engine, OFFICE, "all", hours=2)
    ban(engine, OFFICE, "sip", hours=-1)
    ban(engine, "203.0.113.99", "all")


def bans_of(engine) -> list[tuple[str, str, bool]]:
    with transaction(engine) as s:
        now = datetime.now(UTC)
        return [(b.source_ip, b.scope, b.expires_at > now) for b in s.scalars(select(Ban).order_by(Ban.id))]


def lift_audit(engine) -> list[tuple[str, str | None]]:
    with transaction(engine) as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action == "ban.lift")).all()
        return [(e.actor, e.target_id) for e in rows]


def unban_buttons(at) -> list[str]:
    return [b.key for b in at.button if "unban" in (b.key or "")]


@pytest.mark.parametrize("role", ROLES)
def test_the_unban_button_is_drawn_for_the_roles_core_lets_lift(app, world, engine, role):
    banned_office(engine, world)
    at = app(getattr(world, ACCOUNT_OF_ROLE[role]), "pages/device.py", device=str(world.desk_a1))
    # Every role reads the one finding of the address, its scopes in words, until the later of its two bans.
    assert f"The phone's address {OFFICE} is banned (SIP and provisioning) until" in texts(at)
    assert texts(at).count(f"The phone's address {OFFICE} is banned") == 1
    if role in BAN_ROLES:  # core.permissions.BAN_ROLES, as core.bans.lift_ban checks it
        assert unban_buttons(at) == ["dv_source_banned_unban"]
    else:
        assert unban_buttons(at) == []
        assert "Only the vPBX administrator or support can do this: ask them." in [c.value for c in at.caption]


def test_provider_lifts_the_ban_after_confirming_and_the_verdict_changes(app, world, engine):
    banned_office(engine, world)
    before = bans_of(engine)
    at = app(world.provider_id, "pages/device.py", device=str(world.desk_a1))
    assert at.error[0].value == "This phone does not work properly."
    at.button(key="dv_source_banned_unban").click().run()
    assert bans_of(engine) == before and lift_audit(engine) == []  # asked, not done
    assert f"Lift the ban on address {OFFICE}? If it fails again, it gets banned again." in texts(at)
    at.button(key="dv_confirm_yes").click().run()
    assert not at.exception
    # Every active ban of the address went (both scopes); its expired row and the other address's stay.
    assert bans_of(engine) == [(OFFICE, "sip", False), ("203.0.113.99", "all", True)]
    assert lift_audit(engine) == [("support", OFFICE)]
    assert f"Ban on address {OFFICE} lifted (2 ban(s) removed)." in [e.value for e in at.success]
    assert "This phone works: nothing to report." in [e.value for e in at.success]
    assert unban_buttons(at) == [] and "is banned" not in texts(at)


def test_cancel_keeps_the_ban(app, world, engine):
    banned_office(engine, world)
    before = bans_of(engine)
    at = app(world.provider_id, "pages/device.py", device=str(world.desk_a1))
    at.button(key="dv_source_banned_unban").click().run()
    at.button(key="dv_confirm_no").click().run()
    assert bans_of(engine) == before and lift_audit(engine) == [] and not at.warning
    assert unban_buttons(at) == ["dv_source_banned_unban"]


def test_vpbx_admin_lifts_the_ban_of_its_phones_address_and_the_finding_goes(app, world, engine):
    banned_office(engine, world)
    at = app(world.admin_a_id, "pages/device.py", device=str(world.desk_a1))
    at.button(key="dv_source_banned_unban").click().run()
    at.button(key="dv_confirm_yes").click().run()
    assert not at.exception
    assert [(ip, live) for ip, _, live in bans_of(engine) if ip == OFFICE] == [(OFFICE, False)]
    assert lift_audit(engine) == [("admin-acme", OFFICE)]
    assert "This phone works: nothing to report." in [e.value for e in at.success]
    assert "is banned" not in texts(at) and unban_buttons(at) == []


def test_a_ban_lifted_meanwhile_is_said_in_french(app, world, engine):
    """Someone else lifts it between the question and the confirmation: core's refusal, in the reader's words."""
    banned_office(engine, world)
    at = app(world.admin_a_id, "pages/device.py", device=str(world.desk_a1), lang="fr")
    at.button(key="dv_source_banned_unban").click().run()
    assert f"Lever le bannissement de l'adresse {OFFICE} ?" in texts(at)
    with transaction(engine) as s:
        bans.lift_ban(s, system_actor("t"), OFFICE)
    at.button(key="dv_confirm_yes").click().run()
    assert not at.exception
    assert any(f"l'adresse {OFFICE} n'est pas bannie" in e.value for e in at.error), [e.value for e in at.error]
    assert lift_audit(engine) == [("system:t", OFFICE)]  # the dashboard's attempt changed nothing


def test_a_device_of_another_line_or_vpbx_shows_no_diagnosis(app, world, engine):
    access(engine, world.desk_a2, "203.0.113.5", "Snom D785 bob-secret-ua", status=404, reason="unknown_file")
    access(engine, world.desk_b1, "203.0.113.6", "Yealink carol-secret-ua", status=404, reason="unknown_file")
    for account, foreign in ((world.alice_id, world.desk_a2), (world.admin_a_id, world.desk_b1)):
        at = app(account, "pages/device.py", device=str(foreign))
        text = texts(at)
        assert "No such device." in text
        assert "203.0.113" not in text and "secret-ua" not in text


def test_the_timeline_filters_change_the_rows(app, world, engine):
    access(engine, world.desk_a1, "192.0.2.10", DESK_UA, ago=timedelta(minutes=1))
    access(engine, world.desk_a1, "198.51.100.7", OTHER_UA, status=404, reason="key_mac_mismatch")
    with transaction(engine) as s:
        s.add(RegistrationEvent(event=ek.REG_AUTH_FAILED, source_ip="203.0.113.9", source_port=5060,
                                user_agent="friendly-scanner", line_id=world.seed.line_a1))  # fmt: skip
    at = app(world.provider_id, "pages/device.py", device=str(world.desk_a1))
    kinds = at.multiselect(key=f"dv_tl_kinds_{world.desk_a1}")
    assert set(kinds.options) == {"Configuration fetch", "Refusal", "Failed SIP authentication"}
    assert len(at.dataframe[-1].value) == 3
    kinds.set_value(["refusal"]).run()
    assert list(at.dataframe[-1].value["Address"]) == ["198.51.100.7"]
    assert "1 of 3 event(s)." in [c.value for c in at.caption]
    kinds.set_value([]).run()
    at.text_input(key=f"dv_tl_q_{world.desk_a1}").input("scanner").run()
    assert list(at.dataframe[-1].value["Kind"]) == ["Failed SIP authentication"]
    assert list(at.dataframe[-1].value["Address"]) == ["203.0.113.9:5060"]


def test_the_csv_has_the_filtered_rows_and_no_secret(app, world, engine, monkeypatch):
    saved: list[tuple[bytes, str | None]] = []
    original = MemoryMediaFileStorage.load_and_get_id

    def keep(self, path_or_data, mimetype, kind, filename=None):  # the real storage, watched
        if mimetype == "text/csv":
            saved.append((path_or_data, filename))
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)
    healthy(engine, world)
    access(engine, world.desk_a1, "198.51.100.7", OTHER_UA, status=404, reason="key_mac_mismatch")
    at = app(world.provider_id, "pages/device.py", device=str(world.desk_a1), lang="fr")
    at.text_input(key=f"dv_tl_q_{world.desk_a1}").input("198.51").run()
    data, name = saved[-1]
    assert name == f"device-{world.desk_a1}-timeline.csv"
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"))))
    assert [(r["Type"], r["Adresse"], r["User-Agent"]) for r in rows] == [("Refus", "198.51.100.7", OTHER_UA)]
    assert rows[0]["Heure (UTC)"].endswith("+00:00") and "clé présentée" in rows[0]["Détail"]
    shown = "\n".join(on_screen(at))
    for secret in secrets_of(engine, world.desk_a1):
        assert secret not in data.decode("utf-8") and secret not in shown, "a secret is shown"
    at.text_input(key=f"dv_tl_q_{world.desk_a1}").input("").run()
    assert len(list(csv.DictReader(io.StringIO(saved[-1][0].decode("utf-8"))))) == 3  # fetch, refusal, binding


def test_an_unknown_timeline_kind_is_shown_by_its_name():
    row = {"at": "2026-11-26T10:00:00+00:00", "kind": "teleport", "source_ip": "192.0.2.1", "user_agent": "x",
           "hops": 3, "sip_password": "hunter2hunter2"}  # fmt: skip
    diagnosis = Diagnosis(7, "ok", (), (row,))
    rows = device_diagnosis.timeline_rows(diagnosis)
    assert device_diagnosis.kind_label(rows[0]["kind"]) == "teleport" and rows[0]["detail"] == "hops: 3"


@pytest.mark.parametrize("lang", ("fr", "en"))
def test_findings_evidence_and_timeline_speak_one_language(app, world, engine, lang):
    healthy(engine, world)
    block_line(engine, world.seed.line_a1)
    access(engine, world.desk_a1, "198.51.100.7", OTHER_UA, status=404, reason="key_mac_mismatch")
    access(engine, world.desk_a1, "198.51.100.8", "curl/8", status=404, reason="unknown_file")
    with transaction(engine) as s:
        s.add(DeviceCommand(device_id=world.desk_a1, action="reboot", requested_by="t", state="timeout",
                            result="no answer", requested_at=datetime.now(UTC)))  # fmt: skip
    for account in (world.provider_id, world.alice_id):
        at = app(account, "pages/device.py", device=str(world.desk_a1), lang=lang)
        assert len(at.dataframe) == 3  # mac_mismatch and reboot_failed evidence (drawn folded), the timeline
        assert_one_language(at, lang, f"device view as {account}")
