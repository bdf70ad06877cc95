"""Calls through the real Kamailio (issue 16 point 3, issue 13 point 4): sipp lines calling each other and a
sipp "trunk" through switch/kamailio/parts/calls.cfg.j2, and what its acc module records, read back with
`line calls --json`. The callee's sipp registers from the port its UAS then answers on (Kamailio sends the
call to where the REGISTER came from)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core import blocked_prefixes, lines
from core.db import transaction
from core.models import Line
from core.settings import Settings
from core.switch.kamailio_process import move_call_records
from tests.conftest import Seed, run_core
from tests.net import free_port, stop_process, wait_for
from tests.switch.conftest import HOST, RunningKamailio, start_kamailio

pytestmark = pytest.mark.sip

SCEN = Path(__file__).resolve().parent / "scenarios"
DOMAIN = "acme.voip.example"  # the seed's vPBX acme: lines 101 (+41215550101) and 102 (+41215550102)


def _account(engine: Engine, line_id: int) -> tuple[str, str]:
    with transaction(engine) as s:
        line = s.get(Line, line_id)
        assert line is not None
        return line.sip_username, line.sip_password


def _sipp(port: int, scenario: str, fields: list[str], cwd: Path, local_port: int) -> list[str]:
    csv = cwd / f"{scenario}-{local_port}.csv"
    csv.write_text("SEQUENTIAL\n" + ";".join(fields) + "\n")
    return ["sipp", f"{HOST}:{port}", "-sf", str(SCEN / f"{scenario}.xml"), "-inf", str(csv), "-i", HOST,
            "-p", str(local_port), "-m", "1", "-nostdin", "-timeout", "20s", "-timeout_error",
            "-trace_err"]  # fmt: skip


def _run(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60)


class Uas:
    """A sipp answering one call on `port` (with -trace_msg: what it received is in its messages log)."""

    def __init__(self, port: int, cwd: Path) -> None:
        self.port, self.cwd = port, cwd
        log = str(cwd / f"uas-{port}.log")
        cmd = ["sipp", "-sf", str(SCEN / "calls_uas.xml"), "-i", HOST, "-p", str(port), "-m", "1", "-nostdin",
               "-timeout", "30s", "-timeout_error", "-trace_msg", "-message_file", log]  # fmt: skip
        self.proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def received(self) -> str:
        path = self.cwd / f"uas-{self.port}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def answered(self) -> bool:
        """The call went through to its end (INVITE answered, ACK, BYE answered): sipp exits 0."""
        return self.proc.wait(timeout=40) == 0


def register_and_answer(k: RunningKamailio, engine: Engine, line_id: int, cwd: Path) -> Uas:
    """The line registered from a port, and a UAS answering one call on that same port."""
    user, password = _account(engine, line_id)
    port = free_port()
    reg = _run(_sipp(k.port, "calls_register", [user, f"[authentication username={user} password={password}]",
                                               DOMAIN, str(port)], cwd, port), cwd)  # fmt: skip
    assert reg.returncode == 0, reg.stdout[-2000:] + k.output()[-3000:]
    return Uas(port, cwd)


def call(k: RunningKamailio, engine: Engine, line_id: int, dialled: str, cwd: Path, refused: bool = False) -> None:
    user, password = _account(engine, line_id)
    local = free_port()
    fields = [user, f"[authentication username={user} password={password}]", DOMAIN, dialled]
    cmd = _sipp(k.port, "calls_refused" if refused else "calls_call", fields, cwd, local)
    done = _run(cmd, cwd)
    errors = "".join(p.read_text(errors="replace") for p in cwd.glob("calls_*_errors.log"))
    assert done.returncode == 0, errors[-3000:] + k.output()[-3000:]


def line_calls(env: dict[str, str], number: str) -> list[dict[str, object]]:
    return json.loads(run_core(env, "line", "calls", number, "--json").stdout)


def recorded(k: RunningKamailio, env: dict[str, str], number: str, count: int, ended: bool = True
             ) -> list[dict[str, object]]:  # fmt: skip
    """The line's calls once Kamailio has written `count` of them (an answered one with its end); on SQLite
    serve's pass moving acc's files into our tables run meanwhile, as serve runs it every second."""

    def ready() -> list[dict[str, object]] | None:
        move_call_records(k.engine, k.ctx)
        got = line_calls(env, number)
        complete = all(c["end"] for c in got if c["disposition"] == "answered") or not ended
        return got if len(got) >= count and complete else None

    return wait_for(ready, 20, f"{count} call record(s) of {number}")  # type: ignore[return-value]


@pytest.fixture
def trunk_port() -> int:
    return free_port()


@pytest.fixture
def switch(seed: Seed, settings: Settings, engine: Engine, tmp_path: Path, trunk_port: int
           ) -> Iterator[RunningKamailio]:  # fmt: skip
    """Kamailio with the PSTN trunk at a sipp of ours; the seed's lines are its subscribers."""
    k = start_kamailio(settings.with_(pstn_trunk=f"sip:{HOST}:{trunk_port}"), engine, tmp_path)
    try:
        yield k
    finally:
        stop_process(k.proc)


def test_a_call_between_two_lines_of_the_vpbx_connects_and_is_recorded(switch, seed, engine, env, tmp_path,
                                                                       provider):  # fmt: skip
    bob = register_and_answer(switch, engine, seed.line_a2, tmp_path)
    call(switch, engine, seed.line_a1, "102", tmp_path)  # Alice dials Bob's extension
    assert bob.answered() and "INVITE sip:41215550102@" in bob.received()
    (talk,) = recorded(switch, env, "+41215550101", 1)
    assert (talk["direction"], talk["kind"], talk["disposition"]) == ("out", "internal", "answered")
    assert (talk["caller"], talk["callee"], talk["dialled"]) == ("+41215550101", "+41215550102", "102")
    assert str(talk["source"]).startswith(f"{HOST}:") and talk["duration"] is not None
    assert talk["start"] <= talk["answer"] <= talk["end"]  # type: ignore[operator]
    (seen_by_bob,) = line_calls(env, "+41215550102")
    assert (seen_by_bob["direction"], seen_by_bob["callid"]) == ("in", talk["callid"])

    with transaction(engine) as s:  # blocked for the PSTN: calls inside the vPBX still work
        lines.set_blocked(s, provider, seed.line_a1, True)
    bob = register_and_answer(switch, engine, seed.line_a2, tmp_path)
    call(switch, engine, seed.line_a1, "+41215550102", tmp_path)  # by number this time
    assert bob.answered()
    assert [c["disposition"] for c in recorded(switch, env, "+41215550101", 2)] == ["answered", "answered"]


def test_pstn_calls_go_to_the_trunk_unless_the_line_or_the_destination_is_blocked(
    switch, seed, engine, env, tmp_path, trunk_port, provider
):
    trunk = Uas(trunk_port, tmp_path)
    call(switch, engine, seed.line_a1, "0041449999999", tmp_path)
    assert trunk.answered()
    assert "INVITE sip:+41449999999@127.0.0.1" in trunk.received()  # the number in its international form
    (out,) = recorded(switch, env, "+41215550101", 1)
    assert (out["kind"], out["disposition"], out["callee"]) == ("pstn", "answered", "0041449999999")

    with transaction(engine) as s:
        lines.set_blocked(s, provider, seed.line_a1, True)
        blocked_prefixes.add_blocked_prefix(s, provider, "acme", "00882")
    trunk = Uas(trunk_port, tmp_path)
    call(switch, engine, seed.line_a1, "0041449999999", tmp_path, refused=True)  # the blocked line: 403
    call(switch, engine, seed.line_a2, "+88212345678", tmp_path, refused=True)  # a blocked destination: 403
    refused = recorded(switch, env, "+41215550101", 2)[0]
    assert (refused["disposition"], refused["sip_code"], refused["refusal"]) == ("refused", 403, "pstn_blocked")
    (premium,) = recorded(switch, env, "+41215550102", 1, ended=False)
    assert (premium["disposition"], premium["refusal"], premium["kind"]) == ("refused", "destination_blocked", "pstn")
    call(switch, engine, seed.line_a2, "0041449999999", tmp_path)  # Bob is not blocked: the trunk gets it
    assert trunk.answered() and trunk.received().count("INVITE sip:") == 1
