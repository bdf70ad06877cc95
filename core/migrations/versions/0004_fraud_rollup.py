"""fraud rollup: per (hour or day, kind, source, vPBX, line, device) counts and the roll-up cursors

The fraud page read the raw access log and security events on every load (~9 s for 7 days at a
provider's size, issue 10). core.rollup now folds new rows into `fraud_rollup`, remembering the
last id per source table in `rollup_cursor`; rows already in the database are rolled up by the
serve process after the upgrade (cursors start at 0).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 19:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'fraud_rollup',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('grain', sa.String(length=4), nullable=False),
        sa.Column('bucket', sa.String(length=16), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('source_ip', sa.String(length=45), nullable=False),
        sa.Column('vpbx_id', sa.Integer(), nullable=False),
        sa.Column('line_id', sa.Integer(), nullable=False),
        sa.Column('device_id', sa.Integer(), nullable=False),
        sa.Column('n', sa.Integer(), nullable=False),
        sa.Column('first_at', core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column('last_at', core.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_fraud_rollup')),
        sa.UniqueConstraint(
            'grain', 'kind', 'bucket', 'source_ip', 'vpbx_id', 'line_id', 'device_id', name='uq_fraud_rollup_key'
        ),
    )
    op.create_index(
        'ix_fraud_rollup_source',
        'fraud_rollup',
        ['grain', 'kind', 'source_ip', 'bucket', 'vpbx_id', 'line_id', 'device_id', 'n'],
        unique=False,
    )
    op.create_index(
        'ix_fraud_rollup_device',
        'fraud_rollup',
        ['grain', 'kind', 'device_id', 'source_ip', 'bucket', 'vpbx_id', 'line_id', 'n'],
        unique=False,
    )
    op.create_index(
        'ix_fraud_rollup_cover',
        'fraud_rollup',
        ['grain', 'kind', 'bucket', 'source_ip', 'vpbx_id', 'line_id', 'device_id', 'n'],
        unique=False,
    )
    cursor = op.create_table(
        'rollup_cursor',
        sa.Column('source', sa.String(length=32), nullable=False),
        sa.Column('last_id', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('source', name=op.f('pk_rollup_cursor')),
    )
    op.bulk_insert(cursor, [{'source': 'access_log', 'last_id': 0}, {'source': 'security_event', 'last_id': 0}])


def downgrade() -> None:
    op.drop_table('rollup_cursor')
    op.drop_index('ix_fraud_rollup_device', table_name='fraud_rollup')
    op.drop_index('ix_fraud_rollup_cover', table_name='fraud_rollup')
    op.drop_index('ix_fraud_rollup_source', table_name='fraud_rollup')
    op.drop_table('fraud_rollup')
