"""insured category history: a change of category (在职→退休) has an effective date (issue 13)

Revision ID: i13_rules
Revises: i12_audit_chain
Create Date: 2026-12-01 01:30:00

Backfill: every insured person gets one row, their current scheme and category as registered,
in force from the earliest date (2000-01-01: "as registered", also before it).
"""
from datetime import date

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'i13_rules'
down_revision = 'i12_audit_chain'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('insured_category_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('scheme', sa.String(length=10), nullable=False),
    sa.Column('category', sa.String(length=10), nullable=True),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['users.id'], name=op.f('fk_insured_category_changes_person_id_users')),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['users.id'], name=op.f('fk_insured_category_changes_recorded_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_insured_category_changes'))
    )
    with op.batch_alter_table('insured_category_changes', schema=None) as batch_op:
        batch_op.create_index('ix_insured_category_changes_person', ['person_id', 'effective_from'], unique=False)
    # Existing people: what is registered today, as their category from the start (no history before).
    op.get_bind().execute(sa.text(
        "INSERT INTO insured_category_changes (person_id, scheme, category, effective_from, reason, recorded_at)"
        " SELECT id, COALESCE(insured_scheme, 'employee'),"
        # residents have no 在职/退休: registration used to store 在职 for them too
        " CASE WHEN insured_scheme = 'resident' THEN NULL ELSE insured_category END, :earliest, :reason, created_at"
        " FROM users WHERE role = 'insured'"
    ), {"earliest": date(2000, 1, 1), "reason": "升级时按登记的参保类别补录"})


def downgrade():
    with op.batch_alter_table('insured_category_changes', schema=None) as batch_op:
        batch_op.drop_index('ix_insured_category_changes_person')
    op.drop_table('insured_category_changes')
