"""Idempotency records sealed: bodies encrypted per request, the key and request hash keyed,
the persons a request named kept as keyed hashes (``subjects``).

Records stored before held their bodies in clear: they are dropped (a retry within their 24
hours runs again, as after their expiry).

Revision ID: gw0003
"""

import sqlalchemy as sa
from alembic import op

revision = "gw0003"
down_revision = "gw0002"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("DELETE FROM idempotency_records")
    with op.batch_alter_table("idempotency_records") as batch:
        batch.add_column(sa.Column("subjects", sa.Text))


def downgrade():
    with op.batch_alter_table("idempotency_records") as batch:
        batch.drop_column("subjects")
