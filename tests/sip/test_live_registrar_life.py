"""The registrar's life against the subprocess: new credentials, a line added while it runs, a restart,
expiry. Driven through the CLI (`python -m core ...`) as an operator would, read back through `line show`."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from core.db import transaction
from core.models import Registration, SecurityEvent
from core.settings import Settings
from core.sip.message import SipResponse
from core.sip.service import SipConfig
from tests.net import wait_for
from tests.sip.conftest import DOMAIN, ROOT, RunningRegistrar, Users, free_port, start_registrar
from tests.sip.fakeua import NotifyPhone, PhoneScript
from tests.sip.sipclient import register_tcp, register_udp

pytestmark = [pytest.mark.sip, pytest.mark.db]
RELOAD = SipConfig.credentials_every  # the registrar reads every line's credentials this often


def cli_json(env: dict[str, str], *args: str) -> Any:
    run = subprocess.run([sys.executable, "-m", "core", "--json", *args], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert run.returncode in (0, 1), run.stderr
    return json.loads(run.stdout)


def sources() -> Callable[[], str]:
    """A new 127.0.2.x source for each attempt: polling with a password the registrar does not know yet must
    not add up to the failed-digest ban of one address."""
    numbers = itertools.count(1)
    return lambda: f"127.0.2.{next(numbers)}"


def test_new_credentials_refuse_the_old_password_and_accept_the_new_within_the_reload_interval(
    registrar: RunningRegistrar, users: Users, env: dict[str, str]
) -> None:
    assert register_udp(registrar.port, "1000", "secret1000").status == 200
    assert cli_json(env, "line", "new-credentials", "+41215551000")["changed"] is True
    new = cli_json(env, "line", "credentials", "+41215551000")["sip_password"]
    assert new != "secret1000"
    changed = time.monotonic()
    source = sources()
    # Polled, each try from its own address; bounded at three reload intervals for a loaded machine.
    wait_for(lambda: register_udp(registrar.port, "1000", new, source()).status == 200, 3 * RELOAD, "new password")
    assert time.monotonic() - changed < 3 * RELOAD
    assert register_udp(registrar.port, "1000", "secret1000", source()).status == 403
    assert register_tcp(registrar.port, "1000", "secret1000", source()).status == 403
    assert register_tcp(registrar.port, "1000", new, source()).status == 200


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_a_line_added_while_the_registrar_runs_registers_on_its_first_register(
    registrar: RunningRegistrar, users: Users, env: dict[str, str], engine: Engine, transport: str
) -> None:
    """The registrar has not reloaded since the line was added: it reads that one user from the database
    before refusing the digest, so the phone's first REGISTER is a 200 and no failure is recorded."""
    number, password = "+41215559000", "new-line-secret-9000"
    cli_json(env, "line", "add", "--vpbx", "test", "--number", number, "--sip-password", password)
    register = register_udp if transport == "udp" else register_tcp
    reply: SipResponse = register(registrar.port, "41215559000", password)
    assert reply.status == 200, (reply.status, reply.reason, registrar.output()[-2000:])
    regs = wait_for(lambda: cli_json(env, "line", "show", number)["registrations"], 10, "the binding in line show")
    assert [r["transport"] for r in regs] == [transport]  # type: ignore[union-attr]
    with transaction(engine) as s:
        assert s.scalar(select(func.count()).select_from(SecurityEvent)) == 0


def test_a_restart_keeps_bindings_and_reaches_the_phone(
    settings: Settings, env: dict[str, str], users: Users, tmp_path: Path
) -> None:
    """Bindings are written behind and read back at start: after a restart `line show` still lists the
    binding and the new registrar process holds it (a reboot NOTIFY reaches the phone, which answers)."""
    renv = env | {"VOIPADMIN_SIP_NOTIFY_TIMEOUT": "4"}
    port = free_port()
    p = NotifyPhone(port, "1000", "secret1000", "udp", PhoneScript())
    try:
        with start_registrar(settings, renv, tmp_path, name="first", port=port):
            assert p.register().status == 200
            wait_for(lambda: cli_json(env, "line", "show", "+41215551000")["registrations"], 10, "binding written")
        (before,) = cli_json(env, "line", "show", "+41215551000")["registrations"]
        with start_registrar(settings, renv, tmp_path, name="second", port=port):
            (after,) = cli_json(env, "line", "show", "+41215551000")["registrations"]
            assert after == before and after["source_port"] == p.local[1]
            out = cli_json(env, "device", "reboot", str(users.devices["1000"]), "--wait", "30")
            assert (out["state"], out["outcome"]) == ("ok", "answered"), out
        assert len(p.seen) == 1 and p.answers == [200]
    finally:
        p.close()


def test_an_expired_binding_is_purged(settings: Settings, env: dict[str, str], users: Users, engine: Engine,
                                      tmp_path: Path) -> None:  # fmt: skip
    """Expires 2 (the registrar started with --min-expires 1 --purge-every 0.5): the binding is listed, then
    its row is deleted and a reboot finds the device not registered."""
    args = ("--min-expires", "1", "--purge-every", "0.5")
    with start_registrar(settings, env, tmp_path, args=args) as reg:
        reply = register_udp(reg.port, "1000", "secret1000", expires=2)
        assert reply.status == 200 and ";expires=2" in (reply.get("Contact") or ""), reply
        aor = f"1000@{DOMAIN}"

        def rows() -> int:
            with transaction(engine) as s:
                return int(s.scalar(select(func.count()).where(Registration.aor == aor)) or 0)

        wait_for(lambda: rows() == 1, 10, "the binding written")
        wait_for(lambda: rows() == 0, 20, "the expired binding purged")
        assert cli_json(env, "line", "show", "+41215551000")["registrations"] == []
        out = cli_json(env, "device", "reboot", str(users.devices["1000"]), "--wait", "10")
        assert out["state"] == "not_registered", out
