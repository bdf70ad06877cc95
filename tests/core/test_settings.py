import re
from pathlib import Path

import pytest

from core.audit import redact
from core.provisioning.app import Limits
from core.settings import ROOT, Settings, SettingsError
from core.sip.policy import PolicyConfig
from core.sip.service import SipConfig
from core.sip.transport import TcpLimits


def test_defaults_follow_the_public_url():
    s = Settings.from_env({"VOIPADMIN_PUBLIC_URL": "https://prov.example.com:9443", "VOIPADMIN_DATA_DIR": "/tmp/x"})
    assert s.public_base == "https://prov.example.com:9443"
    assert s.sip_host == "prov.example.com" and s.sip_port == 5060 and s.sip_transport == "udp"
    assert s.db_url == "sqlite:////tmp/x/voipadmin.sqlite3"
    assert s.http_port is None  # plain HTTP is off unless asked for


@pytest.mark.parametrize(
    "env, name",
    [
        ({"VOIPADMIN_HTTPS_PORT": "http"}, "VOIPADMIN_HTTPS_PORT"),
        ({"VOIPADMIN_SIP_PORT": "70000"}, "VOIPADMIN_SIP_PORT"),
        ({"VOIPADMIN_SIP_TRANSPORT": "sctp"}, "VOIPADMIN_SIP_TRANSPORT"),
        ({"VOIPADMIN_PUBLIC_URL": "ftp://x"}, "VOIPADMIN_PUBLIC_URL"),
    ],
)
def test_bad_settings_name_the_variable(env, name):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env(env)


def test_secret_key_is_created_once_and_private(tmp_path: Path):
    s = Settings(data_dir=tmp_path / "d")
    key = s.secret_key()
    assert len(key) == 32 and s.secret_key() == key
    assert (tmp_path / "d" / "secret.key").stat().st_mode & 0o077 == 0


# Read from the environment outside Settings on purpose: a test-only hook (core/provisioning/server.py).
TEST_ONLY = {"VOIPADMIN_PROVISIONING_RENDERER"}


def _quoted_names(path: Path) -> set[str]:
    return set(re.findall(r'"(VOIPADMIN_[A-Z_]+)"', path.read_text()))


def test_every_setting_is_documented_in_the_readme():
    names = {n for p in (ROOT / "core").rglob("*.py") for n in _quoted_names(p)}
    readme = (ROOT / "README.md").read_text()
    assert len(names - TEST_ONLY) > 30 and not {n for n in names - TEST_ONLY if n not in readme}
    assert not {n for n in TEST_ONLY if n in readme}  # not something an operator sets


def test_only_settings_reads_the_environment():
    """Every VOIPADMIN_* name is read (and validated) in core/settings.py; elsewhere only the test hook.
    serve copies the environment to its children, which read their settings the same way."""
    readers = {}
    for path in [*(ROOT / "core").rglob("*.py"), *(ROOT / "dashboard").rglob("*.py"), *(ROOT / "pages").rglob("*.py"),
                 ROOT / "app.py"]:  # fmt: skip
        rel = str(path.relative_to(ROOT))
        if rel != "core/settings.py" and (_quoted_names(path) or re.search(r"os\.environ|getenv", path.read_text())):
            readers[rel] = _quoted_names(path)
    assert readers == {"core/processes/serve.py": set(), "core/switch/kamailio_process.py": set(),
                       "core/provisioning/server.py": TEST_ONLY}  # fmt: skip


@pytest.mark.parametrize(
    "name, bad",
    [
        ("VOIPADMIN_HTTPS_WORKERS", "0"),
        ("VOIPADMIN_HTTPS_WORKERS", "two"),
        ("VOIPADMIN_HTTPS_THREADS", "0"),
        ("VOIPADMIN_HTTPS_THREADS", "1.5"),
        ("VOIPADMIN_PROV_MISS_THRESHOLD", "0"),
        ("VOIPADMIN_PROV_MISS_WINDOW", "0"),
        ("VOIPADMIN_PROV_MISS_WINDOW", "soon"),
        ("VOIPADMIN_PROV_COOLDOWN", "-5"),
        ("VOIPADMIN_PROV_COOLDOWN", "nan"),
        ("VOIPADMIN_SIP_RATE", "-1"),
        ("VOIPADMIN_SIP_RATE", "fast"),
        ("VOIPADMIN_SIP_FAIL_THRESHOLD", "0"),
        ("VOIPADMIN_SIP_FAIL_THRESHOLD", "2.5"),
        ("VOIPADMIN_SIP_BAN_SECONDS", "inf"),
        ("VOIPADMIN_SIP_NOTIFY_TIMEOUT", "0"),
        ("VOIPADMIN_SIP_TCP_MAX_CONNECTIONS", "-1"),
        ("VOIPADMIN_SIP_TCP_MAX_PER_SOURCE", "0"),
        ("VOIPADMIN_SIP_TCP_HANDSHAKE_SECONDS", "0"),
        ("VOIPADMIN_SIP_TCP_IDLE_SECONDS", "1e9"),
        ("VOIPADMIN_LOGIN_MAX_PER_ACCOUNT", "0"),
        ("VOIPADMIN_LOGIN_MAX_PER_SOURCE", "many"),
        ("VOIPADMIN_LOGIN_WINDOW_SECONDS", "86401"),
    ],
)
def test_bad_tuning_values_name_the_variable(name, bad):
    with pytest.raises(SettingsError, match=f"^{name} must be .*{re.escape(bad)}"):
        Settings.from_env({name: bad})


def test_tuning_settings_reach_the_components_and_unset_ones_keep_their_defaults():
    env = {
        "VOIPADMIN_HTTPS_WORKERS": "3", "VOIPADMIN_HTTPS_THREADS": "4",
        "VOIPADMIN_PROV_MISS_THRESHOLD": "7", "VOIPADMIN_PROV_MISS_WINDOW": "12.5", "VOIPADMIN_PROV_COOLDOWN": "90",
        "VOIPADMIN_SIP_RATE": "0", "VOIPADMIN_SIP_FAIL_THRESHOLD": "3", "VOIPADMIN_SIP_BAN_SECONDS": "60",
        "VOIPADMIN_SIP_NOTIFY_TIMEOUT": "4", "VOIPADMIN_SIP_TCP_MAX_CONNECTIONS": "100",
        "VOIPADMIN_SIP_TCP_MAX_PER_SOURCE": "5", "VOIPADMIN_SIP_TCP_HANDSHAKE_SECONDS": "2",
        "VOIPADMIN_SIP_TCP_IDLE_SECONDS": "600",
    }  # fmt: skip
    s = Settings.from_env(env)
    assert (s.https_workers, s.https_threads) == (3, 4)
    prov = Limits.from_settings(s)
    assert (prov.miss_threshold, prov.miss_window, prov.cooldown) == (7, 12.5, 90.0)
    sip = SipConfig.from_settings(s)
    assert (sip.policy.rate, sip.policy.fail_threshold, sip.policy.ban_seconds, sip.notify_timeout) == (0, 3, 60, 4)
    assert sip.tcp == TcpLimits(max_connections=100, max_per_source=5, handshake_timeout=2, idle_timeout=600)
    default = Settings.from_env({})
    assert (default.https_workers, default.https_threads) == (None, 2)
    assert Limits.from_settings(default) == Limits()
    assert SipConfig.from_settings(default).policy == PolicyConfig()
    assert SipConfig.from_settings(default).tcp == TcpLimits() and SipConfig.from_settings(default).notify_timeout == 8


def test_audit_redacts_secrets():
    out = redact(
        {"admin_password": "1234", "user_password": "", "sip_password": None, "label": "x", "url": "https://k"}
    )
    assert out == {"admin_password": "(set)", "user_password": "(generated)", "sip_password": "(generated)",
                   "label": "x", "url": "(set)"}  # fmt: skip
