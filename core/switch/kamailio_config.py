"""Kamailio's configuration, rendered from the templates in switch/kamailio/ (docs/SWITCH.md).

Everything a template needs is in one `KamailioContext`, built from `Settings`: a Kamailio admin reads
the rendered file (`python -m core switch config`) and finds every value there, none computed by Kamailio
from our environment.
"""

from __future__ import annotations

import glob
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from sqlalchemy.engine import make_url

from core.settings import Settings
from core.switch import call_records
from core.switch.security import SecurityContext, security_context

TEMPLATES = Path(__file__).resolve().parents[2] / "switch" / "kamailio"


class SwitchConfigError(RuntimeError):
    """The rendered configuration does not work: the message is Kamailio's own."""


def kamailio_db_url(db_url: str) -> str:
    """Our SQLAlchemy URL in Kamailio's form (db_sqlite, db_postgres)."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        if not url.database or url.database == ":memory:":
            raise SwitchConfigError("Kamailio needs the SQLite database in a file, not in memory")
        return f"sqlite://{Path(url.database).resolve()}"
    if url.get_backend_name() == "postgresql":
        auth = url.username or ""
        if url.password:
            auth += f":{url.password}"
        host = url.host or "localhost"
        port = f":{url.port}" if url.port else ""
        return f"postgres://{auth + '@' if auth else ''}{host}{port}/{url.database}"
    raise SwitchConfigError(f"Kamailio cannot use a {url.get_backend_name()} database")


def module_path() -> str:
    """Where Debian's kamailio packages put the modules (the multiarch directory)."""
    found = sorted(glob.glob("/usr/lib/*/kamailio/modules/")) or sorted(glob.glob("/usr/lib/kamailio/modules/"))
    return found[0] if found else "/usr/lib/x86_64-linux-gnu/kamailio/modules/"


@dataclass(frozen=True)
class KamailioContext:
    """What the templates see as `c`."""

    listen_host: str
    sip_port: int
    db_url: str  # Kamailio's form, with its password if any: the rendered file is 0600
    db_backend: str  # "sqlite" | "postgres"
    runtime_dir: Path
    module_path: str
    children: int
    aliases: tuple[str, ...]  # "host:port" we are reached at: requests to them are for us (`myself`)
    pstn_trunk: str = ""
    # Said in Via and Record-Route when listening on every address (which would put 0.0.0.0 there, where no
    # phone can send its BYE): our SIP host name, as phones know us.
    advertise: str = ""
    rpc_socket: Path = field(default=Path())  # jsonrpcs over a UNIX datagram socket (core/switch/rpc.py)
    security: SecurityContext = field(default_factory=SecurityContext)  # bans, scanners, commands (security.py)
    usrloc_db_mode: int = 1  # see usrloc_db_mode() below
    # Where acc writes its records on SQLite (db_flatstore files serve moves into our tables, call_records.py);
    # None: acc inserts them into the database itself (PostgreSQL).
    acc_dir: Path | None = None
    acc_extra: str = field(default_factory=call_records.db_extra)

    @property
    def db_module(self) -> str:
        return "db_sqlite" if self.db_backend == "sqlite" else "db_postgres"


def usrloc_db_mode(settings: Settings, backend: str) -> int:
    """How usrloc keeps `location`: 3 (database only) when several Kamailio share a PostgreSQL; on SQLite 2
    (write-back: only usrloc's timer writes, every second), since Kamailio's db_sqlite sets no busy timeout and
    a REGISTER whose write met another writer's lock failed at once with a 500; else 1 (write-through)."""
    if settings.kamailio_shared:
        return 3
    return 2 if backend == "sqlite" else 1


def runtime_dir(settings: Settings) -> Path:
    return settings.data_dir / "kamailio"


def context_for(settings: Settings, host: str = "0.0.0.0", port: int | None = None) -> KamailioContext:
    db_url = kamailio_db_url(settings.db_url)
    backend = db_url.split(":", 1)[0]
    rundir = runtime_dir(settings)
    sip_port = port or settings.sip_listen_port
    # With their ports: a bare host would make every phone on that host `myself` (a test's 127.0.0.1, or
    # phones behind the same address as us), and requests to them would never leave Kamailio.
    hosts = [a for a in (settings.sip_host, settings.public_host) if a]
    aliases = tuple(dict.fromkeys(f"{h}:{p}" for h in hosts for p in (settings.sip_port, sip_port)))
    return KamailioContext(
        listen_host=host,
        sip_port=sip_port,
        db_url=db_url,
        db_backend=backend,
        runtime_dir=rundir,
        module_path=module_path(),
        children=settings.kamailio_children,
        aliases=aliases,
        pstn_trunk=settings.pstn_trunk,
        advertise=f"{settings.sip_host}:{sip_port}" if host in ("0.0.0.0", "::", "") and settings.sip_host else "",
        rpc_socket=rundir / "rpc.sock",
        security=security_context(settings, backend),
        usrloc_db_mode=usrloc_db_mode(settings, backend),
        acc_dir=rundir / "acc" if backend == "sqlite" else None,
    )


def render_config(ctx: KamailioContext) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # a Kamailio script, not markup
    )
    return env.get_template("kamailio.cfg.j2").render(c=ctx)


def check_config(text: str, kamailio_bin: str = "kamailio") -> None:
    """`kamailio -c` on the rendered text; raises SwitchConfigError with Kamailio's complaint."""
    with tempfile.NamedTemporaryFile("w", suffix=".cfg", prefix="voipadmin-kamailio-") as fh:
        fh.write(text)
        fh.flush()
        try:
            proc = subprocess.run([kamailio_bin, "-c", "-f", fh.name], capture_output=True, text=True, timeout=60)
        except FileNotFoundError:
            raise SwitchConfigError(f"{kamailio_bin!r} not found: install Debian's kamailio packages") from None
    if proc.returncode != 0:
        errors = [ln for ln in (proc.stderr + proc.stdout).splitlines() if "ERROR" in ln or "CRITICAL" in ln]
        said = "; ".join(errors[:5]) or proc.stderr[-500:]
        raise SwitchConfigError(f"kamailio -c refused the configuration: {said}")
