"""Per family: the files its firmware asks for (VENDORS.md §a), their syntax and templates.

A file name pattern is formatted with `mac` (lower case), `MAC` (upper case), `model` (the model
name in lower case, no spaces) and the model's catalogue `params` (e.g. `common_id`, `phone_type`).
A pattern that names `mac`/`MAC` applies only once the device's MAC is known; the first pattern
that applies is the device's main file, the one also served at /<key>.cfg.
"""

from __future__ import annotations

from dataclasses import dataclass

XML = "application/xml; charset=utf-8"
TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class FileSpec:
    pattern: str
    template: str  # relative to vendor_templates/<family>/

    @property
    def needs_mac(self) -> bool:
        return "{mac" in self.pattern or "{MAC" in self.pattern


@dataclass(frozen=True)
class FamilySpec:
    id: str
    xml: bool  # XML families are rendered with autoescape; the others through the `kv` filter
    files: tuple[FileSpec, ...]  # in the order the firmware asks for them
    bootstrap: tuple[FileSpec, ...] = ()  # MAC-named answers while Provisioning MAC is `once`

    @property
    def content_type(self) -> str:
        return XML if self.xml else TEXT


FAMILIES: dict[str, FamilySpec] = {
    f.id: f
    for f in (
        FamilySpec(
            "yealink",
            xml=False,
            # Under a per-device key the "common" file can carry the whole configuration, so a phone
            # that stops after it is complete; the MAC file repeats it for firmwares that read only that.
            files=(FileSpec("y{common_id:0>12}.cfg", "main.cfg.j2"), FileSpec("{mac}.cfg", "main.cfg.j2")),
            bootstrap=(FileSpec("{mac}.boot", "bootstrap.boot.j2"), FileSpec("{mac}.cfg", "bootstrap.cfg.j2")),
        ),
        FamilySpec(
            "snom",
            xml=True,
            files=(FileSpec("{phone_type}.htm", "main.xml.j2"), FileSpec("{phone_type}-{MAC}.htm", "main.xml.j2")),
            bootstrap=(
                FileSpec("{phone_type}-{MAC}.htm", "bootstrap.htm.j2"),
                FileSpec("{phone_type}.htm", "bootstrap.htm.j2"),
            ),
        ),
        FamilySpec(
            "polycom",
            xml=True,
            files=(
                FileSpec("{mac}.cfg", "master.cfg.j2"),
                FileSpec("000000000000.cfg", "master.cfg.j2"),
                FileSpec("voipadmin.cfg", "config.cfg.j2"),
            ),
            bootstrap=(FileSpec("{mac}.cfg", "master.cfg.j2"), FileSpec("000000000000.cfg", "master.cfg.j2")),
        ),
        FamilySpec(
            "grandstream",
            xml=True,
            files=(
                FileSpec("cfg{mac}.xml", "main.xml.j2"),
                FileSpec("cfg{model}.xml", "main.xml.j2"),
                FileSpec("cfg.xml", "main.xml.j2"),
            ),
            bootstrap=(FileSpec("cfg{mac}.xml", "bootstrap.xml.j2"),),
        ),
        FamilySpec(
            "gigaset",
            xml=True,
            files=(FileSpec("{MAC}.xml", "main.xml.j2"), FileSpec("provisioning.xml", "main.xml.j2")),
            bootstrap=(FileSpec("{MAC}.xml", "bootstrap.xml.j2"),),
        ),
        FamilySpec(
            "cisco",
            xml=True,
            files=(FileSpec("{mac}.xml", "main.xml.j2"), FileSpec("{factory_file}", "main.xml.j2")),
            bootstrap=(FileSpec("{mac}.xml", "bootstrap.xml.j2"), FileSpec("{factory_file}", "bootstrap.xml.j2")),
        ),
        FamilySpec(
            "fanvil",
            xml=True,
            # X4U/X6U/X210 ask for no per-model common file (Wazo serie_x COMMON_FILES); fanvil.cfg
            # only names the main file under the key until the MAC is known.
            files=(FileSpec("{mac}.cfg", "main.xml.j2"), FileSpec("fanvil.cfg", "main.xml.j2")),
            bootstrap=(FileSpec("{mac}.cfg", "bootstrap.xml.j2"),),
        ),
        FamilySpec("linphone", xml=True, files=(FileSpec("ipphone.xml", "main.xml.j2"),)),
        FamilySpec("webphone", xml=False, files=()),  # WebRTC: no file at all
    )
}
