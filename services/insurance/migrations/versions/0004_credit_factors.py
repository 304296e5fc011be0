"""Insurance: what the premium factors take from the maintenance-credit service, each unit's
latest final grade and the faults and entrapments recorded against each elevator.

Both tables fill from the credit service's history when the service starts (its consumer
catches up from position 0).

Revision ID: ins0004
"""

import sqlalchemy as sa
from alembic import op

revision = "ins0004"
down_revision = "ins0003"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "unit_grades",
        sa.Column("uscc", sa.String(18), primary_key=True),
        sa.Column("period", sa.String(4), nullable=False),
        sa.Column("grade", sa.String(4), nullable=False),
    )
    op.create_table(
        "elevator_incidents",
        sa.Column("fact_id", sa.String(64), primary_key=True),
        sa.Column("equipment_code", sa.String(20), nullable=False),
        sa.Column("type", sa.String(20), nullable=False),
        sa.Column("occurred_on", sa.Date, nullable=False),
    )
    op.create_index(
        "ix_elevator_incidents_code_on", "elevator_incidents", ["equipment_code", "occurred_on"]
    )


def downgrade():
    op.drop_table("elevator_incidents")
    op.drop_table("unit_grades")
