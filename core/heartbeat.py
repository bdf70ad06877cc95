"""Liveness of the switch services, through the database (works across processes and hosts)."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from core.db import transaction
from core.models import ServiceHeartbeat, utcnow

MAX_AGE = timedelta(seconds=10)  # writers beat every 2 s


def beat(engine: Engine, service: str, detail: str = "", now: datetime | None = None) -> None:
    """Insert or refresh this process's row."""
    host, pid = socket.gethostname(), os.getpid()
    with transaction(engine) as s:
        row = s.scalar(
            select(ServiceHeartbeat).where(
                ServiceHeartbeat.service == service, ServiceHeartbeat.host == host, ServiceHeartbeat.pid == pid
            )
        )
        if row is None:
            s.add(ServiceHeartbeat(service=service, host=host, pid=pid, detail=detail[:255], seen_at=now or utcnow()))
        else:
            row.seen_at, row.detail = now or utcnow(), detail[:255]


def stop(engine: Engine, service: str) -> None:
    """A clean shutdown removes the row at once (and old rows of dead processes go with it)."""
    with transaction(engine) as s:
        s.execute(
            delete(ServiceHeartbeat).where(
                ServiceHeartbeat.service == service,
                (ServiceHeartbeat.pid == os.getpid()) | (ServiceHeartbeat.seen_at < utcnow() - MAX_AGE * 6),
            )
        )


def running(session: Session, service: str, now: datetime | None = None) -> bool:
    cutoff = (now or utcnow()) - MAX_AGE
    return (
        session.scalar(
            select(ServiceHeartbeat.id).where(ServiceHeartbeat.service == service, ServiceHeartbeat.seen_at >= cutoff)
        )
        is not None
    )
