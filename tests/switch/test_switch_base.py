"""The Kamailio switch's base (issue 16 points 1 and 2): one setting, the rendered configuration checked by
Kamailio itself, Kamailio supervised by serve, digest against HA1 rows voipadmin keeps, and the bindings
Kamailio holds shown by `line show` like the built-in registrar's."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from core import heartbeat, lines
from core.db import transaction
from core.models import KamailioSubscriber, Line, RegistrationEvent
from core.permissions import Actor
from core.settings import Settings, SettingsError
from core.switch.kamailio_config import SwitchConfigError, check_config, context_for, kamailio_db_url, render_config
from tests.conftest import Seed, run_core
from tests.net import free_port, wait_for
from tests.switch.conftest import HOST, RunningKamailio, SwitchServe

SCEN = Path(__file__).resolve().parents[1] / "sip" / "scenarios"


def register(port: int, user: str, password: str, domain: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """One authenticated REGISTER by sipp; exit 0 when it ended 200."""
    csv = cwd / f"{user}.csv"
    csv.write_text(f"SEQUENTIAL\n{user};[authentication username={user} password={password}];{domain}\n")
    cmd = ["sipp", f"{HOST}:{port}", "-sf", str(SCEN / "reg_auth.xml"), "-inf", str(csv), "-i", HOST,
           "-p", str(free_port()), "-m", "1", "-nostdin", "-timeout", "15s", "-timeout_error"]  # fmt: skip
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60)


def _line(engine: Engine, line_id: int) -> Line:
    with transaction(engine) as s:
        line = s.get(Line, line_id)
        assert line is not None
        return line


def test_the_switch_setting_is_checked_and_named() -> None:
    assert Settings.from_env({}).switch == "builtin"
    assert Settings.from_env({"VOIPADMIN_SWITCH": "Kamailio"}).switch == "kamailio"
    with pytest.raises(SettingsError, match="VOIPADMIN_SWITCH must be one of builtin, kamailio"):
        Settings.from_env({"VOIPADMIN_SWITCH": "asterisk"})
    with pytest.raises(SettingsError, match="VOIPADMIN_PSTN_TRUNK must be a SIP URI"):
        Settings.from_env({"VOIPADMIN_PSTN_TRUNK": "trunk.example.net"})
    assert Settings.from_env({"VOIPADMIN_PSTN_TRUNK": "sip:trunk.example.net:5070"}).pstn_trunk


def test_database_urls_in_kamailio_s_form(tmp_path: Path) -> None:
    assert kamailio_db_url(f"sqlite:///{tmp_path}/v.sqlite3") == f"sqlite://{tmp_path}/v.sqlite3"
    assert (
        kamailio_db_url("postgresql+psycopg://kam:pw@db.example:5433/voip") == "postgres://kam:pw@db.example:5433/voip"
    )
    with pytest.raises(SwitchConfigError, match="mysql"):
        kamailio_db_url("mysql://x@y/z")


def test_listening_on_every_address_advertises_the_sip_host(settings: Settings) -> None:
    """Else Via and Record-Route say 0.0.0.0, and a phone cannot send its BYE back."""
    s = settings.with_(switch="kamailio", sip_host="sip.example.net")
    assert "listen=udp:0.0.0.0:5090 advertise sip.example.net:5090" in render_config(context_for(s, "0.0.0.0", 5090))
    assert "advertise" not in render_config(context_for(s, HOST, 5090))  # one address: Kamailio says it itself


def test_kamailio_refuses_a_broken_configuration_and_says_why(settings: Settings) -> None:
    text = render_config(context_for(settings.with_(switch="kamailio"), HOST, 5099))
    check_config(text)  # the shipped one passes
    with pytest.raises(SwitchConfigError, match="kamailio -c refused"):
        check_config(text.replace("route[SANITY] {", "route[SANITY] { no_such_function();"))


def test_switch_config_prints_the_checked_file_with_no_password(env: dict[str, str], seed: Seed,
                                                               engine: Engine) -> None:  # fmt: skip
    out = run_core(env, "switch", "config", "--listen", HOST, "--port", "5098").stdout
    assert out.startswith("#!KAMAILIO") and "listen=udp:127.0.0.1:5098" in out and 'calculate_ha1", 0' in out
    for line_id in (seed.line_a1, seed.line_a2, seed.line_b1):
        assert _line(engine, line_id).sip_password not in out
    refused = run_core(env, "--as", "admin-acme", "switch", "config", code=None)
    assert refused.returncode != 0 and not refused.stdout


@pytest.mark.sip
def test_subscriber_rows_hold_ha1_per_realm_and_never_the_password(seed: Seed, kamailio: RunningKamailio,
                                                                  engine: Engine) -> None:  # fmt: skip
    kamailio.sync()
    with transaction(engine) as s:
        rows = s.scalars(select(KamailioSubscriber).where(KamailioSubscriber.line_id == seed.line_a1)).all()
    line = _line(engine, seed.line_a1)
    assert {r.domain for r in rows} == {"acme.voip.example", HOST}
    assert all(r.password == "" and len(r.ha1) == 32 and line.sip_password not in r.ha1 for r in rows)


@pytest.mark.sip
def test_a_phone_registers_through_kamailio_and_line_show_lists_it(
    seed: Seed, switch_serve: SwitchServe, engine: Engine, env: dict[str, str], tmp_path: Path
) -> None:
    line = _line(engine, seed.line_a1)
    run = register(switch_serve.sip_port, line.sip_username, line.sip_password, "acme.voip.example", tmp_path)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:] + switch_serve.output()[-3000:]

    def bindings() -> list[dict[str, object]]:
        return json.loads(run_core(env, "--json", "line", "show", line.number).stdout)["registrations"]

    found = wait_for(bindings, 15, "the binding in line show")
    assert found[0]["user_agent"] == "SIPp-loadtest" and found[0]["source_ip"] == HOST  # type: ignore[index]
    assert found[0]["transport"] == "udp"  # type: ignore[index]
    with transaction(engine) as s:
        events = s.scalars(select(RegistrationEvent.event).where(RegistrationEvent.line_id == line.id)).all()
    assert events == ["start"]
    assert line.sip_password not in switch_serve.output()
    with transaction(engine) as s:  # État and the command buttons see a running switch
        assert heartbeat.running(s, "sip")
    # The installation's setting (VOIPADMIN_SWITCH) tells the dashboard and the CLI who enforces a block.
    shown = json.loads(run_core(env | {"VOIPADMIN_SWITCH": "kamailio"}, "--json", "line", "show", line.number).stdout)
    assert shown["pstn_block_enforced_by"] == "kamailio"


@pytest.mark.sip
def test_a_wrong_password_is_not_bound(seed: Seed, kamailio: RunningKamailio, engine: Engine, tmp_path: Path) -> None:
    line = _line(engine, seed.line_a2)
    run = register(kamailio.port, line.sip_username, "not-the-password", HOST, tmp_path)
    assert run.returncode != 0
    good = register(kamailio.port, line.sip_username, line.sip_password, HOST, tmp_path)
    assert good.returncode == 0, good.stdout[-2000:] + kamailio.output()[-2000:]

    def starts() -> list[RegistrationEvent]:
        kamailio.sync()  # on SQLite usrloc's timer writes the binding within a second (write-back)
        with transaction(engine) as s:
            return list(s.scalars(select(RegistrationEvent).where(RegistrationEvent.event == "start")).all())

    found = wait_for(starts, 15, "the binding mirrored")
    assert len(found) == 1 and found[0].line_id == line.id  # only the good one was bound


@pytest.mark.sip
@pytest.mark.sqlite_only
def test_a_register_while_another_writer_holds_sqlite_s_lock_is_bound(
    seed: Seed, kamailio: RunningKamailio, engine: Engine, tmp_path: Path
) -> None:
    """Kamailio's db_sqlite waits on no lock. Written through, a REGISTER meeting serve's (or another child's)
    write failed at once with a 500; written back, it is answered from memory and usrloc's timer writes the
    binding at its first round after the lock is gone."""
    assert kamailio.ctx.usrloc_db_mode == 2
    line = _line(engine, seed.line_a1)
    database = engine.url.database
    assert database
    holder = sqlite3.connect(database, timeout=30, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer, as serve's upkeep or the access-log writer
        run = register(kamailio.port, line.sip_username, line.sip_password, HOST, tmp_path)
        assert run.returncode == 0, run.stdout[-2000:] + kamailio.output()[-2000:]
        # the timer's write met the lock while it was held
        wait_for(lambda: "inserting contact into database failed" in kamailio.output(), 15, "a failed flush")
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    def bound() -> list[RegistrationEvent]:
        kamailio.sync()
        with transaction(engine) as s:
            return list(s.scalars(select(RegistrationEvent).where(RegistrationEvent.line_id == line.id)).all())

    assert [e.event for e in wait_for(bound, 15, "the binding written once the lock was gone")] == ["start"]


@pytest.mark.sip
def test_new_credentials_refuse_the_old_password_within_the_sync(
    seed: Seed, switch_serve: SwitchServe, engine: Engine, provider: Actor, tmp_path: Path
) -> None:
    line = _line(engine, seed.line_b1)
    old = line.sip_password
    assert register(switch_serve.sip_port, line.sip_username, old, HOST, tmp_path).returncode == 0
    with transaction(engine) as s:
        lines.new_sip_credentials(s, provider, line.id)
    new = _line(engine, line.id).sip_password
    assert new != old
    ha1 = hashlib.md5(f"{line.sip_username}:{HOST}:{new}".encode()).hexdigest()

    def synced() -> bool:  # registering until it works would be a password guesser's failures: banned
        with transaction(engine) as s:
            return s.scalar(select(KamailioSubscriber.ha1).where(KamailioSubscriber.line_id == line.id,
                                                                 KamailioSubscriber.domain == HOST)) == ha1  # fmt: skip

    wait_for(synced, 20, "the new HA1 in subscriber")
    assert register(switch_serve.sip_port, line.sip_username, new, HOST, tmp_path).returncode == 0
    assert register(switch_serve.sip_port, line.sip_username, old, HOST, tmp_path).returncode != 0


@pytest.mark.sip
def test_kamailio_stops_with_serve_and_dies_with_a_killed_serve(env: dict[str, str], engine: Engine,
                                                                tmp_path: Path) -> None:  # fmt: skip
    from tests.switch.conftest import start_switch_serve

    def kamailios() -> list[int]:
        out = subprocess.run(["pgrep", "-f", f"kamailio -DD.*{tmp_path}"], capture_output=True, text=True).stdout
        return [int(p) for p in out.split()]

    first = start_switch_serve(env, tmp_path)
    assert kamailios()
    first.proc.terminate()
    first.proc.wait(30)
    wait_for(lambda: not kamailios(), 15, "Kamailio stopped with serve")
    second = start_switch_serve(env, tmp_path)
    assert kamailios()
    os.kill(second.proc.pid, signal.SIGKILL)
    second.proc.wait(10)
    wait_for(lambda: not kamailios(), 15, "Kamailio gone with a SIGKILLed serve")
