"""The USCC exception list: credit codes accepted although they fail the check.

Revision ID: gw0002
"""

import sqlalchemy as sa
from alembic import op

revision = "gw0002"
down_revision = "gw0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "uscc_exceptions",
        sa.Column("uscc", sa.String(18), primary_key=True),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("listed_at", sa.DateTime, nullable=False),
        sa.Column("listed_by", sa.String(200), nullable=False),
    )


def downgrade():
    op.drop_table("uscc_exceptions")
