"""Licensing read models (rebuildable from events)."""

from sqlalchemy import Boolean, Column, Date, Integer, MetaData, String, Table

metadata = MetaData()

equipment = Table(
    "equipment",
    metadata,
    Column("equipment_code", String(20), primary_key=True),
    Column("district", String(6), nullable=False),
    Column("in_ftz", Boolean, nullable=False),
    Column("status", String(20), nullable=False),
    Column("registered_on", Date),
    Column("version", Integer, nullable=False),
)
