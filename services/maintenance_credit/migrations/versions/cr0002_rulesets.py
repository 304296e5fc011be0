"""Credit read model: rule-set versions adopted over the API.

Revision ID: cr0002
"""

import sqlalchemy as sa
from alembic import op

revision = "cr0002"
down_revision = "cr0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "credit_rulesets",
        sa.Column("version", sa.String(40), primary_key=True),
        sa.Column("effective_from", sa.Date, nullable=False),
        sa.Column("definition", sa.Text, nullable=False),
    )


def downgrade():
    op.drop_table("credit_rulesets")
