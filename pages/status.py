"""État: SIP registrations per line beside each device's last config access; reboot and resync."""

import streamlit as st

from core import lines
from core.device_commands import registered_devices
from dashboard.commands import command_buttons, registrar_up
from dashboard.db import tx
from dashboard.guard import require_login
from dashboard.i18n import t
from dashboard.widgets import choose_line, device_name, when

actor = require_login()  # first statement of every page: no login, no data

REFRESH_SECONDS = 15

st.title(t("status"))
line = choose_line(actor)
if line is None:
    st.stop()


@st.fragment(run_every=REFRESH_SECONDS)
def live_status() -> None:
    # A button inside the fragment reruns it by itself; an st.rerun(scope="fragment") too would run it twice.
    st.button(t("refresh"), icon=":material/refresh:", key="status_refresh")
    st.caption(t("auto_refresh", seconds=REFRESH_SECONDS))
    with tx() as s:
        detail = lines.get_line(s, actor, line["id"])
    st.subheader(t("registrations"))
    if detail["registrations"]:
        st.dataframe(
            [
                {
                    t("user_agent"): r.get("user_agent", ""),
                    t("ip"): f"{r.get('source_ip', '')}:{r.get('source_port', '')}".rstrip(":"),
                    t("contact"): r.get("contact", ""),
                    t("expires"): str(r.get("expires_at", ""))[:19],
                }
                for r in detail["registrations"]
            ],
            hide_index=True,
        )
    else:
        st.info(t("no_registrations"))
    st.subheader(t("devices"))
    registered = registered_devices(detail["registrations"], [d["id"] for d in detail["devices"]])
    up = registrar_up()
    if not up:
        st.caption(t("registrar_down"))
    for d in detail["devices"]:
        access = d["last_access"] or {}
        with st.container(border=True):
            left, right = st.columns([3, 2])
            left.markdown(f"**{device_name(d)}** · {d['mac'] or '—'}")
            seen = [when(access.get("at")), access.get("ip"), access.get("user_agent")]
            left.caption(f"{t('last_access')}: " + " · ".join(part for part in seen if part))
            left.caption(t("registered") if d["id"] in registered else t("not_registered"))
            with right:
                command_buttons(actor, d, d["id"] in registered, up)


live_status()
