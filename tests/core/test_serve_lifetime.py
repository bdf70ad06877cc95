"""`serve` and its HTTPS server live and die together; a second serve on a busy port refuses to start
(issue 11, point 6). Real processes, real ports, SIGKILL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.net import free_port, wait_for

pytestmark = pytest.mark.db


def children_of(pid: int) -> list[int]:
    """Direct children of `pid`, from /proc (the kernel's view, nothing the process says)."""
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                kids.append(int(entry.name))
    return kids


def descendants(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        for kid in children_of(todo.pop()):
            found.append(kid)
            todo.append(kid)
    return found


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper has stopped serving: it counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def port_closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def answering(url: str) -> bool:
    try:
        return httpx.get(url, verify=False, timeout=5).status_code == 404
    except httpx.TransportError:
        return False


def serve_cmd(https_port: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "core", "serve", "--host", "127.0.0.1", "--https-port", str(https_port),
            "--workers", "1", *extra]  # fmt: skip


def start(env: dict[str, str], cmd: list[str]) -> subprocess.Popen[str]:
    # Its own process group, as a shell or a supervisor starts it: the test can kill the whole group.
    e = {**env, "PYTHONPATH": os.getcwd()}
    return subprocess.Popen(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)  # fmt: skip


def cleanup(proc: subprocess.Popen[str], pids: list[int]) -> None:
    """Whatever the test's outcome, nothing it started outlives it."""
    for pid in [proc.pid, *pids]:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    if proc.poll() is None:
        proc.wait(10)
    if proc.stdout:
        proc.stdout.close()


def run_to_end(env: dict[str, str], cmd: list[str], timeout: float = 60) -> tuple[int, str]:
    """Run a serve that should refuse to start: (exit code, output); killed with all it started if not."""
    proc = start(env, cmd)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        cleanup(proc, descendants(proc.pid))
        raise AssertionError(f"{' '.join(cmd[2:])} did not exit") from None
    return proc.returncode, out


@pytest.mark.parametrize("how", ["process group", "process"])
def test_kill_9_of_serve_takes_the_https_server_down(env, empty_engine, how):
    port = free_port()
    proc = start(env, serve_cmd(port, "--no-sip"))
    tree: list[int] = []
    try:
        wait_for(lambda: answering(f"https://127.0.0.1:{port}/nope.cfg"), 60, "the endpoint")
        tree = descendants(proc.pid)  # the Granian process and its worker
        assert len(tree) >= 2, tree
        if how == "process group":
            os.killpg(proc.pid, signal.SIGKILL)  # what a shell's kill -9 -PGID does
        else:
            proc.kill()
        proc.wait(10)
        wait_for(lambda: port_closed(port), 30, f"port {port} to close")
        wait_for(lambda: not any(alive(p) for p in tree), 30, "every child to exit")
    finally:
        cleanup(proc, tree)


def test_a_second_serve_on_the_same_ports_says_so_and_exits(env, empty_engine):
    https_port, sip_port = free_port(), free_port()
    first = start(env, serve_cmd(https_port, "--sip-port", str(sip_port)))
    tree: list[int] = []
    try:
        wait_for(lambda: answering(f"https://127.0.0.1:{https_port}/nope.cfg"), 60, "the first endpoint")
        tree = descendants(first.pid)
        code, out = run_to_end(env, serve_cmd(https_port, "--no-sip"))
        assert code != 0
        assert f"port {https_port}/tcp (HTTPS) on 127.0.0.1 is already in use" in out
        assert "Provisioning endpoint" not in out  # refused before starting anything
        # Another HTTPS port but the same SIP port: the SIP socket is checked before the HTTPS server starts.
        other = free_port()
        code, out = run_to_end(env, serve_cmd(other, "--sip-port", str(sip_port)))
        assert code != 0
        assert f"port {sip_port}/udp (SIP) on 0.0.0.0 is already in use" in out
        assert port_closed(other)
        assert first.poll() is None and answering(f"https://127.0.0.1:{https_port}/nope.cfg")
        assert sorted(descendants(first.pid)) == sorted(tree)  # no server was added next to the first
    finally:
        cleanup(first, tree)


def test_a_port_held_by_another_program_is_named(env, empty_engine):
    """Not only another serve: any listener, even one bound with SO_REUSEPORT as Granian binds."""
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        code, out = run_to_end(env, serve_cmd(port, "--no-sip"))
    assert code == 2
    assert f"port {port}/tcp (HTTPS) on 127.0.0.1 is already in use" in out


def test_two_serves_starting_at_the_same_instant_cannot_both_pass_the_check(settings):
    """Nothing listens yet (both are still starting): the first one's claim alone refuses the second."""
    from core.processes.serve import PortBusy, ServeOptions, claim_ports

    opts = ServeOptions(host="127.0.0.1", https_port=free_port(), http_port=None, sip=False)
    first = claim_ports(settings, opts)
    try:
        with pytest.raises(PortBusy, match=f"port {opts.https_port}/tcp"):
            claim_ports(settings, opts)
    finally:
        for claim in first:
            claim.close()
    for claim in claim_ports(settings, opts):  # released with the first serve: free again
        claim.close()


def test_a_worker_that_will_not_stop_is_killed_after_a_bound():
    """Granian waits for its workers on SIGTERM; unbounded, one stuck worker would keep the port
    serving after serve is gone (the kill -9 tests above rely on this bound on a loaded machine)."""
    from core.provisioning.server import WORKER_STOP_SECONDS, make_server

    server = make_server("127.0.0.1", free_port(), None, None, workers=1, threads=1)
    assert server.workers_kill_timeout == WORKER_STOP_SECONDS
    assert 0 < WORKER_STOP_SECONDS < 30  # inside the tests' wait for the port to close


def test_the_alert_passes_run_in_their_own_process_and_die_with_serve(env, empty_engine):
    """The rollup and alert passes run in a child of serve (their own GIL, not the registrar's): a scanner's
    event becomes an alert, and a SIGKILL of serve takes that child down too."""
    from datetime import UTC, datetime

    from sqlalchemy import insert, select

    from core import event_kinds as ek
    from core.models import Alert, SecurityEvent

    port = free_port()
    proc = start(env, serve_cmd(port, "--no-sip"))
    tree: list[int] = []
    try:
        wait_for(lambda: answering(f"https://127.0.0.1:{port}/nope.cfg"), 60, "the endpoint")
        tree = descendants(proc.pid)
        passes = [p for p in tree if b"core.processes.passes" in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert len(passes) == 1 and passes[0] in children_of(proc.pid), tree
        with empty_engine.begin() as conn:
            conn.execute(insert(SecurityEvent).values(kind=ek.SIP_SCANNER, source_ip="203.0.113.9", username="",
                                                      user_agent="friendly-scanner", at=datetime.now(UTC)))  # fmt: skip

        def raised() -> bool:
            with empty_engine.connect() as conn:
                return conn.scalar(select(Alert.rule)) == "sip_scanner"

        wait_for(raised, 60, "the scanner's alert")
        proc.kill()
        proc.wait(10)
        wait_for(lambda: not alive(passes[0]), 30, "the passes' process to exit")
    finally:
        cleanup(proc, tree)
