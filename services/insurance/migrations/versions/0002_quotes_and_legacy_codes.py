"""Insurance: the legacy code of a registered unit (policies may name either code) and the
quotes insurers declare.

Rows written before this migration have no legacy code; ``sesp replay insurance`` fills it in
from the registrations the store holds (the events always carried it).

Revision ID: ins0002
"""

import sqlalchemy as sa
from alembic import op

revision = "ins0002"
down_revision = "ins0001"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("equipment_register") as batch:
        batch.add_column(sa.Column("legacy_code", sa.String(20), nullable=True))
    op.create_index("ix_equipment_register_legacy_code", "equipment_register", ["legacy_code"])
    op.create_table(
        "quotes",
        sa.Column("insurer", sa.String(18), primary_key=True),
        sa.Column("quote_id", sa.String(36), primary_key=True),
        sa.Column("equipment_code", sa.String(20), primary_key=True),
        sa.Column("valid_until", sa.Date, nullable=False),
        sa.Column("declared_at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_quotes_equipment_code", "quotes", ["equipment_code"])


def downgrade():
    op.drop_table("quotes")
    op.drop_index("ix_equipment_register_legacy_code", "equipment_register")
    with op.batch_alter_table("equipment_register") as batch:
        batch.drop_column("legacy_code")
