"""Appareil: the device's fraud alerts (issue 13 point 2), an « Alertes » expander beside its timeline.

Drawn for the roles that see alerts (core.alerts.ALERT_ROLES; a user has none). Nothing is read while the
expander is closed (it tracks its state: `on_change="rerun"`, `.open`). Open: the device's alerts in every state
(`alerts.list_alerts(device_id=, states=alerts.STATES)`: high first, newest first) and, for each of the first
SHOWN, its evidence (`alerts.get_alert`) as a table with its CSV, the same table and the same file as on Fraude
(dashboard.alerts_panel's evidence_frame / evidence_csv: stable English headers, formula-like cells defused),
and a link that opens it on Fraude (`?alert=<id>`), where it is acknowledged or resolved.
Cost when open: 1 + 2 x min(alerts, SHOWN) statements.
"""

from __future__ import annotations

import streamlit as st

from core import alerts
from core.permissions import Actor
from dashboard.alerts_panel import PARAM, evidence_csv, evidence_frame, severity_label, state_label
from dashboard.db import tx
from dashboard.i18n import lang, t
from dashboard.widgets import when

SHOWN = 10  # alerts drawn with their evidence; the rest are on Fraude
FRAUD_PAGE = "pages/fraud.py"


def expander_key(device_id: int) -> str:
    return f"dv_alerts_{device_id}"


def alerts_expander(actor: Actor, device_id: int) -> None:
    """The « Alertes » expander of one device (one call from dashboard/device_view.py)."""
    if actor.role not in alerts.ALERT_ROLES:
        return
    box = st.expander(t("da_title"), key=expander_key(device_id), on_change="rerun", icon=":material/notifications:")
    if not box.open:
        return
    with box:
        with tx() as s:
            rows = alerts.list_alerts(s, actor, states=alerts.STATES, device_id=device_id, limit=SHOWN + 1,
                                      lang=lang())  # fmt: skip
            shown = [alerts.get_alert(s, actor, a["id"], lang=lang()) for a in rows[:SHOWN]]
        if not shown:
            st.caption(t("da_none"))
            return
        if len(rows) > SHOWN:
            st.caption(t("da_cut", count=SHOWN))
        for alert in shown:
            one(device_id, alert)


def one(device_id: int, alert: dict) -> None:
    alert_id, evidence = alert["id"], alert["evidence"]
    with st.container(border=True, key=f"dv_alert_{alert_id}"):
        st.markdown(f"**{alert['title']}** · {severity_label(alert['severity'])} · {state_label(alert['state'])}")
        st.caption(t("al_seen", first=when(alert["first_seen"]), last=when(alert["last_seen"]), n=alert["count"]))
        if evidence:
            st.dataframe(evidence_frame(evidence), hide_index=True, key=f"dv_alert_evidence_{alert_id}")
            st.download_button(t("al_csv"), data=evidence_csv(evidence),
                               file_name=f"device-{device_id}-alert-{alert_id}-evidence.csv", mime="text/csv",
                               on_click="ignore", icon=":material/download:",
                               key=f"dv_alert_csv_{alert_id}")  # fmt: skip
        else:
            st.caption(t("al_no_evidence"))
        st.page_link(FRAUD_PAGE, label=t("da_open"), icon=":material/open_in_new:",
                     query_params={PARAM: str(alert_id)})  # fmt: skip
