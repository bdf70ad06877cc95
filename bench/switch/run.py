"""Kamailio as voipadmin configures it against the same Kamailio on its stock tables (issue 16 point 7).

usage: python bench/switch/run.py [--db sqlite|postgresql] [--pg HOST:PORT] [--users 1000] [--rounds 5]
                                  [--registers 20000] [--calls 4000] [--inflight 40] [--what register,calls]
                                  [--aa] [--db-mode N] [--no-upkeep]             (results: docs/PERFORMANCE.md)

Two Kamailio 5.6 processes, started here on free ports and alive for the whole run:
- "ours": the config `python -m core switch config` renders, on voipadmin's database (migrated, one vPBX
  with USERS lines, the `subscriber` table filled by voipadmin's own sync), with serve's upkeep beside it as
  serve runs it (subscriber diff and location mirror into `registration` every second; --no-upkeep: without);
- "stock": bench/switch/stock.cfg on Kamailio's own tables (created from its SQL files, same users, HA1),
  with the children, usrloc db_mode and module list copied from ours.
Rounds alternate (stock first in odd rounds, ours first in even ones). A REGISTER round is REGISTERS sipp
runs of tests/sip/scenarios/reg_auth.xml (REGISTER, 401, REGISTER with digest, 200), INFLIGHT at once and no
rate cap, so the figure is what the switch answers per second; a calls round is CALLS authenticated calls
(INVITE, 407, ACK, INVITE with digest, 200, ACK, BYE, 200) from the first half of the users to the second
half, registered beforehand from one sipp UAS that answers them all; the call records each side's acc wrote
are counted once sipp is done (acc writes the INVITE record before relaying the 200 and the BYE one before
relaying the BYE, so none is pending then; on SQLite ours writes them into db_flatstore files, moved into our
`acc` table by serve's pass, which the count runs first): 2 per call when none was lost. Medians per side;
ratio = ours / stock. --aa runs stock against stock (the method's noise); --db-mode N changes usrloc's db_mode
in our rendered config, and so on both sides (a what-if: not what voipadmin renders).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import load  # noqa: E402
import stock  # noqa: E402

from tests.net import free_port, stop_process, wait_for  # noqa: E402

DOMAIN, FIRST = "pbx.test", 1000
# Kamailio's default 64 MB of shared memory runs out at a few hundred calls/s: each relayed transaction
# (~15 kB) stays in tm's wait state for 5 s after its final reply. Both sides get the same.
SHM_MB = 256


@dataclass
class Side:
    name: str
    port: int
    config: str
    records: Callable[[], int]
    run_dir: Path
    proc: subprocess.Popen[bytes] | None = None
    reg: list[load.Run] = field(default_factory=list)
    calls: list[load.Run] = field(default_factory=list)
    written: list[int] = field(default_factory=list)

    def start(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        cfg = self.run_dir / "kamailio.cfg"
        cfg.write_text(self.config)
        log = (self.run_dir / "kamailio.log").open("wb")
        cmd = ["kamailio", "-DD", "-E", "-m", str(SHM_MB), "-f", str(cfg), "-P", str(self.run_dir / "kamailio.pid"),
               "-Y", str(self.run_dir)]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "TZ": "UTC"})
        wait_for(lambda: load.answers_options(self.port), 30, f"{self.name} Kamailio on {self.port}")


def users_csv(path: Path, users: list[tuple[str, str]], callee_of: dict[str, str] | None = None) -> Path:
    rows = ["SEQUENTIAL"]
    for u, pw in users:
        row = f"{u};[authentication username={u} password={pw}];{DOMAIN}"
        rows.append(row + (f";{callee_of[u]}" if callee_of else ""))
    path.write_text("\n".join(rows) + "\n")
    return path


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def median_line(name: str, runs: list[load.Run], unit: str) -> tuple[str, float]:
    med = statistics.median(r.per_second for r in runs)
    fails = sum(r.failed for r in runs)
    retrans = sum(r.retrans for r in runs)
    each = ", ".join(f"{r.per_second:,.0f}" for r in runs)
    return f"  {name:<6} median {med:,.0f} {unit}/s  (rounds: {each}; failed {fails}, retransmissions {retrans})", med


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--pg", default="127.0.0.1:54376", help="PostgreSQL server host:port (user postgres, trust)")
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--registers", type=int, default=20000)
    p.add_argument("--calls", type=int, default=4000)
    p.add_argument("--inflight", type=int, default=40)
    p.add_argument("--what", default="register,calls")
    p.add_argument("--aa", action="store_true", help="stock against stock: the noise of the method")
    p.add_argument("--db-mode", type=int, help="override usrloc db_mode in our rendered config (a what-if)")
    p.add_argument("--no-upkeep", action="store_true", help="without serve's 1 s subscriber sync and location mirror")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    a = p.parse_args()
    what = set(a.what.split(","))
    work = Path(tempfile.mkdtemp(prefix="bench-switch."))
    users = [(str(n), f"secret{n}") for n in range(FIRST, FIRST + a.users)]
    half = a.users // 2
    callers, callees = users[:half], users[half:]
    callee_of = {c[0]: e[0] for c, e in zip(callers, callees, strict=True)}

    port_ours = free_port()
    port_stock = wait_for(lambda: p if (p := free_port()) != port_ours else 0, 5, "a second free port")
    assert isinstance(port_stock, int)
    if a.aa:
        ours_cfg = ours_records = ours_dir = None
    else:
        import ours  # voipadmin's side: needs the switch base (core.switch)

        ours_cfg, ours_records, ours_dir, ours_engine, ours_ctx = ours.prepare(
            work / "ours", a.db, a.pg, port_ours, users, DOMAIN
        )
        if a.db_mode is not None:  # both sides: stock copies it from ours
            ours_cfg = re.sub(r'(modparam\("usrloc", "db_mode", )\d+\)', rf"\g<1>{a.db_mode})", ours_cfg)
    if a.db == "sqlite":
        stock_url = stock.create_sqlite(work / "stock.sqlite", users, DOMAIN)
    else:
        stock_url = stock.create_postgres(a.pg, "bench_switch_stock", users, DOMAIN)
    stock_side = Side("stock", port_stock, "", lambda: stock.acc_rows(stock_url), work / "stock")
    stock_side.config = stock.render(port_stock, stock_url, DOMAIN, stock_side.run_dir, ours_cfg or "")
    if ours_cfg is None or ours_records is None or ours_dir is None:
        if a.db == "sqlite":
            aa_url = stock.create_sqlite(work / "stock-b.sqlite", users, DOMAIN)
        else:
            aa_url = stock.create_postgres(a.pg, "bench_switch_stock_b", users, DOMAIN)
        ours_side = Side("stockB", port_ours, "", lambda: stock.acc_rows(aa_url), work / "stock-b")
        ours_side.config = stock.render(port_ours, aa_url, DOMAIN, ours_side.run_dir, "")
    else:
        ours_side = Side("ours", port_ours, ours_cfg, ours_records, ours_dir)
    sides = [stock_side, ours_side]
    all_csv = users_csv(work / "users.csv", users)
    callee_csv = users_csv(work / "callees.csv", callees)
    caller_csv = users_csv(work / "callers.csv", callers, callee_of)
    uas: list[subprocess.Popen[bytes]] = []
    stop_upkeep = threading.Event()
    print(f"machine: {os.cpu_count()} cores, load before {loadavg()}; db {a.db}; usrloc db_mode "
          f"{stock.db_mode(stock_side.config)}; work {work}", flush=True)  # fmt: skip
    try:
        for s in sides:
            s.start()
        if "calls" in what:
            for s in sides:  # the called phones register from the UAS's port, then the UAS answers there
                uas_port = free_port()
                reg = load.sipp(s.port, load.REG_SCENARIO, callee_csv, len(callees), 1,  # one at a time: SQLite
                                s.run_dir / "callees", uas_port)  # fmt: skip
                assert reg.ok == len(callees), f"{s.name}: callees not registered: {reg}"
                uas.append(load.start_uas(uas_port, s.run_dir / "uas"))
        if not a.aa and not a.no_upkeep:  # after that setup: on SQLite the upkeep's writes fail some REGISTERs
            ours.upkeep(ours_engine, ours_ctx, stop_upkeep)
        for rnd in range(a.rounds):
            order = sides if rnd % 2 == 0 else sides[::-1]
            for s in order:
                if "register" in what:
                    r = load.sipp(s.port, load.REG_SCENARIO, all_csv, a.registers, a.inflight,
                                  s.run_dir / f"reg-{rnd}", free_port())  # fmt: skip
                    s.reg.append(r)
                    print(f"round {rnd + 1} {s.name:<6} REGISTER {r.per_second:8,.0f}/s ok={r.ok} failed={r.failed} "
                          f"retrans={r.retrans} load={loadavg()}", flush=True)  # fmt: skip
                if "calls" in what:
                    before = s.records()
                    r = load.sipp(s.port, load.CALL_UAC, caller_csv, a.calls, a.inflight,
                                  s.run_dir / f"calls-{rnd}", free_port())  # fmt: skip
                    s.calls.append(r)
                    s.written.append(s.records() - before)
                    print(f"round {rnd + 1} {s.name:<6} calls    {r.per_second:8,.0f}/s ok={r.ok} failed={r.failed} "
                          f"retrans={r.retrans} records={s.written[-1]} load={loadavg()}", flush=True)  # fmt: skip
    finally:
        stop_upkeep.set()
        for proc in uas:
            stop_process(proc)
        for s in sides:
            stop_process(s.proc)
    print(f"\nload after {loadavg()}; {a.rounds} rounds, {a.inflight} in flight, {a.users} users, db {a.db}")
    for kind, unit in (("reg", "REGISTER"), ("calls", "calls")):
        if not getattr(stock_side, kind):
            continue
        lines = [median_line(s.name, getattr(s, kind), unit) for s in sides]
        for text, _ in lines:
            print(text)
        if kind == "calls":
            for s in sides:
                print(f"  {s.name:<6} call records written: {sum(s.written)} for {sum(r.ok for r in s.calls)} calls")
        print(f"  ratio {sides[1].name}/stock: {lines[1][1] / lines[0][1]:.2f}")
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
