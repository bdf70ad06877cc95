import re
from pathlib import Path

import pytest

from core.audit import redact
from core.settings import ROOT, Settings, SettingsError


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


def test_every_setting_is_documented_in_the_readme():
    sources = [p.read_text() for p in (ROOT / "core").rglob("*.py")]
    names = {n for text in sources for n in re.findall(r'"(VOIPADMIN_[A-Z_]+)"', text)}
    readme = (ROOT / "README.md").read_text()
    assert names and not {n for n in names if n not in readme}


def test_audit_redacts_secrets():
    out = redact(
        {"admin_password": "1234", "user_password": "", "sip_password": None, "label": "x", "url": "https://k"}
    )
    assert out == {"admin_password": "(set)", "user_password": "(generated)", "sip_password": "(generated)",
                   "label": "x", "url": "(set)"}  # fmt: skip
