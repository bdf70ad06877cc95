import copy
from collections import Counter

import pytest
import yaml

from core.catalogue import DEFAULT_PATH, KINDS, CatalogueError, load_catalogue, parse_catalogue


@pytest.fixture
def raw():
    return yaml.safe_load(DEFAULT_PATH.read_text())


def test_shipped_catalogue_loads_with_every_kind():
    cat = load_catalogue()
    kinds = {m.kind for m in cat.models()}
    assert kinds == set(KINDS)


def test_shipped_catalogue_size_and_vendors():
    cat = load_catalogue()
    assert len(cat) >= 40
    assert len(Counter(m.vendor for m in cat.models())) >= 8


def _broken(raw, index, **changes):
    data = copy.deepcopy(raw)
    data["models"][index].update(changes)
    return data


def _first(raw, kind):
    return next(i for i, m in enumerate(raw["models"]) if m["kind"] == kind)


@pytest.mark.parametrize(
    "kind, changes, field",
    [
        ("desk_phone", {"kind": "toaster"}, "kind"),
        ("desk_phone", {"keys": -1}, "keys"),
        ("desk_phone", {"key_functions": ["line", "teleport"]}, "key_functions"),
        ("desk_phone", {"expansion_modules": ["nope"]}, "expansion_modules"),
        ("desk_phone", {"family": "unknown-family"}, "family"),
        ("desk_phone", {"colour": "red"}, "colour"),
        ("desk_phone", {"digest": ["SHA-512"]}, "digest"),
        ("dect_handset", {"compatible_bases": []}, "compatible_bases"),
        ("dect_base", {"max_handsets": 0}, "max_handsets"),
        ("desk_phone", {"t38": True}, "t38"),
        ("expansion_module", {"max_modules": 0}, "max_modules"),
        ("desk_phone", {"redirection": "acme_redirect"}, "redirection"),
    ],
)
def test_broken_entry_is_reported_by_id_and_field(raw, kind, changes, field):
    index = _first(raw, kind)
    with pytest.raises(CatalogueError) as err:
        parse_catalogue(_broken(raw, index, **changes))
    assert f"model '{raw['models'][index]['id']}'" in str(err.value)
    assert f"field '{field}'" in str(err.value)


def test_duplicate_id_is_reported(raw):
    data = copy.deepcopy(raw)
    data["models"].append(copy.deepcopy(data["models"][0]))
    with pytest.raises(CatalogueError, match="is used twice"):
        parse_catalogue(data)


def test_entry_without_id_is_reported_by_position(raw):
    data = copy.deepcopy(raw)
    del data["models"][2]["id"]
    with pytest.raises(CatalogueError, match=r"model #3, field 'id'"):
        parse_catalogue(data)


def test_invalid_yaml_is_reported(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("models: [\n")
    with pytest.raises(CatalogueError, match="not valid YAML"):
        load_catalogue(p)
