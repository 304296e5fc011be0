"""The insurance service's copy of the equipment register (from licensing events).

Revision ID: ins0001
"""

import sqlalchemy as sa
from alembic import op

revision = "ins0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "equipment_register",
        sa.Column("equipment_code", sa.String(20), primary_key=True),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("in_ftz", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("registered_on", sa.Date, nullable=True),
        # how many registration events were applied to this row: must stay 1 (exactly once)
        sa.Column("applied", sa.Integer, nullable=False),
    )


def downgrade():
    op.drop_table("equipment_register")
