"""device MAC unique per vPBX, no longer across the installation

A refusal for a MAC held by another tenant told any account that the MAC existed there
(issue 11, point 8). Uniqueness within a vPBX is checked in core (`devices._mac`); the index
stays for the MAC-named bootstrap lookup.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 19:00:00
"""
from __future__ import annotations

from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.drop_constraint('uq_device_mac', type_='unique')
        batch_op.create_index('ix_device_mac', ['mac'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.drop_index('ix_device_mac')
        batch_op.create_unique_constraint('uq_device_mac', ['mac'])
