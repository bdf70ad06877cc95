"""The AdminCenter: `streamlit run app.py`.

This file plays two parts. `streamlit run` finds the `st.App` below and imports this module to
serve it, adding the login/logout routes that set the session cookie (a script cannot). Each
browser session then runs this same file as `__main__`: the login gate, the role's navigation
and the page frame, all in dashboard.frame.
"""

import streamlit as st

if __name__ == "__main__":
    from dashboard.frame import run

    run()
else:
    from dashboard.routes import routes

    app = st.App(__file__, routes=routes())
