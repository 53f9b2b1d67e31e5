"""queue tasks: background_tasks, heavy work a user asked for (a letter batch PDF, a national-platform export) and the file it made

Revision ID: i14_queue_tasks
Revises: i14_province
Create Date: 2026-12-01 05:00:00

One new table; no existing table changes, so nothing to backfill.
"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'i14_queue_tasks'
down_revision = "i14_province"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('background_tasks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('owner_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('message', sa.String(length=500), nullable=True),
    sa.Column('object_key', sa.String(length=200), nullable=True),
    sa.Column('filename', sa.String(length=120), nullable=True),
    sa.Column('content_type', sa.String(length=60), nullable=True),
    sa.Column('size', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['owner_id'], ['users.id'], name=op.f('fk_background_tasks_owner_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_background_tasks'))
    )
    with op.batch_alter_table('background_tasks', schema=None) as batch_op:
        batch_op.create_index('ix_background_tasks_owner', ['owner_id', 'id'], unique=False)


def downgrade():
    with op.batch_alter_table('background_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_background_tasks_owner')
    op.drop_table('background_tasks')
