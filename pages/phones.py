"""Téléphones: a line's display name (dashboard/line_form.py) and its devices, with their last access and
registration; add, change, delete, set up; its « TopStop » (dashboard/topstop_panel.py) and « Appels »
(dashboard/calls_panel.py); for an end user on their line, « J'ai perdu mes données » (dashboard/respond_panel.py)."""

import streamlit as st

from core import lines
from core.device_commands import registered_devices
from dashboard.calls_panel import calls_table
from dashboard.db import tx
from dashboard.device_forms import DELETE_FLAG, add_device_form, delete_if_asked, edit_device_form
from dashboard.guard import require_login
from dashboard.i18n import t
from dashboard.line_form import display_name_form
from dashboard.respond_panel import lost_data
from dashboard.setup_dialog import open_setup, show_if_open
from dashboard.topstop_panel import topstop_panel
from dashboard.unsaved import leave_guard
from dashboard.widgets import choose_line, dect_label, device_name, other_errors, when

actor = require_login()  # first statement of every page: no login, no data

st.title(t("phones"))
line = choose_line(actor)
if line is None:
    st.stop()
if st.button(t("refresh"), icon=":material/refresh:", key="phones_refresh"):
    st.rerun()
if flash := st.session_state.pop("flash", None):
    st.success(flash)
other_errors((), scope="delete.")
name_dirty = display_name_form(actor, line)

with tx() as s:
    detail = lines.get_line(s, actor, line["id"])
visible = detail["devices"]
registered = registered_devices(detail["registrations"], [d["id"] for d in visible])

kinds = {d["kind"] for d in visible}
if not visible:
    st.info(t("no_devices"))
else:
    st.dataframe(
        [
            {
                t("device"): device_name(d),
                t("mac"): d["mac"] or "",
                t("provisioning_mac"): t(f"pm_{d['provisioning_mac']}"),
                t("last_access"): when((d["last_access"] or {}).get("at")),
                t("last_access_ip"): (d["last_access"] or {}).get("ip") or "",
                t("registration"): t("registered") if d["id"] in registered else t("not_registered"),
                # A DECT system spans the vPBX's lines: which base (and its line) a handset uses, a base's handsets.
                **({t("base_station"): dect_label(d["base"]) if d["base"] else ""} if "dect_handset" in kinds else {}),
                **({t("handsets"): " ; ".join(map(dect_label, d["handset_details"]))} if "dect_base" in kinds else {}),
            }
            for d in visible
        ],
        hide_index=True,
        key="phones_table",
    )

dirty = name_dirty
for d in visible:
    with st.expander(f"{device_name(d)} · {d['mac'] or '—'}", key=f"dev_{d['id']}"):
        cols = st.columns(3)
        if cols[0].button(t("setup"), icon=":material/qr_code:", key=f"setup_{d['id']}"):
            open_setup(d["id"])
        if d["model"] and cols[1].button(t("keys"), icon=":material/dialpad:", key=f"keys_{d['id']}"):
            st.switch_page("pages/keys.py", query_params={"line": str(line["id"]), "device": str(d["id"])})
        if cols[2].button(t("delete"), icon=":material/delete:", key=f"del_{d['id']}"):
            st.session_state[DELETE_FLAG] = d["id"]
        dirty = edit_device_form(actor, d) or dirty

st.divider()
topstop_panel(actor, line)

st.divider()
calls_table(actor, line)

if actor.role == "user":  # an end user asks; their administrator runs the procedure (Fraude)
    st.divider()
    lost_data(actor, line)

st.divider()
st.subheader(t("add_device"))
add_device_form(actor, line)

show_if_open(actor, visible)
delete_if_asked(actor, visible)
leave_guard(dirty)
