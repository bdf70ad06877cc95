"""`python -m core up` starts the dashboard and the switch services, and Ctrl-C stops both."""

import signal
import socket
import ssl
import subprocess
import sys

import httpx
import pytest

from tests.net import free_port, wait_for

pytestmark = pytest.mark.db


def _status(url, verify):
    try:
        return httpx.get(url, verify=verify).status_code
    except httpx.HTTPError:
        return None


def _closed(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_up_runs_both_and_ctrl_c_stops_both(env, empty_engine):
    https_port, dash_port, sip_port = free_port(), free_port(), free_port()
    env = {**env, "VOIPADMIN_DASHBOARD_PORT": str(dash_port), "VOIPADMIN_HTTPS_HOST": "127.0.0.1",
           "VOIPADMIN_HTTPS_PORT": str(https_port), "VOIPADMIN_HTTPS_WORKERS": "1"}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", "up", "--demo", "--", "--sip-port", str(sip_port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        wait_for(lambda: _status(f"https://127.0.0.1:{https_port}/nope.cfg", ctx) == 404, 90, "the endpoint")
        wait_for(lambda: _status(f"http://127.0.0.1:{dash_port}/_stcore/health", True) == 200, 90, "the dashboard")
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    assert "demo-provider" in out  # init --demo printed the logins
    assert _closed(https_port) and _closed(dash_port)


def test_kill_9_of_up_takes_every_child_down(env, empty_engine):
    """SIGKILL of `up` alone (not its group): the dashboard, serve and serve's HTTPS server all stop."""
    import os

    from tests.core.test_serve_lifetime import alive, cleanup, descendants

    https_port, dash_port, sip_port = free_port(), free_port(), free_port()
    env = {**env, "VOIPADMIN_DASHBOARD_PORT": str(dash_port), "VOIPADMIN_HTTPS_HOST": "127.0.0.1",
           "VOIPADMIN_HTTPS_PORT": str(https_port), "VOIPADMIN_HTTPS_WORKERS": "1"}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", "up", "--demo", "--", "--sip-port", str(sip_port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )  # fmt: skip
    tree: list[int] = []
    try:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        wait_for(lambda: _status(f"https://127.0.0.1:{https_port}/nope.cfg", ctx) == 404, 90, "the endpoint")
        wait_for(lambda: _status(f"http://127.0.0.1:{dash_port}/_stcore/health", True) == 200, 90, "the dashboard")
        tree = descendants(proc.pid)  # serve, its HTTPS server and worker, the dashboard
        assert len(tree) >= 4, tree
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        wait_for(lambda: _closed(https_port) and _closed(dash_port), 60, "both ports to close")
        wait_for(lambda: not any(alive(p) for p in tree), 60, "every child to exit")
    finally:
        cleanup(proc, tree)
