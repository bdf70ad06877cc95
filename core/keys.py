"""Function keys ("Touches"): only at positions and of functions the model and its modules have."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from core import audit
from core.catalogue import DeviceModel, default_catalogue
from core.devices import find_device
from core.errors import NotFound, Problems, ValidationError
from core.key_functions import KEY_FUNCTIONS, check_value, voicemail_code
from core.models import Device, FunctionKey, Line, Vpbx
from core.permissions import Actor, scope_lines
from core.views import key_view

KEY_LABEL_MAX = 32  # what a phone's key shows, not the device's label (core.devices.DEVICE_LABEL_MAX)


class KeyHolder(Protocol):
    """What the key rules read of a device: a saved Device, or a bulk import's row before it is one."""

    @property
    def model_id(self) -> str: ...
    @property
    def expansion_model_id(self) -> str | None: ...
    @property
    def expansion_count(self) -> int: ...


def _module_spec(device: KeyHolder, module: int) -> DeviceModel:
    """The catalogue model that owns key positions on `module` (0 = the device itself)."""
    catalogue = default_catalogue()
    if module == 0:
        model = catalogue.get(device.model_id)
    elif 1 <= module <= device.expansion_count:
        model = catalogue.get(device.expansion_model_id or "")
    else:
        attached = device.expansion_count
        raise ValidationError("module_missing", "module", module=module, attached=attached)
    if model is None or model.keys == 0:
        raise ValidationError("no_keys", "module")
    return model


def _check(device: KeyHolder, module: int, index: int, function: str, value: str, label: str,
           prefix: str = "") -> tuple[str, str]:  # fmt: skip
    spec = _module_spec(device, module)
    if not isinstance(index, int) or not 1 <= index <= spec.keys:
        raise ValidationError("key_index_range", f"{prefix}index", index=index, model=spec.model, max=spec.keys)
    if function not in spec.key_functions:
        raise ValidationError(
            "key_function_unsupported", f"{prefix}type",
            model=spec.label, function=function, functions=", ".join(spec.key_functions),
        )  # fmt: skip
    value = check_value(function, value, f"{prefix}value")
    if function == "line" and value:
        device_model = default_catalogue().get(device.model_id)
        accounts = device_model.accounts if device_model else 1
        if not 1 <= int(value) <= max(accounts, 1):
            raise ValidationError("key_account_range", f"{prefix}value", value=value, max=accounts)
    label = (label or "").strip()
    if len(label) > KEY_LABEL_MAX or any(not c.isprintable() for c in label):
        raise ValidationError("key_label_long", f"{prefix}label", max=KEY_LABEL_MAX)
    return value, label


def set_key(session: Session, actor: Actor, device_id: int, index: int, type: str, value: str = "", label: str = "",
            module: int = 0) -> dict[str, Any]:  # fmt: skip
    device = find_device(session, actor, device_id)
    value, label = _check(device, module, index, type, value, label)
    key = next((k for k in device.keys if k.module == module and k.index == index), None)
    if key is None:
        key = FunctionKey(module=module, index=index, function=type, value=value, label=label)
        device.keys.append(key)
    else:
        key.function, key.value, key.label = type, value, label
    device.bump_revision()
    session.flush()
    audit.record(session, actor, "key.set", "device", device.id, module=module, index=index, type=type, value=value)
    return key_view(key)


def clear_key(session: Session, actor: Actor, device_id: int, index: int, module: int = 0) -> None:
    device = find_device(session, actor, device_id)
    key = next((k for k in device.keys if k.module == module and k.index == index), None)
    if key is None:
        raise ValidationError("key_not_set", "index", index=index, module=module)
    device.keys.remove(key)
    device.bump_revision()
    audit.record(session, actor, "key.clear", "device", device.id, module=module, index=index)


def list_keys(session: Session, actor: Actor, device_id: int) -> list[dict[str, Any]]:
    return [key_view(k) for k in find_device(session, actor, device_id).keys]


def key_layout(session: Session, actor: Actor, device_id: int) -> dict[str, Any]:
    """What positions exist and which functions each module accepts (the UI's limits)."""
    device = find_device(session, actor, device_id)
    catalogue = default_catalogue()
    model = catalogue.get(device.model_id)
    modules = []
    if model is not None and model.keys:
        modules.append({"module": 0, "name": model.label, "keys": model.keys, "functions": list(model.key_functions)})
    exp = catalogue.get(device.expansion_model_id or "")
    for m in range(1, device.expansion_count + 1):
        if exp is not None:
            modules.append({"module": m, "name": f"{exp.label} #{m}", "keys": exp.keys,
                            "functions": list(exp.key_functions)})  # fmt: skip
    return {"device": device.id, "modules": modules}


def _untyped(row: dict[str, Any]) -> bool:
    """A value or label but no type: saving it as an empty key would drop what was typed."""
    return not (row.get("type") or "").strip() and bool(row.get("value") or row.get("label"))


def untyped_rows(rows: list[dict[str, Any]]) -> list[int]:
    """The key numbers `replace_keys` would refuse for want of a type (the grid names them all at once)."""
    return [int(r["index"]) for r in rows if _untyped(r)]


def check_rows(device: KeyHolder, module: int, rows: list[dict[str, Any]], problems: Problems,
               positions: list[int] | None = None) -> dict[int, tuple[str, str, str]]:  # fmt: skip
    """One module's rows checked -> {index: (function, value, label)} of the valid ones; each refusal
    goes to `problems` with a field like "keys[3].value" (3 = `positions[i]`, default the row's position)."""
    wanted: dict[int, tuple[str, str, str]] = {}
    for i, row in enumerate(rows):
        prefix = f"keys[{i if positions is None else positions[i]}]."
        if _untyped(row):
            problems.add(ValidationError("key_needs_type", f"{prefix}type", index=row.get("index")))
            continue
        function = (row.get("type") or "").strip()
        if not function:
            continue
        try:
            index = int(row.get("index"))  # type: ignore[arg-type]  # None or junk: the except below
        except (TypeError, ValueError):
            problems.add(ValidationError("key_index_invalid", f"{prefix}index"))
            continue
        if index in wanted:
            problems.add(ValidationError("key_twice", f"{prefix}index", index=index))
            continue
        checked = problems.check(_check, device, module, index, function, str(row.get("value") or ""),
                                 str(row.get("label") or ""), prefix)  # fmt: skip
        if checked is not None:
            wanted[index] = (function, *checked)
    return wanted


def replace_keys(session: Session, actor: Actor, device_id: int, module: int,
                 rows: list[dict[str, Any]]) -> list[dict[str, Any]]:  # fmt: skip
    """Save a whole module's keys from an edited table: all rows valid, or nothing changes.

    Rows with an empty type and no value or label are empty keys. A bad row raises ValidationError with a field like
    "keys[3].value" (3 = the row's position in `rows`).
    """
    device = find_device(session, actor, device_id)
    _module_spec(device, module)
    wanted = check_rows(device, module, rows, Problems())
    for key in [k for k in device.keys if k.module == module]:
        device.keys.remove(key)
    session.flush()  # the unique (device, module, index) slots are free before re-inserting
    for index in sorted(wanted):
        function, value, label = wanted[index]
        device.keys.append(FunctionKey(module=module, index=index, function=function, value=value, label=label))
    device.bump_revision()
    session.flush()
    audit.record(session, actor, "key.replace", "device", device.id, module=module, count=len(wanted))
    return [key_view(k) for k in device.keys if k.module == module]


def key_choices(session: Session, actor: Actor, device_id: int) -> dict[str, Any]:
    """What the key editor offers as values ("Valeur: liste ou valeur libre"): every line of the device's vPBX
    (value = its extension, else its number; never another vPBX's, never a secret), what the device's
    voicemail keys dial when left empty, and the vPBX's voicemail access number. One statement; a device the
    actor may not see is NotFound."""
    own = aliased(Line)
    stmt = (
        select(Line.extension, Line.number, Line.display_name, Line.id == own.id, Vpbx.voicemail_access)
        .select_from(Device)
        .join(own, own.id == Device.line_id)
        .join(Line, Line.vpbx_id == own.vpbx_id)
        .join(Vpbx, Vpbx.id == own.vpbx_id)
        .where(Device.id == int(device_id))
        .order_by(Line.extension.is_(None), func.length(Line.extension), Line.extension, Line.number)
    )
    rows = session.execute(scope_lines(actor, stmt, own)).all()
    if not rows:  # the device's own line is always a row: none means no such device for this actor
        raise NotFound("device_not_found", "device")
    lines = [{"value": ext or number, "extension": ext, "number": number, "name": name}
             for ext, number, name, _, _ in rows]  # fmt: skip
    mine = next(r for r in rows if r[3])
    return {"lines": lines, "voicemail": voicemail_code(mine[4], mine[0] or mine[1]), "voicemail_access": mine[4]}


def unknown_lines(rows: list[dict[str, Any]], choices: dict[str, Any]) -> list[tuple[int, str]]:
    """(key number, value) of each key whose function expects a line of the vPBX and whose value is none of its
    extensions or numbers: a warning for the editor and the CLI, never a refusal (free entry stays possible)."""
    known = {v for line in choices["lines"] for v in (line["extension"], line["number"]) if v}
    out = []
    for r in rows:
        spec = KEY_FUNCTIONS.get((r.get("type") or "").strip())
        value = str(r.get("value") or "").strip()
        if spec is not None and spec.expects_line and value and value not in known:
            out.append((int(r["index"]), value))
    return out
