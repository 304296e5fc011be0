"""The relay's error, its stuck event, and events parked by an operator.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("relay_state") as batch:
        batch.add_column(sa.Column("error", sa.Text, nullable=True))
        batch.add_column(sa.Column("error_since", sa.DateTime, nullable=True))
        batch.add_column(
            sa.Column("failures", sa.Integer, nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("stuck_event_id", sa.String(36), nullable=True))
    op.create_table(
        "parked",
        sa.Column("position", sa.BigInteger, primary_key=True),
        sa.Column("event_id", sa.String(36), nullable=False, unique=True),
        sa.Column("type", sa.String(120), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("parked_at", sa.DateTime, nullable=False),
    )


def downgrade():
    op.drop_table("parked")
    with op.batch_alter_table("relay_state") as batch:
        for name in ("stuck_event_id", "failures", "error_since", "error"):
            batch.drop_column(name)
