"""TopStop with real Kamailio and sipp (issue 16 points 4 and 6): a PSTN call to a sipp UAS "trunk" runs until
the line's limit is reached and is ended (the BYE seen by both sides), the block and its alert are written, and
the line's next PSTN call is refused with 403 before reaching the trunk.

The TopStop pass is run here the way serve runs it every second (core.topstop.enforce.run_pass with the
switch's route ending calls, core.topstop.live), polled with wait_for."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from core.db import transaction
from core.models import AccRecord, Alert, Line, MissedCall, TopstopBlock
from core.permissions import Actor
from core.settings import Settings
from core.switch.kamailio_process import move_call_records
from core.topstop import enforce, limits
from core.topstop.live import KamailioCalls
from tests.conftest import Seed
from tests.net import free_port, stop_process, wait_for
from tests.switch.conftest import HOST, RunningKamailio

pytestmark = pytest.mark.sip

SCEN = Path(__file__).resolve().parent / "scenarios"
DIALLED = "0041215559999"
# One euro a second: the 3.00 limit is reached three seconds into the call.
RATES = 'currency: EUR\nrates:\n  "": {per_minute: "60.00"}\n'


@pytest.fixture
def trunk_port() -> int:
    return free_port()


@pytest.fixture
def settings(settings: Settings, tmp_path: Path, trunk_port: int) -> Settings:
    """The PSTN trunk is a sipp UAS on `trunk_port`; the rate table above."""
    rates = tmp_path / "rates.yaml"
    rates.write_text(RATES)
    return settings.with_(pstn_trunk=f"sip:{HOST}:{trunk_port}", rates_file=rates)


def _sipp_uac(k: RunningKamailio, line: Line, scenario: str, cwd: Path, name: str) -> list[str]:
    csv = cwd / f"{name}.csv"
    csv.write_text(f"SEQUENTIAL\n{line.sip_username};[authentication username={line.sip_username} "
                   f"password={line.sip_password}];acme.voip.example\n")  # fmt: skip
    return ["sipp", f"{HOST}:{k.port}", "-sf", str(SCEN / scenario), "-inf", str(csv), "-s", DIALLED, "-i", HOST,
            "-p", str(free_port()), "-m", "1", "-nostdin", "-timeout", "60s", "-timeout_error", "-trace_msg",
            "-message_file", str(cwd / f"{name}.msg")]  # fmt: skip


def test_a_pstn_call_is_ended_at_the_limit_and_the_next_one_refused(
    seed: Seed, kamailio: RunningKamailio, engine: Engine, settings: Settings, provider: Actor, trunk_port: int,
    tmp_path: Path,
) -> None:  # fmt: skip
    with transaction(engine) as s:
        limits.set_limit(s, provider, "day", "3.00", line_ref=seed.line_a1)
        line = s.get(Line, seed.line_a1)
        assert line is not None
        s.expunge(line)
    # The trunk answers like a carrier: its 200 keeps the Record-Route, so the caller's ACK and the BYE come
    # through the switch, and it wants the ACK (sipp's built-in uas drops the Record-Route, the ACK then never
    # reaches it and its retransmitted 200 gives up when TopStop comes late on a loaded machine).
    uas = subprocess.Popen(["sipp", "-sf", str(SCEN / "calls_uas.xml"), "-i", HOST, "-p", str(trunk_port), "-m", "1",
                            "-nostdin", "-timeout", "120s", "-timeout_error", "-trace_msg", "-message_file",
                            str(tmp_path / "trunk.msg")], cwd=tmp_path, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)  # fmt: skip
    uac = subprocess.Popen(_sipp_uac(kamailio, line, "topstop_call.xml", tmp_path, "caller"), cwd=tmp_path,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        end = KamailioCalls([kamailio.ctx.rpc_socket])

        def ended() -> list[str]:
            if uac.poll() is not None:
                raise AssertionError(f"the call ended before TopStop: {uac.stdout.read() if uac.stdout else ''}\n"
                                     f"{kamailio.output()[-3000:]}")  # fmt: skip
            move_call_records(engine, kamailio.ctx)  # serve's pass before TopStop's (on SQLite: acc's files)
            return enforce.run_pass(engine, settings, end).ended

        (callid,) = wait_for(ended, 40, "TopStop ending the call at its limit")  # type: ignore[misc]
        assert uac.wait(30) == 0, kamailio.output()[-3000:]  # the caller got the BYE and answered it
        assert uas.wait(30) == 0, (tmp_path / "trunk.msg").read_text()[-3000:]  # so did the trunk, ACK first
    finally:
        stop_process(uac)
        stop_process(uas)
    for side in ("caller.msg", "trunk.msg"):
        assert "BYE sip:" in (tmp_path / side).read_text(), side

    def bye_records() -> list[AccRecord]:
        move_call_records(engine, kamailio.ctx)
        with transaction(engine) as s:
            return list(s.scalars(select(AccRecord).where(AccRecord.callid == callid, AccRecord.method == "BYE")))

    bye = wait_for(bye_records, 20, "the BYE's call record")
    with transaction(engine) as s:
        block = s.scalars(select(TopstopBlock)).one()
        alert = s.scalars(select(Alert).where(Alert.rule == "topstop_reached")).one()
    assert (block.line_id, block.limit_cents, block.calls_ended) == (seed.line_a1, 300, 1)
    assert block.spent_cents >= 300 and (alert.severity, alert.line_id) == ("high", seed.line_a1)
    assert [b.sip_reason for b in bye] == ["TopStop"]  # the call record says why it ended

    refused = subprocess.run(_sipp_uac(kamailio, line, "topstop_refused.xml", tmp_path, "again"), cwd=tmp_path,
                             capture_output=True, text=True, timeout=90)  # fmt: skip
    assert refused.returncode == 0, refused.stdout[-2000:] + kamailio.output()[-3000:]  # 403, as the scenario wants
    assert "SIP/2.0 403 TopStop limit reached" in (tmp_path / "again.msg").read_text()

    def refusals() -> list[str]:
        move_call_records(engine, kamailio.ctx)
        with transaction(engine) as s:
            return list(s.scalars(select(MissedCall.sip_reason).where(MissedCall.line_id == seed.line_a1)))

    # recorded like the calls part's other refusals
    wait_for(lambda: "TopStop limit reached" in refusals(), 20, "the refusal's call record")
    assert (tmp_path / "trunk.msg").read_text().count("INVITE sip:") == 1  # the refused call never reached it
