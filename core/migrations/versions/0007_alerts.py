"""alerts and fraud responses: alert, alert_evidence, alert_tally, seen_place, alert_notification,
fraud_response, response_device, key_handover (issue 13)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 14:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=160), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("vpbx_id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=True),
        sa.Column("device_id", sa.Integer(), nullable=True),
        sa.Column("source_ip", sa.String(length=45), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("first_seen", core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_seen", core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("acted_by", sa.String(length=100), nullable=False),
        sa.Column("acted_at", core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"], ["device.id"], name=op.f("fk_alert_device_id_device"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(["line_id"], ["line.id"], name=op.f("fk_alert_line_id_line"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert")),
    )
    op.create_index(
        "uq_alert_live",
        "alert",
        ["rule", "subject"],
        unique=True,
        sqlite_where=sa.text("state != 'resolved'"),
        postgresql_where=sa.text("state != 'resolved'"),
    )
    op.create_index("ix_alert_state_seen", "alert", ["state", "last_seen"], unique=False)
    op.create_index("ix_alert_vpbx_state", "alert", ["vpbx_id", "state", "last_seen"], unique=False)
    op.create_table(
        "alert_evidence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("origin", sa.String(length=24), nullable=False),
        sa.Column("origin_id", sa.Integer(), nullable=False),
        sa.Column("at", core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("source_ip", sa.String(length=45), nullable=False),
        sa.Column("country", sa.String(length=16), nullable=False),
        sa.Column("what", sa.String(length=64), nullable=False),
        sa.Column("user_agent", sa.String(length=255), nullable=False),
        sa.Column("path", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alert.id"], name=op.f("fk_alert_evidence_alert_id_alert"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_evidence")),
    )
    op.create_index("ix_alert_evidence_alert", "alert_evidence", ["alert_id", "id"], unique=False)
    op.create_table(
        "alert_tally",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=160), nullable=False),
        sa.Column("member", sa.String(length=64), nullable=False),
        sa.Column("minute", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_tally")),
        sa.UniqueConstraint("rule", "subject", "member", "minute", name="uq_alert_tally_key"),
    )
    op.create_index("ix_alert_tally_minute", "alert_tally", ["minute"], unique=False)
    op.create_table(
        "seen_place",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("first_at", core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_at", core.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seen_place")),
        sa.UniqueConstraint("subject", "kind", "value", name="uq_seen_place"),
    )
    op.create_table(
        "alert_notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=255), nullable=False),
        sa.Column("created_at", core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", core.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alert.id"], name=op.f("fk_alert_notification_alert_id_alert"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_notification")),
    )
    op.create_index(op.f("ix_alert_notification_alert_id"), "alert_notification", ["alert_id"], unique=False)
    op.create_index(op.f("ix_alert_notification_state"), "alert_notification", ["state"], unique=False)

    op.create_table(
        'fraud_response',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('line_id', sa.Integer(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('requested_by', sa.String(length=100), nullable=False),
        sa.Column('requested_at', core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('started_by', sa.String(length=100), nullable=False),
        sa.Column('started_at', core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('blocked_at', core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('credentials_at', core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('keys_at', core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('pushed_at', core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('verified_at', core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('unblocked_at', core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('finished_at', core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('was_blocked', sa.Boolean(), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['line_id'], ['line.id'], name=op.f('fk_fraud_response_line_id_line'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_fraud_response')),
    )
    op.create_index(op.f('ix_fraud_response_line_id'), 'fraud_response', ['line_id'], unique=False)
    op.create_table(
        'response_device',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('response_id', sa.Integer(), nullable=False),
        sa.Column('device_id', sa.Integer(), nullable=True),
        sa.Column('push', sa.String(length=16), nullable=False),
        sa.Column('command_ids', sa.String(length=64), nullable=False),
        sa.Column('fetched_at', core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('registered_at', core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column('skipped_by', sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(['device_id'], ['device.id'], name=op.f('fk_response_device_device_id_device'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['response_id'], ['fraud_response.id'],
                                name=op.f('fk_response_device_response_id_fraud_response'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_response_device')),
    )
    op.create_index(op.f('ix_response_device_response_id'), 'response_device', ['response_id'], unique=False)
    op.create_table(
        'key_handover',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('device_id', sa.Integer(), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('source_ip', sa.String(length=45), nullable=False),
        sa.Column('expires_at', core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('used_at', core.models.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['device_id'], ['device.id'], name=op.f('fk_key_handover_device_id_device'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_key_handover')),
    )
    op.create_index(op.f('ix_key_handover_device_id'), 'key_handover', ['device_id'], unique=False)
    op.create_index(op.f('ix_key_handover_key_hash'), 'key_handover', ['key_hash'], unique=False)


def downgrade() -> None:
    op.drop_table('key_handover')
    op.drop_table('response_device')
    op.drop_table('fraud_response')
    op.drop_table("alert_notification")
    op.drop_table("seen_place")
    op.drop_table("alert_tally")
    op.drop_index("ix_alert_evidence_alert", table_name="alert_evidence")
    op.drop_table("alert_evidence")
    op.drop_index("ix_alert_vpbx_state", table_name="alert")
    op.drop_index("ix_alert_state_seen", table_name="alert")
    op.drop_index("uq_alert_live", table_name="alert")
    op.drop_table("alert")
