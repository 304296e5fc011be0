"""Licensing read models: an index for the filter and order of every list, and trigrams for the
public search by a fragment of a holder's name.

Each list's filter leads an index that goes on in the list's order (applications by
``(received_on, id)``, licences by ``licence_no``, the register by ``equipment_code``), so a
page starting after the last one shown reads only its own rows: the single-column indexes they
replace are prefixes of them. On PostgreSQL the name search uses a ``pg_trgm`` GIN index (the
extension is created here: a trusted extension, the database owner may create it).

Revision ID: lic0006
"""

from alembic import op

revision = "lic0006"
down_revision = "lic0005"
branch_labels = None
depends_on = None

RECEIVED = ["received_on", "id"]
REPLACED = [
    # (table, old index, old columns, new index, new columns)
    ("applications", "ix_applications_bureau_status", ["bureau", "status"],
     "ix_applications_bureau_status_received", ["bureau", "status", *RECEIVED]),
    ("applications", "ix_applications_applicant_uscc", ["applicant_uscc"],
     "ix_applications_applicant_received", ["applicant_uscc", *RECEIVED]),
    ("licences", "ix_licences_supervised_by_kind_status", ["supervised_by", "kind", "status"],
     "ix_licences_supervised_by_kind_status_no",
     ["supervised_by", "kind", "status", "licence_no"]),
    ("licences", "ix_licences_holder_uscc", ["holder_uscc"],
     "ix_licences_holder_uscc_no", ["holder_uscc", "licence_no"]),
    ("equipment", "ix_equipment_maintenance_unit_uscc", ["maintenance_unit_uscc"],
     "ix_equipment_maintenance_unit_code", ["maintenance_unit_uscc", "equipment_code"]),
    ("equipment", "ix_equipment_user_uscc", ["user_uscc"],
     "ix_equipment_user_code", ["user_uscc", "equipment_code"]),
]  # fmt: skip
ADDED = [
    ("applications", "ix_applications_received", RECEIVED),
    ("applications", "ix_applications_bureau_received", ["bureau", *RECEIVED]),
    ("applications", "ix_applications_status_received", ["status", *RECEIVED]),
    ("licences", "ix_licences_supervised_by_no", ["supervised_by", "licence_no"]),
    ("equipment", "ix_equipment_district_code", ["district", "equipment_code"]),
    ("equipment", "ix_equipment_status_code", ["status", "equipment_code"]),
]
TRIGRAMS = "ix_licences_holder_name_trgm"


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    for table, old, _, new, columns in REPLACED:
        op.create_index(new, table, columns)
        op.drop_index(old, table)
    for table, name, columns in ADDED:
        op.create_index(name, table, columns)
    if _postgresql():
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.create_index(
            TRIGRAMS,
            "licences",
            ["holder_name"],
            postgresql_using="gin",
            postgresql_ops={"holder_name": "gin_trgm_ops"},
        )


def downgrade():
    if _postgresql():
        op.drop_index(TRIGRAMS, "licences")  # the extension stays: others may use it
    for table, name, _ in reversed(ADDED):
        op.drop_index(name, table)
    for table, old, old_columns, new, _ in reversed(REPLACED):
        op.create_index(old, table, old_columns)
        op.drop_index(new, table)
