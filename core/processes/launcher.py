"""`python -m core up`: the dashboard and the switch services as two child processes.

They share nothing but the database. Signals are forwarded; when one child stops, the other is
stopped too, so a supervisor (systemd, a container runtime) sees the whole product go down; when
`up` itself dies, even by SIGKILL, both get SIGTERM from the kernel (core/processes/lifeline.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence

from core.processes.lifeline import preexec_die_with
from core.settings import ROOT, Settings


def commands(settings: Settings, serve_args: Sequence[str] = ()) -> dict[str, list[str]]:
    return {
        "serve": [sys.executable, "-m", "core", "serve", *serve_args],
        "dashboard": [
            sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
            "--server.port", str(settings.dashboard_port), "--server.headless", "true",
            "--browser.gatherUsageStats", "false",
        ],
    }  # fmt: skip


def run(settings: Settings, serve_args: Sequence[str] = (), grace: float = 10.0) -> int:
    # A SIGKILL of `up` gives it no chance to stop them: the kernel sends them SIGTERM instead (this
    # process has no other thread, so a preexec_fn is safe here).
    die_with_us = preexec_die_with(os.getpid())
    children = {
        name: subprocess.Popen(cmd, cwd=ROOT, preexec_fn=die_with_us)
        for name, cmd in commands(settings, serve_args).items()
    }
    print(f"dashboard: http://localhost:{settings.dashboard_port}   provisioning: {settings.public_base}/", flush=True)
    stopping = False

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for child in children.values():
            if child.poll() is None:
                child.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)
    exit_code = 0
    try:
        while True:
            finished = {n: c.poll() for n, c in children.items() if c.poll() is not None}
            if finished:
                if not stopping:
                    name, code = next(iter(finished.items()))
                    print(f"{name} stopped (exit {code}); stopping the rest", file=sys.stderr, flush=True)
                    exit_code = code or 1
                    stop(signal.SIGTERM, None)
                break
            time.sleep(0.2)  # supervising loop, not synchronisation: children run on their own
    finally:
        deadline = time.monotonic() + grace
        for child in children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    return exit_code
