"""Licensing: each maintenance unit's latest final credit grade, published by the
maintenance-credit service, which weighs the audit draw.

The table fills from the credit service's history when the service starts (its consumer
catches up from position 0).

Revision ID: lic0007
"""

import sqlalchemy as sa
from alembic import op

revision = "lic0007"
down_revision = "lic0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "credit_grades",
        sa.Column("uscc", sa.String(18), primary_key=True),
        sa.Column("period", sa.String(4), nullable=False),
        sa.Column("grade", sa.String(4), nullable=False),
    )


def downgrade():
    op.drop_table("credit_grades")
