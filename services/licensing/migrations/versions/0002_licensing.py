"""Licensing read models: delegations, applications, licences, the full equipment register,
audits, inspectors, risk facts; the sequences of licence numbers.

Revision ID: lic0002
"""

import sqlalchemy as sa
from alembic import op

revision = "lic0002"
down_revision = "lic0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "delegations",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("bureau", sa.String(6), nullable=False, index=True),
        sa.Column("kinds", sa.Text, nullable=False),
        sa.Column("effective_from", sa.Date, nullable=False),
        sa.Column("revoked_from", sa.Date),
        sa.Column("revocation_reason", sa.Text),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "applications",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("bureau", sa.String(6), nullable=False),
        sa.Column("status", sa.String(30), nullable=False),
        sa.Column("applicant_uscc", sa.String(18), index=True),
        sa.Column("applicant_name", sa.String(200)),
        sa.Column("district", sa.String(6), nullable=False),
        sa.Column("in_ftz", sa.Boolean, nullable=False),
        sa.Column("received_on", sa.Date, nullable=False),
        sa.Column("intake_due", sa.Date),
        sa.Column("decision_due", sa.Date),
        sa.Column("certificate_due", sa.Date),
        sa.Column("provisional", sa.Boolean, nullable=False),
        sa.Column("clock_running", sa.Boolean, nullable=False),
        sa.Column("late_after", sa.Date, index=True),
        sa.Column("licence_no", sa.String(50)),
        sa.Column("decided_on", sa.Date),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_applications_bureau_status", "applications", ["bureau", "status"])
    op.create_table(
        "licences",
        sa.Column("licence_no", sa.String(50), primary_key=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("bureau", sa.String(6), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("holder_type", sa.String(20), nullable=False),
        sa.Column("holder_uscc", sa.String(18), index=True),
        sa.Column("holder_name", sa.String(200)),
        sa.Column("application_id", sa.String(64), nullable=False),
        sa.Column("decision_no", sa.String(60), nullable=False),
        sa.Column("decided_on", sa.Date, nullable=False),
        sa.Column("valid_from", sa.Date, nullable=False),
        sa.Column("valid_until", sa.Date),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("level", sa.String(4)),
        sa.Column("equipment_code", sa.String(20)),
        sa.Column("renewal_pending", sa.Boolean, nullable=False),
        sa.Column("next_check_on", sa.Date, index=True),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index("ix_licences_bureau_kind_status", "licences", ["bureau", "kind", "status"])
    with op.batch_alter_table("equipment") as batch:
        batch.add_column(sa.Column("maintenance_unit_uscc", sa.String(18)))
        batch.add_column(sa.Column("user_uscc", sa.String(18)))
        batch.add_column(sa.Column("user_name", sa.String(200)))
        batch.add_column(sa.Column("manufacture_year", sa.Integer))
        batch.add_column(sa.Column("rated_speed_mps", sa.Float))
        batch.add_column(sa.Column("rated_load_kg", sa.Float))
        batch.add_column(sa.Column("licence_no", sa.String(50)))
        batch.add_column(sa.Column("legacy_code", sa.String(20)))
    op.create_index("ix_equipment_maintenance_unit_uscc", "equipment", ["maintenance_unit_uscc"])
    op.create_index("ix_equipment_user_uscc", "equipment", ["user_uscc"])
    op.create_index("ix_equipment_legacy_code", "equipment", ["legacy_code"])
    op.create_table(
        "audit_plans",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("bureau", sa.String(6), nullable=False, index=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("seed", sa.String(24), nullable=False),
        sa.Column("drawn_on", sa.Date, nullable=False),
        sa.Column("targets", sa.Integer, nullable=False),
        sa.Column("published", sa.Boolean, nullable=False),
        sa.Column("next_check_on", sa.Date, index=True),
        sa.Column("results", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "inspectors",
        sa.Column("inspector_id", sa.String(64), primary_key=True),
        sa.Column("bureau", sa.String(6), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("organization_uscc", sa.String(18), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_table(
        "risk_facts",
        sa.Column("fact_id", sa.String(64), primary_key=True),
        sa.Column("uscc", sa.String(18), nullable=False, index=True),
        sa.Column("type", sa.String(30), nullable=False),
        sa.Column("occurred_on", sa.Date, nullable=False),
        sa.Column("grade", sa.String(1)),
    )
    op.create_table(
        "sequences",
        sa.Column("name", sa.String(60), primary_key=True),
        sa.Column("value", sa.Integer, nullable=False),
    )


def downgrade():
    for table in (
        "sequences",
        "risk_facts",
        "inspectors",
        "audit_plans",
        "licences",
        "applications",
        "delegations",
    ):
        op.drop_table(table)
    op.drop_index("ix_equipment_legacy_code", "equipment")
    op.drop_index("ix_equipment_user_uscc", "equipment")
    op.drop_index("ix_equipment_maintenance_unit_uscc", "equipment")
    with op.batch_alter_table("equipment") as batch:
        for column in (
            "legacy_code",
            "licence_no",
            "rated_load_kg",
            "rated_speed_mps",
            "manufacture_year",
            "user_name",
            "user_uscc",
            "maintenance_unit_uscc",
        ):
            batch.drop_column(column)
