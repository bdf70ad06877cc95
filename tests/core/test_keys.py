import pytest

from core import devices, keys
from core.db import transaction
from core.errors import NotFound, ValidationError

pytestmark = pytest.mark.db


@pytest.fixture
def phone(engine, provider, seed):
    with transaction(engine) as s:
        return devices.add_device(s, provider, seed.line_a1, "yealink-t46u", expansion="yealink-exp43:1")["id"]


@pytest.mark.parametrize(
    "kw, field",
    [
        ({"index": 0, "type": "blf", "value": "102"}, "index"),
        ({"index": 28, "type": "blf", "value": "102"}, "index"),  # T46U has 27
        ({"index": 61, "type": "blf", "value": "102", "module": 1}, "index"),  # EXP43 has 60
        ({"index": 1, "type": "blf", "value": "102", "module": 2}, "module"),  # one module attached
        ({"index": 1, "type": "teleport", "value": "1"}, "type"),
        ({"index": 1, "type": "line", "value": "", "module": 1}, "type"),  # modules have no line keys
        ({"index": 1, "type": "blf", "value": ""}, "value"),
        ({"index": 1, "type": "blf", "value": "10a"}, "value"),
        ({"index": 1, "type": "speed_dial", "value": "12 34"}, "value"),
        ({"index": 1, "type": "url", "value": "javascript:alert(1)"}, "value"),
        ({"index": 1, "type": "line", "value": "17"}, "value"),  # 16 accounts
        ({"index": 1, "type": "blf", "value": "102", "label": "a\nb"}, "label"),
    ],
)
def test_key_refusals(engine, provider, phone, kw, field):
    with pytest.raises(ValidationError) as err, transaction(engine) as s:
        keys.set_key(s, provider, phone, **kw)
    assert err.value.field == field
    with transaction(engine) as s:
        assert keys.list_keys(s, provider, phone) == []


def test_set_update_clear_and_layout(engine, provider, phone):
    with transaction(engine) as s:
        keys.set_key(s, provider, phone, 1, "speed_dial", "*97", "VM")
        keys.set_key(s, provider, phone, 1, "dtmf", "#1", "")
        keys.set_key(s, provider, phone, 60, "blf", "103", "Fax", module=1)
        assert keys.list_keys(s, provider, phone) == [
            {"module": 0, "index": 1, "type": "dtmf", "value": "#1", "label": ""},
            {"module": 1, "index": 60, "type": "blf", "value": "103", "label": "Fax"},
        ]
        keys.clear_key(s, provider, phone, 1)
        layout = keys.key_layout(s, provider, phone)
    assert [(m["module"], m["keys"]) for m in layout["modules"]] == [(0, 27), (1, 60)]
    assert "line" in layout["modules"][0]["functions"] and "line" not in layout["modules"][1]["functions"]


def test_replace_keys_is_all_or_nothing(engine, provider, phone):
    with transaction(engine) as s:
        keys.set_key(s, provider, phone, 3, "blf", "101")
    rows = [
        {"index": 1, "type": "line", "value": "", "label": "L1"},
        {"index": 2, "type": "", "value": "", "label": ""},
        {"index": 4, "type": "blf", "value": "bad", "label": ""},
    ]
    with pytest.raises(ValidationError) as err, transaction(engine) as s:
        keys.replace_keys(s, provider, phone, 0, rows)
    assert err.value.field == "keys[2].value"
    with transaction(engine) as s:
        assert [k["index"] for k in keys.list_keys(s, provider, phone)] == [3]
    rows[2]["value"] = "104"
    with transaction(engine) as s:
        saved = keys.replace_keys(s, provider, phone, 0, rows)
    assert [(k["index"], k["type"]) for k in saved] == [(1, "line"), (4, "blf")]


def test_keys_of_another_line_are_not_reachable(engine, seed, phone):
    with transaction(engine) as s:
        for call in (keys.list_keys, keys.key_layout):
            with pytest.raises(NotFound):
                call(s, seed.admin_b, phone)
        with pytest.raises(NotFound):
            keys.set_key(s, seed.admin_b, phone, 1, "blf", "101")


def test_a_label_typed_on_a_key_without_a_type_is_refused_not_dropped(engine, provider, phone):
    with transaction(engine) as s:
        keys.set_key(s, provider, phone, 3, "blf", "101")
    rows = [
        {"index": 1, "type": "line", "value": "", "label": "L1"},
        {"index": 5, "type": "", "value": "", "label": "Bob"},
        {"index": 7, "type": None, "value": "102", "label": ""},
    ]
    assert keys.untyped_rows(rows) == [5, 7]
    with pytest.raises(ValidationError) as err, transaction(engine) as s:
        keys.replace_keys(s, provider, phone, 0, rows)
    assert (err.value.code, err.value.field, err.value.params) == ("key_needs_type", "keys[1].type", {"index": 5})
    with transaction(engine) as s:  # nothing written
        assert [k["index"] for k in keys.list_keys(s, provider, phone)] == [3]
