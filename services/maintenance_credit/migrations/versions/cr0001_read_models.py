"""Credit read models: units, licences, elevators, contracts, facts, evaluations, grades,
appeals.

Revision ID: cr0001
"""

import sqlalchemy as sa
from alembic import op

revision = "cr0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "credit_units",
        sa.Column("uscc", sa.String(18), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("bureau", sa.String(10), nullable=False),
        sa.Column("district", sa.String(6)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "credit_licences",
        sa.Column("licence_no", sa.String(64), primary_key=True),
        sa.Column("uscc", sa.String(18), nullable=False),
    )
    op.create_table(
        "credit_elevators",
        sa.Column("equipment_code", sa.String(20), primary_key=True),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("unit_uscc", sa.String(18)),
        sa.Column("next_due_on", sa.Date),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_credit_elevators_next_due_on", "credit_elevators", ["next_due_on"])
    op.create_table(
        "credit_contracts",
        sa.Column("equipment_code", sa.String(20), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("unit_uscc", sa.String(18)),
        sa.Column("from_on", sa.Date, nullable=False),
        sa.Column("to_on", sa.Date),
    )
    op.create_index("ix_credit_contracts_unit_uscc", "credit_contracts", ["unit_uscc"])
    op.create_table(
        "credit_facts",
        sa.Column("fact_id", sa.String(64), primary_key=True),
        sa.Column("unit_uscc", sa.String(18), nullable=False),
        sa.Column("type", sa.String(40), nullable=False),
        sa.Column("occurred_on", sa.Date, nullable=False),
        sa.Column("equipment_code", sa.String(20)),
        sa.Column("details", sa.Text, nullable=False),
    )
    op.create_index(
        "ix_credit_facts_unit_uscc_occurred_on", "credit_facts", ["unit_uscc", "occurred_on"]
    )
    op.create_index("ix_credit_facts_equipment_code", "credit_facts", ["equipment_code"])
    op.create_table(
        "credit_evaluations",
        sa.Column("period", sa.String(4), primary_key=True),
        sa.Column("ruleset", sa.String(40), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("published_on", sa.Date, nullable=False),
        sa.Column("objection_until", sa.Date, nullable=False),
        sa.Column("finalized_on", sa.Date),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "credit_grades",
        sa.Column("period", sa.String(4), primary_key=True),
        sa.Column("uscc", sa.String(18), primary_key=True),
        sa.Column("demerits", sa.String(20), nullable=False),
        sa.Column("grade", sa.String(4), nullable=False),
        sa.Column("vetoed", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
    )
    op.create_index("ix_credit_grades_uscc", "credit_grades", ["uscc"])
    op.create_table(
        "credit_appeals",
        sa.Column("appeal_id", sa.String(36), primary_key=True),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("deduction_id", sa.String(36), nullable=False),
        sa.Column("period", sa.String(4), nullable=False),
        sa.Column("rule", sa.String(40), nullable=False),
        sa.Column("points", sa.String(20), nullable=False),
        sa.Column("grounds", sa.Text, nullable=False),
        sa.Column("bureau", sa.String(10), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("filed_on", sa.Date, nullable=False),
        sa.Column("decided_on", sa.Date),
        sa.Column("reason", sa.Text),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_credit_appeals_uscc", "credit_appeals", ["uscc"])
    op.create_index("ix_credit_appeals_period_status", "credit_appeals", ["period", "status"])


def downgrade():
    for table in (
        "credit_appeals",
        "credit_grades",
        "credit_evaluations",
        "credit_facts",
        "credit_contracts",
        "credit_elevators",
        "credit_licences",
        "credit_units",
    ):
        op.drop_table(table)
