"""Small UI helpers shared by pages: line/device pickers bound to the URL, field errors, formatting."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import streamlit as st

from core import devices, lines
from core.errors import NotFound, VoipAdminError
from core.permissions import Actor
from dashboard.db import tx
from dashboard.error_texts import refusal, say_refusal
from dashboard.i18n import t

ERRORS_KEY = "field_errors"


def _param_int(name: str) -> int | None:
    raw = st.query_params.get(name)
    return int(raw) if raw and raw.isdigit() else None


def line_label(line: dict[str, Any]) -> str:
    return t(
        "line_label",
        extension=line.get("extension") or "—",
        number=line["number"],
        name=line.get("display_name") or "",
        vpbx=line["vpbx"],
    )


SEARCH_LIMIT = 8  # results shown under the search box; more means "narrow it down"
CURRENT_LINE = "current_line"  # session key: the line stays chosen from page to page


def _pick(line_id: int, key: str) -> None:
    st.session_state[CURRENT_LINE] = line_id
    st.query_params["line"] = str(line_id)  # the URL names the line shown (and wins over the session's)
    st.session_state[f"{key}_q"] = ""  # the search is done: the next one starts empty


def choose_line(actor: Actor, key: str = "line_pick", hold: str = "") -> dict[str, Any] | None:
    """The line to work on: `?line=<id>` (ignored if not visible), else the one chosen last, else the first.

    `hold`: why the line may not change now (e.g. unsaved key edits); the results are shown but disabled.

    A search box (number, extension, name, vPBX) lists at most SEARCH_LIMIT matching lines as buttons,
    each keyed by its line id, so a click picks the line it shows; no list of every line is ever loaded.
    """
    wanted = _param_int("line") or st.session_state.get(CURRENT_LINE)
    query = "" if actor.has_one_line else st.session_state.get(f"{key}_q", "")
    with tx() as s:
        current = lines.visible_line(s, actor, wanted) if wanted else None
        if current is None:
            first = lines.search_lines(s, actor, "", limit=1)
            current = first[0] if first else None
        hits = lines.search_lines(s, actor, query, limit=SEARCH_LIMIT + 1) if query.strip() else []
    if current is None:
        st.info(t("no_lines"))
        return None
    st.session_state[CURRENT_LINE] = current["id"]
    st.query_params["line"] = str(current["id"])
    st.subheader(line_label(current))
    if actor.has_one_line:  # nothing to choose
        return current
    st.text_input(t("line_search"), key=f"{key}_q", placeholder=t("line_search_hint"))
    if query.strip():
        for hit in hits[:SEARCH_LIMIT]:
            st.button(line_label(hit), key=f"{key}_hit_{hit['id']}", type="tertiary", icon=":material/call:",
                      on_click=_pick, args=(hit["id"], key),
                      disabled=bool(hold) or hit["id"] == current["id"])  # fmt: skip
        if hold and hits:
            st.caption(hold)
        if not hits:
            st.caption(t("line_search_none", text=query.strip()))
        elif len(hits) > SEARCH_LIMIT:
            st.caption(t("line_search_more", count=SEARCH_LIMIT))
    return current


def device_from_url(actor: Actor) -> dict[str, Any] | None:
    """The device named by `?device=<id>`, if the actor may see it; a foreign or missing id shows nothing of it."""
    device_id = _param_int("device")
    if device_id is None:
        return None
    try:
        with tx() as s:
            return devices.get_device(s, actor, device_id)
    except NotFound:
        st.warning(t("device_not_found"))
        del st.query_params["device"]
        return None


def device_name(device: dict[str, Any]) -> str:
    label = f" — {device['label']}" if device.get("label") else ""
    return f"{device['model_label']}{label}"


def dect_label(ref: dict[str, Any], free: int | None = None) -> str:
    """A base or handset as a support agent tells them apart: model and label, MAC, the line it is on (a DECT
    system spans its vPBX's lines); `free`: a base's free slots, where one is chosen."""
    device = t(
        "dect_device", name=device_name(ref), mac=ref["mac"] or "—", extension=ref.get("extension") or "—",
        number=ref["line"], display=ref.get("display_name") or "",
    ).strip()  # fmt: skip
    return device if free is None else t("dect_free", device=device, free=free)


def choose_device(candidates: dict[int, dict[str, Any]], key: str, on_change: Callable[[], None] | None = None) -> int:
    """The device picker of one line's devices (id -> view); a choice left from another line starts over."""
    if st.session_state.get(key) not in candidates:
        st.session_state.pop(key, None)  # another line's device: start from this line's first
    return st.selectbox(
        t("device"),
        list(candidates),
        format_func={i: device_name(d) for i, d in candidates.items()}.get,
        placeholder=t("choose"),
        key=key,
        on_change=on_change,
    )


def when(iso: str | None) -> str:
    """A stored UTC time as the user reads it (minute precision)."""
    if not iso:
        return t("never")
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M UTC")


# Streamlit's frontend writes "Press Enter to apply" under a text input being typed in, in English whatever
# the page's language, and offers no option to translate it: hidden (Enter still applies the value).
ENGLISH_CHROME_CSS = "<style>[data-testid='InputInstructions'] { display: none !important; }</style>"


def hide_english_chrome() -> None:
    """Called once per run by the frame, before any page draws."""
    st.html(ENGLISH_CHROME_CSS)


def redirection_rows(jobs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Redirection-service requests (core.devices.redirection_state) with headers, actions and states in
    the reader's language; the service's own answer is shown as it came (an HTTP status, the vendor's words)."""
    return [
        {
            t("redir_service"): job["service"],
            t("redir_action"): t(f"redir_{job['action']}"),
            t("redir_state"): t(f"redir_{job['state']}"),
            t("redir_attempts"): job["attempts"],
            t("redir_error"): "" if job["state"] == "unconfigured" else job["error"] or "",
            t("redir_updated"): when(job["updated"]),
        }
        for job in jobs
    ]


def call(fn: Any, *args: Any, scope: str = "", **kwargs: Any) -> Any:
    """Run a core use case in its own transaction; on a refusal, remember its code under its field.

    A refusal reruns the script so `field_error` shows the message next to its field. The code and
    parameters are kept, not a text: the message is said when drawn, in the language chosen by then.
    """
    st.session_state[ERRORS_KEY] = {}
    try:
        with tx() as s:
            return fn(s, *args, **kwargs)
    except VoipAdminError as exc:
        st.session_state[ERRORS_KEY] = {f"{scope}{exc.field or ''}": refusal(exc)}
        # The widgets were drawn before the submit was handled: draw again, now with the message.
        st.rerun()


def field_error(field: str, scope: str = "") -> None:
    """Show the last refusal if it was about `field` (ValidationError.field), in the session's language."""
    stored = st.session_state.get(ERRORS_KEY, {}).get(f"{scope}{field}")
    if stored:
        st.error(say_refusal(stored), icon=":material/error:")


def other_errors(known: tuple[str, ...], scope: str = "") -> None:
    """Refusals about fields that have no widget here (e.g. "device", "line"), each naming its field."""
    for name, stored in st.session_state.get(ERRORS_KEY, {}).items():
        if name.startswith(scope) and name[len(scope) :] not in known:
            st.error(say_refusal(stored, with_field=True), icon=":material/error:")
