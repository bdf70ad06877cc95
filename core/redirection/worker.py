"""The outbox worker: carries out RedirectionJob rows written by the use cases and the endpoint.

Jobs run in id order, so a withdraw queued before a register for the same MAC happens first.
Retryable failures back off exponentially; after MAX_ATTEMPTS the job is `failed`. A service
with no credentials leaves the job `unconfigured` (the dashboard shows it; "une fois de plus"
queues a new one).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

import httpx
from sqlalchemy import Engine, select

from core.db import transaction
from core.models import RedirectionJob, utcnow
from core.redirection.base import TIMEOUT, RedirectionClient
from core.redirection.config import build_clients, load_config
from core.redirection.errors import RedirectionError
from core.settings import Settings

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 8
BATCH = 50


def bootstrap_url(settings: Settings) -> str:
    """What redirected factory phones are sent to: the MAC-bootstrap base, which holds no secret."""
    return settings.public_base + "/"


def _due(job: RedirectionJob, now: datetime) -> bool:
    return job.attempts == 0 or now >= job.updated_at + timedelta(seconds=min(3600, 30 * 2 ** (job.attempts - 1)))


async def process_pending(engine: Engine, clients: dict[str, RedirectionClient], url: str,
                          now: datetime | None = None) -> int:  # fmt: skip
    """One pass over due pending jobs; returns how many were attempted."""
    now = now or utcnow()

    def load() -> list[tuple[int, str, str, str]]:
        with transaction(engine) as s:
            jobs = s.scalars(select(RedirectionJob).where(RedirectionJob.state == "pending")
                             .order_by(RedirectionJob.id).limit(BATCH)).all()  # fmt: skip
            return [(j.id, j.service, j.mac, j.action) for j in jobs if _due(j, now)]

    def save(job_id: int, state: str, error: str = "", attempted: bool = True) -> None:
        with transaction(engine) as s:
            job = s.get(RedirectionJob, job_id)
            if job is None:
                return
            job.state, job.last_error = state, error[:255]
            job.attempts += int(attempted)
            if state == "pending" and job.attempts >= MAX_ATTEMPTS:
                job.state = "failed"

    attempted = 0
    for job_id, service, mac, action in await asyncio.to_thread(load):
        client = clients.get(service)
        if client is None:
            await asyncio.to_thread(save, job_id, "unconfigured", f"no credentials for {service}", False)
            continue
        attempted += 1
        try:
            if action == "register":
                await client.register(mac, url)
            else:
                await client.withdraw(mac)
        except RedirectionError as exc:
            log.warning("redirection %s %s for %s failed: %s", service, action, mac, exc)
            await asyncio.to_thread(save, job_id, "pending" if exc.retry else "failed", str(exc))
        else:
            log.info("redirection %s %s for %s done", service, action, mac)
            await asyncio.to_thread(save, job_id, "done")
    return attempted


async def run_redirection_worker(
    settings: Settings, engine: Engine, stop: asyncio.Event, interval: float = 5.0
) -> None:
    """Run until `stop` is set (started by the serve process)."""
    config = load_config(settings)
    async with httpx.AsyncClient(timeout=TIMEOUT) as http:
        clients = build_clients(config, http)
        while not stop.is_set():
            try:
                await process_pending(engine, clients, bootstrap_url(settings))
            except Exception:  # keep the worker alive; the job rows carry the details
                log.exception("redirection pass failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                pass
