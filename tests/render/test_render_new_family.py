"""Adding a vendor is data: a throwaway family from a temporary catalogue and templates dir, no Python.

Follows the steps of docs/CATALOGUE.md ("Adding a vendor or family"): a `families:` entry, a model,
templates in the data dir's `templates/<family>/`, and the renderer answers the new file names.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy.orm import Session

from core.catalogue import DEFAULT_PATH, TEMPLATE_DIR, CatalogueError, load_catalogue
from core.errors import NotFound
from core.models import Device, Line, Vpbx
from core.render import Renderer
from core.settings import Settings

MAIN = "; acme {{ model.model }} for {{ account.user_name | kv }}\nname={{ device.label | kv }}\n"
PHONEBOOK = '<book owner="{{ account.display_name }}" model="{{ params.acme_code }}"/>\n'


def _acme_catalogue(tmp_path: Path, syntax: str = "kv") -> Path:
    """A copy of the shipped catalogue plus family acme (two files) and one model of it."""
    data = yaml.safe_load(DEFAULT_PATH.read_text(encoding="utf-8"))
    data["families"]["acme"] = {
        "label": "Acme",
        "syntax": syntax,
        "params": {"acme_code": "rx"},
        "files": [
            {"name": "acme-{acme_code}-{MAC}.cfg", "template": "main.cfg.j2"},
            {"name": "acme-{model}.cfg", "template": "main.cfg.j2"},
        ],
    }
    data["models"].append(
        {"id": "acme-rx1", "vendor": "Acme", "model": "RX1 Pro", "kind": "desk_phone", "family": "acme"}
    )
    path = tmp_path / "catalogue.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    templates = tmp_path / "data" / "templates" / "acme"
    templates.mkdir(parents=True)
    (templates / "main.cfg.j2").write_text(MAIN, encoding="utf-8")
    for lang in ("fr", "en"):
        (templates / f"manual.{lang}.md.j2").write_text(f"{lang}: {{{{ url }}}}\n", encoding="utf-8")
    return path


def _device(session: Session, mac: str | None) -> Device:
    vpbx = Vpbx(name="acme", sip_domain="acme.voip.example")
    line = Line(vpbx=vpbx, number="+41215550001", extension="101", display_name="Alice Martin",
                sip_username="41215550001", sip_password="SipSecretPassw0rdXyz")  # fmt: skip
    device = Device(line=line, model_id="acme-rx1", access_key="0123456789abcdef" * 3, admin_password="1357924",
                    username="alice", user_password="2468013", mac=mac, label="Reception")  # fmt: skip
    session.add(device)
    session.flush()
    session.refresh(device)
    return device


def test_a_new_family_is_catalogue_and_templates(tmp_path: Path, settings: Settings, engine) -> None:  # type: ignore[no-untyped-def]
    path = _acme_catalogue(tmp_path)
    data_templates = tmp_path / "data" / "templates"
    catalogue = load_catalogue(path, template_dirs=(data_templates, TEMPLATE_DIR))
    renderer = Renderer(settings.with_(data_dir=tmp_path / "data"), catalogue)
    with Session(engine, expire_on_commit=False) as session:
        device = _device(session, mac="805EC0AABBCC")
        assert renderer.file_names(device) == ["acme-rx-805EC0AABBCC.cfg", "acme-rx1.cfg"]
        main = renderer.render(device)
        assert main.name == "acme-rx-805EC0AABBCC.cfg"
        assert main.content == b"; acme RX1 Pro for 41215550001\nname=Reception\n"
        assert main.content_type == "text/plain; charset=utf-8"
        assert renderer.render(device, "ACME-RX1.CFG").content == main.content
        assert renderer.manual_steps(device, "en").startswith("en: https://")
        assert renderer.bootstrap(device, "acme-rx-805ec0aabbcc.cfg") is None  # acme lists no bootstrap
        with pytest.raises(NotFound):
            renderer.render(device, "acme.cfg")
        # Before the MAC is known the first name without it is the main file.
        device.mac = None
        assert renderer.file_names(device) == ["acme-rx1.cfg"]


def test_a_new_xml_family_is_escaped(tmp_path: Path, settings: Settings, engine) -> None:  # type: ignore[no-untyped-def]
    path = _acme_catalogue(tmp_path, syntax="xml")
    (tmp_path / "data" / "templates" / "acme" / "main.cfg.j2").write_text(PHONEBOOK, encoding="utf-8")
    catalogue = load_catalogue(path, template_dirs=(tmp_path / "data" / "templates", TEMPLATE_DIR))
    renderer = Renderer(settings.with_(data_dir=tmp_path / "data"), catalogue)
    with Session(engine, expire_on_commit=False) as session:
        device = _device(session, mac=None)
        device.line.display_name = 'A "<b>" & co'
        rendered = renderer.render(device)
        assert rendered.content == b'<book owner="A &#34;&lt;b&gt;&#34; &amp; co" model="rx"/>\n'
        assert rendered.content_type == "application/xml; charset=utf-8"


def test_the_templates_must_be_found(tmp_path: Path) -> None:
    path = _acme_catalogue(tmp_path)
    with pytest.raises(CatalogueError, match=r"family 'acme', field 'files\[1\]': template acme/main.cfg.j2 does not"):
        load_catalogue(path)  # only vendor_templates/: the data dir's templates are not looked at
