"""Credit read model: complaints from the public and their decisions (no contact details).

Revision ID: cr0004
"""

import sqlalchemy as sa
from alembic import op

revision = "cr0004"
down_revision = "cr0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "credit_complaints",
        sa.Column("reference", sa.String(40), primary_key=True),
        sa.Column("equipment_code", sa.String(20), nullable=False),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("what", sa.Text, nullable=False),
        sa.Column("occurred_at", sa.DateTime, nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.Column("has_contact", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("decided_on", sa.Date),
        sa.Column("unit_uscc", sa.String(18)),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index(
        "ix_credit_complaints_district_received",
        "credit_complaints",
        ["district", "received_at", "reference"],
    )
    op.create_index(
        "ix_credit_complaints_received", "credit_complaints", ["received_at", "reference"]
    )


def downgrade():
    op.drop_index("ix_credit_complaints_received", "credit_complaints")
    op.drop_index("ix_credit_complaints_district_received", "credit_complaints")
    op.drop_table("credit_complaints")
