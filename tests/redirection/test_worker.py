"""The outbox worker against the database and fake clients."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from core import devices
from core.db import transaction
from core.models import RedirectionJob, utcnow
from core.redirection.config import RedirectionConfigError, load_config
from core.redirection.errors import AuthFailed, ServiceUnavailable
from core.redirection.worker import MAX_ATTEMPTS, process_pending

pytestmark = pytest.mark.anyio


class FakeClient:
    service = "yealink_rps"

    def __init__(self, error=None):
        self.calls, self.error = [], error

    async def register(self, mac, url):
        self.calls.append(("register", mac, url))
        if self.error:
            raise self.error

    async def withdraw(self, mac):
        self.calls.append(("withdraw", mac))


@pytest.fixture
def once_device(engine, provider, seed):
    with transaction(engine) as s:
        return devices.add_device(s, provider, seed.line_a1, "yealink-t46u", mac="805EC0112233",
                                  provisioning_mac="once")["id"]  # fmt: skip


def _jobs(engine):
    with transaction(engine) as s:
        return [(j.action, j.state, j.attempts) for j in s.scalars(select(RedirectionJob).order_by(RedirectionJob.id))]


async def test_register_job_is_done(engine, once_device):
    fake = FakeClient()
    assert await process_pending(engine, {"yealink_rps": fake}, "https://prov.example.net:8448/") == 1
    assert fake.calls == [("register", "805EC0112233", "https://prov.example.net:8448/")]
    assert _jobs(engine) == [("register", "done", 1)]
    assert await process_pending(engine, {"yealink_rps": fake}, "u") == 0


async def test_unconfigured_service_is_marked(engine, once_device):
    await process_pending(engine, {}, "u")
    assert _jobs(engine) == [("register", "unconfigured", 0)]


async def test_retry_with_backoff_then_failed(engine, once_device):
    fake = FakeClient(ServiceUnavailable("down"))
    now = utcnow()
    await process_pending(engine, {"yealink_rps": fake}, "u", now=now)
    assert _jobs(engine) == [("register", "pending", 1)]
    assert await process_pending(engine, {"yealink_rps": fake}, "u", now=now + timedelta(seconds=5)) == 0  # backing off
    for i in range(2, MAX_ATTEMPTS + 1):
        await process_pending(engine, {"yealink_rps": fake}, "u", now=now + timedelta(days=i))
    assert _jobs(engine) == [("register", "failed", MAX_ATTEMPTS)]


async def test_auth_failure_is_final(engine, once_device):
    await process_pending(engine, {"yealink_rps": FakeClient(AuthFailed("no"))}, "u")
    assert _jobs(engine) == [("register", "failed", 1)]


def test_config_file_is_validated(settings, tmp_path):
    settings = settings.with_(redirection_config=tmp_path / "r.yaml")
    assert load_config(settings) == {}
    (tmp_path / "r.yaml").write_text("yealink_rps: {key_id: a}\n")
    with pytest.raises(RedirectionConfigError, match="needs secret"):
        load_config(settings)
    (tmp_path / "r.yaml").write_text("acme_rps: {}\n")
    with pytest.raises(RedirectionConfigError, match="unknown service"):
        load_config(settings)
