"""topstop_limit, topstop_block, topstop_call_cost: TopStop's spending limits, what it blocked, priced calls

Issue 16 point 4 (manual §6). The rate table is a file in the repo (data/rates.yaml), not a table.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 23:45:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.models import UTCDateTime

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'topstop_limit',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('vpbx_id', sa.Integer(), nullable=False),
        sa.Column('line_id', sa.Integer(), nullable=True),
        sa.Column('period', sa.String(length=8), nullable=False),
        sa.Column('amount_cents', sa.Integer(), nullable=False),
        sa.Column('set_by', sa.String(length=100), nullable=False),
        sa.Column('set_at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['line_id'], ['line.id'], name=op.f('fk_topstop_limit_line_id_line'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['vpbx_id'], ['vpbx.id'], name=op.f('fk_topstop_limit_vpbx_id_vpbx'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_topstop_limit')),
    )
    op.create_index(op.f('ix_topstop_limit_line_id'), 'topstop_limit', ['line_id'], unique=False)
    op.create_index(op.f('ix_topstop_limit_vpbx_id'), 'topstop_limit', ['vpbx_id'], unique=False)
    op.create_index('uq_topstop_limit_vpbx', 'topstop_limit', ['vpbx_id', 'period'], unique=True,
                    sqlite_where=sa.text('line_id IS NULL'), postgresql_where=sa.text('line_id IS NULL'))
    op.create_index('uq_topstop_limit_line', 'topstop_limit', ['line_id', 'period'], unique=True,
                    sqlite_where=sa.text('line_id IS NOT NULL'), postgresql_where=sa.text('line_id IS NOT NULL'))
    op.create_table(
        'topstop_block',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('vpbx_id', sa.Integer(), nullable=False),
        sa.Column('line_id', sa.Integer(), nullable=True),
        sa.Column('period', sa.String(length=8), nullable=False),
        sa.Column('period_start', UTCDateTime(timezone=True), nullable=False),
        sa.Column('limit_cents', sa.Integer(), nullable=False),
        sa.Column('spent_cents', sa.Integer(), nullable=False),
        sa.Column('blocked_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('calls_ended', sa.Integer(), nullable=False),
        sa.Column('lifted_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('lifted_by', sa.String(length=100), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['line_id'], ['line.id'], name=op.f('fk_topstop_block_line_id_line'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['vpbx_id'], ['vpbx.id'], name=op.f('fk_topstop_block_vpbx_id_vpbx'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_topstop_block')),
    )
    op.create_index(op.f('ix_topstop_block_line_id'), 'topstop_block', ['line_id'], unique=False)
    op.create_index(op.f('ix_topstop_block_vpbx_id'), 'topstop_block', ['vpbx_id'], unique=False)
    op.create_table(
        'topstop_call_cost',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('callid', sa.String(length=255), nullable=False),
        sa.Column('bye_id', sa.Integer(), nullable=False),
        sa.Column('vpbx_id', sa.Integer(), nullable=False),
        sa.Column('line_id', sa.Integer(), nullable=False),
        sa.Column('callee', sa.String(length=64), nullable=False),
        sa.Column('prefix', sa.String(length=24), nullable=False),
        sa.Column('answered_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('seconds', sa.Integer(), nullable=False),
        sa.Column('cost_cents', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_topstop_call_cost')),
        sa.UniqueConstraint('callid', name=op.f('uq_topstop_call_cost_callid')),
    )
    op.create_index('ix_topstop_call_cost_line', 'topstop_call_cost', ['line_id', 'answered_at', 'cost_cents'],
                    unique=False)
    op.create_index('ix_topstop_call_cost_vpbx', 'topstop_call_cost', ['vpbx_id', 'answered_at', 'cost_cents'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_topstop_call_cost_vpbx', table_name='topstop_call_cost')
    op.drop_index('ix_topstop_call_cost_line', table_name='topstop_call_cost')
    op.drop_table('topstop_call_cost')
    op.drop_index(op.f('ix_topstop_block_vpbx_id'), table_name='topstop_block')
    op.drop_index(op.f('ix_topstop_block_line_id'), table_name='topstop_block')
    op.drop_table('topstop_block')
    op.drop_index('uq_topstop_limit_line', table_name='topstop_limit')
    op.drop_index('uq_topstop_limit_vpbx', table_name='topstop_limit')
    op.drop_index(op.f('ix_topstop_limit_vpbx_id'), table_name='topstop_limit')
    op.drop_index(op.f('ix_topstop_limit_line_id'), table_name='topstop_limit')
    op.drop_table('topstop_limit')
