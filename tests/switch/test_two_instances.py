"""Two Kamailio instances on two ports sharing one PostgreSQL (issue 16 point 5): with
VOIPADMIN_KAMAILIO_SHARED=1 usrloc keeps no cache (db_mode 3), so a phone registered through one instance is
found by the other, which never saw its REGISTER.

Instance A is Kamailio alone, from the configuration `switch config` prints (as on a second host); instance
B is `python -m core serve --switch kamailio` with its mirror. The phone (sipp) registers through A; B's
serve shows it registered, B's Kamailio finds its binding, and a call (sipp UAC) and a reboot (serve's
command worker) sent through B reach it."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from core.db import transaction
from core.models import Registration
from core.settings import Settings
from core.switch import rpc
from tests.conftest import run_core
from tests.net import free_port, stop_process, wait_for
from tests.sip.conftest import DOMAIN, Users, seed_users
from tests.switch.conftest import HOST, start_kamailio, start_switch_serve

pytestmark = [pytest.mark.sip, pytest.mark.db, pytest.mark.postgresql_only]

SCEN = Path(__file__).resolve().parent / "scenarios"
REG = Path(__file__).resolve().parents[1] / "sip" / "scenarios" / "reg_auth.xml"


def sipp(port: int, scenario: Path, row: str, ip: str, local_port: int, cwd: Path) -> subprocess.CompletedProcess[str]:
    """One run of `scenario` against 127.0.0.1:`port` from `ip`:`local_port`, its CSV the one `row`."""
    csv = cwd / f"{scenario.stem}-{local_port}.csv"
    csv.write_text(f"SEQUENTIAL\n{row}\n")
    cmd = ["sipp", f"{HOST}:{port}", "-sf", str(scenario), "-inf", str(csv), "-i", ip, "-p", str(local_port),
           "-m", "1", "-nostdin", "-timeout", "20s", "-timeout_error", "-trace_err"]  # fmt: skip
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60)


def credentials(user: str) -> str:
    return f"{user};[authentication username={user} password=secret{user}];{DOMAIN}"


def test_a_phone_registered_through_one_instance_is_reached_through_the_other(
    settings: Settings, engine: Engine, env: dict[str, str], tmp_path: Path
) -> None:
    users: Users = seed_users(engine, 2)  # 1000 calls 1001
    a = start_kamailio(settings.with_(kamailio_shared=True), engine, tmp_path, "a")
    b = start_switch_serve(dict(env, VOIPADMIN_KAMAILIO_SHARED="1"), tmp_path)
    try:
        assert a.ctx.usrloc_db_mode == 3
        assert 'modparam("usrloc", "db_mode", 3)' in (tmp_path / "data" / "kamailio" / "kamailio.cfg").read_text()
        phone_port = free_port()
        reg = sipp(a.port, REG, credentials("1001"), HOST, phone_port, tmp_path)
        assert reg.returncode == 0, reg.stdout[-2000:] + a.output()[-2000:]

        # B's serve mirrors the shared location table: the line shows registered, whichever instance took it.
        def registered() -> bool:
            with transaction(engine) as s:
                row = s.scalar(select(Registration.id).where(Registration.line_id == users.lines["1001"]))
                return row is not None

        wait_for(registered, 15, "1001's binding mirrored by serve")

        # B never saw the REGISTER: its usrloc reads the binding from the shared table.
        found = rpc.call(tmp_path / "data" / "kamailio" / "rpc.sock", "ul.lookup", "location", "1001")
        contacts = found["Contacts"]  # type: ignore[index]
        assert [c["Contact"]["Address"] for c in contacts] == [f"sip:1001@{HOST}:{phone_port};transport=UDP"]

        # A call from 1000 through B rings the phone registered through A: INVITE, ACK and BYE reach it.
        answering = subprocess.Popen(["sipp", "-sf", str(SCEN / "answer_call.xml"), "-i", HOST, "-p", str(phone_port),
                                      "-m", "1", "-nostdin", "-timeout", "30s", "-timeout_error", "-trace_msg"],
                                     cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            call = sipp(b.sip_port, SCEN / "call_auth.xml", credentials("1000") + ";1001", HOST, free_port(), tmp_path)
            assert call.returncode == 0, call.stdout[-2000:] + b.output()[-3000:]
            assert answering.wait(20) == 0, b.output()[-3000:]
        finally:
            stop_process(answering)
        trace = "".join(p.read_text() for p in tmp_path.glob("answer_call_*_messages.log"))
        assert re.search(rf"^Record-Route: <sip:[0-9.]+:{b.sip_port};lr", trace, re.M)  # it came through B, not A
        assert f":{a.port};" not in trace
        assert "<sip:0.0.0.0" not in trace  # B listens on every address and says the host phones know it by

        # A reboot: serve's command worker sends it through B to where the phone registered through A.
        csv = tmp_path / "phone.csv"
        csv.write_text(f"SEQUENTIAL\n1001;secret1001;{DOMAIN}\n")  # the phone challenges the NOTIFY
        rebooted = subprocess.Popen(["sipp", "-sf", str(SCEN / "notify_uas_realm.xml"), "-inf", str(csv), "-i", HOST,
                                     "-p", str(phone_port), "-m", "1", "-nostdin", "-timeout", "60s", "-timeout_error"],
                                    cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            run = run_core(env, "--json", "device", "reboot", str(users.devices["1001"]), "--wait", "20", code=None)
            out = json.loads(run.stdout)
            assert (out["state"], out["result"]) == ("ok", f"200 OK from {HOST}:{phone_port}/udp"), b.output()[-3000:]
            assert rebooted.wait(20) == 0
        finally:
            stop_process(rebooted)
    finally:
        stop_process(b.proc)
        stop_process(a.proc)
