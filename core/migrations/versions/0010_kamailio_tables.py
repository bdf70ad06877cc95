"""Kamailio's tables (issue 16): `version`, `subscriber` (HA1 per line and realm, kept by voipadmin) and
`location` (Kamailio's usrloc), with Kamailio's names and types so its modules use them as their own.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 23:50:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    version = op.create_table(
        'version',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('table_name', sa.String(length=32), nullable=False),
        sa.Column('table_version', sa.Integer(), server_default='0', nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_version')),
        sa.UniqueConstraint('table_name', name=op.f('uq_version_table_name')),
    )
    op.create_table(
        'subscriber',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('username', sa.String(length=64), server_default='', nullable=False),
        sa.Column('domain', sa.String(length=64), server_default='', nullable=False),
        sa.Column('password', sa.String(length=64), server_default='', nullable=False),
        sa.Column('ha1', sa.String(length=128), server_default='', nullable=False),
        sa.Column('ha1b', sa.String(length=128), server_default='', nullable=False),
        sa.Column('line_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['line_id'], ['line.id'], name=op.f('fk_subscriber_line_id_line'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_subscriber')),
        sa.UniqueConstraint('username', 'domain', name='uq_subscriber_account'),
    )
    op.create_index(op.f('ix_subscriber_username'), 'subscriber', ['username'], unique=False)
    op.create_index(op.f('ix_subscriber_line_id'), 'subscriber', ['line_id'], unique=False)
    op.create_table(
        'location',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('ruid', sa.String(length=64), server_default='', nullable=False),
        sa.Column('username', sa.String(length=64), server_default='', nullable=False),
        sa.Column('domain', sa.String(length=64), nullable=True),
        sa.Column('contact', sa.String(length=512), server_default='', nullable=False),
        sa.Column('received', sa.String(length=128), nullable=True),
        sa.Column('path', sa.String(length=512), nullable=True),
        sa.Column('expires', sa.DateTime(), server_default='2030-05-28 21:32:15', nullable=False),
        sa.Column('q', sa.Float(), server_default='1.0', nullable=False),
        sa.Column('callid', sa.String(length=255), server_default='Default-Call-ID', nullable=False),
        sa.Column('cseq', sa.Integer(), server_default='1', nullable=False),
        sa.Column('last_modified', sa.DateTime(), server_default='2000-01-01 00:00:01', nullable=False),
        sa.Column('flags', sa.Integer(), server_default='0', nullable=False),
        sa.Column('cflags', sa.Integer(), server_default='0', nullable=False),
        sa.Column('user_agent', sa.String(length=255), server_default='', nullable=False),
        sa.Column('socket', sa.String(length=64), nullable=True),
        sa.Column('methods', sa.Integer(), nullable=True),
        sa.Column('instance', sa.String(length=255), nullable=True),
        sa.Column('reg_id', sa.Integer(), server_default='0', nullable=False),
        sa.Column('server_id', sa.Integer(), server_default='0', nullable=False),
        sa.Column('connection_id', sa.Integer(), server_default='0', nullable=False),
        sa.Column('keepalive', sa.Integer(), server_default='0', nullable=False),
        sa.Column('partition', sa.Integer(), server_default='0', nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_location')),
        sa.UniqueConstraint('ruid', name=op.f('uq_location_ruid')),
    )
    op.create_index(op.f('ix_location_expires'), 'location', ['expires'], unique=False)
    op.create_index('ix_location_account_contact', 'location', ['username', 'domain', 'contact'], unique=False)
    op.bulk_insert(version, [{'table_name': name, 'table_version': v}
                             for name, v in (('version', 1), ('subscriber', 7), ('location', 9))])


def downgrade() -> None:
    op.drop_index('ix_location_account_contact', table_name='location')
    op.drop_index(op.f('ix_location_expires'), table_name='location')
    op.drop_table('location')
    op.drop_index(op.f('ix_subscriber_line_id'), table_name='subscriber')
    op.drop_index(op.f('ix_subscriber_username'), table_name='subscriber')
    op.drop_table('subscriber')
    op.drop_table('version')
