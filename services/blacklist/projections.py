"""The blacklist's read models: units (with the day the sweep next has work), listings (what
the public reads: organisations only) and repair applications. Every row is a pure function of
its unit's state, so a rebuild equals the live tables; ``migrations/versions`` creates exactly
these tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    DDL,
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    event,
    select,
)
from sqlalchemy.engine import Connection

from infra.clock import local_date
from infra.readmodels import ReadModels, upsert
from infra.repository import Kind, Kinds
from services.blacklist.domain import EVENTS, Unit

metadata = MetaData()

blacklist_units = Table(
    "blacklist_units",
    metadata,
    Column("uscc", String(18), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("district", String(6)),
    Column("next_due_on", Date),  # the first day a listing of the unit comes off
    Column("version", Integer, nullable=False),
)
Index("ix_blacklist_units_next_due_on", blacklist_units.c.next_due_on, blacklist_units.c.uscc)

blacklist_listings = Table(
    "blacklist_listings",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("uscc", String(18), nullable=False),
    Column("name", String(200), nullable=False),
    Column("district", String(6)),
    Column("list", String(30), nullable=False),
    Column("cause", String(200), nullable=False),
    Column("reason", Text, nullable=False),
    Column("legal_basis", Text, nullable=False),
    Column("authority", String(10), nullable=False),
    Column("decision_no", String(100), nullable=False),
    Column("listed_on", Date, nullable=False),
    Column("earliest_removal_on", Date, nullable=False),
    Column("publication_ends_on", Date, nullable=False),
    Column("status", String(10), nullable=False),
    Column("repair_granted_on", Date),
    Column("removed_on", Date),
    Column("removal_reason", String(40)),
    Column("trigger_event_id", String(64)),
)
# Public lists: by status or district, in id order (a unit's listings together).
Index("ix_blacklist_listings_uscc_id", blacklist_listings.c.uscc, blacklist_listings.c.id)
Index("ix_blacklist_listings_status_id", blacklist_listings.c.status, blacklist_listings.c.id)
Index(
    "ix_blacklist_listings_district_status_id",
    blacklist_listings.c.district,
    blacklist_listings.c.status,
    blacklist_listings.c.id,
)
# The public search by a fragment of the name (``LIKE '%...%'``): trigrams on PostgreSQL. SQLite
# has no such index; it scans.
Index(
    "ix_blacklist_listings_name_trgm",
    blacklist_listings.c.name,
    postgresql_using="gin",
    postgresql_ops={"name": "gin_trgm_ops"},
).ddl_if(dialect="postgresql")
event.listen(
    metadata,
    "before_create",
    DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"),
)

blacklist_repair_applications = Table(
    "blacklist_repair_applications",
    metadata,
    Column("id", String(48), primary_key=True),
    Column("listing_id", String(40), nullable=False),
    Column("uscc", String(18), nullable=False),
    Column("applied_on", Date, nullable=False),
    Column("rectification", Text, nullable=False),
    Column("status", String(10), nullable=False),
    Column("reinspection_passed", Boolean),
    Column("reinspection_findings", Text),
    Column("inspected_on", Date),
    Column("decided_on", Date),
    Column("reason", Text),
)
Index(
    "ix_blacklist_repair_applications_listing_id",
    blacklist_repair_applications.c.listing_id,
    blacklist_repair_applications.c.id,
)


def write_units(conn: Connection, units: Sequence[Unit]) -> None:
    for unit in units:
        upsert(
            conn,
            blacklist_units,
            {
                "uscc": unit.uscc,
                "name": unit.name,
                "district": unit.district,
                "next_due_on": unit.next_due_on(),
                "version": unit.version,
            },
        )
        for x in unit.listings:
            row: dict[str, Any] = {
                "id": x.id,
                "uscc": unit.uscc,
                "name": unit.name,
                "district": unit.district,
                "list": x.list,
                "cause": x.cause,
                "reason": x.reason,
                "legal_basis": x.legal_basis,
                "authority": x.authority,
                "decision_no": x.decision_no,
                "listed_on": x.listed_on,
                "earliest_removal_on": x.earliest_removal_on,
                "publication_ends_on": x.publication_ends_on,
                "status": x.status,
                "repair_granted_on": x.repair_granted_on,
                "removed_on": x.removed_on,
                "removal_reason": x.removal_reason,
                "trigger_event_id": x.trigger_event_id,
            }
            upsert(conn, blacklist_listings, row)
        for a in unit.applications:
            r = a.reinspection
            app_row: dict[str, Any] = {
                "id": a.id,
                "listing_id": a.listing_id,
                "uscc": unit.uscc,
                "applied_on": a.applied_on,
                "rectification": a.rectification,
                "status": a.status,
                "reinspection_passed": r.passed if r else None,
                "reinspection_findings": r.findings if r else None,
                "inspected_on": r.inspected_on if r else None,
                "decided_on": a.decided_on,
                "reason": a.reason,
            }
            upsert(conn, blacklist_repair_applications, app_row)


def units_due(conn: Connection, after: str | None, limit: int, now: datetime) -> list[str]:
    """The removal sweep's due query: units with a listing due to come off by today."""
    u = blacklist_units.c
    query = select(u.uscc).where(u.next_due_on <= local_date(now)).order_by(u.uscc).limit(limit)
    if after is not None:
        query = query.where(u.uscc > after)
    return list(conn.execute(query).scalars())


KINDS = Kinds(Kind("unit-", Unit, EVENTS))
READ_MODELS = ReadModels(metadata, KINDS, write_units)
