"""`python -m core up` starts the dashboard and the switch services, and Ctrl-C stops both."""

import signal
import socket
import ssl
import subprocess
import sys
import time

import httpx
import pytest

pytestmark = pytest.mark.db


def _free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(check, deadline, what):
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, httpx.HTTPError):
            pass
        time.sleep(0.2)  # polling a child that starts on its own, with a deadline
    raise AssertionError(f"{what} did not come up")


def _closed(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_up_runs_both_and_ctrl_c_stops_both(env, empty_engine):
    https_port, dash_port, sip_port = _free_port(), _free_port(), _free_port(socket.SOCK_DGRAM)
    env = {**env, "VOIPADMIN_DASHBOARD_PORT": str(dash_port), "VOIPADMIN_HTTPS_HOST": "127.0.0.1",
           "VOIPADMIN_HTTPS_PORT": str(https_port), "VOIPADMIN_HTTPS_WORKERS": "1"}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "core", "up", "--demo", "--", "--sip-port", str(sip_port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        _wait(lambda: httpx.get(f"https://127.0.0.1:{https_port}/nope.cfg", verify=ctx).status_code == 404,
              deadline, "the provisioning endpoint")  # fmt: skip
        _wait(lambda: httpx.get(f"http://127.0.0.1:{dash_port}/_stcore/health").status_code == 200,
              deadline, "the dashboard")  # fmt: skip
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    assert "demo-provider" in out  # init --demo printed the logins
    assert _closed(https_port) and _closed(dash_port)
