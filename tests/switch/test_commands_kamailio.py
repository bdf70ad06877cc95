"""Reboot/resync through Kamailio (issue 16 point 2), end to end: `python -m core device reboot` -> the
device_command row -> serve's worker (core/switch/commands.py) -> JSON-RPC -> Kamailio -> the phone's binding,
a real sipp phone that challenges the NOTIFY -> the outcome written back."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from core.db import transaction
from core.models import DeviceCommand, Registration
from tests.conftest import run_core
from tests.net import free_port, stop_process, wait_for
from tests.sip.conftest import DOMAIN, Users, seed_users
from tests.switch.conftest import HOST, SwitchServe, start_switch_serve

pytestmark = [pytest.mark.sip, pytest.mark.db]

SCEN = Path(__file__).resolve().parent / "scenarios"
SIP_SCEN = Path(__file__).resolve().parents[1] / "sip" / "scenarios"


@pytest.fixture
def users(engine: Engine) -> Users:
    return seed_users(engine, 2)


@pytest.fixture
def served(users: Users, env: dict[str, str], tmp_path: Path) -> Iterator[SwitchServe]:
    s = start_switch_serve(env, tmp_path)
    try:
        yield s
    finally:
        stop_process(s.proc)


def register(served: SwitchServe, engine: Engine, users: Users, user: str, port: int, cwd: Path) -> None:
    """The phone's REGISTER from `port` (sipp), then its binding in the registration mirror."""
    csv = cwd / f"{user}.csv"
    csv.write_text(f"SEQUENTIAL\n{user};[authentication username={user} password=secret{user}];{DOMAIN}\n")
    reg = subprocess.run(["sipp", f"{HOST}:{served.sip_port}", "-sf", str(SIP_SCEN / "reg_auth.xml"), "-inf", str(csv),
                          "-i", HOST, "-p", str(port), "-m", "1", "-nostdin", "-timeout", "15s", "-timeout_error"],
                         cwd=cwd, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert reg.returncode == 0, reg.stdout[-2000:] + served.output()[-3000:]

    def mirrored() -> bool:
        with transaction(engine) as s:
            return s.scalar(select(Registration.id).where(Registration.line_id == users.lines[user])) is not None

    wait_for(mirrored, 10, f"{user}'s binding in the registration table")


def phone(cwd: Path, port: int, user: str, realm: str) -> subprocess.Popen[bytes]:
    """A sipp phone on `port` that challenges one NOTIFY in `realm` and answers 200 to the right digest."""
    csv = cwd / f"phone-{user}.csv"
    csv.write_text(f"SEQUENTIAL\n{user};secret{user};{realm}\n")
    uas = subprocess.Popen(["sipp", "-sf", str(SCEN / "notify_uas_realm.xml"), "-inf", str(csv), "-i", HOST, "-p",
                             str(port), "-m", "1", "-nostdin", "-timeout", "120s", "-timeout_error", "-trace_msg"],
                            cwd=cwd, stdout=(cwd / f"uas-{user}.out").open("w"), stderr=subprocess.STDOUT)  # fmt: skip
    wait_for(lambda: bound(port), 20, "the sipp phone listening")
    return uas


def bound(port: int) -> bool:
    """Whether something holds UDP `port` on 127.0.0.1 (the phone is up before the command goes out)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((HOST, port))
        except OSError:
            return True
    return False


def command_row(engine: Engine) -> DeviceCommand:
    with transaction(engine) as s:
        return s.scalars(select(DeviceCommand)).one()


def test_a_reboot_through_kamailio_is_answered_by_the_registered_phone(served: SwitchServe, users: Users,
                                                                       engine: Engine, env: dict[str, str],
                                                                       tmp_path: Path) -> None:  # fmt: skip
    port = free_port()
    register(served, engine, users, "1000", port, tmp_path)
    uas = phone(tmp_path, port, "1000", DOMAIN)  # the line's own realm: Kamailio has its HA1
    try:
        run = run_core(env, "--json", "device", "reboot", str(users.devices["1000"]), "--wait", "20", code=None)
        out = json.loads(run.stdout)
        assert run.returncode == 0, run.stdout + served.output()[-3000:]
        assert (out["state"], out["result"]) == ("ok", f"200 OK from {HOST}:{port}/udp")
        assert uas.wait(20) == 0
    finally:
        stop_process(uas)
    trace = "".join(p.read_text() for p in tmp_path.glob("notify_uas_realm_*_messages.log"))
    assert "Event: check-sync;reboot=true" in trace and "Subscription-State: terminated" in trace
    assert f'Authorization: Digest username="1000", realm="{DOMAIN}"' in trace  # answered with the HA1
    assert "X-Voipadmin" not in trace  # serve's marks stay inside Kamailio
    assert "secret1000" not in served.output()
    cmd = command_row(engine)
    assert (cmd.action, cmd.state, cmd.finished_at is not None) == ("reboot", "ok", True)


def test_a_phone_challenging_in_a_foreign_realm_ends_failed(served: SwitchServe, users: Users, engine: Engine,
                                                            env: dict[str, str], tmp_path: Path) -> None:  # fmt: skip
    port = free_port()
    register(served, engine, users, "1000", port, tmp_path)
    uas = phone(tmp_path, port, "1000", "phone.test")  # Kamailio keeps HA1s for our realms only
    try:
        run = run_core(env, "--json", "device", "resync", str(users.devices["1000"]), "--wait", "20", code=1)
        out = json.loads(run.stdout)
        assert out["state"] == "failed", out
        assert out["result"] == "401 challenge for realm 'phone.test', none of the line's"
    finally:
        stop_process(uas)


def test_an_unregistered_device_ends_not_registered(served: SwitchServe, users: Users, engine: Engine,
                                                    env: dict[str, str]) -> None:  # fmt: skip
    run = run_core(env, "--json", "device", "resync", str(users.devices["1001"]), "--wait", "20", code=1)
    assert json.loads(run.stdout)["state"] == "not_registered"
    cmd = command_row(engine)
    assert (cmd.state, cmd.result) == ("not_registered", "no current registration for this device")
