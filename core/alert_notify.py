"""High-severity alerts pushed out: a signed webhook and an e-mail, through an outbox (issue 13, point 1).

Why an outbox: the alert engine creates an alert inside its own transaction and must not wait on a
network; a receiver that is down must not lose the alert either. So `enqueue` only adds one pending
`AlertNotification` row per configured channel, in the engine's transaction (no I/O), and serve's
notifier (`run_notifier`) sends due rows later, retrying with exponential back-off like the
redirection outbox (core/redirection/worker.py): 30 s, doubling, at most an hour between tries,
`failed` after MAX_ATTEMPTS.

Delivery is at least once. Each row is claimed before it is sent by a compare-and-set on (state,
attempts): two passes at once (two serve processes on one PostgreSQL, or a pass that outlives its
interval) never both send one row, and no transaction is held open across the network (that would
block every SQLite writer meanwhile). The claim counts the attempt and leases the row for LEASE
seconds, so a process killed mid-send leaves a row that is tried again, not one stuck for ever.

What goes out never holds a secret: the payload is the alert's own fields plus a link to the
dashboard's Fraude page (no access key, password or provisioning URL; long hex runs in the detail
are cut as in the access log), and `last_error` never quotes the webhook secret, the SMTP password
or the webhook URL beyond its host (a receiver's path or query is often its token).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
import smtplib
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from types import TracebackType
from typing import Any, cast
from urllib.parse import urlsplit

import httpx
from sqlalchemy import CursorResult, Engine, select, update
from sqlalchemy.orm import Session

from core.db import transaction
from core.models import Alert, AlertNotification, utcnow
from core.processes.periodic import every
from core.settings import Settings

log = logging.getLogger(__name__)

WEBHOOK, EMAIL = "webhook", "email"
PENDING, SENT, FAILED = "pending", "sent", "failed"
NOTIFIED_SEVERITY = "high"
MAX_ATTEMPTS = 8  # 30 s + 1 + 2 + 4 + 8 + 16 + 32 min: about 64 minutes of retries before `failed`
BACKOFF_FIRST = 30.0  # seconds after the first failure; doubling
BACKOFF_CAP = 3600.0  # never more than an hour between two tries
BATCH = 10  # rows per pass: small, so one pass (at most BATCH sends) stays well inside LEASE
LEASE = 300.0  # seconds a claimed row is not due for another pass (longer than BATCH sends take)
WEBHOOK_TIMEOUT = 5.0  # seconds, connect and each read/write of the webhook request
SMTP_TIMEOUT = 10.0  # seconds per SMTP socket operation
INTERVAL = 5.0  # seconds between the notifier's passes in serve
FRAUD_PAGE = "fraud"  # the dashboard's Fraude page (dashboard/frame.py: url_path="fraud")
USER_AGENT = "voipadmin-alerts/1"
TIMESTAMP_HEADER = "X-Voipadmin-Timestamp"
SIGNATURE_HEADER = "X-Voipadmin-Signature"
DELIVERY_HEADER = "X-Voipadmin-Delivery"
ERROR_MAX = 255  # the column's size

_LONG_HEX = re.compile(r"[0-9A-Fa-f]{16,}")  # access keys, key hashes: cut like core/provisioning/paths.mask_path
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def channels(settings: Settings) -> tuple[str, ...]:
    """The configured channels, in sending order. Settings refuses a half-configured channel, so a
    channel named here can be sent to."""
    found = []
    if settings.alert_webhook_url and settings.alert_webhook_secret:
        found.append(WEBHOOK)
    if settings.alert_smtp_host and settings.alert_email_to:
        found.append(EMAIL)
    return tuple(found)


def enqueue(session: Session, alert: Alert, settings: Settings, now: datetime | None = None) -> int:
    """Queue one pending notification per configured channel for a high-severity alert; returns how many.

    Called by the alert engine in the transaction that creates the alert: it only adds rows (a flush
    gives a new alert its id), so the notification exists exactly when the alert does. Other
    severities and an installation with no channel get nothing. A channel already queued for this
    alert is not queued twice, so calling it again for the same alert sends nothing more.
    """
    wanted = channels(settings)
    if alert.severity != NOTIFIED_SEVERITY or not wanted:
        return 0
    if alert.id is None:
        session.flush()
        queued: set[str] = set()
    else:
        queued = set(session.scalars(select(AlertNotification.channel).where(AlertNotification.alert_id == alert.id)))
    at = now or utcnow()
    rows = [
        AlertNotification(alert_id=alert.id, channel=c, state=PENDING, attempts=0, next_at=at, created_at=at)
        for c in wanted
        if c not in queued
    ]
    session.add_all(rows)
    return len(rows)


def backoff(attempts: int) -> timedelta:
    """The wait after the `attempts`-th failed try: 30 s, 60 s, 120 s... at most an hour."""
    return timedelta(seconds=min(BACKOFF_CAP, BACKOFF_FIRST * 2 ** max(0, attempts - 1)))


def _iso(at: datetime | None) -> str | None:
    """ISO 8601 in UTC, to the second, with a Z: what every receiver parses."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if at is not None else None


def _scrub(value: Any) -> Any:
    """The detail as sent: long hex runs (an access key, a key's hash) cut to 6 characters, as in the
    access log. The engine writes no secret there; this keeps a mistake from leaving the house."""
    if isinstance(value, str):
        return _LONG_HEX.sub(lambda m: m.group(0)[:6] + "…", value)
    if isinstance(value, dict):
        return {str(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _detail(alert: Alert) -> Any:
    if not alert.detail:
        return {}
    try:
        return _scrub(json.loads(alert.detail))
    except ValueError:  # not JSON after all: sent as (scrubbed) text rather than lost
        return _scrub(alert.detail)


def alert_link(alert: Alert, settings: Settings) -> str:
    """Where a person looks at the alert: the dashboard's Fraude page (the login comes first)."""
    return f"{settings.dashboard_url.rstrip('/')}/{FRAUD_PAGE}?alert={alert.id}"


def payload(alert: Alert, settings: Settings) -> dict[str, Any]:
    """The webhook's JSON document: the alert's own fields, its parsed detail and the dashboard link."""
    return {
        "id": alert.id,
        "rule": alert.rule,
        "severity": alert.severity,
        "subject": alert.subject,
        "state": alert.state,
        "vpbx_id": alert.vpbx_id,
        "line_id": alert.line_id,
        "device_id": alert.device_id,
        "source_ip": alert.source_ip,
        "first_seen": _iso(alert.first_seen),
        "last_seen": _iso(alert.last_seen),
        "count": alert.count,
        "detail": _detail(alert),
        "link": alert_link(alert, settings),
    }


def body_bytes(document: dict[str, Any]) -> bytes:
    """The exact bytes sent and signed: sorted keys, no spaces, ASCII only (the receiver verifies the
    signature over the raw body it received, so nothing may re-serialise it between here and the wire)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`: the timestamp is signed with the body, so a
    receiver that rejects old timestamps also rejects a replayed (body, signature) pair."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def _one_line(text: str, limit: int = 200) -> str:
    """Text from the alert made safe for a mail header: no control characters (no header injection)."""
    return _CONTROL.sub(" ", text).strip()[:limit]


def email_message(alert: Alert, settings: Settings) -> EmailMessage:
    """The e-mail: French first, like the dashboard, each line with its English words beside it."""
    doc = payload(alert, settings)
    msg = EmailMessage()
    msg["Subject"] = _one_line(f"[voipadmin] high alert: {alert.rule} {alert.subject}")
    msg["From"] = settings.alert_email_from
    msg["To"] = ", ".join(settings.alert_email_to)
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = make_msgid("alert", domain=settings.alert_email_from.rpartition("@")[2])
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to an alert
    msg["X-Voipadmin-Alert"] = str(alert.id)
    labels = [
        ("Règle / Rule", doc["rule"]),
        ("Sujet / Subject", doc["subject"]),
        ("Sévérité / Severity", doc["severity"]),
        ("État / State", doc["state"]),
        ("vPBX", doc["vpbx_id"]),
        ("Ligne / Line", doc["line_id"]),
        ("Appareil / Device", doc["device_id"]),
        ("Adresse source / Source address", doc["source_ip"]),
        ("Première fois / First seen", doc["first_seen"]),
        ("Dernière fois / Last seen", doc["last_seen"]),
        ("Nombre / Count", doc["count"]),
    ]
    lines = ["Alerte de sévérité haute / High-severity alert", ""]
    lines += [f"{label}: {'-' if value in (None, '') else value}" for label, value in labels]
    lines += ["", "Détails / Details:", json.dumps(doc["detail"], indent=2, sort_keys=True, ensure_ascii=False)]
    lines += ["", f"Voir dans le tableau de bord / View in the dashboard: {doc['link']}", ""]
    msg.set_content("\n".join(lines))
    return msg


class DeliveryError(Exception):
    """A try that did not deliver; its text is what `last_error` keeps (already free of secrets)."""


class Transport:
    """The network side of a pass: one httpx client for the pass's webhooks (made at the first one),
    one SMTP connection per e-mail. Tests give their own TLS context for a local STARTTLS server."""

    def __init__(self, settings: Settings, ssl_context: ssl.SSLContext | None = None) -> None:
        self.settings = settings
        self.ssl_context = ssl_context
        self._http: httpx.Client | None = None

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST the body; returns the HTTP status. Redirects are not followed: a signed alert goes to
        the configured receiver or nowhere."""
        if self._http is None:
            verify: ssl.SSLContext | bool = self.ssl_context or True
            self._http = httpx.Client(timeout=WEBHOOK_TIMEOUT, follow_redirects=False, verify=verify)
        return self._http.post(url, content=body, headers=headers).status_code

    def send_mail(self, message: EmailMessage) -> None:
        """Send through the configured relay: STARTTLS (certificate checked) when asked, then the login."""
        s = self.settings
        # The EHLO name is ours as the phones know us: no getfqdn() (a DNS lookup that can hang).
        with smtplib.SMTP(s.alert_smtp_host, s.alert_smtp_port, local_hostname=s.public_host,
                          timeout=SMTP_TIMEOUT) as smtp:  # fmt: skip
            if s.alert_smtp_starttls:
                smtp.starttls(context=self.ssl_context or ssl.create_default_context())
            if s.alert_smtp_user:
                smtp.login(s.alert_smtp_user, s.alert_smtp_password)
            smtp.send_message(message)


def _safe(text: str, settings: Settings) -> str:
    """An error's text with every secret of the settings taken out, on one line, bounded."""
    url = settings.alert_webhook_url
    secrets = [settings.alert_webhook_secret, settings.alert_smtp_password]
    if url:
        parts = urlsplit(url)
        secrets += [url, parts.netloc, parts.query, parts.path if len(parts.path) > 1 else ""]
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "(hidden)")
    return _CONTROL.sub(" ", text).strip()


def _failure(what: str, exc: BaseException, settings: Settings) -> DeliveryError:
    detail = _safe(str(exc), settings)
    return DeliveryError(f"{what}: {type(exc).__name__}" + (f": {detail}" if detail else ""))


def send_webhook(alert: Alert, notification_id: int, settings: Settings, transport: Transport) -> None:
    """One signed POST; a 2xx answer is delivered, anything else raises DeliveryError (tried again)."""
    body = body_bytes(payload(alert, settings))
    timestamp = str(int(time.time()))  # the wire's clock, whatever `now` the pass was given
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(settings.alert_webhook_secret, timestamp, body),
        DELIVERY_HEADER: str(notification_id),  # the same on every retry: the receiver can drop repeats
    }
    host = urlsplit(settings.alert_webhook_url).hostname or "?"
    try:
        status = transport.post(settings.alert_webhook_url, body, headers)
    except httpx.HTTPError as exc:
        raise _failure(f"webhook to {host}", exc, settings) from None
    if not 200 <= status < 300:
        raise DeliveryError(f"webhook to {host} answered HTTP {status}")


def send_email(alert: Alert, settings: Settings, transport: Transport) -> None:
    """One e-mail to every recipient; any SMTP or network error raises DeliveryError (tried again)."""
    try:
        transport.send_mail(email_message(alert, settings))
    except (smtplib.SMTPException, OSError) as exc:  # ssl.SSLError and timeouts are OSErrors
        raise _failure(f"e-mail via {settings.alert_smtp_host}:{settings.alert_smtp_port}", exc, settings) from None


def _claim(engine: Engine, row: AlertNotification, at: datetime) -> bool:
    """Take the row for this pass if no other pass has: compare-and-set on (state, attempts), counting
    the attempt and leasing the row. False: someone else has it (or it changed)."""
    with transaction(engine) as s:
        won = s.execute(
            update(AlertNotification)
            .where(
                AlertNotification.id == row.id,
                AlertNotification.state == PENDING,
                AlertNotification.attempts == row.attempts,
            )
            .values(attempts=row.attempts + 1, next_at=at + timedelta(seconds=LEASE))
        )
        return cast("CursorResult[Any]", won).rowcount == 1  # an UPDATE's result has a row count


def _record(engine: Engine, row_id: int, attempts: int, at: datetime, error: str | None) -> None:
    """The outcome of the claimed try number `attempts`: sent, or the error and the next try (or failed)."""
    if error is None:
        values: dict[str, Any] = {"state": SENT, "sent_at": at, "last_error": ""}
    else:
        values = {"state": FAILED if attempts >= MAX_ATTEMPTS else PENDING,
                  "next_at": at + backoff(attempts), "last_error": error[:ERROR_MAX]}  # fmt: skip
    with transaction(engine) as s:
        done = s.execute(
            update(AlertNotification)
            .where(
                AlertNotification.id == row_id,
                AlertNotification.state == PENDING,
                AlertNotification.attempts == attempts,
            )
            .values(**values)
        )
        if cast("CursorResult[Any]", done).rowcount != 1:  # an UPDATE's result has a row count
            log.warning("alert notification %s changed while it was being sent; outcome not recorded", row_id)


def _senders(settings: Settings, transport: Transport) -> dict[str, Callable[[Alert, int], None]]:
    return {
        WEBHOOK: lambda alert, row_id: send_webhook(alert, row_id, settings, transport),
        EMAIL: lambda alert, _row_id: send_email(alert, settings, transport),
    }


def deliver_due(engine: Engine, settings: Settings, now: datetime | None = None,
                transport: Transport | None = None) -> int:  # fmt: skip
    """One pass: send the due pending notifications (at most BATCH); returns how many were tried.

    One select reads the batch with its alerts (the alert as it is now: a repeat's count, an
    acknowledgement); each row is then claimed, sent and its outcome written. `now` (tests) stands
    for the clock of the schedule: what is due, and when the next try is.
    """
    clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
    with transaction(engine) as s:
        batch = s.execute(
            select(AlertNotification, Alert)
            .join(Alert, Alert.id == AlertNotification.alert_id)
            .where(AlertNotification.state == PENDING, AlertNotification.next_at <= clock())
            .order_by(AlertNotification.next_at, AlertNotification.id)
            .limit(BATCH)
        ).all()
    if not batch:
        return 0
    configured = channels(settings)
    tried = 0
    with transport or Transport(settings) as net:
        senders = _senders(settings, net)
        for row, alert in batch:
            if not _claim(engine, row, clock()):
                continue  # another pass took it
            tried += 1
            attempt = row.attempts + 1
            if row.channel not in configured:
                # Queued while the channel was configured, and it no longer is: say so, don't spin.
                _record_unconfigured(engine, row.id, attempt, clock(), f"{row.channel} is not configured any more")
                continue
            error: str | None = None
            try:
                senders[row.channel](alert, row.id)
            except DeliveryError as exc:
                error = str(exc)
                log.warning("alert %s: %s notification try %d failed: %s", alert.id, row.channel, attempt, error)
            except Exception as exc:  # a bug or an unexpected library error: tried again, the pass goes on
                error = _failure(f"{row.channel}", exc, settings).args[0]
                log.exception("alert %s: %s notification try %d failed unexpectedly", alert.id, row.channel, attempt)
            else:
                log.info("alert %s: %s notification sent", alert.id, row.channel)
            _record(engine, row.id, attempt, clock(), error)
    return tried


def _record_unconfigured(engine: Engine, row_id: int, attempts: int, at: datetime, error: str) -> None:
    """A channel removed from the settings: its rows fail at once (retrying cannot help)."""
    with transaction(engine) as s:
        s.execute(
            update(AlertNotification)
            .where(AlertNotification.id == row_id, AlertNotification.attempts == attempts)
            .values(state=FAILED, next_at=at, last_error=error[:ERROR_MAX])
        )


async def run_notifier(settings: Settings, engine: Engine, stop: asyncio.Event, interval: float = INTERVAL) -> None:
    """Send due notifications now, then every `interval` seconds until `stop` is set (started by serve).

    It runs even with no channel configured: rows queued before a channel was removed then end as
    failed instead of staying pending. A full batch means more is due: the next one goes at once.
    """

    def one_pass() -> None:
        while deliver_due(engine, settings) >= BATCH and not stop.is_set():
            pass

    await every(interval, stop, one_pass, log, "alert notification")
