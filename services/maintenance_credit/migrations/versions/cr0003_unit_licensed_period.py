"""Credit read model: the days a unit's maintenance licences held (which periods evaluate it).

Revision ID: cr0003
"""

import sqlalchemy as sa
from alembic import op

revision = "cr0003"
down_revision = "cr0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("credit_units") as batch:
        batch.add_column(sa.Column("licensed_from", sa.Date))
        batch.add_column(sa.Column("ended_on", sa.Date))


def downgrade():
    with op.batch_alter_table("credit_units") as batch:
        batch.drop_column("ended_on")
        batch.drop_column("licensed_from")
