"""Blacklist read models: units, listings, repair applications.

Revision ID: bl0001
"""

import sqlalchemy as sa
from alembic import op

revision = "bl0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "blacklist_units",
        sa.Column("uscc", sa.String(18), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("district", sa.String(6)),
        sa.Column("next_due_on", sa.Date),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_blacklist_units_next_due_on", "blacklist_units", ["next_due_on", "uscc"])
    op.create_table(
        "blacklist_listings",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("district", sa.String(6)),
        sa.Column("list", sa.String(30), nullable=False),
        sa.Column("cause", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("legal_basis", sa.Text, nullable=False),
        sa.Column("authority", sa.String(10), nullable=False),
        sa.Column("decision_no", sa.String(100), nullable=False),
        sa.Column("listed_on", sa.Date, nullable=False),
        sa.Column("earliest_removal_on", sa.Date, nullable=False),
        sa.Column("publication_ends_on", sa.Date, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("repair_granted_on", sa.Date),
        sa.Column("removed_on", sa.Date),
        sa.Column("removal_reason", sa.String(40)),
        sa.Column("trigger_event_id", sa.String(64)),
    )
    op.create_index("ix_blacklist_listings_uscc_id", "blacklist_listings", ["uscc", "id"])
    op.create_index("ix_blacklist_listings_status_id", "blacklist_listings", ["status", "id"])
    op.create_index(
        "ix_blacklist_listings_district_status_id",
        "blacklist_listings",
        ["district", "status", "id"],
    )
    op.create_table(
        "blacklist_repair_applications",
        sa.Column("id", sa.String(48), primary_key=True),
        sa.Column("listing_id", sa.String(40), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("applied_on", sa.Date, nullable=False),
        sa.Column("rectification", sa.Text, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("reinspection_passed", sa.Boolean),
        sa.Column("reinspection_findings", sa.Text),
        sa.Column("inspected_on", sa.Date),
        sa.Column("decided_on", sa.Date),
        sa.Column("reason", sa.Text),
    )
    op.create_index(
        "ix_blacklist_repair_applications_listing_id",
        "blacklist_repair_applications",
        ["listing_id", "id"],
    )


def downgrade():
    op.drop_table("blacklist_repair_applications")
    op.drop_table("blacklist_listings")
    op.drop_table("blacklist_units")
