"""Warn before a tab with unsaved edits is closed or reloaded (the browser's own `beforeunload` prompt).

Pages draw `leave_guard(dirty)` once per run. The listener is installed once per tab and asks only
while a marker element with data-voipadmin-dirty="1" is on screen, so a page that no longer draws
the marker (another page, or edits saved) never asks. In-app navigation is not an unload: the pages
confirm that themselves (e.g. the key grid before switching device).
"""

from __future__ import annotations

import streamlit as st

_SCRIPT = """<span data-voipadmin-dirty="{flag}" hidden></span><script>
if (!window.voipadminLeaveGuard) {{
  window.voipadminLeaveGuard = true;
  window.addEventListener("beforeunload", (event) => {{
    if (document.querySelector('[data-voipadmin-dirty="1"]')) {{
      event.preventDefault();
      event.returnValue = "";
    }}
  }});
}}
</script>"""


def leave_guard(dirty: bool) -> None:
    # Our own constant markup (no user data), so running its script is safe.
    st.html(_SCRIPT.format(flag=int(dirty)), unsafe_allow_javascript=True)
