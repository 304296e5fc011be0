"""Licensing read models: the bureau that supervises a licence (a relocation moves a use
registration's unit and certificate to the bureau of the new place), a person's data-subject id
on licences (officers find certificates by resident ID number through it), and risk fact ids
per recording bureau.

Existing licences are supervised by their issuer; existing risk facts were recorded in the one
city-wide namespace, which becomes the city bureau's (``SH``). Published results of plans over
operator certificates stop naming the employer behind a person's certificate at once (their
count of minor findings comes with the plan's next change, or ``sesp replay licensing``).

Revision ID: lic0004
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "lic0004"
down_revision = "lic0002"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("licences", sa.Column("supervised_by", sa.String(6), nullable=True))
    op.add_column("licences", sa.Column("holder_subject", sa.String(40), nullable=True))
    op.execute("UPDATE licences SET supervised_by = bureau")
    with op.batch_alter_table("licences") as batch:
        batch.alter_column("supervised_by", existing_type=sa.String(6), nullable=False)
    op.create_index("ix_licences_holder_subject", "licences", ["holder_subject"])
    op.create_index(
        "ix_licences_supervised_by_kind_status", "licences", ["supervised_by", "kind", "status"]
    )

    # The primary key becomes (bureau, fact_id): a new table, the rows copied over.
    op.create_table(
        "risk_facts_by_bureau",
        sa.Column("bureau", sa.String(6), primary_key=True),
        sa.Column("fact_id", sa.String(64), primary_key=True),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("type", sa.String(30), nullable=False),
        sa.Column("occurred_on", sa.Date, nullable=False),
        sa.Column("grade", sa.String(1)),
    )
    op.execute(
        "INSERT INTO risk_facts_by_bureau (bureau, fact_id, uscc, type, occurred_on, grade) "
        "SELECT 'SH', fact_id, uscc, type, occurred_on, grade FROM risk_facts"
    )
    op.drop_index("ix_risk_facts_uscc", "risk_facts")
    op.drop_table("risk_facts")
    op.rename_table("risk_facts_by_bureau", "risk_facts")
    op.create_index("ix_risk_facts_uscc", "risk_facts", ["uscc"])

    # What is published about a person's certificate withholds the employer too.
    plans = sa.table(
        "audit_plans", sa.column("id", sa.String), sa.column("kind"), sa.column("results")
    )
    bind = op.get_bind()
    persons = sa.select(plans.c.id, plans.c.results).where(plans.c.kind == "operator_certificate")
    for plan_id, text in bind.execute(persons).all():
        results = json.loads(text)
        for target in results["targets"]:
            target["holder"] = target["holder_uscc"] = None
        bind.execute(
            plans.update()
            .where(plans.c.id == plan_id)
            .values(results=json.dumps(results, sort_keys=True))
        )


def downgrade():
    op.create_table(
        "risk_facts_city_wide",
        sa.Column("fact_id", sa.String(64), primary_key=True),
        sa.Column("uscc", sa.String(18), nullable=False),
        sa.Column("type", sa.String(30), nullable=False),
        sa.Column("occurred_on", sa.Date, nullable=False),
        sa.Column("grade", sa.String(1)),
    )
    # One namespace again: the city bureau's facts keep it (other bureaus' ids may collide).
    op.execute(
        "INSERT INTO risk_facts_city_wide (fact_id, uscc, type, occurred_on, grade) "
        "SELECT fact_id, uscc, type, occurred_on, grade FROM risk_facts WHERE bureau = 'SH'"
    )
    op.drop_index("ix_risk_facts_uscc", "risk_facts")
    op.drop_table("risk_facts")
    op.rename_table("risk_facts_city_wide", "risk_facts")
    op.create_index("ix_risk_facts_uscc", "risk_facts", ["uscc"])
    op.drop_index("ix_licences_supervised_by_kind_status", "licences")
    op.drop_index("ix_licences_holder_subject", "licences")
    with op.batch_alter_table("licences") as batch:
        batch.drop_column("holder_subject")
        batch.drop_column("supervised_by")
