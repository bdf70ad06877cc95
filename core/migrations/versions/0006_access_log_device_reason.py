"""access_log: (device_id, id) instead of (device_id), and (device_id, reason, id)

The diagnosis reads a device's newest rows and its newest of one reason ("ok", "old_key"). With only
(device_id), PostgreSQL answers "the newest ok row of device N" by walking the primary key backwards
past every other device's rows: 300+ ms at 1,000,000 rows for a device that rarely fetches, and as much
for a busy device gone silent (docs/PERFORMANCE.md, "Diagnosis of one device at provider size").
(device_id, id) still serves deleting a device (ON DELETE SET NULL); on SQLite it is the same index.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 16:45:00
"""
from __future__ import annotations

from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_access_log_device', 'access_log', ['device_id', 'id'], unique=False)
    op.drop_index('ix_access_log_device_id', table_name='access_log')
    op.create_index('ix_access_log_device_reason', 'access_log', ['device_id', 'reason', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_access_log_device_reason', table_name='access_log')
    op.create_index('ix_access_log_device_id', 'access_log', ['device_id'], unique=False)
    op.drop_index('ix_access_log_device', table_name='access_log')
