"""One expansion module's keys (module 0 = the phone) as an editable table, and a picture of the layout.

The vPBX's lines are offered as a searchable list beside the grid (a value typed in is taken too), and saving
one module's tab restarts that tab's grid only: what was typed on another tab stays.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from core import keys, vpbx
from core.errors import ValidationError
from core.key_functions import KEY_FUNCTIONS
from core.permissions import Actor
from dashboard.db import tx
from dashboard.error_texts import function_hint, say_error
from dashboard.i18n import lang, t

VERSION_KEY = "keys_editor_version"  # bumped by discard(): every editor restarts from the stored keys
RESTART_KEY = "keys_editor_restarts"  # {(device, module): n}: a save restarts that module's editor only
LAYOUT_COLUMNS = 4


def function_label(name: str | None) -> str:
    if not name:
        return "—"
    spec = KEY_FUNCTIONS.get(name)
    return (spec.label_fr if lang() == "fr" else spec.label_en) if spec else name


def editor_key(device_id: int, module: int) -> str:
    """The grid's widget key. Saving one module's tab gives that grid a new key (it restarts from the stored keys)
    and leaves every other tab's grid, with its unsaved edits, as it is."""
    restarts = st.session_state.get(RESTART_KEY, {}).get((device_id, module), 0)
    return f"keys_{device_id}_{module}_{st.session_state.get(VERSION_KEY, 0) + restarts}"


def _pending_key(device_id: int, module: int) -> str:
    """Edits put on keys from the vPBX list, not saved yet: {row position: {column: value}}, drawn into the grid."""
    return f"keys_pending_{device_id}_{module}"


def _edits(device_id: int) -> dict[int, set[int]]:
    """Per module, the rows changed and not saved: in the grid, or put there from the vPBX list."""
    prefix = f"keys_{device_id}_"
    out: dict[int, set[int]] = {}
    for name in list(st.session_state):
        if not isinstance(name, str):
            continue
        if name.startswith(prefix) and name.count("_") == 3:
            module = int(name.split("_")[2])
            if name == editor_key(device_id, module):
                out.setdefault(module, set()).update((st.session_state.get(name) or {}).get("edited_rows", {}))
        elif name.startswith(f"keys_pending_{device_id}_"):
            out.setdefault(int(name.rsplit("_", 1)[1]), set()).update(st.session_state.get(name) or {})
    return out


def unsaved(device_id: int) -> int:
    """How many rows of the device's key tables (all modules) were edited and not saved."""
    return sum(len(rows) for rows in _edits(device_id).values())


def discard() -> None:
    """Forget unsaved edits: the editors get new keys and start again from the stored keys."""
    for name in [n for n in st.session_state if isinstance(n, str) and n.startswith("keys_pending_")]:
        del st.session_state[name]
    st.session_state[VERSION_KEY] = st.session_state.get(VERSION_KEY, 0) + 1


def _restart(device_id: int, module: int) -> None:
    """A new key for this module's grid only: it is drawn afresh from its input; the other tabs are left alone."""
    counts = dict(st.session_state.get(RESTART_KEY, {}))
    counts[(device_id, module)] = counts.get((device_id, module), 0) + 1
    st.session_state[RESTART_KEY] = counts


def _saved(device_id: int, module: int) -> None:
    """This module's tab was saved: its grid restarts from the stored keys; the other tabs keep their edits."""
    st.session_state.pop(_pending_key(device_id, module), None)
    _restart(device_id, module)


def _frame(module: dict[str, Any], current: list[dict[str, Any]], pending: dict[int, dict[str, Any]]) -> pd.DataFrame:
    by_index = {k["index"]: k for k in current if k["module"] == module["module"]}
    rows = [
        {
            "index": i,
            "type": by_index.get(i, {}).get("type", ""),
            "value": by_index.get(i, {}).get("value", ""),
            "label": by_index.get(i, {}).get("label", ""),
        }
        | pending.get(i - 1, {})
        for i in range(1, module["keys"] + 1)
    ]
    return pd.DataFrame(rows, columns=["index", "type", "value", "label"])


def _put(device_id: int, module: int) -> None:
    """ "Mettre sur la touche": the picked function and value go into the grid, next to what was typed there."""
    pick = f"keypick_{device_id}_{module}"
    value = st.session_state.get(f"{pick}_value")
    if not value:
        return
    pending = dict(st.session_state.get(_pending_key(device_id, module)) or {})
    grid = st.session_state.get(editor_key(device_id, module)) or {}
    for pos, cells in grid.get("edited_rows", {}).items():  # the grid restarts below: keep what it held
        pending[int(pos)] = {**pending.get(int(pos), {}), **cells}
    pos = int(st.session_state[f"{pick}_index"]) - 1
    pending[pos] = {**pending.get(pos, {}), "type": st.session_state[f"{pick}_type"], "value": str(value).strip()}
    st.session_state[_pending_key(device_id, module)] = pending
    _restart(device_id, module)  # a fresh grid over the stored keys + pending: no edit counted twice or lost


def _picker(device_id: int, module: dict[str, Any], choices: dict[str, Any]) -> None:
    """The manual's "Valeur: liste ou valeur libre": a searchable list of the vPBX's lines for the functions that
    name one (core.key_functions.offers_lines); a value typed in instead is taken too."""
    functions = [f for f in module["functions"] if KEY_FUNCTIONS[f].offers_lines]
    if not functions:
        return
    pick = f"keypick_{device_id}_{module['module']}"
    names = {c["value"]: f"{c['value']} · {c['name']}" if c["name"] else c["value"] for c in choices["lines"]}
    with st.container(border=True, key=pick):
        st.caption(t("keys_pick"))
        left, middle, right = st.columns([1, 2, 3])
        left.selectbox(t("key"), range(1, module["keys"] + 1), placeholder=t("choose"), key=f"{pick}_index")
        labels = {f: function_label(f) for f in functions}  # read now, in the reader's language
        middle.selectbox(t("key_type"), functions, format_func=labels.__getitem__, placeholder=t("choose"),
                         key=f"{pick}_type")  # fmt: skip
        right.selectbox(
            t("keys_pick_value"), list(names), index=None, format_func=lambda v: names.get(v, v),
            accept_new_options=True, placeholder=t("keys_pick_placeholder"), key=f"{pick}_value",
        )  # fmt: skip
        st.button(t("keys_pick_apply"), key=f"{pick}_put", on_click=_put, args=(device_id, module["module"]))


def key_table(actor: Actor, device_id: int, module: dict[str, Any], current: list[dict[str, Any]],
              choices: dict[str, Any]) -> None:  # fmt: skip
    """The editor; "Enregistrer" saves the whole module or nothing (core.keys.replace_keys).

    `choices` (core.keys.key_choices): the vPBX's lines offered as values, and what an empty voicemail key dials."""
    number = module["module"]
    hints = ", ".join(f"{function_label(f)}: {function_hint(f)}" for f in module["functions"])
    pending = st.session_state.get(_pending_key(device_id, number)) or {}
    edited = st.data_editor(
        _frame(module, current, pending),
        key=editor_key(device_id, number),
        num_rows="fixed",
        hide_index=True,
        column_config={
            "index": st.column_config.NumberColumn(t("key"), disabled=True, width="small"),
            "type": st.column_config.SelectboxColumn(
                t("key_type"),
                options=["", *module["functions"]],
                format_func={f: function_label(f) for f in ["", *module["functions"]]}.get,
            ),
            "value": st.column_config.TextColumn(t("key_value"), help=hints),
            "label": st.column_config.TextColumn(t("key_label"), max_chars=keys.KEY_LABEL_MAX),
        },
    )
    rows = [
        {"index": int(r["index"]), "type": r["type"] or "", "value": r["value"] or "", "label": r["label"] or ""}
        for r in edited.to_dict("records")
    ]
    changed = _edits(device_id).get(number, set())
    if changed:
        st.caption(t("keys_unsaved", count=len(changed)))
    for index, value in keys.unknown_lines(rows, choices):  # a warning: the value is the person's to choose
        st.warning(t("keys_unknown_line", index=index, value=value), icon=":material/warning:")
    if "voicemail" in module["functions"] and choices["voicemail"]:
        st.caption(t("keys_voicemail_default", code=choices["voicemail"]))
    _picker(device_id, module, choices)
    if st.button(t("save"), type="primary", key=f"save_keys_{device_id}_{number}"):
        if untyped := keys.untyped_rows(rows):  # refuse, naming each key; the edits stay in the grid
            for index in untyped:
                st.error(t("key_error", index=index, message=t("key_needs_type")), icon=":material/error:")
            return
        try:
            with tx() as s:
                keys.replace_keys(s, actor, device_id, number, rows)
        except ValidationError as exc:
            st.error(_row_message(exc, rows), icon=":material/error:")
        else:
            _saved(device_id, number)
            st.session_state["flash"] = t("keys_saved")
            st.rerun()


def voicemail_access(actor: Actor, vpbx_name: str, current: str) -> None:
    """The vPBX's voicemail access number (core.vpbx.set_voicemail_access), for who may set it (VOICEMAIL_ROLES)."""
    with st.expander(t("vm_access_title", vpbx=vpbx_name), icon=":material/voicemail:"):
        st.caption(t("vm_access_help"))
        value = st.text_input(t("vm_access"), value=current, max_chars=16, key=f"vm_access_{vpbx_name}")
        if st.button(t("save"), key=f"vm_access_save_{vpbx_name}"):
            try:
                with tx() as s:
                    vpbx.set_voicemail_access(s, actor, vpbx_name, value)
            except ValidationError as exc:
                st.error(say_error(exc), icon=":material/error:")
            else:
                st.session_state["flash"] = t("vm_access_saved")
                st.rerun()


def _row_message(exc: ValidationError, rows: list[dict[str, Any]]) -> str:
    """ "keys[3].value" -> "Key 4: ..." (the field names the row's position in what was sent)."""
    field = exc.field or ""
    if field.startswith("keys[") and "]" in field:
        pos = int(field[5 : field.index("]")])
        if 0 <= pos < len(rows):
            return t("key_error", index=rows[pos]["index"], message=say_error(exc))
    return say_error(exc)


def layout_picture(module: dict[str, Any], current: list[dict[str, Any]]) -> None:
    """Which key does what, laid out as a grid of key caps."""
    by_index = {k["index"]: k for k in current if k["module"] == module["module"]}
    st.caption(f"{t('key_layout')} — {module['name']}")
    for start in range(1, module["keys"] + 1, LAYOUT_COLUMNS):
        cols = st.columns(LAYOUT_COLUMNS)
        for col, index in zip(cols, range(start, min(start + LAYOUT_COLUMNS, module["keys"] + 1)), strict=False):
            key = by_index.get(index)
            with col.container(border=True):
                if key:
                    st.text(f"{index} · {key['label'] or key['value'] or function_label(key['type'])}")
                    st.caption(f"{function_label(key['type'])} {key['value']}")
                else:
                    st.caption(f"{index} · {t('key_empty')}")
