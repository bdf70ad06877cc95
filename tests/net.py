"""Test helpers for servers started on loopback: free ports and bounded polling."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable


def free_port() -> int:
    """A port free on both UDP and TCP on 127.0.0.1 (SIP listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return int(port)
    raise RuntimeError("no free port")


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, what: str = "condition") -> object:
    """Poll `predicate` until it is true (a server starting on its own), failing after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
        except OSError:
            value = None  # not listening yet
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
