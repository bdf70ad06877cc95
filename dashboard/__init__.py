"""Streamlit-side helpers for the AdminCenter (guard, session cookie glue, i18n, widgets).

core never imports this package; pages import it and core, nothing else of the project.
"""
