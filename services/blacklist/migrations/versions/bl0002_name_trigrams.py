"""Blacklist: the public search by a fragment of a unit's name uses a ``pg_trgm`` GIN index on
PostgreSQL (SQLite scans: it has no such index).

Revision ID: bl0002
"""

from alembic import op

revision = "bl0002"
down_revision = "bl0001"
branch_labels = None
depends_on = None

TRIGRAMS = "ix_blacklist_listings_name_trgm"


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    if _postgresql():
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.create_index(
            TRIGRAMS,
            "blacklist_listings",
            ["name"],
            postgresql_using="gin",
            postgresql_ops={"name": "gin_trgm_ops"},
        )


def downgrade():
    if _postgresql():
        op.drop_index(TRIGRAMS, "blacklist_listings")  # the extension stays: others may use it
