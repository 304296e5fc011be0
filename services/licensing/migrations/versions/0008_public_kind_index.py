"""Licensing: the public list of licences by kind, in licence-number order, reads an index
that its filter leads (a deep page starts the index range at its cursor). A lookup by licence
number uses the primary key; a holder's by kind, the holder's index.

Revision ID: lic0008
"""

from alembic import op

revision = "lic0008"
down_revision = "lic0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_licences_kind_no", "licences", ["kind", "licence_no"])


def downgrade():
    op.drop_index("ix_licences_kind_no", "licences")
