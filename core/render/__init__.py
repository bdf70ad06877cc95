"""Vendor configuration files: which files a device asks for, and what is in each.

INTERFACE (stable; the provisioning endpoint, CLI and dashboard call only this):

    renderer = Renderer(settings, catalogue)
    renderer.file_names(device) -> list[str]          # names asked under /<key>/<name>; [0] is the main file
    renderer.render(device, name=None, hidden=frozenset()) -> RenderedFile
                                                      # name None = the main file served at /<key>.cfg
                                                      # raises core.errors.NotFound for a name not in file_names;
                                                      # `hidden` (core.permissions.hidden_secrets): passwords
                                                      # rendered as MASK, for a person reading the file
    renderer.bootstrap(device, requested_name) -> RenderedFile | None
                                                      # MAC-named request while Provisioning MAC is `once`:
                                                      # points the phone at its key URL, holds no SIP secret;
                                                      # None if `requested_name` is not a name this family asks for
    renderer.manual_steps(device, lang) -> str        # Markdown, fr/en, with the device's own URL filled in
    renderer.phonebook_name(model_id) -> str | None   # the vPBX phone book's name under /<key>/ (None: none)
    renderer.render_phonebook(model_id, title, entries) -> RenderedFile
                                                      # entries: core.phonebook.Entry, as served_entries reads them

`device` is an ORM Device with `line`, `line.vpbx`, `keys` and (bases) `handsets` loadable.
Rendering is pure (device + line + settings in, bytes out) and not cached here: the provisioning
endpoint caches rendered files by (device, key, config revision) in core/provisioning/directory.py,
the one render cache; CLI and dashboard render on demand.

Names are matched without regard to case (firmwares differ on MAC case); the canonical name is
the one `file_names` lists. Web phones and DECT handsets have no file: `file_names` is empty and
`render` raises NotFound. Which files a family asks for, their syntax and templates are catalogue data
(data/catalogue.yaml `families:`, docs/CATALOGUE.md). Templates live in vendor_templates/<family>/
(docs/TEMPLATES.md); a directory `templates/` in the data dir, when present, overrides any of them by the same path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import contains_eager, object_session

from core.catalogue import TEMPLATE_DIR, XML, Catalogue, DeviceModel, Family, FileSpec, default_catalogue
from core.dhcp import dhcp_options
from core.errors import NotFound, ValidationError
from core.models import Device
from core.render.context import Derived, build_context, derived_values, mask_secrets, one_line, time_context
from core.render.urls import device_base_url, device_url
from core.settings import Settings

LANGUAGES = ("fr", "en")
VCARD = "text/vcard; charset=utf-8"


@dataclass(frozen=True)
class RenderedFile:
    name: str
    content: bytes
    content_type: str


@dataclass(frozen=True)
class BootstrapContext:
    """All a bootstrap template may see: no account, no password, by construction."""

    model: DeviceModel
    mac: str | None
    mac_lower: str | None
    derived: Derived


def kv_value(value: object) -> str:
    """For key=value formats: one line, and never Yealink's "clear this parameter" marker."""
    text = one_line("" if value is None else value)
    return text.replace("%NULL%", "NULL").replace("%null%", "null")


def vcard_value(value: object) -> str:
    """A vCard (RFC 6350 §3.4) text value: one line, with its separators escaped."""
    text = one_line("" if value is None else value)
    return text.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;")


def _xml_finalize(value: object) -> object:
    # Template output (macros, Markup) passes; any plain value is made single-line before escaping.
    if isinstance(value, (Markup, int, float)) or value is None:
        return value
    if isinstance(value, str) and value.isprintable():  # the common case, without the regex (5,000-entry books)
        return value.strip()
    return one_line(value)


def _env(loader: jinja2.BaseLoader, xml: bool) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=loader,
        undefined=jinja2.StrictUndefined,
        autoescape=xml,
        finalize=_xml_finalize if xml else None,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["kv"] = kv_value
    env.filters["vcard"] = vcard_value
    return env


class Renderer:
    def __init__(self, settings: Settings, catalogue: Catalogue | None = None) -> None:
        self.settings = settings
        self.catalogue = catalogue or default_catalogue()
        loaders: list[jinja2.BaseLoader] = []
        override = Path(settings.data_dir) / "templates"
        if override.is_dir():
            loaders.append(jinja2.FileSystemLoader(override))
        loaders.append(jinja2.FileSystemLoader(TEMPLATE_DIR))
        loader = jinja2.ChoiceLoader(loaders)
        self._xml_env = _env(loader, xml=True)
        self._text_env = _env(loader, xml=False)

    # --- the interface ------------------------------------------------------------------------

    def file_names(self, device: Device) -> list[str]:
        model, family = self._lookup(device)
        if not model.has_url or device.access_key is None:
            return []
        return [name for name, _ in self._files(family.files, device, model)]

    def render(self, device: Device, name: str | None = None, hidden: frozenset[str] = frozenset()) -> RenderedFile:
        model, family = self._lookup(device)
        files = self._files(family.files, device, model) if model.has_url and device.access_key else []
        if not files:
            raise NotFound("no_config_file", "file", model=model.label)
        match = files[0] if name is None else next((f for f in files if f[0].lower() == name.lower()), None)
        if match is None:
            raise NotFound("no_such_file", "file", model=model.label, name=name)
        file_name, spec = match
        ctx = build_context(self.settings, self.catalogue, device, model, file_name, self._handsets(device, model))
        ctx = mask_secrets(ctx, hidden)
        if family.phonebook is not None:
            url = f"{ctx.derived.base_url}{family.phonebook.pattern}"
            ctx = replace(ctx, derived=replace(ctx.derived, phonebook_url=url, phonebook_title=device.line.vpbx.name))
        text = self._template(family, spec).render(**self._variables(model, ctx))
        return RenderedFile(file_name, text.encode("utf-8"), family.content_type)

    def bootstrap(self, device: Device, requested_name: str) -> RenderedFile | None:
        model, family = self._lookup(device)
        if not model.has_url or device.access_key is None or device.mac is None:
            return None
        for file_name, spec in self._files(family.bootstrap, device, model):
            if file_name.lower() == requested_name.lower():
                ctx = BootstrapContext(
                    model=model,
                    mac=device.mac,
                    mac_lower=device.mac.lower(),
                    derived=self._bootstrap_derived(device, file_name),
                )
                text = self._template(family, spec).render(
                    model=model,
                    params=self._params(model),
                    device=ctx,
                    derived=ctx.derived,
                    main_file=self._files(family.files, device, model)[0][0],
                )
                return RenderedFile(file_name, text.encode("utf-8"), family.content_type)
        return None

    def handover(self, device: Device, requested_name: str | None = None) -> RenderedFile | None:
        """What a phone on its retired URL gets once during a fraud response (core.respond): the bootstrap file
        of the name it asked for, else its family's first; either points at the new key and holds no secret
        (None: no bootstrap, no MAC)."""
        found = self.bootstrap(device, requested_name) if requested_name else None
        if found is not None:
            return found
        model, family = self._lookup(device)
        files = self._files(family.bootstrap, device, model)
        return self.bootstrap(device, files[0][0]) if files else None

    def manual_steps(self, device: Device, lang: str = "fr") -> str:
        if lang not in LANGUAGES:
            raise ValidationError("one_of", "lang", choices=", ".join(LANGUAGES))
        model, _ = self._lookup(device)
        if model.kind == "dect_handset":
            name = f"_shared/manual_handset.{lang}.md.j2"
        else:
            name = f"{model.family}/manual.{lang}.md.j2"
        base = device.base_station
        base_model = self.catalogue.get(base.model_id) if base else None
        derived = self._bootstrap_derived(device, "") if device.access_key else None
        steps = self._text_env.get_template(name).render(
            model=model,
            params=self._params(model),
            url=device_url(self.settings, device),
            base_url=device_base_url(self.settings, device),
            server_path=f"{derived.host_port}/{derived.key_path}" if derived else None,
            has_mac=device.mac is not None,
            base_label=base_model.label if base_model else None,
            base_url_of_base=device_url(self.settings, base) if base else None,
        )
        dhcp = dhcp_options(
            self.settings, model, self.catalogue
        )  # no redirection service: DHCP leads it to the bootstrap
        if dhcp:
            steps += self._text_env.get_template(f"_shared/manual_dhcp.{lang}.md.j2").render(
                dhcp=dhcp, has_mac=device.mac is not None
            )
        return steps

    def phonebook_name(self, model_id: str) -> str | None:
        """The name the vPBX phone book has under a device's key, for a model whose family takes one."""
        model = self.catalogue.get(model_id)
        family = self.catalogue.families.get(model.family) if model is not None else None
        if model is None or family is None or family.phonebook is None or not model.has_url:
            return None
        return family.phonebook.pattern

    def render_phonebook(self, model_id: str, title: str, entries: Sequence[Any]) -> RenderedFile:
        """The vPBX phone book in the model's family format. XML templates are autoescaped whatever the family's
        own syntax (a Yealink config is key=value, its phone book XML); a .vcf template is a vCard list."""
        name = self.phonebook_name(model_id)
        model = self.catalogue.get(model_id)
        if name is None or model is None:
            raise NotFound("no_such_file", "file", model=model_id, name="phonebook")
        spec = self.catalogue.families[model.family].phonebook
        assert spec is not None  # phonebook_name said so
        xml = not spec.template.endswith(".vcf.j2")
        env = self._xml_env if xml else self._text_env
        # Only the family's template, the title and the entries: the same book for every model of a family.
        text = env.get_template(f"{model.family}/{spec.template}").render(title=one_line(title), entries=entries)
        if not xml:
            text = text.replace("\n", "\r\n")  # vCard lines end in CRLF (RFC 6350 §3.2)
        return RenderedFile(name, text.encode("utf-8"), XML if xml else VCARD)

    # --- helpers ------------------------------------------------------------------------------

    def _lookup(self, device: Device) -> tuple[DeviceModel, Family]:
        model = self.catalogue.get(device.model_id)
        if model is None:
            raise NotFound("model_unknown", "model", model=device.model_id)
        family = self.catalogue.families.get(model.family)
        if family is None:
            raise NotFound("family_unknown", "family", family=model.family)
        return model, family

    @staticmethod
    def _handsets(device: Device, model: DeviceModel) -> Sequence[Device] | None:
        """A DECT base's handsets, each with its own line, in one statement: a base of a multi-line system
        carries handsets of many lines, and lazy loading would read each one's line apart."""
        session = object_session(device)
        if model.kind != "dect_base" or session is None:
            return None
        on_base = select(Device).join(Device.line).options(contains_eager(Device.line))
        return session.scalars(on_base.where(Device.base_station_id == device.id).order_by(Device.id)).all()

    def _params(self, model: DeviceModel) -> dict[str, Any]:
        fam = self.catalogue.families.get(model.family)
        return {**(dict(fam.params) if fam else {}), **dict(model.params)}

    def _files(self, specs: tuple[FileSpec, ...], device: Device, model: DeviceModel) -> list[tuple[str, FileSpec]]:
        mac = device.mac
        fields = {
            **self._params(model),
            "model": model.model.split(" ")[0].lower(),
            "mac": mac.lower() if mac else "",
            "MAC": mac or "",
        }
        out: list[tuple[str, FileSpec]] = []
        for spec in specs:
            if spec.needs_mac and not mac:
                continue
            name = spec.pattern.format(**fields)
            if all(name.lower() != seen.lower() for seen, _ in out):
                out.append((name, spec))
        return out

    def _template(self, family: Family, spec: FileSpec) -> jinja2.Template:
        env = self._xml_env if family.xml else self._text_env
        return env.get_template(f"{family.id}/{spec.template}")

    def _variables(self, model: DeviceModel, ctx: Any) -> dict[str, Any]:
        return {
            "device": ctx.device,
            "model": model,
            "params": self._params(model),
            "account": ctx.account,
            "keys": ctx.keys,
            "modules": ctx.modules,
            "handsets": ctx.handsets,
            "derived": ctx.derived,
        }

    def _bootstrap_derived(self, device: Device, file_name: str) -> Derived:
        return derived_values(self.settings, device, file_name, time_context(self.settings))
