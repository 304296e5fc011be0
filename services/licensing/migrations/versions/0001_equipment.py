"""Licensing read model: the equipment register.

Revision ID: lic0001
"""

import sqlalchemy as sa
from alembic import op

revision = "lic0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "equipment",
        sa.Column("equipment_code", sa.String(20), primary_key=True),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("in_ftz", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("registered_on", sa.Date, nullable=True),
        sa.Column("version", sa.Integer, nullable=False),
    )


def downgrade():
    op.drop_table("equipment")
