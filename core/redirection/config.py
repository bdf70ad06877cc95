"""Which redirection services are configured, from the YAML file named by VOIPADMIN_REDIRECTION_CONFIG
(default: redirection.yaml in the data dir). The file holds API secrets: keep it mode 600.

    yealink_rps:   {key_id: ..., secret: ..., region: eu}
    snom_sraps:    {key_id: ..., secret: ...}
    gigaset_grape: {key_id: ..., secret: ...}
    polycom_ztp:   {api_key: ..., profile: ...}
    fanvil_fdps:   {user: ..., password: ...}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import yaml

from core.redirection import SERVICES
from core.redirection.base import RedirectionClient
from core.redirection.fanvil import FanvilFdps
from core.redirection.hawk import GigasetGrape, SnomSraps
from core.redirection.poly import PolyZtp
from core.redirection.yealink import YealinkRps
from core.settings import Settings

FACTORIES: dict[str, tuple[Callable[..., RedirectionClient], tuple[str, ...]]] = {
    "yealink_rps": (YealinkRps, ("key_id", "secret")),
    "snom_sraps": (SnomSraps, ("key_id", "secret")),
    "gigaset_grape": (GigasetGrape, ("key_id", "secret")),
    "polycom_ztp": (PolyZtp, ("api_key", "profile")),
    "fanvil_fdps": (FanvilFdps, ("user", "password")),
}


assert set(FACTORIES) == set(SERVICES), "core.redirection.SERVICES and FACTORIES must name the same services"


class RedirectionConfigError(ValueError):
    pass


def load_config(settings: Settings) -> dict[str, dict[str, Any]]:
    path = settings.redirection_config or settings.data_dir / "redirection.yaml"
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise RedirectionConfigError(f"{path}: must be a mapping of service name to credentials")
    for service, creds in data.items():
        if service not in FACTORIES:
            raise RedirectionConfigError(f"{path}: unknown service {service!r} (known: {', '.join(FACTORIES)})")
        missing = [k for k in FACTORIES[service][1] if not (isinstance(creds, dict) and creds.get(k))]
        if missing:
            raise RedirectionConfigError(f"{path}: {service} needs {', '.join(missing)}")
    return data


def build_clients(config: dict[str, dict[str, Any]], client: httpx.AsyncClient) -> dict[str, RedirectionClient]:
    return {service: FACTORIES[service][0](client, **creds) for service, creds in config.items()}
