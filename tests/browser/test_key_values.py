"""Touches in a real browser (issue 14 point 4): saving one tab keeps what was typed in another, and a value
typed into the vPBX list that is no extension is put on the key with a warning, then saved."""

from __future__ import annotations

from playwright.sync_api import Locator, Page, expect
from sqlalchemy import select

from core import devices
from core.db import make_engine, transaction
from core.models import FunctionKey
from core.permissions import system_actor
from tests.browser.conftest import login, wait_idle


def _type_label(page: Page, panel: Locator, row: int, text: str) -> None:
    grid = panel.get_by_test_id("stDataFrame")
    expect(grid).to_be_visible()
    grid.click(position={"x": 20, "y": 35 * row + 17})  # row `row`, "Key" column (rows are 35 px high)
    for _ in range(3):
        page.keyboard.press("ArrowRight")  # to the "Label" column
    page.keyboard.press("Enter")
    editor = page.locator("textarea.gdg-input")
    expect(editor).to_be_visible()
    editor.fill(text)
    editor.press("Enter")
    expect(editor).to_have_count(0)


def _stored(db_url: str, device_id: int) -> dict[tuple[int, int], tuple[str, str, str]]:
    engine = make_engine(db_url)
    with transaction(engine) as s:
        rows = s.scalars(select(FunctionKey).where(FunctionKey.device_id == device_id)).all()
        out = {(k.module, k.index): (k.function, k.value, k.label) for k in rows}
    engine.dispose()
    return out


def test_saving_one_tab_keeps_the_other_tabs_edits_and_a_free_value_is_warned(fresh_server, browser):
    engine = make_engine(fresh_server.db_url)
    with transaction(engine) as s:
        devices.update_device(s, system_actor("pytest"), fresh_server.desk, expansion="yealink-exp43:1")
    engine.dispose()
    page = browser.new_context(locale="en-US").new_page()
    login(page, fresh_server, "alice", f"/keys?device={fresh_server.desk}")
    phone = page.get_by_role("tabpanel", name="Yealink T46U")
    _type_label(page, phone, 1, "Ligne 1")  # typed on the phone's tab, not saved
    expect(phone.get_by_text("Keys changed, not saved yet: 1")).to_be_visible()
    wait_idle(page)

    page.get_by_role("tab", name="Yealink EXP43 #1").click()
    module = page.get_by_role("tabpanel", name="Yealink EXP43 #1")
    extension = module.locator(f".st-key-keypick_{fresh_server.desk}_1_value").get_by_role("combobox")
    extension.click()
    extension.fill("Bob")  # the list is searched by name too
    page.get_by_role("option", name="102 · Bob").click()
    wait_idle(page)
    module.locator(f".st-key-keypick_{fresh_server.desk}_1_put button").click()  # key 1, BLF: the defaults
    expect(module.get_by_text("Keys changed, not saved yet: 1")).to_be_visible()
    wait_idle(page)
    module.locator(f".st-key-save_keys_{fresh_server.desk}_1 button").click()
    expect(page.get_by_text("Keys saved.")).to_be_visible()
    wait_idle(page)
    assert _stored(fresh_server.db_url, fresh_server.desk)[(1, 1)] == ("blf", "102", "")

    page.get_by_role("tab", name="Yealink T46U").click()
    expect(phone.get_by_text("Keys changed, not saved yet: 1")).to_be_visible()  # the phone's edit survived

    pick = f".st-key-keypick_{fresh_server.desk}_0"
    index = phone.locator(f"{pick}_index").get_by_role("combobox")
    index.click()
    index.fill("4")
    page.get_by_role("option", name="4", exact=True).click()
    wait_idle(page)
    value = phone.locator(f"{pick}_value").get_by_role("combobox")
    value.click()
    value.fill("999")  # no extension of the vPBX: typed as a free value
    value.press("Enter")
    wait_idle(page)
    phone.locator(f"{pick}_put button").click()
    expect(phone.get_by_text("Key 4: extension 999 does not exist in the vPBX (the value is kept).")).to_be_visible()
    expect(phone.get_by_text("Keys changed, not saved yet: 2")).to_be_visible()  # the label typed before, too
    wait_idle(page)
    phone.locator(f".st-key-save_keys_{fresh_server.desk}_0 button").click()
    expect(page.get_by_text("Keys saved.")).to_be_visible()
    stored = _stored(fresh_server.db_url, fresh_server.desk)
    assert stored[(0, 1)] == ("line", "1", "Ligne 1") and stored[(0, 4)] == ("blf", "999", "")
    assert stored[(1, 1)] == ("blf", "102", "")
    page.context.close()
