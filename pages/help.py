"""Résoudre les problèmes: one section per diagnosis finding (docs/troubleshooting/); `?code=` shows it first."""

import re

import streamlit as st

from dashboard.guard import require_login
from dashboard.i18n import lang, t
from dashboard.troubleshooting import Section, troubleshooting

actor = require_login()  # first statement of every page: no login, no data (the help is for every role)


def section(s: Section) -> None:
    st.subheader(s.title, anchor=s.code)
    st.markdown(s.body)


st.title(t("help"))
doc = troubleshooting(lang())
code = st.query_params.get("code")
asked = doc.get(code)
if asked is not None:
    with st.container(border=True, key="help_asked"):
        section(asked)
    st.header(t("help_other"))
elif code and re.fullmatch(r"[a-z_]{1,40}", code):  # the URL's text, drawn only when it looks like a code
    st.info(t("help_unknown", code=code))
if asked is None:
    st.markdown(doc.intro)
for title, by_symptom in ((t("help_by_symptom"), True), (t("help_by_finding"), False)):
    group = [s for s in doc.sections if s.by_symptom == by_symptom and s is not asked]
    if group:
        st.header(title)
        for s in group:
            section(s)
