"""The data loss / abuse procedure in the dashboard (issue 13 point 3): core/respond.py's workflow for a line,
"with live progress and what is left" (docs/FRAUD.md, "The procedure").

On Fraude (`section`), for administrators: the users' requests waiting (`respond.requests_waiting`), each with
a start button; then the chosen line's procedure. The line is chosen by a line's « Procédure perte de données
/ abus » button under Actions (`choose`), by a request's button, or by `?alert=<id>` of a
`data_loss_reported` alert (the notifier's link); `?respond=<line id>` keeps it. Starting asks first, saying
the six steps; then a fragment runs `respond.advance` every POLL_SECONDS while the run is running and draws
each step with its time (done / waiting and why / to do), each device's push, whether it fetched with its
new key and registered with the new credentials, what is left, and « Compter comme fait » (asked first).
When the run is done the fragment does one full rerun, which draws the outcome without the poller.

On Téléphones (`lost_data`), for an end user on their own line: « J'ai perdu mes données » with a note,
asked first (`respond.request`: their administrators get a high alert), then the request's state
(`respond.status`). A user never gets a start button: core refuses it (`respond.RESPOND_ROLES`).

Calls follow dashboard/alerts_panel.py: a button's callback keeps what was pressed, carried out through
`widgets.call` at the start of the next run, so a click is never lost; refusals are said by error_texts.
A PSTN block is said through `i18n.block_t` with the view's `pstn_block_enforced_by`: never a bare "blocked".
"""

from __future__ import annotations

import re
from typing import Any

import streamlit as st

from core import alerts, devices, fraud, respond
from core.errors import NotFound, ValidationError, VoipAdminError
from core.permissions import Actor
from dashboard.db import tx
from dashboard.error_texts import say_error
from dashboard.i18n import block_t, t
from dashboard.setup_dialog import FLAG as SETUP_FLAG
from dashboard.setup_dialog import open_setup, show_if_open
from dashboard.widgets import call, device_name, field_error, line_label, other_errors, when

POLL_SECONDS = 3  # the live fragment's period while a run is running
PARAM = "respond"  # ?respond=<line id>: the line whose procedure is shown
LINE_KEY = "fraud_respond_line"  # the same, for a run without the parameter (after a visit elsewhere)
ALERT_SEEN = "fraud_respond_alert"  # the ?alert= last followed: a new one chooses its line once
ASK = "fraud_respond_ask"  # ("start", line id) or ("skip", response id, device id): waiting for confirmation
PENDING = "fraud_respond_pending"  # a confirmed action, carried out at the start of the next run
SCOPE = "respond."  # refusals of the procedure's calls
REPORTED = "data_loss_reported"  # the alert a user's request raises (core.alert_rules)
STEP_ICON = {"done": ":material/check_circle:", "waiting": ":material/hourglass_top:",
             "todo": ":material/radio_button_unchecked:"}  # fmt: skip
USER_ASK = "lost_data_ask"  # the line whose "I lost my data" waits for confirmation
USER_PENDING = "lost_data_pending"  # {"line", "note"}: confirmed, carried out at the start of the next run
USER_SENT = "lost_data_sent"  # the line whose request was just sent: said once
USER_VERSION = "lost_data_note_version"  # a new note field after a request
USER_SCOPE = "lost."
_MARKDOWN = re.compile(r"([\\`*_\[\]<>#~|$])")


def _md(text: str) -> str:
    """Text typed by people (a display name, a device label) drawn inside our markdown as typed."""
    return _MARKDOWN.sub(r"\\\1", text)


def _param_int(name: str) -> int | None:
    raw = st.query_params.get(name)
    return int(raw) if raw and raw.isdigit() else None


# -- which line ---------------------------------------------------------------------------------------------


def choose(line_id: int) -> None:
    """Show this line's procedure (a button under Actions, a request, an alert)."""
    st.session_state[LINE_KEY] = line_id
    st.query_params[PARAM] = str(line_id)


def _forget_line() -> None:
    st.session_state.pop(LINE_KEY, None)
    st.query_params.pop(PARAM, None)


def _line_id(actor: Actor) -> int | None:
    """`?alert=` naming a data_loss_reported alert not followed yet chooses its line; else `?respond=`, else the
    line chosen last. Core scopes the alert (another vPBX's is not found) and the line (read by the caller)."""
    alert_id = _param_int("alert")
    if alert_id is not None and alert_id != st.session_state.get(ALERT_SEEN):
        st.session_state[ALERT_SEEN] = alert_id
        try:
            with tx() as s:
                alert = alerts.get_alert(s, actor, alert_id)
        except NotFound:
            alert = None
        if alert is not None and alert["rule"] == REPORTED and alert["line_id"]:
            choose(int(alert["line_id"]))
    line_id = _param_int(PARAM) or st.session_state.get(LINE_KEY)
    if line_id is not None:
        choose(line_id)
    return line_id


# -- acting -------------------------------------------------------------------------------------------------


def _ask(*what: Any) -> None:
    st.session_state[ASK] = what


def _cancel() -> None:
    st.session_state.pop(ASK, None)


def _press(*what: Any) -> None:
    """A confirmation's callback: kept, and carried out before anything is drawn on the next run."""
    st.session_state.pop(ASK, None)
    st.session_state[PENDING] = what


def _carry_out(actor: Actor) -> None:
    pending = st.session_state.pop(PENDING, None)
    if not pending:
        return
    if pending[0] == "start":
        call(respond.start, actor, pending[1], scope=SCOPE)  # the live fragment then runs the steps
    elif pending[0] == "skip":
        call(respond.skip_device, actor, pending[1], pending[2], scope=SCOPE)


# -- what is shown ------------------------------------------------------------------------------------------


def _step_state(view: dict[str, Any], step: dict[str, Any]) -> tuple[str, str]:
    """(done | waiting | todo, the words): a step's time, or what it waits for."""
    if step["at"]:
        return "done", t("rp_done_at", at=when(step["at"]))
    waiting = view.get("waiting")
    if waiting and waiting["step"] == step["step"]:
        why = t(f"rp_why_{waiting['why']}", n=len(view["left"]))
        return "waiting", t("rp_waiting", why=why)
    return "todo", t("rp_todo")


def outcome(view: dict[str, Any]) -> tuple[str, str]:
    """The run's outcome in words, and how to show it (success / info / warning)."""
    enforced = view["pstn_block_enforced_by"]
    if view["state"] == respond.DONE:
        if view["pstn_blocked"]:  # blocked before the procedure: it stays so
            return "success", t("rp_out_done_kept", state=block_t("block_state", enforced))
        return "success", block_t("rp_out_done", enforced)
    if view["state"] == respond.REQUESTED:
        return "info", t("rp_requested", by=view["requested_by"], at=when(view["requested_at"]))
    waiting = view.get("waiting")
    if waiting and waiting["why"] == "devices_left":
        return "warning", t("rp_out_devices_left", n=len(view["left"]))
    if waiting and waiting["why"] == "credentials_loading":
        return "info", t("rp_out_credentials_loading")
    return "info", t("rp_out_running")


def push_text(part: dict[str, Any]) -> str:
    push = part["push"] or "pending"
    if push == respond.NOTIFY and part["resyncs"] > 1:
        return t("rp_push_notify_n", n=part["resyncs"])
    return t(f"rp_push_{push}")


def left_text(part: dict[str, Any]) -> str:
    base = "_base" if part.get("other_line") else ""  # another line's base: its key is not renewed
    return t("rp_left", what=", ".join(t(f"rp_left_{w}{base if w == 'fetch' else ''}") for w in part["left"]))


def _names(actor: Actor, view: dict[str, Any]) -> dict[int, dict[str, Any]]:
    ids = [p["device_id"] for p in view["devices"] if p["device_id"]]
    with tx() as s:
        return {d["id"]: d for d in fraud.devices_by_id(s, actor, ids)}


def _device(view: dict[str, Any], part: dict[str, Any], named: dict[int, dict[str, Any]], index: int) -> None:
    """One device's part: how it was pushed, what it showed, what is left, « Compter comme fait »."""
    device_id, run_id = part["device_id"], view["id"]
    known = named.get(device_id or 0)
    name = device_name(known) if known else part["label"] or t("rp_device_gone")
    with st.container(border=True, key=f"rp_device_{device_id}" if device_id else f"rp_device_gone_{index}"):
        st.markdown(f"**{_md(name)}**")
        st.caption(push_text(part))
        if part.get("other_line"):
            st.caption(t("rp_other_base", line=part["other_line"]))
        if part["push"] == respond.MANUAL and known is not None and known["has_url"]:
            # The dialog is drawn by the full run, outside the auto-refresh fragment (see _setup).
            if st.button(t("dv_do_setup"), icon=":material/qr_code:", key=f"rp_setup_{device_id}"):
                open_setup(device_id)
                st.rerun()
        if part["push"] == respond.NONE:
            return
        if view["next_step"] in ("block", "credentials", "keys"):
            return  # nothing pushed yet: nothing to tell
        fetched, not_fetched = ("rp_fetched_base", "rp_not_fetched_base") if part.get("other_line") else (
            "rp_fetched", "rp_not_fetched")  # fmt: skip
        for at, yes, no in ((part["fetched_at"], fetched, not_fetched),
                            (part["registered_at"], "rp_registered", "rp_not_registered")):  # fmt: skip
            icon = STEP_ICON["done"] if at else STEP_ICON["todo"]
            st.markdown(f"{icon} {t(yes, at=when(at)) if at else t(no)}")
        if part["skipped_by"]:
            st.markdown(f"{STEP_ICON['done']} {t('rp_skipped', by=_md(part['skipped_by']))}")
        if not part["left"]:
            st.caption(t("rp_device_done"))
            return
        st.markdown(f"**{left_text(part)}**")
        if view["state"] != respond.RUNNING or device_id is None:
            return
        if st.session_state.get(ASK) == ("skip", run_id, device_id):
            st.warning(t("rp_skip_confirm", name=_md(name)))
            yes, no = st.columns(2)
            yes.button(t("rp_skip_yes"), type="primary", key=f"rp_skip_yes_{run_id}_{device_id}", on_click=_press,
                       args=("skip", run_id, device_id))  # fmt: skip
            no.button(t("cancel"), key=f"rp_skip_no_{run_id}_{device_id}", on_click=_cancel)
        else:
            st.button(t("rp_skip"), icon=":material/done_all:", key=f"rp_skip_{run_id}_{device_id}", on_click=_ask,
                      args=("skip", run_id, device_id))  # fmt: skip


def draw(view: dict[str, Any], named: dict[int, dict[str, Any]]) -> None:
    """The run: its outcome in words, the six steps with their time, each device, what is left."""
    kind, text = outcome(view)
    getattr(st, kind)(text)
    if view["started_at"]:
        st.caption(t("rp_started", by=_md(view["started_by"]), at=when(view["started_at"])))
    if view["finished_at"]:
        st.caption(t("rp_finished", at=when(view["finished_at"])))
    if view["note"]:
        st.text(t("al_note_shown", note=view["note"]))  # typed by the person who asked: shown as typed
    for step in view["steps"]:
        state, words = _step_state(view, step)
        with st.container(key=f"rp_step_{step['step']}"):
            st.markdown(f"{STEP_ICON[state]} **{t('rp_step_' + step['step'])}** — {words}")
            if step["step"] == "block" and state == "done" and view["pstn_blocked"]:
                st.caption(block_t("block_state", view["pstn_block_enforced_by"]))
    left = [t(f"rp_step_{s['step']}") for s in view["steps"] if not s["at"]]
    if view["state"] != respond.REQUESTED:
        st.markdown(f"**{t('rp_left_steps', steps=', '.join(left))}**" if left else t("rp_nothing_left"))
    for index, part in enumerate(view["devices"]):
        _device(view, part, named, index)


@st.fragment(run_every=POLL_SECONDS)
def _live(actor: Actor, response_id: int) -> None:
    """While the run is running: the due steps run, then everything is drawn again; done -> one full rerun,
    which draws the outcome without this poller."""
    _carry_out(actor)  # a device counted as done, confirmed on the last run
    try:
        with tx() as s:
            view = respond.advance(s, actor, response_id)
    except ValidationError as exc:
        if exc.code == "response_not_running":  # finished meanwhile (another session): the full run says so
            st.rerun()
        st.error(say_error(exc))
        return
    except VoipAdminError as exc:  # the line gone, or no longer this account's
        st.error(say_error(exc))
        return
    draw(view, _names(actor, view))
    if view["state"] == respond.DONE:
        st.rerun()
    st.caption(t("auto_refresh", seconds=POLL_SECONDS))


def _start(line: dict[str, Any]) -> None:
    """« Lancer la procédure … », then the question saying what will happen, step by step."""
    line_id = line["id"]
    if st.session_state.get(ASK) != ("start", line_id):
        st.button(t("rp_start"), icon=":material/emergency:", type="primary", key=f"rp_start_{line_id}",
                  on_click=_ask, args=("start", line_id))  # fmt: skip
        return
    with st.container(border=True, key=f"rp_start_confirm_{line_id}"):
        st.warning(t("rp_confirm", line=_md(line_label(line))))
        what = [block_t("rp_what_block", line["pstn_block_enforced_by"]),
                *(t(f"rp_what_{s}") for s in respond.STEPS[1:])]  # fmt: skip
        st.markdown("\n".join(f"{i}. {w}" for i, w in enumerate(what, 1)))
        yes, no = st.columns(2)
        yes.button(t("rp_start_yes"), type="primary", key=f"rp_start_yes_{line_id}", on_click=_press,
                   args=("start", line_id))  # fmt: skip
        no.button(t("cancel"), key=f"rp_start_no_{line_id}", on_click=_cancel)


def _requests(waiting: list[dict[str, Any]], named: dict[int, dict[str, Any]]) -> None:
    """The users' requests not started yet, each with its start button."""
    if not waiting:
        return
    st.markdown(f"**{t('rp_requests', count=len(waiting))}**")
    for run in waiting:
        line = named.get(run["line_id"])
        label = line_label(line) if line else run["number"]
        with st.container(border=True, key=f"rp_request_{run['id']}"):
            st.markdown(_md(t("rp_request_row", line=label, by=run["requested_by"], at=when(run["requested_at"]))))
            if run["note"]:
                st.text(t("al_note_shown", note=run["note"]))
            st.button(t("rp_start"), icon=":material/emergency:", key=f"rp_request_start_{run['line_id']}",
                      on_click=_open_request, args=(run["line_id"],))  # fmt: skip


def _open_request(line_id: int) -> None:
    choose(line_id)
    _ask("start", line_id)


def _setup(actor: Actor, view: dict[str, Any] | None) -> None:
    """Configuration manuelle of a device of the run (opened by its button in the fragment): drawn here, outside
    the auto-refresh fragment (a dialog opened inside one stops answering: streamlit#17011)."""
    wanted = st.session_state.get(SETUP_FLAG)
    if view is None or wanted not in [p["device_id"] for p in view["devices"]]:
        return
    try:
        with tx() as s:
            device = devices.get_device(s, actor, wanted)
    except NotFound:
        return
    show_if_open(actor, [device])


def section(actor: Actor) -> None:
    """Fraude's procedure section (provider, vPBX admin): the requests, then the chosen line's procedure."""
    st.subheader(t("rp_title"))
    st.caption(t("rp_intro"))
    _carry_out(actor)
    other_errors((), scope=SCOPE)
    line_id = _line_id(actor)
    view: dict[str, Any] | None = None
    with tx() as s:
        waiting = respond.requests_waiting(s, actor)
        ids = list(dict.fromkeys([*(r["line_id"] for r in waiting), *([line_id] if line_id else [])]))
        named = {x["id"]: x for x in fraud.lines_by_id(s, actor, ids)}
        if line_id in named:
            try:
                view = respond.status(s, actor, line_id)
            except NotFound:  # never had one
                view = None
    _requests(waiting, named)
    line = named.get(line_id or 0)
    if line is None:  # none chosen, or not visible to this account: nothing of it shown
        if line_id is not None:
            _forget_line()
        st.caption(t("rp_pick"))
        return
    with st.container(border=True, key=f"rp_line_{line['id']}"):
        st.markdown(f"**{_md(line_label(line))}**")
        if view is not None and view["state"] == respond.RUNNING:
            _live(actor, view["id"])
        else:
            if view is None:
                st.caption(t("rp_none_yet"))
            else:  # requested, or the last run, finished
                draw(view, _names(actor, view))
            _start(line)
    _setup(actor, view)


# -- the end user's "I lost my data" ------------------------------------------------------------------------


def _user_note_key(line_id: int) -> str:
    return f"lost_data_note_{line_id}_{st.session_state.get(USER_VERSION, 0)}"


def _user_press(line_id: int) -> None:
    st.session_state.pop(USER_ASK, None)
    st.session_state[USER_PENDING] = {"line": line_id, "note": st.session_state.get(_user_note_key(line_id))}


def _user_ask(line_id: int) -> None:
    st.session_state[USER_ASK] = line_id


def _user_cancel() -> None:
    st.session_state.pop(USER_ASK, None)


def _user_carry_out(actor: Actor) -> None:
    pending = st.session_state.pop(USER_PENDING, None)
    if not pending:
        return
    if call(respond.request, actor, pending["line"], pending["note"], scope=USER_SCOPE) is not None:
        st.session_state[USER_SENT] = pending["line"]
        st.session_state[USER_VERSION] = st.session_state.get(USER_VERSION, 0) + 1  # the next note starts empty


def lost_data(actor: Actor, line: dict[str, Any]) -> None:
    """Téléphones, for an end user: « J'ai perdu mes données » on their line, asked first, then its state."""
    _user_carry_out(actor)
    line_id = line["id"]
    st.subheader(t("rp_user_title"))
    st.caption(t("rp_user_intro"))
    other_errors(("note",), scope=USER_SCOPE)
    try:
        with tx() as s:
            view = respond.status(s, actor, line_id)
    except NotFound:  # never asked
        view = None
    if st.session_state.get(USER_SENT) == line_id:
        st.session_state.pop(USER_SENT)
        st.success(t("rp_user_sent"))
    if view is not None and view["state"] == respond.REQUESTED:
        st.info(t("rp_user_requested", by=view["requested_by"], at=when(view["requested_at"])))
        return
    if view is not None and view["state"] == respond.RUNNING:
        step = t(f"rp_step_{view['next_step']}") if view["next_step"] else t("rp_out_running")
        st.info(t("rp_user_running", at=when(view["started_at"]), step=step))
        return
    if view is not None:  # done: the user may ask again
        st.success(t("rp_user_done", at=when(view["finished_at"])))
    st.text_area(t("rp_user_note"), key=_user_note_key(line_id))
    field_error("note", scope=USER_SCOPE)
    if st.session_state.get(USER_ASK) != line_id:
        st.button(t("rp_user_button"), icon=":material/report:", key=f"lost_data_{line_id}", on_click=_user_ask,
                  args=(line_id,))  # fmt: skip
        return
    with st.container(border=True, key=f"lost_data_confirm_{line_id}"):
        st.warning(t("rp_user_confirm", line=_md(line_label(line))))
        yes, no = st.columns(2)
        yes.button(t("rp_user_yes"), type="primary", key=f"lost_data_yes_{line_id}", on_click=_user_press,
                   args=(line_id,))  # fmt: skip
        no.button(t("cancel"), key=f"lost_data_no_{line_id}", on_click=_user_cancel)
