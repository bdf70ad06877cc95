"""The dashboard in a real browser: login, deep links, adding a device, keys, the setup dialog, and a
reboot carried out by the real registrar to a sipp phone (its outcome shown as it happens)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from core import heartbeat
from core.db import make_engine, transaction
from core.models import Device, DeviceCommand, FunctionKey, Registration
from tests.browser.conftest import PASSWORD, ROOT, login, wait_idle
from tests.net import free_port, stop_process, wait_for

pytestmark = pytest.mark.browser


PAGE_PATHS = ["/home", "/phones", "/keys", "/status", "/fraud", "/phonebook"]
PRIVATE = ["Bureau Alice", "805EC0112233", "+41215550101", "Mobile Alice", "000413AABBCC"]


def test_direct_page_urls_on_a_fresh_server_show_no_data(fresh_server, browser):
    """pages/ is served by URL before any session ran st.navigation: each page's guard must hold."""
    for path in PAGE_PATHS:
        context = browser.new_context(locale="en-US")
        page = context.new_page()
        received: list[str] = []
        page.on("websocket", lambda ws, got=received: ws.on("framereceived", lambda f: got.append(str(f))))
        page.goto(f"{fresh_server.url}{path}?line=1&device=1")
        page.wait_for_url(f"**/session/login?next=%2F{path[1:]}")  # the guard sent the tab to the login form
        expect(page.get_by_role("button", name="Log in")).to_be_visible()
        assert received, "the page's script ran (its guard answered over the websocket)"
        for secret in PRIVATE:
            assert all(secret not in frame for frame in received), (path, secret)
            assert secret not in page.content()
        context.close()


def test_login_survives_reload_and_logout_ends_it(page, server):
    page.goto(f"{server.url}/session/login?lang=en")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    page.get_by_label("User name").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.reload()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    wait_idle(page)
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_text("Fraud")).to_have_count(0)  # a user's menu has no fraud page
    nav.get_by_text("Log out").click()
    page.wait_for_url("**/session/login")
    assert not [c for c in page.context.cookies() if c["name"] == "voipadmin_session"]
    page.goto(f"{server.url}/phones")
    page.wait_for_url("**/session/login?next=**")  # still logged out


def test_add_a_device_from_the_catalogue(page, server):
    login(page, server, "alice", "/phones")
    expect(page.get_by_role("heading", name="Phones")).to_be_visible()
    expect(page.locator(".st-key-add_kind").get_by_role("combobox")).to_have_value("Desk phone")  # first kind
    model = page.locator(".st-key-add_model").get_by_role("combobox")
    model.click()
    model.press_sequentially("D785")  # the list is long and virtualised: filter it
    page.get_by_role("option", name="Snom D785").click()
    wait_idle(page)
    page.locator(".st-key-add_0_mac input").fill("00:04:13:00:00:99")
    page.locator(".st-key-add_0_label input").fill("Accueil")
    page.get_by_role("button", name="+ Save").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    expect(page.get_by_test_id("stExpander").filter(has_text="Snom D785 — Accueil")).to_be_visible()
    engine = make_engine(server.db_url)
    with transaction(engine) as s:
        device = s.scalar(select(Device).where(Device.mac == "000413000099"))
        assert device is not None and device.label == "Accueil" and device.model_id == "snom-d785"
    engine.dispose()


def test_edit_a_key_label_in_the_table(page, server):
    login(page, server, "alice", f"/keys?device={server.desk}")
    expect(page.get_by_role("heading", name="Keys")).to_be_visible()
    grid = page.get_by_test_id("stDataFrame").first
    expect(grid).to_be_visible()
    grid.click(position={"x": 20, "y": 35 + 17})  # row 1, "Key" column (rows are 35 px high)
    for _ in range(3):
        page.keyboard.press("ArrowRight")  # to the "Label" column
    page.keyboard.press("Enter")  # opens the cell's editor overlay
    editor = page.locator("textarea.gdg-input")
    expect(editor).to_be_visible()
    editor.fill("Ligne")
    editor.press("Enter")
    expect(editor).to_have_count(0)
    expect(page.get_by_text("Keys changed, not saved yet: 1")).to_be_visible()  # the app has the edit
    wait_idle(page)
    page.locator(f".st-key-save_keys_{server.desk}_0 button").click()
    expect(page.get_by_text("Keys saved.")).to_be_visible()
    engine = make_engine(server.db_url)
    with transaction(engine) as s:
        key = s.scalar(select(FunctionKey).where(FunctionKey.device_id == server.desk, FunctionKey.index == 1))
        assert key is not None and key.label == "Ligne" and key.function == "line"
    engine.dispose()


def test_setup_dialog_shows_url_and_qr_code(page, server):
    login(page, server, "alice", "/phones")
    page.get_by_test_id("stExpander").filter(has_text="Mobile Alice").click()
    page.locator(f".st-key-setup_{server.soft} button").click()
    dialog = page.get_by_test_id("stDialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_test_id("stCode").first).to_contain_text("https://prov.example.net:8448/")
    qr = dialog.get_by_role("img")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.naturalWidth") > 100  # a real PNG, decoded by the browser
    dialog.locator(".st-key-setup_close button").click()
    expect(page.get_by_test_id("stDialog")).to_have_count(0)


SCENARIOS = ROOT / "tests" / "sip" / "scenarios"


def _sipp(scenario: str, csv: Path, port: int, *extra: str) -> list[str]:
    return ["sipp", "-sf", str(SCENARIOS / scenario), "-inf", str(csv), "-i", "127.0.0.1", "-p", str(port),
            "-m", "1", "-nostdin", "-timeout_error", *extra]  # fmt: skip


def test_reboot_of_a_registered_phone_shows_answered(fresh_server, browser, tmp_path):
    """Real registrar on the dashboard's database, sipp as Alice's desk phone (registers, then answers the
    NOTIFY's 401 challenge and the NOTIFY): the page goes from "sent" to "answered (200 OK)"; Bob's
    unregistered phone gets no button and says why."""
    srv = fresh_server
    engine = make_engine(srv.db_url)
    with transaction(engine) as s:
        desk = s.get(Device, srv.desk)
        desk.last_access_ip = "127.0.0.1"  # its config fetch came from the phone's address: the binding is its
        user, password, domain = desk.line.sip_username, desk.line.sip_password, desk.line.vpbx.sip_domain
        bob_line = s.get(Device, srv.bob_desk).line_id
    sip_port, phone_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOIPADMIN_")}
    env.update(HOME=str(tmp_path), VOIPADMIN_DB_URL=srv.db_url, VOIPADMIN_DATA_DIR=str(tmp_path / "data"),
               VOIPADMIN_SIP_NOTIFY_TIMEOUT="4")  # fmt: skip
    log = (tmp_path / "registrar.log").open("wb")
    registrar = subprocess.Popen([sys.executable, "-m", "core.sip", "--host", "127.0.0.1", "--port", str(sip_port)],
                                 cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    uas = None
    try:

        def beating() -> bool:
            with transaction(engine) as s:
                return registrar.poll() is not None or heartbeat.running(s, "sip")

        wait_for(beating, 30, "registrar heartbeat")
        assert registrar.poll() is None, (tmp_path / "registrar.log").read_text()
        creds = tmp_path / "reg.csv"
        creds.write_text(f"SEQUENTIAL\n{user};[authentication username={user} password={password}];{domain}\n")
        register = [*_sipp("reg_auth.xml", creds, phone_port, "-timeout", "15s"), f"127.0.0.1:{sip_port}"]
        reg = subprocess.run(register, cwd=tmp_path, capture_output=True, text=True, timeout=30)
        assert reg.returncode == 0, reg.stdout[-2000:]
        phone = tmp_path / "phone.csv"
        phone.write_text(f"SEQUENTIAL\n{user};{password}\n")
        # The phone's lifetime outlasts every wait below (20 + 30 + 20 + 30 + 20 s); stopped in `finally` anyway.
        uas = subprocess.Popen(_sipp("notify_uas.xml", phone, phone_port, "-timeout", "300s"), cwd=tmp_path,
                               stdout=(tmp_path / "uas.out").open("w"), stderr=subprocess.STDOUT)  # fmt: skip

        def registered() -> bool:
            with transaction(engine) as s:
                return s.scalar(select(Registration.id).where(Registration.line_id == desk.line_id)) is not None

        wait_for(registered, 20, "the registrar's write-behind of the binding")
        context = browser.new_context(locale="en-US")
        page = context.new_page()
        page.set_default_timeout(30_000)
        login(page, srv, "alice", "/status")
        reboot = page.locator(f".st-key-reboot_{srv.desk} button")
        expect(reboot).to_be_visible(timeout=20_000)
        reboot.click()
        expect(page.get_by_text("Reboot: the phone answered (200 OK).")).to_be_visible(timeout=30_000)
        with transaction(engine) as s:
            cmd = s.scalars(select(DeviceCommand)).one()
            assert (cmd.device_id, cmd.action, cmd.state) == (srv.desk, "reboot", "ok")
            assert cmd.result.startswith("200 OK from 127.0.0.1:")
        assert uas.wait(20) == 0
        context.close()
        context = browser.new_context(locale="en-US")
        page = context.new_page()
        page.set_default_timeout(30_000)
        login(page, srv, "support", f"/status?line={bob_line}")
        expect(page.get_by_text("Bureau Bob")).to_be_visible(timeout=20_000)
        expect(page.get_by_text("Reboot, Resync not offered: the phone is not registered.")).to_be_visible()
        expect(page.locator(f".st-key-reboot_{srv.bob_desk}")).to_have_count(0)
        context.close()
    finally:
        for proc in (uas, registrar):
            stop_process(proc)
        log.close()
        engine.dispose()


def test_add_with_a_module_then_the_next_add_starts_empty(page, server):
    """Issue 10: the module was dropped with "Saved.", and the next add failed on the previous MAC."""
    login(page, server, "alice", "/phones")
    model = page.locator(".st-key-add_model").get_by_role("combobox")
    model.click()
    model.press_sequentially("T46U")
    page.get_by_role("option", name="Yealink T46U").click()
    wait_idle(page)
    page.locator(".st-key-add_0_mac input").fill("80:5e:c0:00:01:01")
    page.locator(".st-key-add_0_label input").fill("Standard")
    module = page.locator(".st-key-add_0_exp").get_by_role("combobox")
    module.click()
    page.get_by_role("option", name="Yealink EXP43").click()
    wait_idle(page)
    count = page.locator(".st-key-add_0_exp_n_yealink-exp43 input")
    expect(count).to_have_value("1")
    count.fill("2")
    count.press("Enter")
    wait_idle(page)
    page.get_by_role("button", name="+ Save").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    wait_idle(page)
    expect(page.locator(".st-key-add_1_mac input")).to_have_value("")  # a fresh form for the next phone
    expect(page.locator(".st-key-add_1_label input")).to_have_value("")
    page.locator(".st-key-add_1_mac input").fill("80:5e:c0:00:01:02")
    page.locator(".st-key-add_1_mac input").press("Tab")
    wait_idle(page)
    page.get_by_role("button", name="+ Save").click()
    expect(page.get_by_text("Saved.")).to_be_visible()
    wait_idle(page)
    engine = make_engine(server.db_url)
    with transaction(engine) as s:
        first = s.scalar(select(Device).where(Device.mac == "805EC0000101"))
        second = s.scalar(select(Device).where(Device.mac == "805EC0000102"))
        assert (first.label, first.expansion_model_id, first.expansion_count) == ("Standard", "yealink-exp43", 2)
        assert (second.label, second.expansion_model_id) == ("", None)
    engine.dispose()


def test_unsaved_edits_are_shown_and_guarded_on_leaving(page, server):
    login(page, server, "alice", "/phones")
    dirty = "() => document.querySelector('[data-voipadmin-dirty=\"1\"]') !== null"
    assert page.evaluate(dirty) is False  # nothing edited: leaving asks nothing
    expander = page.get_by_test_id("stExpander").filter(has_text="805EC0112233")
    expander.locator("summary").click()
    label = expander.locator(f"[class*='st-key-edit{server.desk}_'][class*='_label'] input")
    label.fill("Bureau modifié")
    label.press("Tab")
    expect(expander.get_by_text("Unsaved changes.")).to_be_visible()
    wait_idle(page)
    assert page.evaluate(dirty) is True
    page.get_by_role("heading", name="Phones").click()  # a user gesture: Chromium prompts only after one
    with page.expect_event("dialog", timeout=10_000) as prompt:
        page.close(run_before_unload=True)
    assert prompt.value.type == "beforeunload"
    prompt.value.dismiss()


def test_a_label_typed_on_a_key_without_type_is_refused_and_kept(page, server):
    """Issue 10: the label was dropped silently on save. Key 3 of the desk phone has no type."""
    login(page, server, "alice", f"/keys?device={server.desk}")
    grid = page.get_by_test_id("stDataFrame").first
    expect(grid).to_be_visible()
    grid.click(position={"x": 20, "y": 35 * 3 + 17})  # row 3, "Key" column
    for _ in range(3):
        page.keyboard.press("ArrowRight")  # to the "Label" column
    page.keyboard.press("Enter")
    editor = page.locator("textarea.gdg-input")
    expect(editor).to_be_visible()
    editor.fill("Accueil")
    editor.press("Enter")
    expect(page.get_by_text("Keys changed, not saved yet: 1")).to_be_visible()
    wait_idle(page)
    page.locator(f".st-key-save_keys_{server.desk}_0 button").click()
    expect(page.get_by_text("Key 3: choose a key type, or clear its value and label")).to_be_visible()
    expect(page.get_by_text("Keys changed, not saved yet: 1")).to_be_visible()  # the edit is still there
    engine = make_engine(server.db_url)
    with transaction(engine) as s:
        stored = s.scalars(select(FunctionKey.index).where(FunctionKey.device_id == server.desk)).all()
        assert 3 not in stored  # nothing half-saved
    engine.dispose()


def test_switching_device_with_unsaved_keys_asks_first(page, server):
    from core import devices
    from core.permissions import system_actor

    engine = make_engine(server.db_url)
    with transaction(engine) as s:
        line = s.get(Device, server.desk).line_id
        other = devices.add_device(s, system_actor("pytest"), line, "snom-d785", label="Accueil 2")["id"]
    engine.dispose()
    login(page, server, "alice", f"/keys?device={server.desk}")
    grid = page.get_by_test_id("stDataFrame").first
    expect(grid).to_be_visible()
    grid.click(position={"x": 20, "y": 35 + 17})  # row 1, "Key" column
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    editor = page.locator("textarea.gdg-input")
    editor.fill("Pas encore")
    editor.press("Enter")
    expect(page.get_by_text("Keys changed, not saved yet: 1")).to_be_visible()
    wait_idle(page)
    picker = page.locator(".st-key-keys_device").get_by_role("combobox")
    picker.click()
    page.get_by_role("option", name="Snom D785 — Accueil 2").click()
    confirm = page.locator(".st-key-keys_switch_confirm")
    expect(confirm).to_contain_text("1 key(s) changed, not saved. Discard them?")
    expect(picker).to_have_value("Yealink T46U — Bureau Alice")  # still on the edited phone
    expect(page.get_by_text("Keys changed, not saved yet: 1")).to_be_visible()  # and its edit is kept
    confirm.locator(".st-key-keys_discard button").click()
    expect(picker).to_have_value("Snom D785 — Accueil 2")
    expect(page.locator(".st-key-keys_switch_confirm")).to_have_count(0)
    wait_idle(page)
    assert f"device={other}" in page.url.split("?", 1)[1].split("&")  # the URL follows the picker
