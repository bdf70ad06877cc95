"""Reboot/resync end to end: CLI -> DeviceCommand row -> registrar -> NOTIFY -> a real peer."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from core.db import transaction
from core.models import AuditEvent, DeviceCommand
from core.settings import Settings
from tests.sip.conftest import ROOT, RunningRegistrar, Users, free_port, start_registrar
from tests.sip.fakeua import NotifyPhone, PhoneScript
from tests.sip.test_live_sipp import SCEN, users_csv

pytestmark = [pytest.mark.sip, pytest.mark.db]


def cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)  # fmt: skip


def test_reboot_notify_answers_the_phones_401_challenge(
    registrar: RunningRegistrar, users: Users, env: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    port = free_port()
    creds = tmp_path / "u.csv"
    users_csv(creds, ["1000"])
    reg = subprocess.run(
        ["sipp", f"127.0.0.1:{registrar.port}", "-sf", str(SCEN / "reg_auth.xml"), "-inf", str(creds), "-i",
         "127.0.0.1", "-p", str(port), "-m", "1", "-nostdin", "-timeout", "15s", "-timeout_error"],
        cwd=tmp_path, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert reg.returncode == 0, reg.stdout[-2000:]
    phone_csv = tmp_path / "phone.csv"
    phone_csv.write_text("SEQUENTIAL\n1000;secret1000\n")
    # The phone's lifetime (-timeout) outlasts the waits below (the command's 20 s, then 20 s for sipp to end).
    uas = subprocess.Popen(
        ["sipp", "-sf", str(SCEN / "notify_uas.xml"), "-inf", str(phone_csv), "-i", "127.0.0.1", "-p", str(port),
         "-m", "1", "-nostdin", "-timeout", "120s", "-timeout_error", "-trace_msg"],
        cwd=tmp_path, stdout=(tmp_path / "uas.out").open("w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        run = cli(env, "--json", "device", "reboot", str(users.devices["1000"]), "--wait", "20")
        out = json.loads(run.stdout)
        assert run.returncode == 0, run.stdout + registrar.output() + (tmp_path / "uas.out").read_text()
        assert out["state"] == "ok" and out["result"].startswith("200 OK from 127.0.0.1:")
        assert uas.wait(20) == 0
    finally:
        if uas.poll() is None:
            uas.kill()
            uas.wait()
    trace = "".join(p.read_text() for p in tmp_path.glob("notify_uas_*_messages.log"))
    assert "Event: check-sync;reboot=true" in trace
    assert 'Authorization: Digest username="1000", realm="phone.test"' in trace
    assert "secret1000" not in registrar.output()
    with transaction(engine) as s:
        cmd = s.scalars(select(DeviceCommand)).one()
        assert (cmd.action, cmd.state, cmd.finished_at is not None) == ("reboot", "ok", True)
        assert s.scalars(select(AuditEvent).where(AuditEvent.action == "device.reboot")).one().target_id == str(
            cmd.device_id
        )


def test_command_for_unregistered_device_says_not_registered(
    registrar: RunningRegistrar, users: Users, env: dict[str, str]
) -> None:
    run = cli(env, "device", "resync", str(users.devices["1001"]), "--wait", "10")
    assert run.returncode == 1
    assert "not_registered" in run.stdout


def test_command_without_registrar_says_it_is_not_running(users: Users, env: dict[str, str]) -> None:
    run = cli(env, "device", "reboot", str(users.devices["1000"]), "--wait", "5")
    assert run.returncode == 3
    assert "registrar is not running" in run.stdout


# -- NOTIFY against a scripted phone on a real socket (tests/sip/fakeua.NotifyPhone) --


@contextmanager
def phone(port: int, user: str, transport: str, script: PhoneScript) -> Iterator[NotifyPhone]:
    p = NotifyPhone(port, user, f"secret{user}", transport, script)
    try:
        reply = p.register()
        assert reply.status == 200, reply
        yield p
    finally:
        p.close()


def command(env: dict[str, str], action: str, device: int, wait: float) -> tuple[int, dict[str, Any]]:
    """The CLI through the process boundary; `wait` is well above the registrar's own deadline."""
    run = cli(env, "--json", "device", action, str(device), "--wait", f"{wait:g}", timeout=wait + 60)
    return run.returncode, json.loads(run.stdout)


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def test_udp_notify_is_sent_again_doubling_until_the_phone_answers(
    settings: Settings, env: dict[str, str], users: Users, tmp_path: Path
) -> None:
    """A phone that loses the first five copies: copies come after T1, 2T1, 4T1, then every T2 (RFC 3261
    §17.1.2.2); the sixth is answered and the command ends `answered`. Deadline 30 s: the sixth copy is due
    at 11.5 s, so a slow machine delays it without reaching the deadline."""
    with (
        start_registrar(settings, env | {"VOIPADMIN_SIP_NOTIFY_TIMEOUT": "30"}, tmp_path) as reg,
        phone(reg.port, "1000", "udp", PhoneScript(drop=5)) as p,
    ):
        rc, out = command(env, "reboot", users.devices["1000"], 60)
        assert (rc, out["state"], out["outcome"]) == (0, "ok", "answered"), out
        assert out["result"] == f"200 OK from 127.0.0.1:{p.local[1]}/udp"
    times = p.notify_times()
    assert len(times) == 6 and p.answers == [200], (times, p.answers)
    assert len({s.request.get("Via") for s in p.seen}) == 1  # copies of one request: the same branch
    g = gaps(times)
    # Ratios, not seconds: each gap about twice the one before until T2 = 8 T1, then equal.
    assert [round(b / a) for a, b in zip(g[:3], g[1:4], strict=False)] == [2, 2, 2], g
    assert 0.75 < g[4] / g[3] < 1.33, g
    assert 6 < g[3] / g[0] < 10, g  # T2 / T1 = 8


def test_udp_notify_without_answer_ends_no_answer_at_the_deadline(
    registrar: RunningRegistrar, env: dict[str, str], users: Users
) -> None:
    """The registrar fixture's VOIPADMIN_SIP_NOTIFY_TIMEOUT is 4 s: copies at 0, 0.5, 1.5 and 3.5 s, none
    after (the next would be due at 7.5 s), then `no_answer`."""
    with phone(registrar.port, "1000", "udp", PhoneScript(drop=1_000)) as p:
        rc, out = command(env, "resync", users.devices["1000"], 40)
        assert (rc, out["state"], out["outcome"]) == (1, "timeout", "no_answer"), out
        assert out["result"] == "no answer within 4 s"
        copies = len(p.notify_times())
    # Four on time; three if a loaded machine ran the 3.5 s timer past the deadline. Never a fifth.
    assert copies in (3, 4) and p.answers == [], copies
    g = gaps(p.notify_times())
    assert [round(b / a) for a, b in zip(g, g[1:], strict=False)] == [2] * (len(g) - 1), g


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("challenge", [401, 407])
def test_notify_answers_the_phones_challenge_with_digest(
    registrar: RunningRegistrar, env: dict[str, str], users: Users, transport: str, challenge: int
) -> None:
    """401 is answered with Authorization, 407 with Proxy-Authorization; the phone checks the digest (403 if
    wrong), so `answered` means the registrar used the line's password."""
    header = "Authorization" if challenge == 401 else "Proxy-Authorization"
    with phone(registrar.port, "1000", transport, PhoneScript(challenge=challenge)) as p:
        rc, out = command(env, "reboot", users.devices["1000"], 40)
        assert (rc, out["state"], out["outcome"]) == (0, "ok", "answered"), out
        assert out["result"] == f"200 OK from 127.0.0.1:{p.local[1]}/{transport}"
    assert p.answers == [challenge, 200]
    first, retry = (s.request for s in p.seen)
    assert retry.call_id == first.call_id and retry.cseq == (first.cseq[0] + 1, "NOTIFY")
    assert first.get(header) is None and retry.get(header) is not None
    assert p.auth_values[0].startswith('Digest username="1000", realm="phone.test"')
    assert "secret1000" not in registrar.output()


def test_notify_whose_credentials_the_phone_refuses_ends_failed_after_one_retry(
    registrar: RunningRegistrar, env: dict[str, str], users: Users
) -> None:
    with phone(registrar.port, "1000", "udp", PhoneScript(challenge=407, challenge_always=True)) as p:
        rc, out = command(env, "reboot", users.devices["1000"], 40)
        assert (rc, out["state"], out["outcome"]) == (1, "failed", "error"), out
        assert out["result"] == f"407 Proxy Authentication Required from 127.0.0.1:{p.local[1]}/udp"
    assert p.answers == [407, 407]  # answered once, not again and again


def test_tcp_notify_is_sent_once_and_answered_on_the_registration_connection(
    registrar: RunningRegistrar, env: dict[str, str], users: Users
) -> None:
    """Over TCP the transport is reliable: one copy, even to a phone that does not answer it (no_answer at the
    deadline), and the next command's NOTIFY comes down the same connection and is answered."""
    with phone(registrar.port, "1000", "tcp", PhoneScript(drop=1)) as p:
        rc, out = command(env, "resync", users.devices["1000"], 40)
        assert (rc, out["state"], out["outcome"]) == (1, "timeout", "no_answer"), out
        assert len(p.notify_times()) == 1
        rc, out = command(env, "resync", users.devices["1000"], 40)
        assert (rc, out["state"], out["outcome"]) == (0, "ok", "answered"), out
        assert out["result"] == f"200 OK from 127.0.0.1:{p.local[1]}/tcp"
    assert len(p.seen) == 2 and p.answers == [200]
    assert all((s.request.get("Via") or "").startswith("SIP/2.0/TCP ") for s in p.seen)
