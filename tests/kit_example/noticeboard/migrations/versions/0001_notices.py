"""Noticeboard read model: notices.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "notices",
        sa.Column("board", sa.String(100), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("expires_on", sa.Date, nullable=False),
        sa.Column("pinned", sa.Boolean, nullable=False),
    )
    op.create_index("ix_notices_pinned_expires_on", "notices", ["pinned", "expires_on"])


def downgrade():
    op.drop_table("notices")
