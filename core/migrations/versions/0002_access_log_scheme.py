"""access log scheme: which requests came over plain HTTP (old phones, when that port is enabled)

Rows written before this revision read "https": plain HTTP was not told apart then.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 12:49:44.513998
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import core.models


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('access_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scheme', sa.String(length=5), server_default='https', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('access_log', schema=None) as batch_op:
        batch_op.drop_column('scheme')
