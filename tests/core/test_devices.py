import json

import pytest
from sqlalchemy import func, select

from core import devices, keys
from core.db import transaction
from core.errors import NotFound, ValidationError
from core.models import AuditEvent, Device, RedirectionJob

pytestmark = pytest.mark.db


def _add(engine, actor, line, model, **kw):
    with transaction(engine) as s:
        return devices.add_device(s, actor, line, model, **kw)


def _row(engine, device_id):
    with transaction(engine) as s:
        return s.get(Device, device_id)


def test_add_desk_phone_with_all_parameters(engine, provider, seed):
    d = _add(engine, provider, seed.line_a1, "yealink-t46u", mac="80:5e:c0:aa:bb:cc", admin_password="1234",
             username="alice", user_password="987654321", label="Desk", expansion="yealink-exp43:2")  # fmt: skip
    assert d["mac"] == "805EC0AABBCC"
    assert d["provisioning_mac"] == "no"
    assert d["kind"] == "desk_phone"
    assert d["expansion"] == {"model": "yealink-exp43", "count": 2}
    assert d["url"].startswith("https://prov.example.net:8448/") and d["url"].endswith(".cfg")
    key = d["url"].rsplit("/", 1)[1][:-4]
    assert len(key) == 48 and all(c in "0123456789abcdef" for c in key)
    row = _row(engine, d["id"])
    assert (row.admin_password, row.user_password) == ("1234", "987654321")
    assert "1234" not in json.dumps(d) and "987654321" not in json.dumps(d)


def test_generated_passwords_never_leave_core(engine, provider, seed):
    d = _add(engine, provider, seed.line_a1, "yealink-t46u")
    row = _row(engine, d["id"])
    assert len(row.admin_password) == 40 and row.admin_password.isdigit()
    assert row.admin_password_generated and row.user_password_generated
    dumped = json.dumps(d)
    assert row.admin_password not in dumped and row.user_password not in dumped
    with transaction(engine) as s:
        details = " ".join(s.scalars(select(AuditEvent.detail)).all())
    assert row.admin_password not in details and row.user_password not in details


@pytest.mark.parametrize(
    "model, kw, field",
    [
        ("yealink-t46u", {"mac": "nothex123456"}, "mac"),
        ("yealink-t46u", {"admin_password": "12"}, "admin_password"),
        ("yealink-t46u", {"user_password": "12345678901"}, "user_password"),
        ("yealink-t46u", {"provisioning_mac": "once"}, "provisioning_mac"),  # no MAC
        ("yealink-t46u", {"provisioning_mac": "done", "mac": "805EC0000001"}, "provisioning_mac"),
        ("yealink-t46u", {"expansion": "yealink-exp43:4"}, "expansion"),
        ("yealink-t46u", {"expansion": "snom-d7:1"}, "expansion"),
        ("yealink-t46u", {"base": 1}, "base"),
        ("yealink-w56h", {}, "base"),
        ("no-such-model", {}, "model"),
        ("yealink-exp43", {}, "model"),
        ("yealink-t46u", {"label": "x" * 101}, "label"),
    ],
)
def test_add_device_refusals(engine, provider, seed, model, kw, field):
    with pytest.raises(ValidationError) as err:
        _add(engine, provider, seed.line_a1, model, **kw)
    assert err.value.field == field
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(Device)) == 0  # nothing half-written


def test_mac_unique_among_devices(engine, provider, seed):
    _add(engine, provider, seed.line_a1, "yealink-t46u", mac="805EC0000001")
    with pytest.raises(ValidationError) as err:  # within one vPBX (across vPBXs: tests/core/test_mac_tenants.py)
        _add(engine, provider, seed.line_a2, "snom-d785", mac="80-5E-C0-00-00-01")
    assert (err.value.field, err.value.code, err.value.params) == ("mac", "mac_taken", {"mac": "805EC0000001"})


def test_handset_rules(engine, provider, seed):
    base = _add(engine, provider, seed.line_a1, "yealink-w70b", mac="805EC0000002")
    other_vpbx_base = _add(engine, provider, seed.line_b1, "yealink-w70b", mac="805EC0000003")
    h = _add(engine, provider, seed.line_a1, "yealink-w56h", base=base["id"])
    assert h["url"] is None and h["base_station"] == base["id"]
    with pytest.raises(ValidationError) as err:  # other lines of the vPBX: tests/core/test_dect.py
        _add(engine, provider, seed.line_a1, "yealink-w56h", base=other_vpbx_base["id"])
    assert err.value.code == "base_unknown"
    desk = _add(engine, provider, seed.line_a1, "yealink-t46u")
    with pytest.raises(ValidationError) as err:
        _add(engine, provider, seed.line_a1, "yealink-w56h", base=desk["id"])
    assert err.value.field == "base"
    with transaction(engine) as s:
        assert [b["id"] for b in devices.compatible_bases(s, provider, seed.line_a1, "yealink-w56h")] == [base["id"]]
        assert devices.get_device(s, provider, base["id"])["handsets"] == [h["id"]]
        with pytest.raises(ValidationError) as err:
            devices.delete_device(s, provider, base["id"])
        assert err.value.code == "base_has_handsets"


def test_handset_limit_of_the_base(engine, provider, seed):
    from core.catalogue import default_catalogue

    base = _add(engine, provider, seed.line_a1, "yealink-w70b")
    limit = default_catalogue().get("yealink-w70b").max_handsets
    for _ in range(limit):
        _add(engine, provider, seed.line_a1, "yealink-w56h", base=base["id"])
    with pytest.raises(ValidationError) as err:
        _add(engine, provider, seed.line_a1, "yealink-w56h", base=base["id"])
    assert (err.value.field, err.value.code, err.value.params) == ("base", "base_full", {"max": limit})


def test_handset_change_bumps_base_revision(engine, provider, seed):
    base = _add(engine, provider, seed.line_a1, "yealink-w70b")
    before = _row(engine, base["id"]).config_revision
    h = _add(engine, provider, seed.line_a1, "yealink-w56h", base=base["id"])
    with transaction(engine) as s:
        devices.update_device(s, provider, h["id"], label="Cuisine")
    assert _row(engine, base["id"]).config_revision >= before + 2


def test_new_key_keeps_function_keys_and_replaces_key(engine, provider, seed):
    d = _add(engine, provider, seed.line_a1, "yealink-t46u")
    with transaction(engine) as s:
        keys.set_key(s, provider, d["id"], 2, "blf", "102", "Bob")
        fresh = devices.new_key(s, provider, d["id"])
    assert fresh["url"] != d["url"]
    with transaction(engine) as s:
        assert keys.list_keys(s, provider, d["id"]) == [
            {"module": 0, "index": 2, "type": "blf", "value": "102", "label": "Bob"}
        ]
        old_key = d["url"].rsplit("/", 1)[1][:-4]
        assert s.scalar(select(Device.id).where(Device.access_key == old_key)) is None


def test_provisioning_mac_cycle_and_redirection_outbox(engine, provider, seed):
    d = _add(engine, provider, seed.line_a1, "yealink-t46u", mac="805EC0000009", provisioning_mac="once")
    with transaction(engine) as s:
        with pytest.raises(ValidationError):
            devices.provisioning_once_more(s, provider, d["id"])  # still once
        s.get(Device, d["id"]).provisioning_mac = "done"  # what the endpoint does on the first key fetch
    with transaction(engine) as s:
        assert devices.provisioning_once_more(s, provider, d["id"])["provisioning_mac"] == "once"
        jobs = s.scalars(select(RedirectionJob.action).where(RedirectionJob.device_id == d["id"])).all()
    assert jobs == ["register", "register"]
    with transaction(engine) as s:
        devices.update_device(s, provider, d["id"], provisioning_mac="no")
        assert s.scalars(select(RedirectionJob.action).order_by(RedirectionJob.id)).all()[-1] == "withdraw"
        with pytest.raises(ValidationError):
            devices.update_device(s, provider, d["id"], provisioning_mac="done")


def test_update_device_passwords(engine, provider, seed):
    d = _add(engine, provider, seed.line_a1, "yealink-t46u", admin_password="1111")
    with transaction(engine) as s:
        devices.update_device(s, provider, d["id"], admin_password="", user_password="5555")
    row = _row(engine, d["id"])
    assert len(row.admin_password) == 40 and row.admin_password_generated
    assert row.user_password == "5555" and not row.user_password_generated
    with pytest.raises(ValidationError) as err, transaction(engine) as s:
        devices.update_device(s, provider, d["id"], user_password="12", label="kept?")
    assert err.value.field == "user_password"
    assert _row(engine, d["id"]).label == ""  # the whole change was rolled back


def test_reducing_modules_drops_their_keys(engine, provider, seed):
    d = _add(engine, provider, seed.line_a1, "yealink-t46u", expansion="yealink-exp43:2")
    with transaction(engine) as s:
        keys.set_key(s, provider, d["id"], 5, "blf", "102", module=2)
        keys.set_key(s, provider, d["id"], 5, "blf", "102", module=1)
        devices.update_device(s, provider, d["id"], expansion="yealink-exp43:1")
        assert [(k["module"], k["index"]) for k in keys.list_keys(s, provider, d["id"])] == [(1, 5)]


def test_roles_on_devices(engine, provider, seed):
    d_a1 = _add(engine, provider, seed.line_a1, "yealink-t46u")
    d_b1 = _add(engine, provider, seed.line_b1, "snom-d785")
    with transaction(engine) as s:
        assert [d["id"] for d in devices.list_devices(s, seed.user_a1)] == [d_a1["id"]]
        assert [d["id"] for d in devices.list_devices(s, seed.admin_b)] == [d_b1["id"]]
        for actor, device_id in ((seed.user_a1, d_b1["id"]), (seed.admin_a, d_b1["id"]), (seed.admin_b, d_a1["id"])):
            for call in (devices.get_device, devices.new_key, devices.delete_device):
                with pytest.raises(NotFound):
                    call(s, actor, device_id)
            with pytest.raises(NotFound):
                devices.update_device(s, actor, device_id, label="x")
        with pytest.raises(NotFound):
            devices.add_device(s, seed.user_a1, seed.line_a2, "yealink-t46u")
        # a user may manage its own line's device
        assert devices.update_device(s, seed.user_a1, d_a1["id"], label="mine")["label"] == "mine"


def test_manual_steps_and_redirection_state_are_scoped(engine, provider, seed):
    d = _add(engine, provider, seed.line_a1, "yealink-t46u", mac="805EC0000077", provisioning_mac="once")
    with transaction(engine) as s:
        steps = devices.manual_steps(s, seed.user_a1, d["id"], "fr")
        assert d["url"].rsplit("/", 1)[1][:48] in steps
        assert devices.redirection_state(s, seed.user_a1, d["id"])[0]["action"] == "register"
        for call in (devices.redirection_state, lambda s_, a, i: devices.manual_steps(s_, a, i, "en")):
            with pytest.raises(NotFound):
                call(s, seed.admin_b, d["id"])


@pytest.mark.parametrize("spec", ["yealink-exp43:0", "yealink-exp43:00"])
def test_a_named_module_with_no_count_is_refused_not_dropped(engine, provider, seed, spec):
    """Issue 10: the add form sent `MODULE:0` and the phone was saved without its module."""
    with pytest.raises(ValidationError) as err:
        _add(engine, provider, seed.line_a1, "yealink-t46u", expansion=spec)
    assert err.value.field == "expansion" and "1 to 3" in err.value.message
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(Device)) == 0  # nothing half-written
    d = _add(engine, provider, seed.line_a1, "yealink-t46u", expansion="yealink-exp43:3")
    assert d["expansion"] == {"model": "yealink-exp43", "count": 3}


@pytest.mark.parametrize(
    "model, present, absent",
    [
        ("yealink-t46u", {"mac", "provisioning_mac", "admin_password", "expansion", "label"}, {"base"}),
        ("linphone-ipphone", {"admin_password", "user_password", "label"}, {"mac", "provisioning_mac", "expansion"}),
        ("webphone", {"label"}, {"mac", "admin_password", "user_password", "username", "provisioning_mac"}),
        ("yealink-w56h", {"base", "admin_password"}, {"mac", "provisioning_mac", "expansion"}),
    ],
)
def test_model_fields_follow_the_catalogue(model, present, absent):
    from core.catalogue import default_catalogue

    fields = devices.model_fields(default_catalogue().get(model))
    assert present <= fields and not (absent & fields)


@pytest.mark.parametrize(
    "model, kw, field",
    [
        ("linphone-ipphone", {"mac": "805EC0000077"}, "mac"),
        ("webphone", {"admin_password": "1234"}, "admin_password"),
        ("webphone", {"user_password": "1234"}, "user_password"),
    ],
)
def test_a_field_the_model_does_not_take_is_refused(engine, provider, seed, model, kw, field):
    with pytest.raises(ValidationError) as err:
        _add(engine, provider, seed.line_a1, model, **kw)
    assert err.value.field == field
    d = _add(engine, provider, seed.line_a1, model)
    with pytest.raises(ValidationError) as err, transaction(engine) as s:
        devices.update_device(s, provider, d["id"], **kw)
    assert err.value.field == field


def _key_of(engine, device_id):
    with transaction(engine) as s:
        return s.scalar(select(Device.access_key).where(Device.id == device_id))


def _retired(engine):
    from core.models import RetiredKey

    with transaction(engine) as s:
        return [(r.key_hash, r.device_id, r.retired_at) for r in s.scalars(select(RetiredKey).order_by(RetiredKey.id))]


def test_new_key_keeps_only_the_hash_of_the_key_it_retires(engine, provider, seed):
    import hashlib
    from datetime import UTC, datetime, timedelta

    d = _add(engine, provider, seed.line_a1, "yealink-t46u")
    first = _key_of(engine, d["id"])
    with transaction(engine) as s:
        devices.new_key(s, provider, d["id"])
    second = _key_of(engine, d["id"])
    with transaction(engine) as s:
        devices.new_key(s, provider, d["id"])
    retired = _retired(engine)
    # The SHA-256 hex of each replaced key (computed here independently), never the key itself.
    assert [(h, dev) for h, dev, _ in retired] == [
        (hashlib.sha256(first.encode()).hexdigest(), d["id"]),
        (hashlib.sha256(second.encode()).hexdigest(), d["id"]),
    ]
    assert all(datetime.now(UTC) - at < timedelta(minutes=1) for _, _, at in retired)
    with transaction(engine) as s:
        details = " ".join(s.scalars(select(AuditEvent.detail).where(AuditEvent.action == "device.new_key")))
    assert first not in details and retired[0][0] not in details and second not in details


def test_new_key_retires_in_the_same_transaction(engine, provider, seed):
    d = _add(engine, provider, seed.line_a1, "yealink-t46u")
    key = _key_of(engine, d["id"])
    with pytest.raises(RuntimeError), transaction(engine) as s:
        devices.new_key(s, provider, d["id"])
        raise RuntimeError("the caller fails after the use case")
    assert _key_of(engine, d["id"]) == key and _retired(engine) == []
    web = _add(engine, provider, seed.line_a2, "webphone")
    with pytest.raises(ValidationError) as err, transaction(engine) as s:
        devices.new_key(s, provider, web["id"])
    assert err.value.code == "no_url" and _retired(engine) == []


def test_deleting_a_device_deletes_its_retired_keys(engine, provider, seed):
    gone = _add(engine, provider, seed.line_a1, "yealink-t46u")
    kept = _add(engine, provider, seed.line_a2, "yealink-t46u")
    with transaction(engine) as s:
        for d in (gone, kept, gone):
            devices.new_key(s, provider, d["id"])
    assert [dev for _, dev, _ in _retired(engine)] == [gone["id"], kept["id"], gone["id"]]
    with transaction(engine) as s:
        devices.delete_device(s, provider, gone["id"])
    assert [dev for _, dev, _ in _retired(engine)] == [kept["id"]]  # ON DELETE CASCADE (SQLite: foreign_keys=ON)
