"""acc, missed_calls: Kamailio's call records (its acc schema + our db_extra columns); blocked_prefix

Kamailio's acc module writes `acc` (answered INVITEs, BYEs) and `missed_calls` (calls that did not
connect) with its own column names; `version` gets their rows so Kamailio accepts the tables.
`blocked_prefix`: the destinations a vPBX's lines may not call on the PSTN (issue 16 point 3).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 23:30:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.models import UTCDateTime

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

# Kamailio 5.6's table versions (its db schema files): it refuses a table whose version row differs.
KAMAILIO_VERSIONS = {'acc': 5, 'missed_calls': 4}


def _call_record_table(name: str) -> None:
    op.create_table(
        name,
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('method', sa.String(length=16), server_default='', nullable=False),
        sa.Column('from_tag', sa.String(length=128), server_default='', nullable=True),
        sa.Column('to_tag', sa.String(length=128), server_default='', nullable=True),
        sa.Column('callid', sa.String(length=255), server_default='', nullable=False),
        sa.Column('sip_code', sa.String(length=3), server_default='', nullable=False),
        sa.Column('sip_reason', sa.String(length=128), server_default='', nullable=False),
        sa.Column('time', sa.DateTime(), nullable=False),
        sa.Column('src_user', sa.String(length=64), nullable=True),
        sa.Column('src_domain', sa.String(length=128), nullable=True),
        sa.Column('src_ip', sa.String(length=64), nullable=True),
        sa.Column('src_port', sa.Integer(), nullable=True),
        sa.Column('dst_ouser', sa.String(length=64), nullable=True),
        sa.Column('dst_user', sa.String(length=64), nullable=True),
        sa.Column('dst_domain', sa.String(length=128), nullable=True),
        sa.Column('line_id', sa.Integer(), nullable=True),
        sa.Column('callee_line_id', sa.Integer(), nullable=True),
        sa.Column('call_kind', sa.String(length=16), nullable=True),
        sa.Column('start_time', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{name}')),
    )
    op.create_index(f'{name}_callid_idx', name, ['callid'], unique=False)
    op.create_index(f'ix_{name}_line_time', name, ['line_id', 'time'], unique=False)
    op.create_index(f'ix_{name}_callee_time', name, ['callee_line_id', 'time'], unique=False)


def upgrade() -> None:
    _call_record_table('acc')
    _call_record_table('missed_calls')
    op.create_table(
        'blocked_prefix',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('vpbx_id', sa.Integer(), nullable=False),
        sa.Column('prefix', sa.String(length=16), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['vpbx_id'], ['vpbx.id'], name=op.f('fk_blocked_prefix_vpbx_id_vpbx'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_blocked_prefix')),
        sa.UniqueConstraint('vpbx_id', 'prefix', name='uq_blocked_prefix'),
    )
    op.create_index(op.f('ix_blocked_prefix_vpbx_id'), 'blocked_prefix', ['vpbx_id'], unique=False)
    version = sa.table('version', sa.column('table_name', sa.String), sa.column('table_version', sa.Integer))
    op.bulk_insert(version, [{'table_name': t, 'table_version': v} for t, v in KAMAILIO_VERSIONS.items()])


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM version WHERE table_name IN ('acc', 'missed_calls')"))
    op.drop_index(op.f('ix_blocked_prefix_vpbx_id'), table_name='blocked_prefix')
    op.drop_table('blocked_prefix')
    for name in ('missed_calls', 'acc'):
        op.drop_index(f'ix_{name}_callee_time', table_name=name)
        op.drop_index(f'ix_{name}_line_time', table_name=name)
        op.drop_index(f'{name}_callid_idx', table_name=name)
        op.drop_table(name)
