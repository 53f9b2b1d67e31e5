"""queue: queue_failures, background tasks that failed on their last retry (the dead-letter list)

Revision ID: i14_queue
Revises: i13_recover
Create Date: 2026-12-01 03:00:00

One new table; no existing table changes, so nothing to backfill.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'i14_queue'
down_revision = "i13_recover"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('queue_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task', sa.String(length=60), nullable=False),
    sa.Column('job', sa.String(length=40), nullable=True),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('failed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retried_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retried_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['retried_by_id'], ['users.id'], name=op.f('fk_queue_failures_retried_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_queue_failures'))
    )
    with op.batch_alter_table('queue_failures', schema=None) as batch_op:
        batch_op.create_index('ix_queue_failures_open', ['retried_at', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('queue_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_queue_failures_open')
    op.drop_table('queue_failures')
