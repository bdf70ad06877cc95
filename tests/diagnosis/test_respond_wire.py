"""Issue 13 point 6: the fraud procedure end to end, on the wire (`python -m core line respond`).

Real servers: the registrar (`python -m core.sip`, which sends the resync NOTIFYs) and `serve --no-sip`
(Granian over TLS, the shipped renderer), on one fresh database (SQLite, or PostgreSQL with
VOIPADMIN_TEST_DB_URL). One line, two devices, each phone on its own loopback address:

- the desk phone (a Yealink, registered with baresip): resynced by NOTIFY, it asks its old URL and gets,
  once and only from its own address, the bootstrap that points at its new key; it fetches the new key's
  file over HTTPS, takes the new SIP password from it and registers with it (baresip restarted with it);
- the spare phone (a Grandstream, not registered, no redirection service): manual; the customer enters
  its new URL (as Configuration manuelle shows it), it fetches over HTTPS and registers with sipp.

At the end the procedure is done, the line unblocked, and the old key and the old password are refused.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select, update

from core import event_kinds as ek
from core.db import transaction
from core.models import AccessLog, Device, Line, RegistrationEvent
from tests.conftest import PUBLIC_URL
from tests.diagnosis.live import live_servers
from tests.net import free_port, stop_process
from tests.provisioning.conftest import https_client
from tests.sip.conftest import DOMAIN, ROOT, seed_users, tool_env, wait_for
from tests.sip.test_live_history import Baresip

pytestmark = [pytest.mark.sip, pytest.mark.db]

SCENARIOS = ROOT / "tests" / "sip" / "scenarios"
USER = "3000"
DESK_IP, SPARE_IP, THIEF_IP = "127.0.9.31", "127.0.9.32", "127.0.9.33"
DESK_MAC, SPARE_MAC = "001565C00001", "000B82C00002"
YEALINK_UA = "Yealink SIP-T46U 108.86.0.20 00:15:65:c0:00:01"
GRANDSTREAM_UA = "Grandstream Model HW GRP2612 SW 1.0.5.67 DevId 000b82c00002"


class Site:
    def __init__(self, engine: Engine, env: dict[str, str], server_url: str, registrar_port: int, tmp: Path,
                 line_id: int, desk: int, spare: int) -> None:  # fmt: skip
        self.engine, self.env, self.url, self.port, self.tmp = engine, env, server_url, registrar_port, tmp
        self.line_id, self.desk, self.spare = line_id, desk, spare

    def cli(self, *args: str, code: int = 0) -> Any:
        run = subprocess.run([sys.executable, "-m", "core", *args, "--json"], cwd=ROOT, env=self.env,
                             capture_output=True, text=True, timeout=120)  # fmt: skip
        assert run.returncode == code, f"`core {' '.join(args)}` exit {run.returncode}: {run.stderr[-2000:]}"
        return json.loads(run.stdout)

    def get(self, ip: str, ua: str, url: str) -> httpx.Response:
        with https_client(ip, ua) as phone:
            return phone.get(url)

    def key(self, device_id: int) -> str:
        with transaction(self.engine) as s:
            key = s.scalar(select(Device.access_key).where(Device.id == device_id))
        assert key
        return key

    def reasons(self, device_id: int) -> list[str]:
        with transaction(self.engine) as s:
            return list(s.scalars(select(AccessLog.reason).where(AccessLog.device_id == device_id)
                                  .order_by(AccessLog.id)))  # fmt: skip

    def events(self, event: str, ip: str) -> list[RegistrationEvent]:
        with transaction(self.engine) as s:
            return list(s.scalars(select(RegistrationEvent).where(
                RegistrationEvent.line_id == self.line_id, RegistrationEvent.event == event,
                RegistrationEvent.source_ip == ip)))  # fmt: skip

    def sipp_register(self, ip: str, password: str) -> None:
        csv = self.tmp / f"reg-{ip}-{password[:4]}.csv"
        csv.write_text(f"SEQUENTIAL\n{USER};[authentication username={USER} password={password}];{DOMAIN}\n")
        cmd = ["sipp", f"127.0.0.1:{self.port}", "-sf", str(SCENARIOS / "reg_auth.xml"), "-inf", str(csv),
               "-i", ip, "-p", str(free_port()), "-m", "1", "-nostdin", "-timeout", "20s"]  # fmt: skip
        proc = subprocess.Popen(cmd, cwd=self.tmp, env=tool_env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            proc.wait(30)
        finally:
            stop_process(proc)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    def seed(engine: Engine) -> tuple[int, int, int]:
        users = seed_users(engine, 1, first=int(USER))
        line_id, desk = users.lines[USER], users.devices[USER]
        with transaction(engine) as s:
            s.execute(update(Device).where(Device.id == desk).values(mac=DESK_MAC))
            spare = Device(line_id=line_id, model_id="grandstream-grp2612", mac=SPARE_MAC, access_key="ab" * 24,
                           admin_password="1234", user_password="1234")  # fmt: skip
            s.add(spare)
            s.flush()
            return line_id, desk, spare.id

    with live_servers(tmp_path_factory.mktemp("respond"), seed) as live:
        line_id, desk, spare = live.seeded
        yield Site(live.engine, live.env, live.server.url, live.registrar.port, live.tmp, line_id, desk, spare)


def _setting(config: str, name: str) -> str:
    m = re.search(rf"^{re.escape(name)}\s*=\s*(.*)$", config, re.M)
    assert m, f"{name} is not in the file"
    return m.group(1).strip()


def test_the_procedure_end_to_end_with_a_resynced_phone_and_a_manual_one(site: Site) -> None:
    number = site.cli("line", "show", "+41215553000")["number"]
    old_desk, old_spare, old_password = site.key(site.desk), site.key(site.spare), f"secret{USER}"
    # Before: the desk phone fetched and registered from its office address.
    assert site.get(DESK_IP, YEALINK_UA, f"{site.url}/{old_desk}.cfg").status_code == 200
    wait_for(lambda: ek.OK in site.reasons(site.desk), 15, "the desk phone's fetch written behind")
    phone = Baresip(site.tmp, site.port, USER, old_password, DESK_IP, regint=600)
    try:
        wait_for(lambda: site.events(ek.REG_START, DESK_IP), 20, "baresip registered")
        first = site.cli("line", "respond", number, code=3)  # blocks, renews, new keys; waits for the registrar
        assert first["waiting"] == {"step": "push", "why": "credentials_loading"} and first["pstn_blocked"] is True

        pushed = wait_for(lambda: (r := site.cli("line", "respond", number, code=3))["steps"][3]["at"] and r, 30,
                          "the push step (after the registrar loaded the new credentials)")  # fmt: skip
        by_device = {d["device_id"]: d for d in pushed["devices"]}
        assert (by_device[site.desk]["push"], by_device[site.spare]["push"]) == ("notify", "manual")
        assert pushed["waiting"] == {"step": "verify", "why": "devices_left"}

        # Someone who kept the old URL, from elsewhere: refused. The phone itself, told to resync: its old
        # URL gets the bootstrap to the new key, once.
        old_file = f"{site.url}/{old_desk}/{DESK_MAC.lower()}.cfg"  # what a Yealink asks under its server URL
        assert site.get(THIEF_IP, YEALINK_UA, old_file).status_code == 404
        handover = site.get(DESK_IP, YEALINK_UA, old_file)
        assert handover.status_code == 200
        base = _setting(handover.text, "static.auto_provision.server.url")
        new_desk = site.key(site.desk)
        assert new_desk in base and old_desk not in handover.text
        assert "account.1.password" not in handover.text  # the bootstrap holds no secret
        assert site.get(DESK_IP, YEALINK_UA, old_file).status_code == 404  # once
        local = base.replace(PUBLIC_URL, site.url)  # the public name is the test's server on 127.0.0.1
        config = site.get(DESK_IP, YEALINK_UA, f"{local.rstrip('/')}/{DESK_MAC.lower()}.cfg")
        assert config.status_code == 200
        new_password = _setting(config.text, "account.1.password")
        assert new_password != old_password
    finally:
        phone.stop(signal.SIGKILL)
    (site.tmp / "after").mkdir()
    phone = Baresip(site.tmp / "after", site.port, USER, new_password, DESK_IP, regint=600)
    try:
        wait_for(lambda: site.events(ek.REG_START, DESK_IP)[1:], 20, "baresip registered with the new password")
        # The spare phone: the customer enters the new URL Configuration manuelle shows; sipp registers it.
        url = site.cli("device", "show", str(site.spare))["url"]
        assert old_spare not in url
        assert site.get(SPARE_IP, GRANDSTREAM_UA, url.replace(PUBLIC_URL, site.url)).status_code == 200
        site.sipp_register(SPARE_IP, new_password)
        done = site.cli("line", "respond", number, "--wait", "60")
    finally:
        phone.stop(signal.SIGKILL)
    assert done["state"] == "done" and done["left"] == [] and done["pstn_blocked"] is False, done
    assert all(d["fetched_at"] and d["registered_at"] for d in done["devices"]), done

    # Nothing old works: the old keys answer 404, the old password is refused.
    for ip, ua, key in ((DESK_IP, YEALINK_UA, old_desk), (SPARE_IP, GRANDSTREAM_UA, old_spare)):
        assert site.get(ip, ua, f"{site.url}/{key}.cfg").status_code == 404
    site.sipp_register(THIEF_IP, old_password)
    wait_for(lambda: site.events(ek.REG_AUTH_FAILED, THIEF_IP), 20, "the old password refused")
    assert not site.events(ek.REG_START, THIEF_IP)
    with transaction(site.engine) as s:
        assert s.scalar(select(Line.pstn_blocked).where(Line.id == site.line_id)) is False
    status = site.cli("line", "respond-status", number)
    assert status["id"] == done["id"] and status["state"] == "done"
