"""A command applied once: command id -> the result its first run answered.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "command_results",
        sa.Column("command_id", sa.String(100), primary_key=True),
        sa.Column("method", sa.String(120), nullable=False),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_command_results_recorded_at", "command_results", ["recorded_at"])


def downgrade():
    op.drop_index("ix_command_results_recorded_at", "command_results")
    op.drop_table("command_results")
