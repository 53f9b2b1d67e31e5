"""online renewal: the applicant's electronic confirmation (declared_at) on applications

Revision ID: i13_insured
Revises: i13_staff
Create Date: 2026-12-01 01:40:00

An online renewal takes a ticked declaration in place of a signed scan of the 续办申请表; the time
it was given is kept on the application (null: not given, as on every existing row).
"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'i13_insured'
down_revision = "i13_staff"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('declared_at', sa.DateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_column('declared_at')
