"""Consumer bookkeeping for catch-up subscriptions and parked streams: checkpoints, events
waiting for their predecessor, streams parked behind a dead letter.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "consumer_positions",
        sa.Column("consumer", sa.String(120), primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("live", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "consumer_pending",
        sa.Column("consumer", sa.String(120), primary_key=True),
        sa.Column("stream_id", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "consumer_parked",
        sa.Column("consumer", sa.String(120), primary_key=True),
        sa.Column("stream_id", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("event_id", sa.String(36), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("parked_at", sa.DateTime, nullable=False),
    )


def downgrade():
    for name in ("consumer_parked", "consumer_pending", "consumer_positions"):
        op.drop_table(name)
