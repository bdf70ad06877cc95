"""vpbx.voicemail_access: the number a voicemail key dials before the line's mailbox (issue 14 point 4)

Existing vPBXs get "*86", the default a new one gets; a vPBX administrator or the provider changes it
(`vpbx voicemail NAME NUMBER`).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 18:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('vpbx') as batch:
        batch.add_column(sa.Column('voicemail_access', sa.String(length=16), server_default='*86', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('vpbx') as batch:
        batch.drop_column('voicemail_access')
