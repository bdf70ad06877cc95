"""Device models, loaded from data/catalogue.yaml and validated at load.

Capabilities live here only: UI limits, service validation and templates all read them from
the catalogue. A broken entry is reported with its id (or position) and field.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from core.key_functions import KEY_FUNCTIONS
from core.redirection import SERVICES as REDIRECTION_SERVICES
from core.settings import ROOT

DEFAULT_PATH = ROOT / "data" / "catalogue.yaml"
TEMPLATE_DIR = ROOT / "vendor_templates"
SYNTAXES = ("xml", "kv")  # xml: rendered with autoescape; kv: key=value lines, values through the `kv` filter
MAC_FIELDS = ("mac", "MAC")  # the device's MAC, lower / upper case
BUILTIN_FIELDS = (*MAC_FIELDS, "model")  # model: the model name in lower case, first word
XML = "application/xml; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
KINDS = ("desk_phone", "expansion_module", "dect_base", "dect_handset", "ata", "softphone", "webphone")
KINDS_WITH_URL = ("desk_phone", "dect_base", "ata", "softphone")
DEVICE_KINDS = tuple(k for k in KINDS if k != "expansion_module")  # what may be added; a module is attached
DIGESTS = ("MD5", "SHA-256")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")


class CatalogueError(ValueError):
    """The catalogue file is wrong; the message names the entry and the field."""


@dataclass(frozen=True)
class DeviceModel:
    id: str
    vendor: str
    model: str
    kind: str
    family: str
    accounts: int = 1
    keys: int = 0  # programmable keys on the device itself (module 0)
    key_functions: tuple[str, ...] = ()
    expansion_modules: tuple[str, ...] = ()  # ids of the expansion_module models it accepts
    max_modules: int = 0  # expansion_module: how many can be chained on one phone
    resync_event: str | None = None  # NOTIFY Event for "Actualiser"/resync
    reboot_event: str | None = None  # NOTIFY Event for "Redémarrage"
    redirection: str | None = None  # manufacturer redirection service
    compatible_bases: tuple[str, ...] = ()  # dect_handset
    max_handsets: int = 0  # dect_base
    t38: bool = False  # ata
    digest: tuple[str, ...] = ("MD5",)
    params: Mapping[str, Any] = field(default_factory=dict)  # family-specific facts for templates

    @property
    def label(self) -> str:
        return f"{self.vendor} {self.model}"

    @property
    def has_url(self) -> bool:
        """Handsets are configured through their base and web phones need no file."""
        return self.kind in KINDS_WITH_URL

    @property
    def registers(self) -> bool:
        """Provisioned with the line's account, it registers itself: exactly the kinds with a URL (a
        handset registers through its base; a web phone's binding cannot be told apart)."""
        return self.has_url

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "vendor": self.vendor,
            "model": self.model,
            "kind": self.kind,
            "family": self.family,
            "accounts": self.accounts,
            "keys": self.keys,
            "key_functions": list(self.key_functions),
            "expansion_modules": list(self.expansion_modules),
            "max_modules": self.max_modules,
            "resync_event": self.resync_event,
            "reboot_event": self.reboot_event,
            "redirection": self.redirection,
            "compatible_bases": list(self.compatible_bases),
            "max_handsets": self.max_handsets,
            "t38": self.t38,
            "digest": list(self.digest),
        }


@dataclass(frozen=True)
class FileSpec:
    """One file a firmware asks for: its name pattern and the template (in vendor_templates/<family>/)."""

    pattern: str
    template: str

    @property
    def needs_mac(self) -> bool:
        return bool(set(placeholders(self.pattern)) & set(MAC_FIELDS))


@dataclass(frozen=True)
class DhcpOption:
    """A DHCP option that tells a factory phone where the provisioning server is (no redirection service).

    `value` is a pattern: `{url}` (the public base URL, with its trailing slash), `{server}` (the same without
    its scheme) or a model `params` key; `note` says in fr/en what else the vendor's firmware needs."""

    option: int
    value: str
    note: Mapping[str, str] = field(default_factory=dict)


DHCP_FIELDS = ("url", "server")  # what a DhcpOption value may name beyond the model's params


@dataclass(frozen=True)
class Family:
    """A firmware family: the files its phones ask for, in the order they ask, and their syntax.

    A file pattern names `{mac}`, `{MAC}`, `{model}` or a catalogue `params` key (with an optional
    format spec, e.g. `{common_id:0>12}`). Patterns naming the MAC apply once it is known; the first
    file that applies is the device's main file, also served at /<key>.cfg. `bootstrap` files answer
    MAC-named requests while Provisioning MAC is `once`.
    """

    id: str
    label: str
    params: Mapping[str, Any] = field(default_factory=dict)
    syntax: str = "xml"
    files: tuple[FileSpec, ...] = ()
    bootstrap: tuple[FileSpec, ...] = ()
    dhcp: tuple[DhcpOption, ...] = ()  # how a factory phone finds the bootstrap without a redirection service
    # The vPBX phone book, served under the device's key in the family's own format (core.phonebook);
    # None: the family's phones take none.
    phonebook: FileSpec | None = None

    @property
    def xml(self) -> bool:
        return self.syntax == "xml"

    @property
    def content_type(self) -> str:
        return XML if self.xml else TEXT


class Catalogue:
    def __init__(self, families: dict[str, Family], models: list[DeviceModel]) -> None:
        self.families = families
        self._models = {m.id: m for m in models}

    def models(self, kind: str | None = None) -> list[DeviceModel]:
        return [m for m in self._models.values() if kind is None or m.kind == kind]

    def get(self, model_id: str) -> DeviceModel | None:
        return self._models.get(model_id)

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._models

    def __len__(self) -> int:
        return len(self._models)


_FIELDS = {f for f in DeviceModel.__dataclass_fields__}


def _fail(where: str, fld: str, msg: str) -> CatalogueError:
    return CatalogueError(f"catalogue: {where}, field '{fld}': {msg}")


def _int(raw: dict[str, Any], where: str, fld: str, default: int, minimum: int = 0) -> int:
    value = raw.get(fld, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise _fail(where, fld, f"must be a whole number >= {minimum}, got {value!r}")
    return value


def _str_list(raw: dict[str, Any], where: str, fld: str) -> tuple[str, ...]:
    value = raw.get(fld, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _fail(where, fld, f"must be a list of names, got {value!r}")
    if len(set(value)) != len(value):
        raise _fail(where, fld, "lists a name twice")
    return tuple(value)


def _opt_str(raw: dict[str, Any], where: str, fld: str) -> str | None:
    value = raw.get(fld)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise _fail(where, fld, f"must be text or absent, got {value!r}")
    return value


def _model(raw: Any, position: int, families: dict[str, Family]) -> DeviceModel:
    if not isinstance(raw, dict):
        raise CatalogueError(f"catalogue: model #{position} must be a mapping")
    mid = raw.get("id")
    where = f"model '{mid}'" if isinstance(mid, str) else f"model #{position}"
    if not isinstance(mid, str) or not _ID_RE.match(mid):
        raise _fail(where, "id", "must be lowercase letters, digits, . _ - (2-64 chars)")
    unknown = set(raw) - _FIELDS
    if unknown:
        raise _fail(where, sorted(unknown)[0], "is not a catalogue field")
    for fld in ("vendor", "model", "kind", "family"):
        if not isinstance(raw.get(fld), str) or not raw[fld].strip():
            raise _fail(where, fld, "is required")
    kind = raw["kind"]
    if kind not in KINDS:
        raise _fail(where, "kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    if raw["family"] not in families:
        raise _fail(where, "family", f"unknown family {raw['family']!r}")
    functions = _str_list(raw, where, "key_functions")
    for name in functions:
        if name not in KEY_FUNCTIONS:
            raise _fail(where, "key_functions", f"unknown key function {name!r}")
    digest = tuple(raw.get("digest", ["MD5"]))
    if not digest or any(d not in DIGESTS for d in digest):
        raise _fail(where, "digest", f"must list algorithms from {', '.join(DIGESTS)}")
    params = raw.get("params", {})
    if not isinstance(params, dict):
        raise _fail(where, "params", "must be a mapping")
    redirection = _opt_str(raw, where, "redirection")
    if redirection is not None and redirection not in REDIRECTION_SERVICES:
        raise _fail(where, "redirection", f"must be one of {', '.join(REDIRECTION_SERVICES)}, got {redirection!r}")
    t38 = raw.get("t38", False)
    if not isinstance(t38, bool):
        raise _fail(where, "t38", "must be true or false")
    model = DeviceModel(
        id=mid,
        vendor=raw["vendor"],
        model=str(raw["model"]),
        kind=kind,
        family=raw["family"],
        accounts=_int(raw, where, "accounts", 1, minimum=0),
        keys=_int(raw, where, "keys", 0),
        key_functions=functions,
        expansion_modules=_str_list(raw, where, "expansion_modules"),
        max_modules=_int(raw, where, "max_modules", 0),
        resync_event=_opt_str(raw, where, "resync_event"),
        reboot_event=_opt_str(raw, where, "reboot_event"),
        redirection=redirection,
        compatible_bases=_str_list(raw, where, "compatible_bases"),
        max_handsets=_int(raw, where, "max_handsets", 0),
        t38=t38,
        digest=digest,
        params=params,
    )
    _check_kind_rules(model, where)
    return model


def _check_kind_rules(m: DeviceModel, where: str) -> None:
    if m.keys and not m.key_functions:
        raise _fail(where, "key_functions", "a model with keys must list the functions they support")
    if m.kind == "expansion_module":
        if m.keys < 1 or m.max_modules < 1:
            raise _fail(
                where, "keys" if m.keys < 1 else "max_modules", "an expansion module needs keys and max_modules"
            )
    elif m.max_modules:
        raise _fail(where, "max_modules", "only expansion modules have max_modules")
    if m.kind == "dect_handset" and not m.compatible_bases:
        raise _fail(where, "compatible_bases", "a DECT handset must name the bases it works with")
    if m.kind != "dect_handset" and m.compatible_bases:
        raise _fail(where, "compatible_bases", "only DECT handsets have compatible bases")
    if m.kind == "dect_base" and m.max_handsets < 1:
        raise _fail(where, "max_handsets", "a DECT base must say how many handsets it takes")
    if m.kind != "dect_base" and m.max_handsets:
        raise _fail(where, "max_handsets", "only DECT bases have max_handsets")
    if m.t38 and m.kind != "ata":
        raise _fail(where, "t38", "only analog/fax gateways (ata) have T.38")


def _cross_check(models: list[DeviceModel]) -> None:
    by_id: dict[str, DeviceModel] = {}
    for m in models:
        if m.id in by_id:
            raise _fail(f"model '{m.id}'", "id", "is used twice")
        by_id[m.id] = m
    for m in models:
        for mod in m.expansion_modules:
            if by_id.get(mod) is None or by_id[mod].kind != "expansion_module":
                raise _fail(f"model '{m.id}'", "expansion_modules", f"{mod!r} is not an expansion module")
        for base in m.compatible_bases:
            if by_id.get(base) is None or by_id[base].kind != "dect_base":
                raise _fail(f"model '{m.id}'", "compatible_bases", f"{base!r} is not a DECT base")


def placeholders(pattern: str) -> list[str]:
    """The field names a file-name pattern uses (raises ValueError for a malformed pattern)."""
    return [fld for _, fld, _, _ in string.Formatter().parse(pattern) if fld is not None]


_FAMILY_FIELDS = {"label", "params", "syntax", "files", "bootstrap", "dhcp", "phonebook"}
_LANGUAGES = ("fr", "en")  # manual steps exist in each


def _template_exists(dirs: Sequence[Path], rel: str) -> bool:
    return any((Path(d) / rel).is_file() for d in dirs)


def _file_specs(raw: dict[str, Any], where: str, fld: str, dirs: Sequence[Path], fid: str) -> tuple[FileSpec, ...]:
    value = raw.get(fld, [])
    if not isinstance(value, list):
        raise _fail(where, fld, f"must be a list of {{name, template}} entries, got {value!r}")
    specs: list[FileSpec] = []
    for i, entry in enumerate(value, start=1):
        at = f"{fld}[{i}]"
        if not isinstance(entry, dict) or set(entry) != {"name", "template"}:
            raise _fail(where, at, f"must be a mapping with exactly 'name' and 'template', got {entry!r}")
        name, template = entry["name"], entry["template"]
        if not isinstance(name, str) or not name or "/" in name or "\\" in name:
            raise _fail(where, at, f"name must be a file name without '/', got {name!r}")
        try:
            used = placeholders(name)
        except ValueError as exc:
            raise _fail(where, at, f"name {name!r} is not a valid pattern: {exc}") from None
        for placeholder in used:
            if not placeholder.isidentifier():
                raise _fail(where, at, f"placeholder {{{placeholder}}} must be a plain name")
        if not isinstance(template, str) or not template or template.startswith("/") or ".." in template:
            raise _fail(where, at, f"template must be a path inside vendor_templates/{fid}/, got {template!r}")
        if not _template_exists(dirs, f"{fid}/{template}"):
            raise _fail(where, at, f"template {fid}/{template} does not exist")
        if any(s.pattern == name for s in specs):
            raise _fail(where, at, f"name {name!r} is listed twice")
        specs.append(FileSpec(name, template))
    return tuple(specs)


def _dhcp(raw: dict[str, Any], where: str) -> tuple[DhcpOption, ...]:
    value = raw.get("dhcp", [])
    if not isinstance(value, list):
        raise _fail(where, "dhcp", f"must be a list of {{option, value[, note]}} entries, got {value!r}")
    out: list[DhcpOption] = []
    for i, entry in enumerate(value, start=1):
        at = f"dhcp[{i}]"
        if not isinstance(entry, dict) or not {"option", "value"} <= set(entry) <= {"option", "value", "note"}:
            raise _fail(where, at, f"must be a mapping with 'option', 'value' and an optional 'note', got {entry!r}")
        option, pattern, note = entry["option"], entry["value"], entry.get("note", {})
        if not isinstance(option, int) or isinstance(option, bool) or not 1 <= option <= 254:
            raise _fail(where, at, f"option must be a DHCP option number (1-254), got {option!r}")
        if not isinstance(pattern, str) or not pattern.strip():
            raise _fail(where, at, f"value must be a pattern such as '{{url}}', got {pattern!r}")
        try:
            placeholders(pattern)
        except ValueError as exc:
            raise _fail(where, at, f"value {pattern!r} is not a valid pattern: {exc}") from None
        if not isinstance(note, dict) or (note and set(note) != set(_LANGUAGES)):
            raise _fail(where, at, f"note must give the text in {' and '.join(_LANGUAGES)}")
        if not all(isinstance(text, str) and text.strip() for text in note.values()):
            raise _fail(where, at, "note texts must not be empty")
        try:
            [placeholders(text) for text in note.values()]
        except ValueError as exc:
            raise _fail(where, at, f"note is not a valid pattern: {exc}") from None
        out.append(DhcpOption(option, pattern, note))
    return tuple(out)


def _family(fid: Any, raw: Any, dirs: Sequence[Path]) -> Family:
    where = f"family '{fid}'"
    if not isinstance(fid, str) or not _ID_RE.match(fid):
        raise _fail(where, "id", "must be lowercase letters, digits, . _ - (2-64 chars)")
    if not isinstance(raw, dict) or not isinstance(raw.get("label"), str) or not raw["label"].strip():
        raise _fail(where, "label", "is required")
    unknown = set(raw) - _FAMILY_FIELDS
    if unknown:
        raise _fail(where, sorted(unknown)[0], "is not a family field")
    syntax = raw.get("syntax")
    if syntax not in SYNTAXES:
        raise _fail(where, "syntax", f"must be one of {', '.join(SYNTAXES)}, got {syntax!r}")
    params = raw.get("params", {}) or {}
    if not isinstance(params, dict):
        raise _fail(where, "params", "must be a mapping")
    files = _file_specs(raw, where, "files", dirs, fid)
    if files and all(f.needs_mac for f in files):
        raise _fail(where, "files", "needs one name without {mac}/{MAC}: a device whose MAC is unknown has a main file")
    bootstrap = _file_specs(raw, where, "bootstrap", dirs, fid)
    if bootstrap and not files:
        raise _fail(where, "bootstrap", "a bootstrap points at the main file: the family must list files")
    phonebook = None
    if raw.get("phonebook") is not None:
        (phonebook,) = _file_specs({"phonebook": [raw["phonebook"]]}, where, "phonebook", dirs, fid)
        clash = any(f.pattern.lower() == phonebook.pattern.lower() for f in files)
        if placeholders(phonebook.pattern) or clash:
            raise _fail(where, "phonebook", "a plain file name, not one of the family's files")
    for lang in _LANGUAGES:
        if not _template_exists(dirs, f"{fid}/manual.{lang}.md.j2"):
            raise _fail(where, "manual", f"template {fid}/manual.{lang}.md.j2 (the manual steps) does not exist")
    dhcp = _dhcp(raw, where)
    if dhcp and not bootstrap:
        raise _fail(where, "dhcp", "DHCP leads a factory phone to its bootstrap: the family must list bootstrap files")
    return Family(id=fid, label=raw["label"], params=params, syntax=syntax, files=files, bootstrap=bootstrap,
                  dhcp=dhcp, phonebook=phonebook)  # fmt: skip


def _check_family_use(families: dict[str, Family], models: list[DeviceModel]) -> None:
    """Every placeholder resolves for every model with files of its own; such a model's family has files."""
    for m in models:
        fam = families[m.family]
        if not m.has_url:  # expansion modules and handsets are configured through their phone/base
            continue
        known = {*BUILTIN_FIELDS, *fam.params, *m.params}
        for option in fam.dhcp:
            used = [*placeholders(option.value), *(p for text in option.note.values() for p in placeholders(text))]
            missing = [p for p in used if p not in {*DHCP_FIELDS, *fam.params, *m.params}]
            if missing:
                raise _fail(f"family '{fam.id}'", "dhcp", f"{option.value!r} uses {{{missing[0]}}}, which model"
                            f" '{m.id}' does not define (known: url, server and its params)")  # fmt: skip
        for fld, specs in (("files", fam.files), ("bootstrap", fam.bootstrap)):
            for spec in specs:
                missing = [p for p in placeholders(spec.pattern) if p not in known]
                if missing:
                    raise _fail(
                        f"family '{fam.id}'",
                        fld,
                        f"{spec.pattern!r} uses {{{missing[0]}}}, which model '{m.id}' does not define in its params"
                        f" (known: {', '.join(sorted(known))})",
                    )
        if not fam.files:
            raise _fail(f"model '{m.id}'", "family", f"a {m.kind} needs files, family '{fam.id}' lists none")


def parse_catalogue(data: Any, template_dirs: Sequence[Path] = (TEMPLATE_DIR,)) -> Catalogue:
    """`template_dirs`: where the families' templates are looked up (first match wins, as in the renderer)."""
    if not isinstance(data, dict) or not isinstance(data.get("models"), list):
        raise CatalogueError("catalogue: the file must be a mapping with 'families' and a 'models' list")
    raw_families = data.get("families") or {}
    if not isinstance(raw_families, dict):
        raise CatalogueError("catalogue: 'families' must be a mapping of family id to its entry")
    families = {fid: _family(fid, raw, template_dirs) for fid, raw in raw_families.items()}
    models = [_model(raw, i + 1, families) for i, raw in enumerate(data["models"])]
    _cross_check(models)
    _check_family_use(families, models)
    return Catalogue(families, models)


def load_catalogue(path: Path | str | None = None, template_dirs: Sequence[Path] = (TEMPLATE_DIR,)) -> Catalogue:
    p = Path(path) if path else DEFAULT_PATH
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CatalogueError(f"catalogue: {p.name} is not valid YAML: {exc}") from None
    return parse_catalogue(data, template_dirs)


@lru_cache(maxsize=1)
def default_catalogue() -> Catalogue:
    """The shipped catalogue, loaded once per process (it is immutable)."""
    return load_catalogue()
