"""sipp as the load of bench/switch/run.py: closed-loop runs (a fixed number of transactions in flight,
as many per second as the switch answers) and their counts read back from sipp's statistics file."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REG_SCENARIO = ROOT / "tests" / "sip" / "scenarios" / "reg_auth.xml"
CALL_UAC = ROOT / "tests" / "switch" / "scenarios" / "call_auth.xml"  # the scenarios the live tests use
CALL_UAS = ROOT / "tests" / "switch" / "scenarios" / "answer_call.xml"


@dataclass(frozen=True)
class Run:
    ok: int
    failed: int
    retrans: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0


def sipp(
    port: int,
    scenario: Path,
    csv: Path,
    count: int,
    inflight: int,
    work: Path,
    local_port: int,
) -> Run:
    """`count` scenario runs against 127.0.0.1:`port`, at most `inflight` at once and no rate cap."""
    work.mkdir(parents=True, exist_ok=True)
    cmd = ["sipp", f"127.0.0.1:{port}", "-sf", str(scenario), "-inf", str(csv), "-i", "127.0.0.1",
           "-p", str(local_port), "-r", "100000", "-l", str(inflight), "-m", str(count), "-nostdin",
           "-timeout", "180s", "-timeout_error", "-trace_stat", "-stf", "stats.csv", "-fd", "1",
           "-trace_err"]  # fmt: skip
    t0 = time.monotonic()
    subprocess.run(cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=240, check=False)
    seconds = time.monotonic() - t0  # wall time of the sipp run, its ~0.1 s start-up included
    header, *rows = (work / "stats.csv").read_text().splitlines()
    cols = {name: i for i, name in enumerate(header.split(";"))}
    last = rows[-1].split(";")
    return Run(
        ok=int(last[cols["SuccessfulCall(C)"]]),
        failed=int(last[cols["FailedCall(C)"]]),
        retrans=int(last[cols["Retransmissions(C)"]]),
        seconds=seconds,
    )


def start_uas(local_port: int, work: Path) -> subprocess.Popen[bytes]:
    """The called phones: one sipp UAS answering every call on `local_port`."""
    work.mkdir(parents=True, exist_ok=True)
    cmd = ["sipp", "-sf", str(CALL_UAS), "-i", "127.0.0.1", "-p", str(local_port), "-nostdin"]
    return subprocess.Popen(cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def answers_options(port: int) -> bool:
    """True once something answers an OPTIONS on UDP 127.0.0.1:`port`."""
    msg = (f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKready;rport\r\n"
           "From: <sip:ready@127.0.0.1>;tag=r\r\nTo: <sip:127.0.0.1>\r\nCall-ID: ready\r\nCSeq: 1 OPTIONS\r\n"
           "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()  # fmt: skip
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        s.sendto(msg, ("127.0.0.1", port))
        try:
            return s.recvfrom(65535)[0].startswith(b"SIP/2.0 200")
        except OSError:
            return False
