"""Insurance: indexes for the reads that would otherwise scan a table growing with the city.

District coverage reads one district's elevators (``equipment_register`` by district), policies
ending are listed in their order from the page's position (city-wide or one insurer's), and a
policy is found by its number alone.

Revision ID: ins0003
"""

from alembic import op

revision = "ins0003"
down_revision = "ins0002"
branch_labels = None
depends_on = None

ADDED = [
    ("equipment_register", "ix_equipment_register_district_code", ["district", "equipment_code"]),
    ("policies", "ix_policies_ends_on_insurer_no", ["ends_on", "insurer", "policy_no"]),
    ("policies", "ix_policies_insurer_ends_on_no", ["insurer", "ends_on", "policy_no"]),
    ("policies", "ix_policies_policy_no", ["policy_no"]),
]


def upgrade():
    for table, name, columns in ADDED:
        op.create_index(name, table, columns)
    # a prefix of the first of the new ones
    op.drop_index("ix_policies_ends_on", "policies")


def downgrade():
    op.create_index("ix_policies_ends_on", "policies", ["ends_on"])
    for table, name, _ in reversed(ADDED):
        op.drop_index(name, table)
