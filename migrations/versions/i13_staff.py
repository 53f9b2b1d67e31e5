"""the title an application's current review step requires, for the 待办 queue (issue 13)

Revision ID: i13_staff
Revises: i13_rules
Create Date: 2026-12-01 01:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'i13_staff'
down_revision = "i13_rules"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('current_min_title', sa.String(length=20), nullable=True))
    # Backfill from each open application's step snapshot (only those with someone's turn).
    apps = sa.table('applications', sa.column('id', sa.Integer), sa.column('step_index', sa.Integer),
                    sa.column('steps', sa.JSON), sa.column('current_role', sa.String),
                    sa.column('current_min_title', sa.String))
    bind = op.get_bind()
    rows = bind.execute(sa.select(apps.c.id, apps.c.step_index, apps.c.steps).where(apps.c.current_role.is_not(None))).all()
    for app_id, index, steps in rows:
        step = steps[index] if steps and 0 <= (index or 0) < len(steps) else {}
        if step.get('min_title'):
            bind.execute(apps.update().where(apps.c.id == app_id).values(current_min_title=step['min_title']))


def downgrade():
    with op.batch_alter_table('applications', schema=None) as batch_op:
        batch_op.drop_column('current_min_title')
