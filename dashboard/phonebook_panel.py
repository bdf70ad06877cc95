"""Annuaire's widgets: the book as phones get it, a contact added / changed / deleted (asked first), a CSV checked
(the dry run's refusals by row and column) then imported, the export. Every rule and right is core.phonebook's."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core import phonebook
from core.permissions import Actor
from dashboard.db import tx
from dashboard.error_texts import say
from dashboard.i18n import t
from dashboard.widgets import call, field_error, other_errors

FIELDS = ("name", "number", "organisation")
DELETE_FLAG = "pb_delete_id"


def book_table(entries: list[dict[str, Any]]) -> None:
    rows = [
        {t("name"): e["name"], t("number"): e["number"], t("pb_organisation"): e["organisation"],
         t("pb_source"): t(f"pb_source_{e['source']}")}
        for e in entries
    ]  # fmt: skip
    st.dataframe(rows, hide_index=True, width="stretch", key="pb_book")


def _version(base: str) -> int:
    return int(st.session_state.get(f"{base}_version", 0))


def _reset(base: str) -> None:
    st.session_state[f"{base}_version"] = _version(base) + 1


def _inputs(base: str, current: dict[str, Any] | None = None) -> dict[str, str]:
    v = _version(base)
    out = {}
    for f, label in (("name", t("name")), ("number", t("number")), ("organisation", t("pb_organisation"))):
        out[f] = st.text_input(label, value=(current or {}).get(f, ""), key=f"{base}_{f}_{v}")
        field_error(f, scope=f"{base}_")
    return out


def add_form(actor: Actor, vpbx_name: str | None) -> None:
    with st.expander(t("pb_add"), expanded=False):
        values = _inputs("pb_add")
        if st.button(t("save"), key="pb_add_save", type="primary"):
            call(phonebook.add_contact, actor, **values, vpbx_name=vpbx_name, scope="pb_add_")
            _reset("pb_add")
            st.toast(t("pb_added", name=values["name"].strip()))
            st.rerun()
        other_errors(FIELDS, scope="pb_add_")


def edit_form(actor: Actor, contacts: list[dict[str, Any]]) -> None:
    if not contacts:
        st.caption(t("pb_no_contacts"))
        return
    by_id = {c["id"]: c for c in contacts}
    chosen = st.selectbox(
        t("pb_contact"), list(by_id), key="pb_pick", placeholder=t("choose"),
        format_func=lambda i: f"{by_id[i]['name']} — {by_id[i]['number']}",
    )  # fmt: skip
    contact = by_id[chosen]
    base = f"pb_edit_{contact['id']}"
    values = _inputs(base, contact)
    save, delete = st.columns(2)
    if save.button(t("save"), key=f"{base}_save", type="primary"):
        call(phonebook.update_contact, actor, contact["id"], **values, scope=f"{base}_")
        st.toast(t("pb_saved", name=values["name"].strip()))
        st.rerun()
    if delete.button(t("delete"), key=f"{base}_delete"):
        st.session_state[DELETE_FLAG] = contact["id"]
    if st.session_state.get(DELETE_FLAG) == contact["id"]:
        st.warning(t("pb_delete_confirm", name=contact["name"], number=contact["number"]))
        yes, no = st.columns(2)
        if yes.button(t("pb_delete_yes"), key=f"{base}_delete_yes", type="primary"):
            st.session_state.pop(DELETE_FLAG, None)
            call(phonebook.delete_contact, actor, contact["id"], scope=f"{base}_")
            st.toast(t("pb_deleted", name=contact["name"]))
            st.rerun()
        if no.button(t("cancel"), key=f"{base}_delete_no"):
            st.session_state.pop(DELETE_FLAG, None)
            st.rerun()
    other_errors(FIELDS, scope=f"{base}_")


def import_form(actor: Actor, vpbx_name: str | None) -> None:
    with st.expander(t("pb_import"), expanded=False):
        st.caption(t("pb_import_help"))
        v = _version("pb_upload")
        upload = st.file_uploader(t("pb_csv_file"), type=["csv", "txt"], key=f"pb_upload_{v}")
        pasted = st.text_area(t("pb_csv_paste"), key=f"pb_paste_{v}", height=120)
        text = upload.getvalue().decode("utf-8-sig", errors="replace") if upload is not None else pasted
        if not text.strip():
            return
        check, apply = st.columns(2)
        run_check = check.button(t("pb_check"), key="pb_check")
        run_apply = apply.button(t("pb_import_apply"), key="pb_apply", type="primary")
        if not (run_check or run_apply):
            return
        with tx() as s:
            result = phonebook.import_csv(s, actor, text, dry_run=run_check, vpbx_name=vpbx_name)
        counts = {"rows": result.rows, "added": result.added, "updated": result.updated, "unchanged": result.unchanged}
        if result.errors:
            st.error(t("pb_import_refused", count=len(result.errors)))
            st.dataframe(
                [{t("pb_row"): e.row, t("pb_column"): _column(e.column), t("pb_problem"): _problem(e)}
                 for e in result.errors],
                hide_index=True, key="pb_import_errors",
            )  # fmt: skip
        elif result.dry_run:
            st.info(t("pb_check_ok", **counts))
        else:
            _reset("pb_upload")
            st.success(t("pb_imported", **counts))


def _column(name: str) -> str:
    """A CSV column in the reader's words (a column the file named itself stays as typed)."""
    return t(f"pb_col_{name}") if name in phonebook.CSV_COLUMNS else name


def _problem(e: phonebook.RowError) -> str:
    params = dict(e.params)
    if "column" in params:
        params["column"] = _column(str(params["column"]))
    return say(e.code, params)


def export_button(actor: Actor, vpbx_name: str | None) -> None:
    with tx() as s:
        data = phonebook.export_csv(s, actor, vpbx_name)
    st.download_button(
        t("pb_export"), data.encode("utf-8"), file_name="phonebook.csv", mime="text/csv", key="pb_export"
    )
