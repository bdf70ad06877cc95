"""The ORM: one typed class per table (SQLAlchemy 2.x).

Schema changes go through Alembic (core/migrations). Secrets (SIP and device passwords) are
columns here and nowhere else: views, logs and audit entries never copy them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.dialects.sqlite import DATETIME as SQLITE_DATETIME
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeEngine

from core.credentials import ACCESS_KEY_LENGTH, ProvisioningMac


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Vpbx(Base):
    __tablename__ = "vpbx"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    sip_domain: Mapped[str] = mapped_column(String(253), unique=True)
    # Dialled before a line's mailbox by its voicemail keys (core.key_functions.voicemail_code); "" = none.
    voicemail_access: Mapped[str] = mapped_column(String(16), default="*86", server_default="*86")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    lines: Mapped[list[Line]] = relationship(back_populates="vpbx", cascade="all, delete-orphan")


class Line(Base):
    """A phone number / extension ("Poste") with its SIP account."""

    __tablename__ = "line"
    id: Mapped[int] = mapped_column(primary_key=True)
    vpbx_id: Mapped[int] = mapped_column(ForeignKey("vpbx.id", ondelete="CASCADE"), index=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    extension: Mapped[str | None] = mapped_column(String(16))
    display_name: Mapped[str] = mapped_column(String(100), default="")
    sip_username: Mapped[str] = mapped_column(String(64), unique=True)
    sip_password: Mapped[str] = mapped_column(String(128))  # secret
    pstn_blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    vpbx: Mapped[Vpbx] = relationship(back_populates="lines")
    devices: Mapped[list[Device]] = relationship(
        back_populates="line", cascade="all, delete-orphan", order_by="Device.id"
    )
    __table_args__ = (UniqueConstraint("vpbx_id", "extension", name="uq_line_vpbx_extension"),)


class Account(Base):
    """A dashboard login."""

    __tablename__ = "account"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))  # provider | vpbx_admin | user
    vpbx_id: Mapped[int | None] = mapped_column(ForeignKey("vpbx.id", ondelete="CASCADE"), index=True)
    line_id: Mapped[int | None] = mapped_column(ForeignKey("line.id", ondelete="CASCADE"), index=True)
    language: Mapped[str] = mapped_column(String(2), default="fr")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Part of every dashboard session token; bumping it (password change, "log out everywhere")
    # ends every session of the account at its next click.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Device(Base):
    __tablename__ = "device"
    id: Mapped[int] = mapped_column(primary_key=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("line.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[str] = mapped_column(String(64))
    # Handsets and web phones have no URL of their own: no key.
    access_key: Mapped[str | None] = mapped_column(String(ACCESS_KEY_LENGTH), unique=True)
    admin_password: Mapped[str] = mapped_column(String(64))  # secret
    admin_password_generated: Mapped[bool] = mapped_column(Boolean, default=True)
    username: Mapped[str] = mapped_column(String(100), default="")
    user_password: Mapped[str] = mapped_column(String(64))  # secret
    user_password_generated: Mapped[bool] = mapped_column(Boolean, default=True)
    # Unique per vPBX (checked in devices._mac): a global constraint would tell one tenant another's MACs.
    mac: Mapped[str | None] = mapped_column(String(12), index=True)
    provisioning_mac: Mapped[str] = mapped_column(String(8), default=ProvisioningMac.NO)
    base_station_id: Mapped[int | None] = mapped_column(ForeignKey("device.id", ondelete="SET NULL"), index=True)
    expansion_model_id: Mapped[str | None] = mapped_column(String(64))
    expansion_count: Mapped[int] = mapped_column(Integer, default=0)
    label: Mapped[str] = mapped_column(String(100), default="")
    config_revision: Mapped[int] = mapped_column(Integer, default=1)
    last_access_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_access_ip: Mapped[str | None] = mapped_column(String(45))
    last_access_ua: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    line: Mapped[Line] = relationship(back_populates="devices")
    base_station: Mapped[Device | None] = relationship(
        remote_side="Device.id", back_populates="handsets", foreign_keys=[base_station_id]
    )
    handsets: Mapped[list[Device]] = relationship(
        back_populates="base_station", foreign_keys=[base_station_id], order_by="Device.id"
    )
    keys: Mapped[list[FunctionKey]] = relationship(
        back_populates="device",
        cascade="all, delete-orphan",
        order_by="(FunctionKey.module, FunctionKey.index)",
    )

    def bump_revision(self, with_base: bool = True) -> None:
        """Its rendered file changed: a new revision (the endpoint's render cache is keyed by it).
        A DECT base's file lists its handsets, so a handset's change is its base's too (`with_base`
        False: the caller bumps that base itself, as lines.bump_config does once per base)."""
        self.config_revision += 1
        if with_base and self.base_station is not None:
            self.base_station.config_revision += 1


class FunctionKey(Base):
    """A programmable key: module 0 is the phone itself, 1..n its expansion modules."""

    __tablename__ = "function_key"
    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"), index=True)
    module: Mapped[int] = mapped_column(Integer, default=0)
    index: Mapped[int] = mapped_column(Integer)
    function: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(255), default="")
    label: Mapped[str] = mapped_column(String(64), default="")

    device: Mapped[Device] = relationship(back_populates="keys")
    __table_args__ = (UniqueConstraint("device_id", "module", "index", name="uq_function_key_slot"),)


class AccessLog(Base):
    """One row per request to the provisioning endpoint."""

    __tablename__ = "access_log"
    # A device's newest rows, and its newest of one reason (the diagnosis), read from an index's end; the
    # (device_id, id) one also serves deleting a device (ON DELETE SET NULL). Without them PostgreSQL walks
    # the primary key backwards past every other device's rows (300+ ms at 1,000,000 rows, PERFORMANCE.md).
    __table_args__ = (
        Index("ix_access_log_device", "device_id", "id"),
        Index("ix_access_log_device_reason", "device_id", "reason", "id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)  # fraud queries: by period
    source_ip: Mapped[str] = mapped_column(String(45))  # no index: every index costs each phone fetch
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    method: Mapped[str] = mapped_column(String(10), default="GET")
    path: Mapped[str] = mapped_column(String(255))  # the key is masked before it is stored
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id", ondelete="SET NULL"))
    status: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(Integer, default=0)
    reason: Mapped[str] = mapped_column(String(64), default="")
    # "http" for a request on the plain-HTTP port (old phones, when enabled): configurations in clear.
    scheme: Mapped[str] = mapped_column(String(5), default="https", server_default="https")


class Registration(Base):
    """A SIP binding, modelled on Kamailio's `location` table."""

    __tablename__ = "registration"
    id: Mapped[int] = mapped_column(primary_key=True)
    aor: Mapped[str] = mapped_column(String(255), index=True)
    contact: Mapped[str] = mapped_column(String(512))
    line_id: Mapped[int | None] = mapped_column(ForeignKey("line.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id", ondelete="SET NULL"))
    source_ip: Mapped[str] = mapped_column(String(45))
    source_port: Mapped[int] = mapped_column(Integer)
    transport: Mapped[str] = mapped_column(String(8))
    local_socket: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    call_id: Mapped[str] = mapped_column(String(255))
    cseq: Mapped[int] = mapped_column(Integer)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_modified: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("aor", "contact", name="uq_registration_aor_contact"),)


class SecurityEvent(Base):
    """Failed SIP auth, scanners, key misuse, probing: the fraud page's raw material."""

    __tablename__ = "security_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    source_ip: Mapped[str] = mapped_column(String(45), index=True)
    source_port: Mapped[int | None] = mapped_column(Integer)
    username: Mapped[str] = mapped_column(String(100), default="")
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    line_id: Mapped[int | None] = mapped_column(ForeignKey("line.id", ondelete="SET NULL"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id", ondelete="SET NULL"))
    detail: Mapped[str] = mapped_column(Text, default="")


class Ban(Base):
    """A banned source address (SIP and/or provisioning) until `expires_at`."""

    __tablename__ = "ban"
    id: Mapped[int] = mapped_column(primary_key=True)
    source_ip: Mapped[str] = mapped_column(String(45), index=True)
    scope: Mapped[str] = mapped_column(String(16), default="sip")  # sip | provisioning | all
    reason: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AuditEvent(Base):
    """Who did what, when. Never holds a secret."""

    __tablename__ = "audit_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32), default="")
    target_id: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[str] = mapped_column(Text, default="")  # JSON, secrets removed


class DeviceCommand(Base):
    """A reboot/resync asked by the dashboard or CLI, carried out by the serve process."""

    __tablename__ = "device_command"
    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(16))  # reboot | resync
    requested_by: Mapped[str] = mapped_column(String(100))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # pending -> sending -> ok | failed | timeout | not_registered
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    result: Mapped[str] = mapped_column(String(255), default="")
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ServiceHeartbeat(Base):
    """A running switch service says it is alive; shared through the database so it works across hosts."""

    __tablename__ = "service_heartbeat"
    id: Mapped[int] = mapped_column(primary_key=True)
    service: Mapped[str] = mapped_column(String(16))  # sip
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(String(255), default="")  # e.g. "udp+tcp 0.0.0.0:5060"
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    __table_args__ = (UniqueConstraint("service", "host", "pid", name="uq_service_heartbeat_instance"),)


class RedirectionJob(Base):
    """Outbox row: register or withdraw a MAC at a manufacturer's redirection service."""

    __tablename__ = "redirection_job"
    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id", ondelete="SET NULL"), index=True)
    service: Mapped[str] = mapped_column(String(32))
    mac: Mapped[str] = mapped_column(String(12))
    action: Mapped[str] = mapped_column(String(16))  # register | withdraw
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending | done | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


Index("ix_security_event_kind_at", SecurityEvent.kind, SecurityEvent.at)


class FraudRollup(Base):
    """Fraud-page counts per (hour or day, kind, source IP, vPBX, line, device), rolled up from the raw
    tables by core.rollup so the page never scans the log. 0 stands for "no vPBX / line / device"
    (a NULL would defeat the unique key the upsert relies on). Hour rows are kept two days, day rows
    as long as the access log (core.retention)."""

    __tablename__ = "fraud_rollup"
    id: Mapped[int] = mapped_column(primary_key=True)
    grain: Mapped[str] = mapped_column(String(4))  # hour | day
    bucket: Mapped[str] = mapped_column(String(16))  # "YYYY-MM-DD HH:00" | "YYYY-MM-DD" (UTC), sorts as text
    kind: Mapped[str] = mapped_column(String(16))  # download | probe | sip_failed
    source_ip: Mapped[str] = mapped_column(String(45))
    vpbx_id: Mapped[int] = mapped_column(Integer, default=0)
    line_id: Mapped[int] = mapped_column(Integer, default=0)
    device_id: Mapped[int] = mapped_column(Integer, default=0)
    n: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (
        UniqueConstraint(
            "grain", "kind", "bucket", "source_ip", "vpbx_id", "line_id", "device_id", name="uq_fraud_rollup_key"
        ),
        # Covering indexes: a period's rankings and totals read an index alone, in the order they group by
        # (per source: ranking, top series, what a source touched; per bucket: totals; per device: multi-IP).
        # `n` ends each so a sum reads no table row (multi-IP over 30 days: 0.21 s -> 0.10 s at provider size).
        Index("ix_fraud_rollup_source", "grain", "kind", "source_ip", "bucket", "vpbx_id", "line_id", "device_id", "n"),
        Index("ix_fraud_rollup_cover", "grain", "kind", "bucket", "source_ip", "vpbx_id", "line_id", "device_id", "n"),
        Index("ix_fraud_rollup_device", "grain", "kind", "device_id", "source_ip", "bucket", "vpbx_id", "line_id", "n"),
    )


class RollupCursor(Base):
    """The id of the last raw row rolled up, per source table (access_log, security_event)."""

    __tablename__ = "rollup_cursor"
    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer, default=0)


class RetiredKey(Base):
    """The SHA-256 of an access key a "Nouveau clé" replaced: a request with it is that device's old
    configuration, told apart from random probing (diagnosis `old_key_used`). Only the hash: the
    old URL stays unusable even to someone who reads the database."""

    __tablename__ = "retired_key"
    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"), index=True)
    retired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RegistrationEvent(Base):
    """A line's registration history (issue 12, point 4): starts, refreshes that changed address or
    User-Agent, ends (unregister, expiry) and failed authentications. Written behind by the registrar's
    flush, never on the REGISTER path; pruned with the access log (core.retention)."""

    __tablename__ = "registration_event"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)  # retention: by age
    line_id: Mapped[int] = mapped_column(ForeignKey("line.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(16))  # core.event_kinds.REGISTRATION_EVENTS
    contact: Mapped[str] = mapped_column(String(512), default="")
    source_ip: Mapped[str] = mapped_column(String(45), default="")
    source_port: Mapped[int | None] = mapped_column(Integer)
    transport: Mapped[str] = mapped_column(String(8), default="")
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    # The diagnosis reads a line's newest rows: (line_id, id) walks them newest first without a sort.
    __table_args__ = (Index("ix_registration_event_line", "line_id", "id"),)


LIVE_ALERT = text("state != 'resolved'")


class Alert(Base):
    """A fraud alert raised by core.alerts from the raw evidence (issue 13). One live alert per
    (rule, subject): repeats add to its count and evidence; once resolved, a repeat opens a new one.
    Scoped like the data: `vpbx_id` is the vPBX whose line or device it concerns (0: none, a source's
    probing seen by the provider only)."""

    __tablename__ = "alert"
    id: Mapped[int] = mapped_column(primary_key=True)
    rule: Mapped[str] = mapped_column(String(40))  # core.alert_rules.RULES
    severity: Mapped[str] = mapped_column(String(8))  # high | medium | low
    subject: Mapped[str] = mapped_column(String(160))  # what it is about: "device:12", "source:198.51.100.7"
    state: Mapped[str] = mapped_column(String(16), default="open")  # open | acknowledged | resolved
    vpbx_id: Mapped[int] = mapped_column(Integer, default=0)
    line_id: Mapped[int | None] = mapped_column(ForeignKey("line.id", ondelete="SET NULL"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id", ondelete="SET NULL"))
    source_ip: Mapped[str] = mapped_column(String(45), default="")
    detail: Mapped[str] = mapped_column(Text, default="")  # JSON: the rule's words' parameters, no secret
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    count: Mapped[int] = mapped_column(Integer, default=1)
    acted_by: Mapped[str] = mapped_column(String(100), default="")  # who acknowledged or resolved it
    acted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(Text, default="")
    __table_args__ = (
        # The de-duplication: at most one alert per rule and subject that is not resolved.
        Index("uq_alert_live", "rule", "subject", unique=True, sqlite_where=LIVE_ALERT, postgresql_where=LIVE_ALERT),
        Index("ix_alert_state_seen", "state", "last_seen"),
        Index("ix_alert_vpbx_state", "vpbx_id", "state", "last_seen"),
    )


class AlertEvidence(Base):
    """The raw rows behind an alert (a copy of what matters: the raw tables are pruned sooner). The first
    and the newest rows are kept (core.alerts.EVIDENCE_KEPT each), the middle of a long run is dropped."""

    __tablename__ = "alert_evidence"
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id", ondelete="CASCADE"))
    origin: Mapped[str] = mapped_column(String(24))  # access_log | security_event | registration_event
    origin_id: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    source_ip: Mapped[str] = mapped_column(String(45), default="")
    country: Mapped[str] = mapped_column(String(16), default="")  # core.geo.country: "FR", "private"...
    what: Mapped[str] = mapped_column(String(64), default="")  # the row's reason, kind or event
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    path: Mapped[str] = mapped_column(String(255), default="")  # masked, as in the access log
    __table_args__ = (Index("ix_alert_evidence_alert", "alert_id", "id"),)


class AlertTally(Base):
    """Counts per minute for the windowed rules (N failures in 10 minutes, M sources with one pattern in an
    hour): `member` is "" for a plain count, the source address for a count of distinct sources."""

    __tablename__ = "alert_tally"
    id: Mapped[int] = mapped_column(primary_key=True)
    rule: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(160))
    member: Mapped[str] = mapped_column(String(64), default="")
    minute: Mapped[int] = mapped_column(Integer)  # Unix time // 60
    n: Mapped[int] = mapped_column(Integer, default=0)
    __table_args__ = (
        UniqueConstraint("rule", "subject", "member", "minute", name="uq_alert_tally_key"),
        Index("ix_alert_tally_minute", "minute"),
    )


class SeenPlace(Base):
    """Where a device fetched from or a line registered from, so far: the baseline the "new network" and
    "new country" rules compare against. `kind` is network | country; `value` a core.networks.network or
    a core.geo.country."""

    __tablename__ = "seen_place"
    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(40))  # "fetch:<device id>" | "register:<line id>"
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(64))
    first_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime)
    __table_args__ = (UniqueConstraint("subject", "kind", "value", name="uq_seen_place"),)


class AlertNotification(Base):
    """Outbox row: push one high-severity alert to a channel (webhook, e-mail), retried with backoff by
    serve's notifier (core.alert_notify) until sent or out of attempts."""

    __tablename__ = "alert_notification"
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alert.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # webhook | email
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str] = mapped_column(String(255), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FraudResponse(Base):
    """The manual's procedure for one line ("perte de données critiques et utilisation abusive"), run as
    a workflow by core.respond: block -> new SIP credentials -> new keys -> push -> verify -> unblock.
    Each step's time is kept, so a run resumes after a restart where it stopped. `requested` is an end
    user's "I lost my data", waiting for an administrator to start it."""

    __tablename__ = "fraud_response"
    id: Mapped[int] = mapped_column(primary_key=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("line.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16), default="running")  # requested | running | done | cancelled
    requested_by: Mapped[str] = mapped_column(String(100), default="")
    requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_by: Mapped[str] = mapped_column(String(100), default="")
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    blocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    credentials_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    keys_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unblocked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    was_blocked: Mapped[bool] = mapped_column(Boolean, default=False)  # blocked before: stays blocked at the end
    note: Mapped[str] = mapped_column(Text, default="")


class ResponseDevice(Base):
    """One device's part in a fraud response: how its new configuration is pushed, and what was seen of it."""

    __tablename__ = "response_device"
    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("fraud_response.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id", ondelete="SET NULL"))
    push: Mapped[str] = mapped_column(String(16), default="")  # notify | redirection | manual | none
    command_ids: Mapped[str] = mapped_column(String(64), default="")  # the resync commands sent, "12,15"
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # first fetch with the new key
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # first binding with the new credentials
    skipped_by: Mapped[str] = mapped_column(String(100), default="")  # verified by hand (a phone thrown away)


class KeyHandover(Base):
    """A retired key's one last use: the registered phone, told by NOTIFY to resync, asks its old URL and
    gets the secret-free bootstrap pointing at its new key; only from the address its binding had when the
    NOTIFY was sent, once, before `expires_at`. Anyone else holding the old key still gets the 404."""

    __tablename__ = "key_handover"
    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), index=True)
    source_ip: Mapped[str] = mapped_column(String(45))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PhonebookContact(Base):
    """A vPBX phone book entry an administrator entered or imported (issue 14 point 5). The phone book a phone
    is served is these plus every line of its vPBX, which are read from `line` and never copied here."""

    __tablename__ = "phonebook_contact"
    id: Mapped[int] = mapped_column(primary_key=True)
    vpbx_id: Mapped[int] = mapped_column(ForeignKey("vpbx.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    number: Mapped[str] = mapped_column(String(32))
    organisation: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("vpbx_id", "name", "number", name="uq_phonebook_contact"),)


class _SqliteAsStored(SQLITE_DATETIME):
    """SQLite's DATETIME column, its values passed through untouched (KamailioTime converts them)."""

    def bind_processor(self, dialect: Dialect) -> None:
        return None

    def result_processor(self, dialect: Dialect, coltype: object) -> None:
        return None


class KamailioTime(TypeDecorator[datetime]):
    """A datetime column Kamailio writes: on PostgreSQL a naive 'YYYY-MM-DD HH:MM:SS' in the switch's local
    time (serve runs it with TZ=UTC); on SQLite db_sqlite stores a Julian day number (a REAL), and a text
    from a script variable stays text. Read as aware UTC datetimes; written as Kamailio writes them."""

    impl = DateTime
    cache_ok = True
    JULIAN_UNIX_EPOCH = 2440587.5  # the Julian day of 1970-01-01 00:00 UTC

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        # On SQLite the stored value is not SQLAlchemy's text form: take it as it comes.
        return dialect.type_descriptor(_SqliteAsStored() if dialect.name == "sqlite" else DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        if dialect.name == "sqlite":
            return value.timestamp() / 86400 + self.JULIAN_UNIX_EPOCH
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, (int, float)):
            # A Julian day in a double holds about 10 µs: read to the millisecond.
            return datetime.fromtimestamp(round((value - self.JULIAN_UNIX_EPOCH) * 86400, 3), UTC)
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _CallRecord:
    """The columns Kamailio's acc module writes (its `acc` schema, version 5, Kamailio's names and types),
    plus the `db_extra` ones switch/kamailio/parts/calls.cfg.j2 fills. Times are Kamailio's (KamailioTime)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    method: Mapped[str] = mapped_column(String(16), default="", server_default="")
    # Nullable, unlike Kamailio's schema: acc_db_request (a refusal before any reply) gives no To tag.
    from_tag: Mapped[str | None] = mapped_column(String(128), default="", server_default="")
    to_tag: Mapped[str | None] = mapped_column(String(128), default="", server_default="")
    callid: Mapped[str] = mapped_column(String(255), default="", server_default="")
    sip_code: Mapped[str] = mapped_column(String(3), default="", server_default="")
    sip_reason: Mapped[str] = mapped_column(String(128), default="", server_default="")
    time: Mapped[datetime] = mapped_column(KamailioTime)
    # db_extra: who called whom from where, as the INVITE said it; the lines as the switch resolved them.
    src_user: Mapped[str | None] = mapped_column(String(64))
    src_domain: Mapped[str | None] = mapped_column(String(128))
    src_ip: Mapped[str | None] = mapped_column(String(64))
    src_port: Mapped[int | None] = mapped_column(Integer)
    dst_ouser: Mapped[str | None] = mapped_column(String(64))  # the number or extension dialled
    dst_user: Mapped[str | None] = mapped_column(String(64))
    dst_domain: Mapped[str | None] = mapped_column(String(128))
    line_id: Mapped[int | None] = mapped_column(Integer)  # the calling line; no foreign key: evidence outlives it
    callee_line_id: Mapped[int | None] = mapped_column(Integer)  # the called line of an internal call
    call_kind: Mapped[str | None] = mapped_column(String(16))  # internal | pstn
    start_time: Mapped[datetime | None] = mapped_column(KamailioTime)  # when the INVITE arrived


class AccRecord(_CallRecord, Base):
    """An answered INVITE (its 200: the answer time) or a BYE (the end of the call), by Kamailio's acc."""

    __tablename__ = "acc"
    __table_args__ = (
        Index("acc_callid_idx", "callid"),
        Index("ix_acc_line_time", "line_id", "time"),
        Index("ix_acc_callee_time", "callee_line_id", "time"),
    )


class MissedCall(_CallRecord, Base):
    """A call that did not connect (busy, no answer, refused by the switch...), by Kamailio's acc."""

    __tablename__ = "missed_calls"
    __table_args__ = (
        Index("missed_calls_callid_idx", "callid"),
        Index("ix_missed_calls_line_time", "line_id", "time"),
        Index("ix_missed_calls_callee_time", "callee_line_id", "time"),
    )


class BlockedPrefix(Base):
    """A destination a vPBX's lines may not call on the PSTN (premium, foreign...): the dialled number in its
    international form ('+' then digits) starting with `prefix` gets 403 from the switch."""

    __tablename__ = "blocked_prefix"
    id: Mapped[int] = mapped_column(primary_key=True)
    vpbx_id: Mapped[int] = mapped_column(ForeignKey("vpbx.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (UniqueConstraint("vpbx_id", "prefix", name="uq_blocked_prefix"),)


class TopstopLimit(Base):
    """A TopStop spending limit (issue 16 point 4, manual §6): a vPBX's (line_id NULL) or one line's, per day
    or month, in cents of the rate table's currency. At most one per subject and period."""

    __tablename__ = "topstop_limit"
    id: Mapped[int] = mapped_column(primary_key=True)
    vpbx_id: Mapped[int] = mapped_column(ForeignKey("vpbx.id", ondelete="CASCADE"), index=True)
    line_id: Mapped[int | None] = mapped_column(ForeignKey("line.id", ondelete="CASCADE"), index=True)
    period: Mapped[str] = mapped_column(String(8))  # core.topstop.periods.PERIODS
    amount_cents: Mapped[int] = mapped_column(Integer)
    set_by: Mapped[str] = mapped_column(String(100))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    __table_args__ = (
        Index("uq_topstop_limit_vpbx", "vpbx_id", "period", unique=True,
              sqlite_where=text("line_id IS NULL"), postgresql_where=text("line_id IS NULL")),
        Index("uq_topstop_limit_line", "line_id", "period", unique=True,
              sqlite_where=text("line_id IS NOT NULL"), postgresql_where=text("line_id IS NOT NULL")),
    )  # fmt: skip


class TopstopBlock(Base):
    """A subject TopStop blocked for the PSTN because its spend reached a limit in a period. Live while
    `lifted_at` is NULL (the switch refuses its PSTN calls with 403); lifting it is a person's recorded act
    (core.topstop.limits.unblock). A lifted row still says "this limit, this period: already handled", so the
    same limit does not block again before the next period or a change of the limit."""

    __tablename__ = "topstop_block"
    id: Mapped[int] = mapped_column(primary_key=True)
    vpbx_id: Mapped[int] = mapped_column(ForeignKey("vpbx.id", ondelete="CASCADE"), index=True)
    line_id: Mapped[int | None] = mapped_column(ForeignKey("line.id", ondelete="CASCADE"), index=True)
    period: Mapped[str] = mapped_column(String(8))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    limit_cents: Mapped[int] = mapped_column(Integer)
    spent_cents: Mapped[int] = mapped_column(Integer)
    blocked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    calls_ended: Mapped[int] = mapped_column(Integer, default=0)
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    lifted_by: Mapped[str] = mapped_column(String(100), default="")
    note: Mapped[str] = mapped_column(Text, default="")


class TopstopCallCost(Base):
    """A finished PSTN call priced by core.topstop.spend from the call records (acc's answered INVITE and its
    BYE): what a period's spend sums. One row per call (Call-ID); no foreign key to `acc`, Kamailio's table."""

    __tablename__ = "topstop_call_cost"
    id: Mapped[int] = mapped_column(primary_key=True)
    callid: Mapped[str] = mapped_column(String(255), unique=True)  # a call is priced once, whichever BYE came
    bye_id: Mapped[int] = mapped_column(Integer)  # acc.id of the call's BYE record
    vpbx_id: Mapped[int] = mapped_column(Integer)
    line_id: Mapped[int] = mapped_column(Integer)
    callee: Mapped[str] = mapped_column(String(64), default="")
    prefix: Mapped[str] = mapped_column(String(24), default="")
    answered_at: Mapped[datetime] = mapped_column(UTCDateTime)
    seconds: Mapped[int] = mapped_column(Integer)
    cost_cents: Mapped[int] = mapped_column(Integer)
    __table_args__ = (
        Index("ix_topstop_call_cost_line", "line_id", "answered_at", "cost_cents"),
        Index("ix_topstop_call_cost_vpbx", "vpbx_id", "answered_at", "cost_cents"),
    )


# Kamailio's tables (issue 16, docs/SWITCH.md): Kamailio's own names, columns and types, so its modules read
# and write them as they would their stock tables. voipadmin keeps `subscriber` (HA1 only, from `line`);
# Kamailio keeps `location`, which serve mirrors into `registration` (core/switch/locations.py).


class KamailioVersion(Base):
    """Kamailio checks each table's schema version here before using it."""

    __tablename__ = "version"
    id: Mapped[int] = mapped_column(primary_key=True)
    table_name: Mapped[str] = mapped_column(String(32), unique=True)
    table_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class KamailioSubscriber(Base):
    """The SIP accounts Kamailio authenticates against: a line per realm it may be challenged with, its
    HA1 hashes and never its password (`password` stays empty; auth_db runs with calculate_ha1 off)."""

    __tablename__ = "subscriber"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True, server_default="")
    domain: Mapped[str] = mapped_column(String(64), server_default="")
    password: Mapped[str] = mapped_column(String(64), server_default="")
    ha1: Mapped[str] = mapped_column(String(128), server_default="")
    ha1b: Mapped[str] = mapped_column(String(128), server_default="")
    line_id: Mapped[int] = mapped_column(ForeignKey("line.id", ondelete="CASCADE"), index=True)
    __table_args__ = (UniqueConstraint("username", "domain", name="uq_subscriber_account"),)


class KamailioLocation(Base):
    """Kamailio 5.6's usrloc table (schema version 9), written by Kamailio; times in UTC (serve starts it
    with TZ=UTC), naive as Kamailio writes them."""

    __tablename__ = "location"
    id: Mapped[int] = mapped_column(primary_key=True)
    ruid: Mapped[str] = mapped_column(String(64), unique=True, server_default="")
    username: Mapped[str] = mapped_column(String(64), server_default="")
    domain: Mapped[str | None] = mapped_column(String(64))
    contact: Mapped[str] = mapped_column(String(512), server_default="")
    received: Mapped[str | None] = mapped_column(String(128))
    path: Mapped[str | None] = mapped_column(String(512))
    expires: Mapped[datetime] = mapped_column(DateTime, index=True, server_default="2030-05-28 21:32:15")
    q: Mapped[float] = mapped_column(Float, server_default="1.0")
    callid: Mapped[str] = mapped_column(String(255), server_default="Default-Call-ID")
    cseq: Mapped[int] = mapped_column(Integer, server_default="1")
    last_modified: Mapped[datetime] = mapped_column(DateTime, server_default="2000-01-01 00:00:01")
    flags: Mapped[int] = mapped_column(Integer, server_default="0")
    cflags: Mapped[int] = mapped_column(Integer, server_default="0")
    user_agent: Mapped[str] = mapped_column(String(255), server_default="")
    socket: Mapped[str | None] = mapped_column(String(64))
    methods: Mapped[int | None] = mapped_column(Integer)
    instance: Mapped[str | None] = mapped_column(String(255))
    reg_id: Mapped[int] = mapped_column(Integer, server_default="0")
    server_id: Mapped[int] = mapped_column(Integer, server_default="0")
    connection_id: Mapped[int] = mapped_column(Integer, server_default="0")
    keepalive: Mapped[int] = mapped_column(Integer, server_default="0")
    partition: Mapped[int] = mapped_column(Integer, server_default="0")
    __table_args__ = (Index("ix_location_account_contact", "username", "domain", "contact"),)


# The schema versions Kamailio 5.6 expects of its tables (its utils/kamctl SQL files). The migration that creates
# a table inserts its row; a schema made by `create_all` (the tests) gets them all from the listener below.
KAMAILIO_TABLE_VERSIONS = {"version": 1, "subscriber": 7, "location": 9, "acc": 5, "missed_calls": 4}


@event.listens_for(KamailioVersion.__table__, "after_create")
def _kamailio_versions(table: Table, connection: Connection, **_: object) -> None:
    rows = [{"table_name": name, "table_version": v} for name, v in KAMAILIO_TABLE_VERSIONS.items()]
    connection.execute(table.insert(), rows)
