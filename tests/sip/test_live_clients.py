"""Real clients and scanners against the registrar on 127.0.0.1: baresip, svwar, svcrack."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from core.db import transaction
from core.models import Ban, Device, SecurityEvent
from tests.sip.conftest import DOMAIN, ROOT, RunningRegistrar, Users, free_port, tool_env, wait_for

pytestmark = [pytest.mark.sip, pytest.mark.db]
SV = Path(sys.executable).parent


def cli_json(env: dict[str, str], *args: str) -> object:
    run = subprocess.run([sys.executable, "-m", "core", "--json", *args], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_baresip_registers_and_line_show_lists_the_binding(
    registrar: RunningRegistrar, users: Users, env: dict[str, str], engine: Engine, tmp_path: Path
) -> None:
    port = free_port(consecutive=2)  # baresip listens for SIP/TLS on port + 1 too
    conf = tmp_path / "baresip"
    conf.mkdir()
    (conf / "config").write_text(
        f"sip_listen 127.0.0.1:{port}\nmodule_path /usr/lib/baresip/modules\nmodule g711.so\nmodule account.so\n"
    )
    (conf / "accounts").write_text(
        f'<sip:1001@{DOMAIN}>;auth_pass=secret1001;outbound="sip:127.0.0.1:{registrar.port}";regint=120\n'
    )
    with transaction(engine) as s:  # its last config fetch came from here: that says which device it is
        s.get(Device, users.devices["1001"]).last_access_ip = "127.0.0.1"  # type: ignore[union-attr]
    # `-t`: baresip's own lifetime, well past this test's waits (20 s + a 15 s command); stopped below anyway.
    proc = subprocess.Popen(["baresip", "-f", str(conf), "-t", "600"], cwd=tmp_path, env=tool_env(),
                            stdout=(tmp_path / "baresip.out").open("w"), stderr=subprocess.STDOUT)  # fmt: skip
    try:

        def bindings() -> list[dict[str, object]]:
            line = cli_json(env, "line", "show", "+41215551001")
            return line["registrations"]  # type: ignore[index,no-any-return]

        regs = wait_for(bindings, 20, "baresip binding in `line show`")
        (reg,) = regs  # type: ignore[misc]
        assert str(reg["user_agent"]).startswith("baresip")
        assert (reg["source_ip"], reg["source_port"], reg["transport"]) == ("127.0.0.1", port, "udp")
        assert reg["device"] == users.devices["1001"]
        # regint=120: baresip asks for 120 s (a moment passed since); a time, not a string compared to "2000".
        left = datetime.fromisoformat(str(reg["expires_at"])) - datetime.now(UTC)
        assert timedelta(seconds=60) < left <= timedelta(seconds=121), left

        # A resync NOTIFY reaches baresip, which has no check-sync package: 481, recorded as failed.
        cmd = [sys.executable, "-m", "core", "--json", "device", "resync", str(users.devices["1001"]), "--wait", "15"]
        run = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        out = json.loads(run.stdout)
        assert run.returncode == 1 and out["state"] == "failed", run.stdout
        assert out["result"].startswith("481 ") and f"127.0.0.1:{port}/udp" in out["result"]
    finally:
        proc.terminate()
        proc.wait(10)


def _registrar_answers(port: int, bind_ip: str) -> bool:
    """An OPTIONS from `bind_ip`: True if the registrar answered within 1 s."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((bind_ip, 0))
        s.settimeout(1.0)
        lport = s.getsockname()[1]
        msg = (f"OPTIONS sip:{DOMAIN} SIP/2.0\r\nVia: SIP/2.0/UDP {bind_ip}:{lport};branch=z9hG4bKopt;rport\r\n"
               f"From: <sip:probe@{DOMAIN}>;tag=1\r\nTo: <sip:{DOMAIN}>\r\nCall-ID: opt-{lport}\r\nCSeq: 1 OPTIONS\r\n"
               "Content-Length: 0\r\n\r\n")  # fmt: skip
        s.sendto(msg.encode(), ("127.0.0.1", port))
        try:
            return s.recv(4096).startswith(b"SIP/2.0 200")
        except TimeoutError:
            return False


def test_svwar_cannot_tell_existing_extensions(
    registrar: RunningRegistrar, users: Users, engine: Engine, tmp_path: Path
) -> None:
    # 995-1005: 995-999 do not exist, 1000-1005 do; the answers must not differ.
    run = subprocess.run(
        [str(SV / "sipvicious_svwar"), "-e", "995-1005", "-P", str(free_port()), "--force",
         f"udp://127.0.0.1:{registrar.port}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    out = run.stdout + run.stderr
    for ext in range(1000, 1006):
        assert f"| {ext} " not in out, out
    assert "401" in out  # it saw the one answer everybody gets

    def scanner_events() -> list[str]:
        with transaction(engine) as s:
            return list(s.scalars(select(SecurityEvent.kind).where(SecurityEvent.source_ip == "127.0.0.1")))

    wait_for(lambda: "sip_scanner" in scanner_events(), 10, "sip_scanner event")
    assert "sip_auth_failed" not in scanner_events()  # it never had a password to try


def test_svcrack_gets_banned_before_reaching_the_password(
    registrar: RunningRegistrar, users: Users, engine: Engine, tmp_path: Path
) -> None:
    words = tmp_path / "pw.txt"
    words.write_text("\n".join(["123456", "password", "1000", "letmein", "secret1000", "qwerty"]) + "\n")
    run = subprocess.run(
        [str(SV / "sipvicious_svcrack"), "-u", "1000", "-d", str(words), "--domain", DOMAIN, "-P", str(free_port()),
         f"udp://127.0.0.1:{registrar.port}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    out = run.stdout + run.stderr
    assert "secret1000" not in out, out

    def bans() -> list[Ban]:
        with transaction(engine) as s:
            return list(s.scalars(select(Ban).where(Ban.source_ip == "127.0.0.1")))

    (ban,) = wait_for(bans, 10, "ban row")  # type: ignore[misc]
    assert ban.scope == "sip" and "failed SIP authentication" in ban.reason
    with transaction(engine) as s:
        kinds = set(s.scalars(select(SecurityEvent.kind).where(SecurityEvent.source_ip == "127.0.0.1")))
    assert {"sip_auth_failed", "sip_scanner", "sip_banned"} <= kinds
    assert not _registrar_answers(registrar.port, "127.0.0.1")  # banned: silence
    assert _registrar_answers(registrar.port, "127.0.0.5")  # everyone else still served
    assert "secret1000" not in registrar.output()
