"""Issue 15.1, each rule once: Provisioning MAC states, config-revision bumps, redirection jobs, the
access-key pattern and the labels' limits are each defined in one place in core and used from there."""

import ast
from pathlib import Path

import pytest
from sqlalchemy import select, text

from core import devices, event_kinds, keys, lines
from core.catalogue import DEVICE_KINDS, KINDS, default_catalogue
from core.credentials import (
    CHOSEN_PROVISIONING_MAC,
    ProvisioningMac,
    is_access_key,
    new_access_key,
    provisioning_mac_state,
)
from core.db import transaction
from core.errors import ValidationError
from core.models import Device, FunctionKey, RedirectionJob
from core.permissions import system_actor
from core.provisioning.paths import parse_path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    p for d in ("core", "dashboard", "pages") for p in (ROOT / d).rglob("*.py") if "migrations" not in p.parts
)


def _enclosing_defs(tree: ast.AST) -> dict[ast.AST, str]:
    """Each node -> the dotted name of the class/function it sits in ("" at module level)."""
    owner: dict[ast.AST, str] = {}

    def walk(node: ast.AST, name: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = name
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                inner = f"{name}.{child.name}" if name else child.name
            owner[child] = inner
            walk(child, inner)

    walk(tree, "")
    return owner


def _sites(match) -> set[str]:
    """`file:owner` of every node `match` accepts, over core/, dashboard/ and pages/."""
    found = set()
    for path in SOURCES:
        tree = ast.parse(path.read_text(), str(path))
        owner = _enclosing_defs(tree)
        for node in ast.walk(tree):
            if match(node):
                found.add(f"{path.relative_to(ROOT)}:{owner.get(node, '')}")
    return found


# -- Provisioning MAC --------------------------------------------------------------------------


def test_the_states_are_the_strings_the_database_holds():
    assert [state.value for state in ProvisioningMac] == ["no", "once", "done"]  # no migration: same values
    assert set(CHOSEN_PROVISIONING_MAC) == {ProvisioningMac.NO, ProvisioningMac.ONCE}  # done: the first fetch's


@pytest.mark.db
def test_a_state_is_stored_as_its_plain_string(engine, provider, seed):
    with transaction(engine) as s:
        once = devices.add_device(
            s, provider, seed.line_a1, "yealink-t46u", mac="805EC0000011", provisioning_mac="once"
        )
        plain = devices.add_device(s, provider, seed.line_a1, "yealink-t46u")
    with transaction(engine) as s:
        stored = dict(s.execute(text("SELECT id, provisioning_mac FROM device")).all())
    assert (stored[once["id"]], stored[plain["id"]]) == ("once", "no")


@pytest.mark.parametrize("typed", ["no", "ONCE", " done "])
def test_every_state_is_read_back_as_the_enum(typed):
    assert provisioning_mac_state(typed) is ProvisioningMac(typed.strip().lower())


def test_a_state_outside_the_enum_is_refused():
    with pytest.raises(ValidationError) as err:
        provisioning_mac_state("twice")
    assert (err.value.code, err.value.field) == ("pm_state", "provisioning_mac")


@pytest.mark.db
@pytest.mark.parametrize("state", list(ProvisioningMac))
def test_a_person_may_choose_exactly_the_chosen_states(engine, provider, seed, state):
    with transaction(engine) as s:
        d = devices.add_device(s, provider, seed.line_a1, "yealink-t46u", mac="805EC0000012")
    for call in (
        lambda s: devices.add_device(
            s, provider, seed.line_a1, "yealink-t46u", mac="805EC0000013", provisioning_mac=state
        ),
        lambda s: devices.update_device(s, provider, d["id"], provisioning_mac=state),
    ):
        with transaction(engine) as s:
            if state in CHOSEN_PROVISIONING_MAC:
                assert call(s)["provisioning_mac"] == state
            else:
                with pytest.raises(ValidationError) as err:
                    call(s)
                assert err.value.field == "provisioning_mac"


def test_the_cli_offers_the_states_core_takes():
    from core.cli import build_parser

    parser = build_parser()
    for words, offered in ((["device", "add", "--line", "101", "--model", "yealink-t46u"], CHOSEN_PROVISIONING_MAC),
                           (["device", "set", "1"], tuple(ProvisioningMac))):  # fmt: skip
        for state in ProvisioningMac:
            argv = [*words, "--provisioning-mac", state.value]
            if state in offered:
                assert parser.parse_args(argv).provisioning_mac == state
            else:
                with pytest.raises(SystemExit):
                    parser.parse_args(argv)


# -- config revisions --------------------------------------------------------------------------


def test_only_device_bump_revision_writes_a_revision():
    def writes_revision(node):
        targets = [node.target] if isinstance(node, ast.AugAssign) else getattr(node, "targets", [])
        return any(isinstance(t, ast.Attribute) and t.attr == "config_revision" for t in targets)

    assert _sites(writes_revision) == {"core/models.py:Device.bump_revision"}


def _revisions(engine, *ids):
    with transaction(engine) as s:
        return [s.get(Device, i).config_revision for i in ids]


@pytest.mark.db
def test_a_handset_change_moves_it_and_its_base_by_one(engine, provider, seed):
    with transaction(engine) as s:
        base = devices.add_device(s, provider, seed.line_a1, "yealink-w70b")["id"]
        handset = devices.add_device(s, provider, seed.line_a1, "yealink-w56h", base=base)["id"]
    before = _revisions(engine, base, handset)
    with transaction(engine) as s:
        devices.update_device(s, provider, handset, label="Cuisine")
    assert _revisions(engine, base, handset) == [before[0] + 1, before[1] + 1]


@pytest.mark.db
def test_a_line_change_moves_each_file_carrying_it_once(engine, provider, seed):
    """A base with two handsets on line A1 (a handset's base is of its line), a desk phone on A2."""
    with transaction(engine) as s:
        base = devices.add_device(s, provider, seed.line_a1, "yealink-w70b")["id"]
        h1, h2 = (devices.add_device(s, provider, seed.line_a1, "yealink-w56h", base=base)["id"] for _ in "12")
        desk = devices.add_device(s, provider, seed.line_a2, "yealink-t46u")["id"]
    ids = (base, h1, h2, desk)
    before = _revisions(engine, *ids)
    with transaction(engine) as s:
        lines.update_line(s, provider, seed.line_a1, display_name="Alice B.")
    after_a1 = _revisions(engine, *ids)
    assert [a - b for a, b in zip(after_a1, before, strict=True)] == [1, 1, 1, 0]  # the base once, not per handset
    with transaction(engine) as s:
        lines.update_line(s, provider, seed.line_a2, display_name="Bob B.")
    assert [a - b for a, b in zip(_revisions(engine, *ids), after_a1, strict=True)] == [0, 0, 0, 1]


@pytest.mark.db
def test_a_key_change_moves_the_device_by_one(engine, provider, seed):
    with transaction(engine) as s:
        d = devices.add_device(s, provider, seed.line_a1, "yealink-t46u")["id"]
    (before,) = _revisions(engine, d)
    with transaction(engine) as s:
        keys.set_key(s, provider, d, 1, "blf", "102", "Bob")
    with transaction(engine) as s:
        keys.clear_key(s, provider, d, 1)
    assert _revisions(engine, d) == [before + 2]


# -- redirection jobs --------------------------------------------------------------------------


def test_only_queue_redirection_builds_a_redirection_job():
    def builds_job(node):
        return isinstance(node, ast.Call) and getattr(node.func, "id", None) == "RedirectionJob"

    assert _sites(builds_job) == {"core/devices.py:queue_redirection"}


def _jobs(engine):
    with transaction(engine) as s:
        return s.execute(select(RedirectionJob.service, RedirectionJob.mac, RedirectionJob.action)).all()


@pytest.mark.db
def test_a_job_needs_a_service_and_a_mac(engine, provider, seed):
    catalogue_model = devices._model
    with transaction(engine) as s:
        d = devices.add_device(s, provider, seed.line_a1, "yealink-t46u", mac="805EC0000021")["id"]
        assert not devices.queue_redirection(s, d, catalogue_model("grandstream-grp2614"), "805EC0000021", "register")
        assert not devices.queue_redirection(s, d, catalogue_model("yealink-t46u"), None, "register")
        assert not devices.queue_redirection(s, d, None, "805EC0000021", "withdraw")  # a model gone from the catalogue
        assert devices.queue_redirection(s, d, catalogue_model("yealink-t46u"), "805EC0000021", "register")
    assert _jobs(engine) == [("yealink_rps", "805EC0000021", "register")]


@pytest.mark.db
def test_a_withdraw_waits_while_another_device_needs_the_mac(engine, provider, seed):
    mac, model = "805EC0000022", devices._model("yealink-t46u")
    with transaction(engine) as s:
        mine = devices.add_device(s, provider, seed.line_a1, "yealink-t46u", mac=mac)["id"]
        waiting = devices.add_device(s, provider, seed.line_b1, "yealink-t46u", mac=mac, provisioning_mac="once")["id"]
    with transaction(engine) as s:
        assert not devices.queue_redirection(s, mine, model, mac, "withdraw")
        assert devices.queue_redirection(s, waiting, model, mac, "withdraw")  # no other device waits for it
    assert _jobs(engine) == [("yealink_rps", mac, "register"), ("yealink_rps", mac, "withdraw")]


# -- access key --------------------------------------------------------------------------------


def test_a_generated_key_is_what_the_endpoint_parses():
    key = new_access_key()
    assert is_access_key(key)
    assert (parse_path(f"/{key}.cfg".encode()).kind, parse_path(f"/{key}.cfg".encode()).key) == ("main", key)
    assert parse_path(f"/{key}/y000000000028.cfg".encode()).kind == "file"
    assert Device.__table__.c.access_key.type.length == len(key)  # the column holds exactly a key
    for near in (key[:-1], key + "0", key.upper()):
        assert not is_access_key(near)
        assert parse_path(f"/{near}.cfg".encode()).key is None  # not a key (a bootstrap name at most)
        assert parse_path(f"/{near}/y000000000028.cfg".encode()).kind == "bad"


def test_the_urls_core_hands_out_are_the_ones_the_endpoint_answers(settings):
    """render/urls builds a device's URLs, provisioning/paths reads them back: the same key, either form."""
    from urllib.parse import urlsplit

    from core.render.urls import device_base_url, device_url

    device = Device(access_key=new_access_key())
    main = parse_path(urlsplit(device_url(settings, device)).path.encode())
    further = parse_path(urlsplit(device_base_url(settings, device) + "y000000000028.cfg").path.encode())
    assert (main.kind, main.key) == ("main", device.access_key)
    assert (further.kind, further.key, further.name) == ("file", device.access_key, "y000000000028.cfg")


# -- labels ------------------------------------------------------------------------------------


def test_the_label_limits_are_two_rules_that_fit_their_columns():
    assert devices.DEVICE_LABEL_MAX == Device.__table__.c.label.type.length  # the admin's name for a device
    assert keys.KEY_LABEL_MAX <= FunctionKey.__table__.c.label.type.length  # what a key's display shows


@pytest.mark.db
def test_a_label_at_its_limit_is_taken_and_one_more_refused(engine, provider, seed):
    actor = system_actor("pytest")
    with transaction(engine) as s:
        d = devices.add_device(s, actor, seed.line_a1, "yealink-t46u", label="d" * devices.DEVICE_LABEL_MAX)["id"]
        keys.set_key(s, actor, d, 1, "blf", "102", "k" * keys.KEY_LABEL_MAX)
    with transaction(engine) as s:
        with pytest.raises(ValidationError) as err:
            devices.update_device(s, actor, d, label="d" * (devices.DEVICE_LABEL_MAX + 1))
        assert (err.value.code, err.value.params) == ("too_long", {"max": devices.DEVICE_LABEL_MAX})
        with pytest.raises(ValidationError) as err:
            keys.set_key(s, actor, d, 1, "blf", "102", "k" * (keys.KEY_LABEL_MAX + 1))
        assert (err.value.code, err.value.params) == ("key_label_long", {"max": keys.KEY_LABEL_MAX})


# -- security-event kinds ----------------------------------------------------------------------


def test_every_security_event_is_written_with_a_kind_from_event_kinds():
    """The registrar's SecEvent(kind, ...) and the endpoint's writer.event(kind=...) name a constant of
    core.event_kinds, never a string of their own, and the readers find each kind there."""

    def kind_of(node):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "SecEvent" and node.args:
            return node.args[0]
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "event":
            return next((k.value for k in node.keywords if k.arg == "kind"), None)
        return None

    written = set()
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            kind = kind_of(node)
            if kind is not None:
                assert isinstance(kind, ast.Attribute), f"{path.relative_to(ROOT)}:{node.lineno}: a kind of its own"
                written.add(getattr(event_kinds, kind.attr))
    assert written == set(event_kinds.SECURITY_EVENTS)  # every kind listed is written somewhere, and no other
    assert len(set(event_kinds.SECURITY_EVENTS)) == len(event_kinds.SECURITY_EVENTS)


# -- roles -------------------------------------------------------------------------------------


@pytest.mark.db
def test_an_actor_with_one_line_sees_exactly_one(engine, provider, seed):
    """The line picker hides its search for such an actor (dashboard/widgets.py): core says who that is."""
    with transaction(engine) as s:
        for actor in (provider, seed.admin_a, seed.user_a1):
            seen = lines.search_lines(s, actor, "", limit=10)
            assert actor.has_one_line == (len(seen) == 1), (actor.role, seen)


@pytest.mark.parametrize("kind", KINDS)
def test_a_model_of_each_kind_is_added_exactly_when_core_lists_its_kind(kind):
    model = default_catalogue().models(kind)[0]
    if kind in DEVICE_KINDS:
        assert devices._model(model.id) is model
    else:
        with pytest.raises(ValidationError) as err:
            devices._model(model.id)
        assert err.value.code == "model_is_module"
