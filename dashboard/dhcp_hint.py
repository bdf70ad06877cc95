"""Provisioning MAC « une fois » on a model without a redirection service: which DHCP options lead the factory
phone to its bootstrap, where the agent sets Provisioning MAC (Téléphones' forms, the Appareil view)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.dhcp import dhcp_for_model
from dashboard.i18n import lang, t


def show_dhcp(options: list[dict[str, Any]], key: str) -> None:
    """The options (core.dhcp) as one note; nothing when a redirection service does the job."""
    if not options:
        return
    rows = [f"- {t('dhcp_option', option=o['option'])} `{o['value']}` — {o['note'].get(lang(), '')}" for o in options]
    with st.container(key=key):
        st.info("\n".join([t("dhcp_hint"), "", *rows]), icon=":material/lan:")


def dhcp_hint_for(model_id: str, key: str) -> None:
    show_dhcp(dhcp_for_model(model_id), key)
