"""Insurance read models: the equipment register copy, policies and the elevators they cover.

Revision ID: ins0001
"""

import sqlalchemy as sa
from alembic import op

revision = "ins0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "equipment_register",
        sa.Column("equipment_code", sa.String(20), primary_key=True),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("in_ftz", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("registered_on", sa.Date, nullable=True),
        sa.Column("maintenance_unit_uscc", sa.String(18), nullable=True),
        sa.Column("manufacture_year", sa.Integer, nullable=True),
        sa.Column("applied", sa.Integer, nullable=False),
    )
    op.create_table(
        "policies",
        sa.Column("insurer", sa.String(18), primary_key=True),
        sa.Column("policy_no", sa.String(64), primary_key=True),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("cover", sa.String(20), nullable=False),
        sa.Column("premium", sa.String(20), nullable=False),
        sa.Column("starts_on", sa.Date, nullable=False),
        sa.Column("ends_on", sa.Date, nullable=False),
        sa.Column("terms", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("reminded_for", sa.Date, nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_policies_ends_on", "policies", ["ends_on"])
    op.create_table(
        "policy_equipment",
        sa.Column("insurer", sa.String(18), primary_key=True),
        sa.Column("policy_no", sa.String(64), primary_key=True),
        sa.Column("equipment_code", sa.String(20), primary_key=True),
    )
    op.create_index("ix_policy_equipment_code", "policy_equipment", ["equipment_code"])


def downgrade():
    op.drop_table("policy_equipment")
    op.drop_table("policies")
    op.drop_table("equipment_register")
