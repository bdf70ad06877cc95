"""Settings from the environment, with the embedded defaults.

Read once per process through `Settings.from_env()`; tests build their own `Settings`.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
import secrets
import stat
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = ROOT / "data" / "run"
SIP_TRANSPORTS = ("udp", "tcp", "tls")
SWITCHES = ("builtin", "kamailio")  # VOIPADMIN_SWITCH
T = TypeVar("T")


# The data directory holds the database (SIP and device passwords, keys), the TLS key and the
# installation secret: nobody but the service account reads it, whatever the umask (issue 11, point 7).
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """`mkdir -p` whose last directory is 0700 whatever the umask; an existing one (an older install
    made it 0755) is tightened, unless it is a shared sticky directory such as /tmp or not ours."""
    path.mkdir(parents=True, exist_ok=True)
    st = path.stat()
    ours = st.st_uid == os.geteuid() and not st.st_mode & stat.S_ISVTX
    if ours and stat.S_IMODE(st.st_mode) != PRIVATE_DIR_MODE:
        os.chmod(path, PRIVATE_DIR_MODE)
    return path


def open_private(path: Path, flags: int = os.O_WRONLY | os.O_CREAT | os.O_EXCL) -> int:
    """A file descriptor on `path`, which is (or becomes) 0600: `os.open`'s mode passes through the
    umask, `fchmod` does not (and it also tightens a file that existed)."""
    fd = os.open(path, flags | os.O_CLOEXEC, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` (0600) through a temporary name: a concurrent reader never sees half a file."""
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}")
    with os.fdopen(open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def tighten_private_files(directory: Path) -> list[str]:
    """Make every regular file of ours in `directory` 0600 (files an older version or an operator left
    readable: the database, redirection.yaml...); returns what was changed, as "name: 0644"."""
    changed = []
    for entry in directory.iterdir() if directory.is_dir() else ():
        try:
            st = entry.lstat()
        except FileNotFoundError:  # a -wal or temporary file gone meanwhile
            continue
        if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and st.st_mode & 0o077:
            os.chmod(entry, PRIVATE_FILE_MODE)
            changed.append(f"{entry.name}: {stat.S_IMODE(st.st_mode):04o}")
    return changed


class SettingsError(ValueError):
    """A setting has a value the product cannot use; the message names the variable."""


def whole_number(env: Mapping[str, str], name: str, default: int, low: int, high: int, meaning: str) -> int:
    """A whole number in [low, high] from the environment; the error names the variable and the range."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {raw!r}") from None
    if not low <= value <= high:
        raise SettingsError(f"{name} must be {meaning} ({low}-{high}), got {value}")
    return value


def override(value: T | None, default: T) -> T:
    """A tuning setting's value, or the component's own default when it is not set."""
    return default if value is None else value


def _whole_or_none(env: Mapping[str, str], name: str, low: int, high: int, meaning: str) -> int | None:
    """A whole number in [low, high], or None when unset (the component that uses it has the default)."""
    if env.get(name) in (None, ""):
        return None
    return whole_number(env, name, low, low, high, meaning)


def _number_or_none(env: Mapping[str, str], name: str, low: float, high: float, meaning: str) -> float | None:
    """A number (decimals allowed) in [low, high], or None when unset; the error names the variable."""
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise SettingsError(f"{name} must be {meaning} ({low:g}-{high:g}), got {raw}")
    return value


def _seconds(env: Mapping[str, str], name: str, high: float = 86_400.0) -> float | None:
    return _number_or_none(env, name, 0.1, high, "a number of seconds")


def _int(env: dict[str, str], name: str, default: int) -> int:
    return whole_number(env, name, default, 1, 65535, "a port number")


def _days(env: dict[str, str], name: str, default: int) -> int:
    return whole_number(env, name, default, 0, 36500, "a number of days, 0 to keep for ever")


FLAGS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    """A yes/no setting: 0/1 (or false/true, no/yes, off/on); the error names the variable."""
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw not in FLAGS:
        raise SettingsError(f"{name} must be 0 or 1, got {env.get(name)!r}")
    return FLAGS[raw]


def _addresses(raw: str) -> tuple[str, ...]:
    """A comma-separated list of e-mail addresses (checked in Settings, which names the variable)."""
    return tuple(a.strip() for a in raw.split(",") if a.strip())


# A plain mailbox, local@domain: what an alert is sent to and from. Deliberately narrower than RFC 5322
# (no quoted local parts, no comments, no display name): an operator's typo is refused at start rather
# than bounced by the relay an hour later, and nothing in it can break out of a header.
EMAIL_ADDRESS_RE = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)
MIN_WEBHOOK_SECRET = 16  # characters: an HMAC key a person cannot guess from the receiver's logs


def is_local_host(host: str) -> bool:
    """localhost or a loopback address: traffic to it never leaves this machine."""
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Settings:
    data_dir: Path = DEFAULT_DATA_DIR
    db_url: str = ""
    public_url: str = "https://localhost:8448"
    https_host: str = "0.0.0.0"
    https_port: int = 8448
    http_port: int | None = None  # plain HTTP for old phones: off unless set
    dashboard_port: int = 8501
    sip_host: str = ""
    sip_port: int = 5060
    sip_transport: str = "udp"
    sip_listen_port: int = 5060
    # What handles SIP (docs/SWITCH.md): the built-in registrar, or Kamailio driven by serve (issue 16).
    switch: str = "builtin"
    pstn_trunk: str = ""  # where Kamailio sends calls to numbers outside the vPBX (a SIP URI); "" = none
    kamailio_bin: str = "kamailio"
    kamailio_children: int = 4  # Kamailio's UDP worker processes
    # Several Kamailio on one PostgreSQL (issue 16 point 5): locations in the database only (usrloc db_mode 3),
    # so each instance finds the phones registered through the others.
    kamailio_shared: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    redirection_config: Path | None = None  # YAML with redirection-service credentials
    rates_file: Path | None = None  # TopStop's rate table (core/topstop/rates.py); None: data/rates.yaml
    timezone: str = "Europe/Zurich"  # written into device configs
    ntp_server: str = "pool.ntp.org"
    access_log_days: int = 90  # provisioning access-log rows older than this are deleted; 0 keeps them all
    # Tuning knobs (README's second table). None: not set, the component that uses the value keeps
    # its own default (PolicyConfig, TcpLimits, provisioning Limits, login_throttle), so each
    # default is written once, next to the code it tunes.
    https_workers: int | None = None  # provisioning worker processes; None: one per core
    https_threads: int = 2  # request threads per provisioning worker (docs/PERFORMANCE.md)
    prov_miss_threshold: int | None = None
    prov_miss_window: float | None = None
    prov_cooldown: float | None = None
    sip_rate: float | None = None  # requests/s per source, 0 = no limit
    sip_fail_threshold: int | None = None
    sip_ban_seconds: float | None = None
    sip_notify_timeout: float | None = None
    sip_tcp_max_connections: int | None = None
    sip_tcp_max_per_source: int | None = None
    sip_tcp_handshake_seconds: float | None = None
    sip_tcp_idle_seconds: float | None = None
    login_max_per_account: int | None = None
    login_max_per_source: int | None = None
    login_window_seconds: int | None = None
    # High-severity alerts pushed out by serve's notifier (core/alert_notify.py, docs/ALERT-NOTIFICATIONS.md).
    # repr=False: the secret, the password, and the URL (a receiver's path or query is often its token)
    # never appear in a repr, hence in no log line or traceback that prints the settings.
    alert_webhook_url: str = field(default="", repr=False)
    alert_webhook_secret: str = field(default="", repr=False)
    alert_smtp_host: str = ""
    alert_smtp_port: int = 25
    alert_smtp_starttls: bool = False
    alert_smtp_user: str = ""
    alert_smtp_password: str = field(default="", repr=False)
    alert_email_from: str = ""
    alert_email_to: tuple[str, ...] = ()
    dashboard_url: str = ""  # the link in an alert; "" = http://localhost:<dashboard_port>

    def __post_init__(self) -> None:
        if not self.db_url:
            object.__setattr__(self, "db_url", f"sqlite:///{self.data_dir / 'voipadmin.sqlite3'}")
        if not self.sip_host:
            object.__setattr__(self, "sip_host", self.public_host)
        if self.switch not in SWITCHES:
            raise SettingsError(f"VOIPADMIN_SWITCH must be one of {', '.join(SWITCHES)}, got {self.switch!r}")
        if self.pstn_trunk and not re.fullmatch(r"sips?:[^\s@<>\"]+(@[^\s<>\"]+)?", self.pstn_trunk):
            raise SettingsError(f"VOIPADMIN_PSTN_TRUNK must be a SIP URI (sip:host[:port]), got {self.pstn_trunk!r}")
        if self.kamailio_shared and not self.db_url.startswith("postgresql"):
            # Kamailio's db_sqlite waits for no lock: DB-only locations on SQLite fail most REGISTERs under load
            raise SettingsError(
                "VOIPADMIN_KAMAILIO_SHARED needs PostgreSQL (VOIPADMIN_DB_URL=postgresql+psycopg://...)"
            )
        if self.sip_transport not in SIP_TRANSPORTS:
            raise SettingsError(
                f"VOIPADMIN_SIP_TRANSPORT must be one of {', '.join(SIP_TRANSPORTS)}, got {self.sip_transport!r}"
            )
        try:
            zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise SettingsError(f"VOIPADMIN_TIMEZONE must be a tz database name, got {self.timezone!r}") from None
        if self.rates_file is not None and not self.rates_file.is_file():
            raise SettingsError(f"VOIPADMIN_RATES_FILE must name TopStop's rate table, {self.rates_file} is no file")
        parts = urlsplit(self.public_url)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise SettingsError(f"VOIPADMIN_PUBLIC_URL must be an https:// URL, got {self.public_url!r}")
        if not self.dashboard_url:
            object.__setattr__(self, "dashboard_url", f"http://localhost:{self.dashboard_port}")
        self._check_alert_notifications()

    def _check_alert_notifications(self) -> None:
        """The alert channels: each half-configured one is refused, naming what is missing, so an
        installation never believes it is told about fraud while nothing can be sent. No message
        quotes the secret or the password (nor the webhook URL, which may carry a token)."""
        dash = urlsplit(self.dashboard_url)
        if dash.scheme not in ("https", "http") or not dash.hostname:
            raise SettingsError("VOIPADMIN_DASHBOARD_URL must be an http:// or https:// URL with a host")
        if dash.username is not None or dash.query or dash.fragment:
            # It is copied into every alert sent out: nothing but where the dashboard is.
            raise SettingsError("VOIPADMIN_DASHBOARD_URL must have no user, password, query or fragment")
        if self.alert_webhook_url:
            try:
                hook = urlsplit(self.alert_webhook_url)
                host = hook.hostname
                _ = hook.port  # a bad port raises here, not at the first alert
            except ValueError:
                raise SettingsError("VOIPADMIN_ALERT_WEBHOOK_URL is not a valid URL") from None
            if hook.scheme not in ("https", "http") or not host:
                raise SettingsError("VOIPADMIN_ALERT_WEBHOOK_URL must be an https:// URL")
            if hook.scheme == "http" and not is_local_host(host):
                raise SettingsError(
                    "VOIPADMIN_ALERT_WEBHOOK_URL must be https:// (http:// only to localhost or a loopback address)"
                )
            if not self.alert_webhook_secret:
                raise SettingsError("VOIPADMIN_ALERT_WEBHOOK_SECRET must be set when VOIPADMIN_ALERT_WEBHOOK_URL is "
                                    "(the receiver checks each alert's HMAC signature with it)")  # fmt: skip
            if len(self.alert_webhook_secret) < MIN_WEBHOOK_SECRET:
                raise SettingsError(f"VOIPADMIN_ALERT_WEBHOOK_SECRET must be at least {MIN_WEBHOOK_SECRET} characters")
        elif self.alert_webhook_secret:
            raise SettingsError("VOIPADMIN_ALERT_WEBHOOK_SECRET is set but VOIPADMIN_ALERT_WEBHOOK_URL is not")
        smtp = self.alert_smtp_host
        if smtp and (not re.fullmatch(r"[A-Za-z0-9.:-]+", smtp)):
            raise SettingsError(f"VOIPADMIN_ALERT_SMTP_HOST must be a host name or address, got {smtp!r}")
        if not 1 <= self.alert_smtp_port <= 65535:
            raise SettingsError(
                f"VOIPADMIN_ALERT_SMTP_PORT must be a port number (1-65535), got {self.alert_smtp_port}"
            )
        for address in self.alert_email_to:
            if not EMAIL_ADDRESS_RE.fullmatch(address):
                raise SettingsError(f"VOIPADMIN_ALERT_EMAIL_TO must be e-mail addresses separated by commas, "
                                    f"got {address!r}")  # fmt: skip
        if self.alert_email_from and not EMAIL_ADDRESS_RE.fullmatch(self.alert_email_from):
            raise SettingsError(f"VOIPADMIN_ALERT_EMAIL_FROM must be an e-mail address, got {self.alert_email_from!r}")
        if not smtp:
            for name, value in (("VOIPADMIN_ALERT_EMAIL_TO", self.alert_email_to),
                                ("VOIPADMIN_ALERT_EMAIL_FROM", self.alert_email_from),
                                ("VOIPADMIN_ALERT_SMTP_USER", self.alert_smtp_user),
                                ("VOIPADMIN_ALERT_SMTP_PASSWORD", self.alert_smtp_password)):  # fmt: skip
                if value:
                    raise SettingsError(f"{name} is set but VOIPADMIN_ALERT_SMTP_HOST is not")
            return
        if not self.alert_email_to:
            raise SettingsError("VOIPADMIN_ALERT_EMAIL_TO must be set when VOIPADMIN_ALERT_SMTP_HOST is")
        if not self.alert_email_from:
            raise SettingsError("VOIPADMIN_ALERT_EMAIL_FROM must be set when VOIPADMIN_ALERT_SMTP_HOST is")
        if bool(self.alert_smtp_user) != bool(self.alert_smtp_password):
            raise SettingsError("VOIPADMIN_ALERT_SMTP_USER and VOIPADMIN_ALERT_SMTP_PASSWORD must be set together")
        if self.alert_smtp_user and not self.alert_smtp_starttls and not is_local_host(smtp):
            raise SettingsError("VOIPADMIN_ALERT_SMTP_USER needs VOIPADMIN_ALERT_SMTP_STARTTLS=1 unless the SMTP host "
                                "is local: the password would cross the network in clear")  # fmt: skip

    @property
    def public_host(self) -> str:
        return urlsplit(self.public_url).hostname or "localhost"

    @property
    def public_base(self) -> str:
        """The public URL without a trailing slash: device URLs are `<public_base>/<key>.cfg`."""
        return self.public_url.rstrip("/")

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]  # field names checked by dataclasses at run time

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        data_dir = Path(env.get("VOIPADMIN_DATA_DIR") or DEFAULT_DATA_DIR).resolve()
        https_port = _int(env, "VOIPADMIN_HTTPS_PORT", 8448)
        http_raw = env.get("VOIPADMIN_HTTP_PORT")
        cert, key = env.get("VOIPADMIN_TLS_CERT"), env.get("VOIPADMIN_TLS_KEY")
        return cls(
            data_dir=data_dir,
            db_url=env.get("VOIPADMIN_DB_URL", ""),
            public_url=env.get("VOIPADMIN_PUBLIC_URL") or f"https://localhost:{https_port}",
            https_host=env.get("VOIPADMIN_HTTPS_HOST") or "0.0.0.0",
            https_port=https_port,
            http_port=_int(env, "VOIPADMIN_HTTP_PORT", 0) if http_raw else None,
            dashboard_port=_int(env, "VOIPADMIN_DASHBOARD_PORT", 8501),
            sip_host=env.get("VOIPADMIN_SIP_HOST", ""),
            sip_port=_int(env, "VOIPADMIN_SIP_PORT", 5060),
            sip_transport=(env.get("VOIPADMIN_SIP_TRANSPORT") or "udp").lower(),
            sip_listen_port=_int(env, "VOIPADMIN_SIP_LISTEN_PORT", _int(env, "VOIPADMIN_SIP_PORT", 5060)),
            switch=(env.get("VOIPADMIN_SWITCH") or "builtin").strip().lower(),
            pstn_trunk=(env.get("VOIPADMIN_PSTN_TRUNK") or "").strip(),
            kamailio_bin=(env.get("VOIPADMIN_KAMAILIO_BIN") or "kamailio").strip(),
            kamailio_children=whole_number(env, "VOIPADMIN_KAMAILIO_CHILDREN", 4, 1, 256, "a number of processes"),
            kamailio_shared=_flag(env, "VOIPADMIN_KAMAILIO_SHARED", False),
            tls_cert=Path(cert) if cert else None,
            tls_key=Path(key) if key else None,
            timezone=env.get("VOIPADMIN_TIMEZONE") or "Europe/Zurich",
            ntp_server=env.get("VOIPADMIN_NTP_SERVER") or "pool.ntp.org",
            access_log_days=_days(env, "VOIPADMIN_ACCESS_LOG_DAYS", 90),
            redirection_config=Path(env["VOIPADMIN_REDIRECTION_CONFIG"])
            if env.get("VOIPADMIN_REDIRECTION_CONFIG")
            else None,
            rates_file=Path(env["VOIPADMIN_RATES_FILE"]) if env.get("VOIPADMIN_RATES_FILE") else None,
            https_workers=_whole_or_none(env, "VOIPADMIN_HTTPS_WORKERS", 1, 1024, "a number of processes"),
            https_threads=whole_number(env, "VOIPADMIN_HTTPS_THREADS", 2, 1, 256, "a number of threads"),
            prov_miss_threshold=_whole_or_none(env, "VOIPADMIN_PROV_MISS_THRESHOLD", 1, 1_000_000, "misses"),
            prov_miss_window=_seconds(env, "VOIPADMIN_PROV_MISS_WINDOW"),
            prov_cooldown=_seconds(env, "VOIPADMIN_PROV_COOLDOWN"),
            sip_rate=_number_or_none(env, "VOIPADMIN_SIP_RATE", 0, 1_000_000, "requests per second, 0 for no limit"),
            sip_fail_threshold=_whole_or_none(env, "VOIPADMIN_SIP_FAIL_THRESHOLD", 1, 1_000_000, "failed attempts"),
            sip_ban_seconds=_seconds(env, "VOIPADMIN_SIP_BAN_SECONDS", 366 * 86_400.0),
            sip_notify_timeout=_seconds(env, "VOIPADMIN_SIP_NOTIFY_TIMEOUT", 3600.0),
            sip_tcp_max_connections=_whole_or_none(
                env, "VOIPADMIN_SIP_TCP_MAX_CONNECTIONS", 0, 1 << 20, "a number of connections, 0 for the file limit's"
            ),
            sip_tcp_max_per_source=_whole_or_none(
                env, "VOIPADMIN_SIP_TCP_MAX_PER_SOURCE", 1, 1 << 20, "a number of connections"
            ),
            sip_tcp_handshake_seconds=_seconds(env, "VOIPADMIN_SIP_TCP_HANDSHAKE_SECONDS"),
            sip_tcp_idle_seconds=_seconds(env, "VOIPADMIN_SIP_TCP_IDLE_SECONDS"),
            login_max_per_account=_whole_or_none(env, "VOIPADMIN_LOGIN_MAX_PER_ACCOUNT", 1, 1_000_000, "attempts"),
            login_max_per_source=_whole_or_none(env, "VOIPADMIN_LOGIN_MAX_PER_SOURCE", 1, 1_000_000, "attempts"),
            login_window_seconds=_whole_or_none(env, "VOIPADMIN_LOGIN_WINDOW_SECONDS", 1, 86_400, "seconds"),
            alert_webhook_url=(env.get("VOIPADMIN_ALERT_WEBHOOK_URL") or "").strip(),
            alert_webhook_secret=env.get("VOIPADMIN_ALERT_WEBHOOK_SECRET") or "",
            alert_smtp_host=(env.get("VOIPADMIN_ALERT_SMTP_HOST") or "").strip(),
            alert_smtp_port=_int(env, "VOIPADMIN_ALERT_SMTP_PORT", 25),
            alert_smtp_starttls=_flag(env, "VOIPADMIN_ALERT_SMTP_STARTTLS", False),
            alert_smtp_user=env.get("VOIPADMIN_ALERT_SMTP_USER") or "",
            alert_smtp_password=env.get("VOIPADMIN_ALERT_SMTP_PASSWORD") or "",
            alert_email_from=(env.get("VOIPADMIN_ALERT_EMAIL_FROM") or "").strip(),
            alert_email_to=_addresses(env.get("VOIPADMIN_ALERT_EMAIL_TO") or ""),
            dashboard_url=(env.get("VOIPADMIN_DASHBOARD_URL") or "").strip(),
        )

    def secret_key(self) -> bytes:
        """The installation secret (cookie signatures, SIP nonces), created once in the data dir.

        Both processes read the same file, so a nonce or cookie made by one is valid in the other.
        """
        path = self.data_dir / "secret.key"
        if not path.exists():
            private_dir(self.data_dir)
            tmp = path.with_name(f"secret.key.tmp{os.getpid()}")
            with os.fdopen(open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), "wb") as fh:
                fh.write(secrets.token_bytes(32))
            try:
                os.link(tmp, path)  # atomic: the first writer wins, others read its key
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return path.read_bytes()


@lru_cache(maxsize=1)
def current_settings() -> Settings:
    """This process's settings, read once from the environment (tests clear the cache)."""
    return Settings.from_env()
