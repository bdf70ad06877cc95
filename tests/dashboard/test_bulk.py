"""Import et export (issue 14.6) through AppTest: a check lists every refusal by row and column in the
reader's language and writes nothing; an import writes the devices, with a progress bar; a vPBX
administrator sees only their vPBX to export; an end user has no such page."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.db import transaction
from core.models import Device, FunctionKey
from tests.dashboard.test_one_language import assert_one_language

PAGE = "pages/bulk.py"
BAD = "line,model,mac,keys\n+41215550102,yealink-t46u,zz,1:blf:x\n+41225550201,yealink-t46u,,\n"
GOOD = "line,model,mac,label,keys\n+41215550102,yealink-t46u,805EC0000001,Bulk,1:line;2:blf:101:Alice\n"


def _devices(engine):
    with transaction(engine) as s:
        return s.scalar(select(func.count()).select_from(Device))


def _submit(at, text, button):
    at.text_area(key="bulk_paste").set_value(text)
    at.button(key=button).click().run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_a_check_lists_every_refusal_by_row_and_column_and_writes_nothing(app, world, engine, lang):
    before = _devices(engine)
    at = _submit(app(world.admin_a_id, PAGE, lang=lang), BAD, "bulk_apply")
    table = at.dataframe[0].value
    rows = table.iloc[:, 0].tolist()
    columns = table.iloc[:, 1].tolist()
    assert rows == [2, 2, 3]
    assert columns == (["MAC", "Touches", "Poste"] if lang == "fr" else ["MAC", "Keys", "Extension"])
    assert table.iloc[1, 2] == "1:blf:x"
    errors = table.iloc[:, 3].tolist()
    assert errors[2] == ("poste introuvable" if lang == "fr" else "no such extension")  # globex's: as if missing
    assert at.error[0].value.startswith("3 erreur(s)" if lang == "fr" else "3 error(s)")
    assert _devices(engine) == before
    assert_one_language(at, lang, "bulk with refusals")


def test_check_then_import_with_a_progress_bar(app, world, engine):
    before = _devices(engine)
    at = _submit(app(world.admin_a_id, PAGE, lang="fr"), GOOD, "bulk_check")
    assert at.success[0].value.startswith("1 ligne(s) vérifiée(s) sans erreur")
    assert _devices(engine) == before
    at.button(key="bulk_apply").click().run()
    assert at.success[0].value == "1 appareil(s) importé(s)."
    bars = at.get("progress")
    assert bars and bars[0].proto.value == 100 and "Enregistrement des appareils 1/1" in bars[0].proto.text
    with transaction(engine) as s:
        device = s.scalars(select(Device).where(Device.mac == "805EC0000001")).one()
        assert (device.line.number, device.label) == ("+41215550102", "Bulk")
        assert s.scalar(select(func.count()).select_from(FunctionKey).where(FunctionKey.device_id == device.id)) == 2
    assert _devices(engine) == before + 1


def test_nothing_chosen_says_so(app, world):
    at = app(world.admin_a_id, PAGE)
    at.button(key="bulk_check").click().run()
    assert at.warning[0].value == "Choose a file or paste its content."


def test_an_admin_exports_their_vpbx_only_and_a_user_has_no_page(app, world):
    at = app(world.admin_a_id, PAGE)
    assert at.selectbox(key="bulk_vpbx").options == ["acme"]
    assert at.get("download_button")
    provider = app(world.provider_id, PAGE)
    assert provider.selectbox(key="bulk_vpbx").options == ["acme", "globex"]
    with pytest.raises(ValueError, match="Could not find"):  # not in a user's navigation at all
        app(world.alice_id).switch_page(PAGE)
