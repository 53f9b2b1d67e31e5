"""materials page count and size; verification codes

Revision ID: 48b1c297af86
Revises: 2f0ae7cb9e0f
Create Date: 2026-11-23 09:10:13.349709

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '48b1c297af86'
down_revision = '2f0ae7cb9e0f'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('verification_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('application_id', sa.Integer(), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('signature', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['application_id'], ['applications.id'], name=op.f('fk_verification_codes_application_id_applications')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_verification_codes')),
    sa.UniqueConstraint('application_id', name=op.f('uq_verification_codes_application_id')),
    sa.UniqueConstraint('code', name=op.f('uq_verification_codes_code'))
    )
    with op.batch_alter_table('materials', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pages', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('width', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('height', sa.Integer(), nullable=True))



def downgrade():
    with op.batch_alter_table('materials', schema=None) as batch_op:
        batch_op.drop_column('height')
        batch_op.drop_column('width')
        batch_op.drop_column('pages')

    op.drop_table('verification_codes')
