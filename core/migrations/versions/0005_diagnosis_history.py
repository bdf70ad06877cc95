"""retired access keys and the registration history, for the diagnosis (issue 12)

`retired_key` keeps the SHA-256 of each key a "Nouveau clé" replaced, so a phone still using its
old URL is told apart from random probing. `registration_event` is a line's registration history
(starts, address or User-Agent changes, ends, failed authentications), written behind by the
registrar and pruned with the access log.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 11:40:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'retired_key',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('device_id', sa.Integer(), nullable=False),
        sa.Column('retired_at', core.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['device_id'], ['device.id'], name=op.f('fk_retired_key_device_id_device'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_retired_key')),
        sa.UniqueConstraint('key_hash', name=op.f('uq_retired_key_key_hash')),
    )
    op.create_index(op.f('ix_retired_key_device_id'), 'retired_key', ['device_id'], unique=False)
    op.create_table(
        'registration_event',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('line_id', sa.Integer(), nullable=False),
        sa.Column('event', sa.String(length=16), nullable=False),
        sa.Column('contact', sa.String(length=512), nullable=False),
        sa.Column('source_ip', sa.String(length=45), nullable=False),
        sa.Column('source_port', sa.Integer(), nullable=True),
        sa.Column('transport', sa.String(length=8), nullable=False),
        sa.Column('user_agent', sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ['line_id'], ['line.id'], name=op.f('fk_registration_event_line_id_line'), ondelete='CASCADE'
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_registration_event')),
    )
    op.create_index(op.f('ix_registration_event_at'), 'registration_event', ['at'], unique=False)
    op.create_index('ix_registration_event_line', 'registration_event', ['line_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_registration_event_line', table_name='registration_event')
    op.drop_index(op.f('ix_registration_event_at'), table_name='registration_event')
    op.drop_table('registration_event')
    op.drop_index(op.f('ix_retired_key_device_id'), table_name='retired_key')
    op.drop_table('retired_key')
