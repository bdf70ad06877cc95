"""One expansion module's keys (module 0 = the phone) as an editable table, and a picture of the layout."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from core import keys
from core.errors import ValidationError
from core.key_functions import KEY_FUNCTIONS
from core.permissions import Actor
from dashboard.db import tx
from dashboard.error_texts import function_hint, say_error
from dashboard.i18n import lang, t

VERSION_KEY = "keys_editor_version"  # bumped after a save so the editor restarts from the stored keys
LAYOUT_COLUMNS = 4


def function_label(name: str | None) -> str:
    if not name:
        return "—"
    spec = KEY_FUNCTIONS.get(name)
    return (spec.label_fr if lang() == "fr" else spec.label_en) if spec else name


def editor_key(device_id: int, module: int) -> str:
    return f"keys_{device_id}_{module}_{st.session_state.get(VERSION_KEY, 0)}"


def _editor_keys(device_id: int) -> list[str]:
    prefix, suffix = f"keys_{device_id}_", f"_{st.session_state.get(VERSION_KEY, 0)}"
    return [k for k in st.session_state if isinstance(k, str) and k.startswith(prefix) and k.endswith(suffix)]


def unsaved(device_id: int) -> int:
    """How many rows of the device's key tables (all modules) were edited and not saved."""
    return sum(len((st.session_state.get(k) or {}).get("edited_rows", {})) for k in _editor_keys(device_id))


def discard() -> None:
    """Forget unsaved edits: the editors get new keys and start again from the stored keys."""
    st.session_state[VERSION_KEY] = st.session_state.get(VERSION_KEY, 0) + 1


def _frame(module: dict[str, Any], current: list[dict[str, Any]]) -> pd.DataFrame:
    by_index = {k["index"]: k for k in current if k["module"] == module["module"]}
    rows = [
        {
            "index": i,
            "type": by_index.get(i, {}).get("type", ""),
            "value": by_index.get(i, {}).get("value", ""),
            "label": by_index.get(i, {}).get("label", ""),
        }
        for i in range(1, module["keys"] + 1)
    ]
    return pd.DataFrame(rows, columns=["index", "type", "value", "label"])


def key_table(actor: Actor, device_id: int, module: dict[str, Any], current: list[dict[str, Any]]) -> None:
    """The editor; "Enregistrer" saves the whole module or nothing (core.keys.replace_keys)."""
    hints = ", ".join(f"{function_label(f)}: {function_hint(f)}" for f in module["functions"])
    edited = st.data_editor(
        _frame(module, current),
        key=editor_key(device_id, module["module"]),
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
    pending = len((st.session_state.get(editor_key(device_id, module["module"])) or {}).get("edited_rows", {}))
    if pending:
        st.caption(t("keys_unsaved", count=pending))
    if st.button(t("save"), type="primary", key=f"save_keys_{device_id}_{module['module']}"):
        rows = [
            {"index": int(r["index"]), "type": r["type"] or "", "value": r["value"] or "", "label": r["label"] or ""}
            for r in edited.to_dict("records")
        ]
        if untyped := keys.untyped_rows(rows):  # refuse, naming each key; the edits stay in the grid
            for index in untyped:
                st.error(t("key_error", index=index, message=t("key_needs_type")), icon=":material/error:")
            return
        try:
            with tx() as s:
                keys.replace_keys(s, actor, device_id, module["module"], rows)
        except ValidationError as exc:
            st.error(_row_message(exc, rows), icon=":material/error:")
        else:
            st.session_state[VERSION_KEY] = st.session_state.get(VERSION_KEY, 0) + 1
            st.session_state["flash"] = t("keys_saved")
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
