"""recoveries: benefit_recoveries and recovery_outcomes (settlements paid during a renewal that failed)

Revision ID: i13_recover
Revises: i13_insured
Create Date: 2026-12-01 01:22:09

Two new tables only; no existing table changes, so nothing to backfill.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'i13_recover'
down_revision = "i13_insured"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('benefit_recoveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('settlement_id', sa.Integer(), nullable=False),
    sa.Column('recognition_id', sa.Integer(), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=True),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('region_code', sa.String(length=6), nullable=False),
    sa.Column('division_code', sa.String(length=6), nullable=False),
    sa.Column('institution_code', sa.String(length=30), nullable=False),
    sa.Column('disease_code', sa.String(length=30), nullable=False),
    sa.Column('disease_name', sa.String(length=100), nullable=False),
    sa.Column('visit_date', sa.Date(), nullable=False),
    sa.Column('stop_date', sa.Date(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('cause', sa.String(length=20), nullable=False),
    sa.Column('allowed', sa.String(length=40), nullable=False),
    sa.Column('proposed', sa.String(length=20), nullable=False),
    sa.Column('opened_by_id', sa.Integer(), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_benefit_recoveries_application_id_applications')),
    sa.ForeignKeyConstraint(['opened_by_id'], ['users.id'], name=op.f('fk_benefit_recoveries_opened_by_id_users')),
    sa.ForeignKeyConstraint(['person_id'], ['users.id'], name=op.f('fk_benefit_recoveries_person_id_users')),
    sa.ForeignKeyConstraint(['recognition_id'], ['recognitions.id'], name=op.f('fk_benefit_recoveries_recognition_id_recognitions')),
    sa.ForeignKeyConstraint(['settlement_id'], ['benefit_settlements.id'], name=op.f('fk_benefit_recoveries_settlement_id_benefit_settlements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_benefit_recoveries')),
    sa.UniqueConstraint('settlement_id', name=op.f('uq_benefit_recoveries_settlement_id'))
    )
    with op.batch_alter_table('benefit_recoveries', schema=None) as batch_op:
        batch_op.create_index('ix_benefit_recoveries_div', ['region_code', 'division_code', 'id'], unique=False)
        batch_op.create_index('ix_benefit_recoveries_inst', ['region_code', 'institution_code', 'id'], unique=False)
        batch_op.create_index('ix_benefit_recoveries_person', ['person_id', 'id'], unique=False)

    op.create_table('recovery_outcomes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recovery_id', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('reversal_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_recovery_outcomes_decided_by_id_users')),
    sa.ForeignKeyConstraint(['recovery_id'], ['benefit_recoveries.id'], name=op.f('fk_recovery_outcomes_recovery_id_benefit_recoveries')),
    sa.ForeignKeyConstraint(['reversal_id'], ['benefit_settlements.id'], name=op.f('fk_recovery_outcomes_reversal_id_benefit_settlements')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_outcomes')),
    sa.UniqueConstraint('recovery_id', name=op.f('uq_recovery_outcomes_recovery_id'))
    )


def downgrade():
    op.drop_table('recovery_outcomes')
    with op.batch_alter_table('benefit_recoveries', schema=None) as batch_op:
        batch_op.drop_index('ix_benefit_recoveries_person')
        batch_op.drop_index('ix_benefit_recoveries_inst')
        batch_op.drop_index('ix_benefit_recoveries_div')

    op.drop_table('benefit_recoveries')
