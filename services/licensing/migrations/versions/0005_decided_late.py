"""Licensing read model: whether an application was decided after its decision due date, and
by how many working days (supervisors list late decisions).

Existing decisions are late when decided after the due date the row holds, which is what the
aggregate reads from decisions recorded before they said so; how many working days late was
not recorded for them (NULL).

Revision ID: lic0005
"""

import sqlalchemy as sa
from alembic import op

revision = "lic0005"
down_revision = "lic0004"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "applications",
        sa.Column("decided_late", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.add_column("applications", sa.Column("working_days_late", sa.Integer, nullable=True))
    op.execute(
        "UPDATE applications SET decided_late = (decided_on > decision_due) "
        "WHERE status IN ('approved', 'refused') "
        "AND decided_on IS NOT NULL AND decision_due IS NOT NULL"
    )


def downgrade():
    with op.batch_alter_table("applications") as batch:
        batch.drop_column("working_days_late")
        batch.drop_column("decided_late")
