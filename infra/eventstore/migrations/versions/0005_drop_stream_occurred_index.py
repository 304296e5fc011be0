"""Drop the events index on (stream_id, occurred_at).

No query needs it: the one read that filters on ``occurred_at`` (a point-in-time load,
``read_stream(..., until=)``) reads one stream in version order, which the unique
``(stream_id, version)`` index serves, and checks the time on those rows. It was a fourth
B-tree written by every append (on SQLite a page of it in every commit).

Revision ID: 0005
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index("ix_events_stream_occurred", table_name="events")


def downgrade():
    op.create_index("ix_events_stream_occurred", "events", ["stream_id", "occurred_at"])
