"""The data directory is 0700 and every file in it 0600, whatever the umask (issue 11, point 7):
after `init` on a fresh directory, and while and after `serve` ran (the SQLite -wal and -shm files)."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.net import free_port, wait_for

# The embedded database only: the files under test are SQLite's own.
pytestmark = pytest.mark.sqlite_only


def modes(data_dir: Path) -> dict[str, str]:
    found = {".": f"{stat.S_IMODE(data_dir.stat().st_mode):04o}"}
    for entry in data_dir.iterdir():
        found[entry.name] = f"{stat.S_IMODE(entry.lstat().st_mode):04o}"
    return found


def sqlite_env(env: dict[str, str], data_dir: Path) -> dict[str, str]:
    """The default installation: the database inside the data directory."""
    e = {k: v for k, v in env.items() if k != "VOIPADMIN_DB_URL"}
    return {**e, "VOIPADMIN_DATA_DIR": str(data_dir), "PYTHONPATH": os.getcwd()}


def with_umask(mask: int):  # noqa: ANN201 - a preexec_fn
    return lambda: os.umask(mask)


@pytest.mark.parametrize("umask", [0o022, 0o000], ids=["umask022", "umask000"])
def test_init_then_serve_leave_nothing_readable_by_others(env, tmp_path, umask):
    data_dir = tmp_path / "fresh" / "data"
    e = sqlite_env(env, data_dir)
    init = subprocess.run([sys.executable, "-m", "core", "init"], env=e, capture_output=True, text=True,
                          timeout=120, preexec_fn=with_umask(umask))  # fmt: skip
    assert init.returncode == 0, init.stderr
    after_init = modes(data_dir)
    assert "voipadmin.sqlite3" in after_init
    assert after_init == {name: "0700" if name == "." else "0600" for name in after_init}

    port, sip_port = free_port(), free_port()  # with SIP: the registrar makes the installation secret
    cmd = [sys.executable, "-m", "core", "serve", "--sip-port", str(sip_port), "--host", "127.0.0.1",
           "--https-port", str(port), "--workers", "1"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=with_umask(umask))  # fmt: skip
    try:

        def logged() -> bool:  # a request, so the access-log writer commits: -wal and -shm exist
            httpx.get(f"https://127.0.0.1:{port}/nope.cfg", verify=False, timeout=5)
            wanted = ("voipadmin.sqlite3-wal", "voipadmin.sqlite3-shm", "secret.key")
            return all((data_dir / name).exists() for name in wanted)

        wait_for(lambda: _quiet(logged), 60, "the endpoint and its WAL files")
        while_serving = modes(data_dir)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    expected = {"voipadmin.sqlite3", "voipadmin.sqlite3-wal", "voipadmin.sqlite3-shm", "secret.key",
                "https-cert.pem", "https-key.pem"}  # fmt: skip
    assert expected <= set(while_serving)
    assert while_serving == {name: "0700" if name == "." else "0600" for name in while_serving}
    after = modes(data_dir)
    assert after == {name: "0700" if name == "." else "0600" for name in after}


def _quiet(check):  # noqa: ANN001, ANN202 - not up yet is not a failure
    try:
        return check()
    except httpx.TransportError:
        return False


def test_serve_tightens_what_an_older_version_left_readable(env, tmp_path):
    """An install from before the fix: 0755 directory, 0644 database and redirection.yaml."""
    from core.settings import tighten_private_files

    data_dir = tmp_path / "old"
    e = sqlite_env(env, data_dir)
    subprocess.run([sys.executable, "-m", "core", "init"], env=e, check=True, capture_output=True, timeout=120)
    os.chmod(data_dir, 0o755)
    os.chmod(data_dir / "voipadmin.sqlite3", 0o644)
    (data_dir / "redirection.yaml").write_text("{}\n")
    os.chmod(data_dir / "redirection.yaml", 0o644)
    assert sorted(tighten_private_files(tmp_path)) == []  # not a file of the data dir: left alone
    port = free_port()
    cmd = [sys.executable, "-m", "core", "serve", "--no-sip", "--host", "127.0.0.1", "--https-port", str(port),
           "--workers", "1"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=e, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: _quiet(lambda: httpx.get(f"https://127.0.0.1:{port}/x.cfg", verify=False).status_code),
                 60, "the endpoint")  # fmt: skip
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    found = modes(data_dir)
    assert found == {name: "0700" if name == "." else "0600" for name in found}
    assert "data directory: redirection.yaml: 0644 was readable by others, now 0600" in out
