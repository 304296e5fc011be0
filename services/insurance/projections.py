"""Insurance read models (rebuildable from events)."""

from sqlalchemy import Boolean, Column, Date, Integer, MetaData, String, Table

metadata = MetaData()

# The insurance service's copy of the register, fed by licensing's equipment events.
equipment_register = Table(
    "equipment_register",
    metadata,
    Column("equipment_code", String(20), primary_key=True),
    Column("district", String(6), nullable=False),
    Column("in_ftz", Boolean, nullable=False),
    Column("status", String(20), nullable=False),
    Column("registered_on", Date),
    Column("applied", Integer, nullable=False),
)
