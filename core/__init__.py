"""voipadmin core: the shared package behind the dashboard and the switch services.

Nothing in this package imports Streamlit.
"""
