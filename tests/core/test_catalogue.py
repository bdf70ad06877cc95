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


def _family_broken(raw, family, **changes):
    data = copy.deepcopy(raw)
    data["families"][family].update(changes)
    return data


@pytest.mark.parametrize(
    "family, changes, field, message",
    [
        ("snom", {"syntax": "json"}, "syntax", "must be one of xml, kv"),
        ("snom", {"label": ""}, "label", "is required"),
        ("snom", {"colour": "red"}, "colour", "is not a family field"),
        ("snom", {"files": "snom.htm"}, "files", "must be a list"),
        ("snom", {"files": [{"name": "a.htm"}]}, r"files\[1\]", "exactly 'name' and 'template'"),
        ("snom", {"files": [{"name": "x/a.htm", "template": "main.xml.j2"}]}, r"files\[1\]", "without '/'"),
        ("snom", {"files": [{"name": "{phone_type.htm", "template": "main.xml.j2"}]}, r"files\[1\]", "not a valid"),
        ("snom", {"files": [{"name": "{phone_type[0]}.htm", "template": "main.xml.j2"}]}, r"files\[1\]", "plain"),
        ("snom", {"files": [{"name": "a.htm", "template": "nope.xml.j2"}]}, r"files\[1\]", "snom/nope.xml.j2 does"),
        ("snom", {"files": [{"name": "a.htm", "template": "../yealink/main.cfg.j2"}]}, r"files\[1\]", "inside"),
        (
            "snom",
            {"files": [{"name": "a.htm", "template": "main.xml.j2"}, {"name": "a.htm", "template": "main.xml.j2"}]},
            r"files\[2\]",
            "listed twice",
        ),
        ("snom", {"files": [{"name": "{MAC}.htm", "template": "main.xml.j2"}]}, "files", "one name without"),
        ("linphone", {"bootstrap": [{"name": "ipphone.xml", "template": "main.xml.j2"}], "files": []}, "bootstrap",
         "must list files"),
        ("snom", {"files": [{"name": "{colour}.htm", "template": "main.xml.j2"}]}, "files", r"uses \{colour\}"),
        ("linphone", {"files": []}, "family", "lists none"),
        ("snom", {"phonebook": {"name": "{mac}.xml", "template": "phonebook.xml.j2"}}, "phonebook", "plain file"),
        ("snom", {"phonebook": {"name": "{phone_type}.htm", "template": "phonebook.xml.j2"}}, "phonebook", "plain"),
        ("snom", {"phonebook": {"name": "book.xml", "template": "nope.xml.j2"}}, r"phonebook\[1\]", "does not"),
        ("snom", {"phonebook": {"name": "book.xml"}}, r"phonebook\[1\]", "exactly 'name' and 'template'"),
    ],
)  # fmt: skip
def test_broken_family_is_reported_by_id_and_field(raw, family, changes, field, message):
    with pytest.raises(CatalogueError, match=rf"field '{field}'.*{message}") as err:
        parse_catalogue(_family_broken(raw, family, **changes))
    assert f"family '{family}'" in str(err.value) or "model '" in str(err.value)


def test_unknown_placeholder_names_the_model(raw):
    with pytest.raises(CatalogueError, match=r"family 'snom', field 'files'.*model 'snom-d\S+' does not define"):
        parse_catalogue(_family_broken(raw, "snom", files=[{"name": "{colour}.htm", "template": "main.xml.j2"}]))


def test_family_needs_its_manual_steps(raw, tmp_path):
    (tmp_path / "snom").mkdir()
    (tmp_path / "snom" / "main.xml.j2").write_text("<x/>")
    data = copy.deepcopy(raw)
    # Families are checked before models, so a catalogue of this one family fails on its manual steps.
    data["families"] = {
        "snom": {"label": "Snom", "syntax": "xml", "files": [{"name": "{phone_type}.htm", "template": "main.xml.j2"}]}
    }
    with pytest.raises(CatalogueError, match=r"family 'snom', field 'manual': template snom/manual.fr.md.j2"):
        parse_catalogue(data, template_dirs=(tmp_path,))


def test_bad_family_id_is_reported(raw):
    data = copy.deepcopy(raw)
    data["families"]["Bad Family"] = {"label": "x", "syntax": "xml"}
    with pytest.raises(CatalogueError, match=r"family 'Bad Family', field 'id'"):
        parse_catalogue(data)


def test_shipped_families_match_their_files():
    fams = load_catalogue().families
    assert [f.pattern for f in fams["yealink"].files] == ["y{common_id:0>12}.cfg", "{mac}.cfg"]
    assert not fams["yealink"].xml and fams["snom"].xml
    assert fams["webphone"].files == () and fams["linphone"].bootstrap == ()
