"""province: the year-end ledger export walks a year's settlements of a region by id

Revision ID: i14_province
Revises: i14_queue
Create Date: 2026-12-01 05:00:00

One index on benefit_settlements (benefit_year, region_code, id): the export reads a year in
short keyset batches instead of scanning the whole ledger. No data changes.
"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'i14_province'
down_revision = "i14_queue"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_benefit_settlements_year', 'benefit_settlements', ['benefit_year', 'region_code', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_benefit_settlements_year', table_name='benefit_settlements')
