"""Bans and scanners with the Kamailio switch (issue 16 point 2), against real Kamailio and real peers:
sipvicious's svmap dropped and recorded as `sip_scanner` (the fraud alert rules read it unchanged), a
password guesser banned after VOIPADMIN_SIP_FAIL_THRESHOLD failures (a `ban` row, then no answer), and a
ban made with `python -m core ban add` starting, and `ban lift` ending, within seconds under serve."""

from __future__ import annotations

import json
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from core.db import transaction
from core.models import Ban, RegistrationEvent, SecurityEvent
from core.settings import Settings
from core.switch.kamailio_config import runtime_dir
from core.switch.security import htable_keys, rpc_on
from tests.conftest import run_core
from tests.net import free_port, stop_process, wait_for
from tests.sip.conftest import seed_users
from tests.sip.test_live_sipp import users_csv
from tests.switch.conftest import HOST, RunningKamailio, SwitchServe, start_kamailio, start_switch_serve

pytestmark = [pytest.mark.sip, pytest.mark.db]

SCEN = Path(__file__).resolve().parent / "scenarios"
SVMAP = Path(sys.executable).with_name("sipvicious_svmap")


def options(port: int, user_agent: str = "Yealink SIP-T46U 108.86.0.20", wait: float = 2.0) -> int | None:
    """An OPTIONS from 127.0.0.1 to Kamailio: the status it got, or None when nothing came within `wait` s."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        sock.settimeout(wait)
        local = sock.getsockname()[1]
        branch, tag = secrets.token_hex(6), secrets.token_hex(4)
        headers = [
            f"OPTIONS sip:{HOST}:{port} SIP/2.0",
            f"Via: SIP/2.0/UDP {HOST}:{local};branch=z9hG4bK{branch};rport",
            f"From: <sip:probe@{HOST}>;tag={tag}",
            f"To: <sip:{HOST}:{port}>",
            f"Call-ID: {branch}@{HOST}",
            "CSeq: 1 OPTIONS",
            "Max-Forwards: 70",
            f"User-Agent: {user_agent}",
            "Content-Length: 0",
        ]
        msg = "\r\n".join(headers) + "\r\n\r\n"
        sock.sendto(msg.encode(), (HOST, port))
        try:
            data = sock.recv(65535)
        except TimeoutError:
            return None
    return int(data.split(b" ", 2)[1])


def events(engine: Engine, kind: str) -> list[SecurityEvent]:
    with transaction(engine) as s:
        return list(s.scalars(select(SecurityEvent).where(SecurityEvent.kind == kind).order_by(SecurityEvent.id)))


def test_svmap_is_dropped_recorded_once_and_raises_the_scanner_alert(kamailio: RunningKamailio, engine: Engine,
                                                                     env: dict[str, str]) -> None:  # fmt: skip
    for _ in range(2):
        scan = subprocess.run([str(SVMAP), HOST, "-p", str(kamailio.port), "-P", str(free_port())],
                              capture_output=True, text=True, timeout=120)  # fmt: skip
        assert "found nothing" in scan.stdout + scan.stderr, scan.stdout + scan.stderr  # not a word back
    (event,) = events(engine, "sip_scanner")  # the second scan is the same source: no second row
    assert (event.source_ip, event.user_agent, event.line_id) == (HOST, "friendly-scanner", None)
    assert event.detail == "user-agent 'friendly-scanner', dropped"
    assert options(kamailio.port, "SIPVicious/0.3.8") is None  # any scanner name, not only svmap's
    assert options(kamailio.port) == 200  # a scanner's tell is dropped, the address is not banned for it
    run_core(env, "alerts", "scan")
    alerts = json.loads(run_core(env, "--json", "alerts", "list").stdout)
    assert [(a["rule"], a["source_ip"]) for a in alerts] == [("sip_scanner", HOST)]


def test_a_password_guesser_is_banned_then_gets_no_answer(settings: Settings, engine: Engine,
                                                          tmp_path: Path) -> None:  # fmt: skip
    users = seed_users(engine, 2)
    k = start_kamailio(settings.with_(sip_fail_threshold=3, sip_ban_seconds=600), engine, tmp_path)
    try:
        assert options(k.port) == 200
        csv = users_csv(tmp_path / "wrong.csv", ["1000"], {"1000": "not-the-password"})
        # One guess at a time (-l 1): the fourth comes after the ban.
        guess = subprocess.run(["sipp", f"{HOST}:{k.port}", "-sf", str(SCEN / "reg_wrong_password.xml"), "-inf",
                                str(csv), "-i", HOST, "-p", str(free_port()), "-m", "4", "-l", "1", "-nostdin",
                                "-timeout", "60s"], cwd=tmp_path, capture_output=True, text=True,
                               timeout=120)  # fmt: skip
        assert guess.returncode == 1, guess.stdout[-2000:]  # the last two REGISTERs got no answer: "failed" calls
        failed = events(engine, "sip_auth_failed")
        assert [(e.source_ip, e.username, e.line_id) for e in failed] == [(HOST, "1000", users.lines["1000"])] * 3
        (banned,) = events(engine, "sip_banned")
        assert (banned.source_ip, banned.detail) == (HOST, "3 failed SIP authentications")
        with transaction(engine) as s:
            (ban,) = s.scalars(select(Ban)).all()
            history = s.scalars(select(RegistrationEvent.event).where(RegistrationEvent.line_id == users.lines["1000"]))
            assert list(history) == ["auth_failed"] * 3  # the line's history, as the diagnosis reads it
        assert (ban.source_ip, ban.scope, ban.reason) == (HOST, "sip", "3 failed SIP authentications")
        assert 590 <= (ban.expires_at - ban.created_at).total_seconds() <= 600
        assert options(k.port) is None  # banned: not a word, whatever it sends
        assert HOST in htable_keys(k.rpc)
        assert "not-the-password" not in k.output()
    finally:
        stop_process(k.proc)


def test_ban_add_and_lift_reach_kamailio_within_seconds(env: dict[str, str], engine: Engine, tmp_path: Path,
                                                        settings: Settings) -> None:  # fmt: skip
    served: SwitchServe = start_switch_serve(env, tmp_path)
    sock = runtime_dir(settings) / "rpc.sock"
    try:
        assert options(served.sip_port) is not None  # an answer, whichever: not dropped
        run_core(env, "ban", "add", HOST, "--scope", "provisioning", "--minutes", "5")  # not SIP's
        run_core(env, "ban", "add", "192.0.2.7", "--scope", "sip", "--minutes", "5")
        wait_for(lambda: htable_keys(rpc_on(sock)) == {"192.0.2.7"}, 10, "the SIP ban in Kamailio")
        assert options(served.sip_port) is not None  # the provisioning ban of this address left SIP alone
        run_core(env, "ban", "add", HOST, "--scope", "all", "--minutes", "5", "--reason", "support ticket 4711")
        wait_for(lambda: options(served.sip_port, wait=0.5) is None, 10, "Kamailio dropping the banned address")
        run_core(env, "ban", "lift", HOST)
        wait_for(lambda: options(served.sip_port, wait=0.5) is not None, 10, "Kamailio answering again after ban lift")
        assert htable_keys(rpc_on(sock)) == {"192.0.2.7"}
        with transaction(engine) as s:
            assert {b.source_ip for b in s.scalars(select(Ban))} == {"192.0.2.7"}
    finally:
        stop_process(served.proc)
