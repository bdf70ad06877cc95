"""phonebook_contact: the vPBX phone book's own entries (its lines are read from `line`)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 17:45:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from core.models import UTCDateTime

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'phonebook_contact',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('vpbx_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('number', sa.String(length=32), nullable=False),
        sa.Column('organisation', sa.String(length=100), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['vpbx_id'], ['vpbx.id'], name=op.f('fk_phonebook_contact_vpbx_id_vpbx'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_phonebook_contact')),
        sa.UniqueConstraint('vpbx_id', 'name', 'number', name='uq_phonebook_contact'),
    )
    op.create_index(op.f('ix_phonebook_contact_vpbx_id'), 'phonebook_contact', ['vpbx_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_phonebook_contact_vpbx_id'), table_name='phonebook_contact')
    op.drop_table('phonebook_contact')
