"""Import / export: devices and their keys from a CSV file (checked in full, every refusal by row and column,
then added all or nothing, with a progress bar) and a vPBX's devices as the same CSV (core.device_import)."""

import streamlit as st

from core import device_import, vpbx
from core.permissions import BULK_ROLES
from dashboard.db import tx
from dashboard.error_texts import field_name, say
from dashboard.guard import require_login
from dashboard.i18n import t

actor = require_login(*BULK_ROLES)  # first statement of every page: no login, no data
RESULT = "bulk_result"  # the last check or import: {"report": ImportReport.as_dict()}

st.title(t("bulk"))
st.caption(t("bulk_intro"))
st.code(",".join(device_import.COLUMNS), language=None)

st.subheader(t("bulk_import"))
upload = st.file_uploader(t("bulk_file"), type=["csv", "txt"], key="bulk_file")
pasted = st.text_area(t("bulk_paste"), key="bulk_paste", height=120)


def _text() -> str | None:
    if upload is not None:
        try:
            return upload.getvalue().decode("utf-8")
        except UnicodeDecodeError:
            st.session_state[RESULT] = {"not_text": True}
            return None
    return pasted if pasted.strip() else None


def _run(dry_run: bool) -> None:
    text = _text()
    if text is None:
        st.session_state[RESULT] = {"no_file": True}
        return
    bar = st.progress(0.0, text=t("bulk_checking"))

    def progress(phase: str, done: int, total: int) -> None:
        label = t("bulk_checking") if phase == "check" else t("bulk_writing")
        bar.progress(done / max(total, 1), text=f"{label} {done}/{total}")

    with tx() as s:  # one transaction: a refused row leaves nothing written
        report = device_import.import_devices(s, actor, text, dry_run=dry_run, progress=progress)
    st.session_state[RESULT] = {"report": report.as_dict()}


check, apply = st.columns(2)
if check.button(t("bulk_check"), icon=":material/fact_check:", key="bulk_check", width="stretch"):
    st.session_state.pop(RESULT, None)
    _run(dry_run=True)
if apply.button(t("bulk_apply"), icon=":material/upload:", key="bulk_apply", type="primary", width="stretch"):
    st.session_state.pop(RESULT, None)
    _run(dry_run=False)


def _column(name: str) -> str:
    """A column as the forms name its field ("keys": the Touches page); an unknown one as the file wrote it."""
    return field_name(name) or (t("keys") if name == "keys" else name)


result = st.session_state.get(RESULT)
if result and result.get("no_file"):
    st.warning(t("bulk_no_file"))
elif result and result.get("not_text"):
    st.error(say("import_not_text"))
elif result:
    report = result["report"]
    if report["ok"] and report["dry_run"]:
        st.success(t("bulk_checked", rows=report["rows"]), icon=":material/check:")
    elif report["ok"]:
        st.success(t("bulk_done", created=report["created"]), icon=":material/check:")
    else:
        st.error(t("bulk_errors", count=len(report["errors"]), rows=report["rows"]), icon=":material/error:")
        st.dataframe(
            [
                {
                    t("bulk_row"): e["row"],
                    t("bulk_column"): _column(e["column"]),
                    t("bulk_key"): e["key"],
                    t("bulk_error"): say(e["code"], e["params"]),
                }
                for e in report["errors"]
            ],
            hide_index=True,
            key="bulk_errors",
        )

st.subheader(t("bulk_export"))
with tx() as s:
    choices = {v["id"]: v["name"] for v in vpbx.list_vpbx(s, actor)}
chosen = st.selectbox(t("bulk_vpbx"), list(choices), format_func=choices.get, key="bulk_vpbx",
                      placeholder=t("bulk_choose_vpbx"), index=0 if len(choices) == 1 else None)  # fmt: skip


def _export(vpbx_id: int) -> str:
    with tx() as s:
        return device_import.export_devices(s, actor, vpbx_id)


if chosen is not None:
    # The file is made when the button is pressed (data is a callable): no export, no audit row, on every run.
    st.download_button(t("bulk_download"), data=lambda: _export(chosen), file_name=f"devices-{choices[chosen]}.csv",
                       mime="text/csv", icon=":material/download:", on_click="ignore", key="bulk_download")  # fmt: skip
