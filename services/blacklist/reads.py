"""Reads: the public list (organisations only: name, credit code, district), a unit's
listings current and past, and a listing or repair application for the authenticated API."""

from __future__ import annotations

import csv
import io
from typing import Any

from sqlalchemy import Date, String, case, cast, exists, func, select
from sqlalchemy.engine import Connection

from infra import errors
from infra.schemas import load
from infra.textsearch import contains_text
from services.blacklist import schemas
from services.blacklist.domain import Listing, RepairApplication, Unit
from services.blacklist.projections import blacklist_listings, blacklist_units

# What the public reads of a listing (API.md "Blacklist"); removal fields once removed.
PUBLIC_FIELDS = (
    "id",
    "uscc",
    "name",
    "district",
    "list",
    "reason",
    "legal_basis",
    "authority",
    "decision_no",
    "listed_on",
    "earliest_removal_on",
    "publication_ends_on",
    "status",
)


def _public(row: Any) -> dict[str, Any]:
    out = {k: row[k] for k in PUBLIC_FIELDS}
    for k in ("listed_on", "earliest_removal_on", "publication_ends_on"):
        out[k] = out[k].isoformat()
    if row["trigger_event_id"]:
        out["trigger_event_id"] = row["trigger_event_id"]
    if row["status"] == "removed":
        out["removed_on"] = row["removed_on"].isoformat()
        out["removal_reason"] = row["removal_reason"]
    return out


def listing_view(unit: Unit, x: Listing) -> dict[str, Any]:
    """A listing as the public reads it, from the aggregate (command answers)."""
    row = {
        **{k: getattr(x, k) for k in PUBLIC_FIELDS if hasattr(x, k)},
        "uscc": unit.uscc,
        "name": unit.name,
        "district": unit.district,
        "trigger_event_id": x.trigger_event_id,
        "removed_on": x.removed_on,
        "removal_reason": x.removal_reason,
    }
    out = _public(row)
    out["repair_granted_on"] = x.repair_granted_on.isoformat() if x.repair_granted_on else None
    return out


def application_view(a: RepairApplication) -> dict[str, Any]:
    r = a.reinspection
    return {
        "id": a.id,
        "listing_id": a.listing_id,
        "applied_on": a.applied_on.isoformat(),
        "rectification": a.rectification,
        "status": a.status,
        "reinspection": (
            {"passed": r.passed, "findings": r.findings, "inspected_on": r.inspected_on.isoformat()}
            if r
            else None
        ),
        "decided_on": a.decided_on.isoformat() if a.decided_on else None,
        "reason": a.reason,
    }


def _public_query(conn: Connection, filters: dict | None, limit: int, after: list | None):
    f = load(schemas.PublicBlacklistQuery, filters or {}, "query")
    c = blacklist_listings.c
    query = select(blacklist_listings).order_by(c.id).limit(limit)
    if f.get("uscc"):
        query = query.where(c.uscc == f["uscc"])
    if f.get("q"):
        query = query.where(contains_text(conn, c.name, f["q"]))
    if f.get("district"):
        query = query.where(c.district == f["district"])
    if f["status"] != "all":
        query = query.where(c.status == f["status"])
    if after:
        query = query.where(c.id > str(after[0]))
    return query


def public_blacklist(
    conn: Connection, filters: dict | None = None, limit: int = 51, after: list | None = None
) -> list[dict]:
    """Listings in id order (a unit's together) after ``after`` (``[id]``); ``limit`` rows
    (ask one more to know a next page exists)."""
    query = _public_query(conn, filters, max(1, min(int(limit), 501)), after)
    return [_public(r) for r in conn.execute(query).mappings()]


# The CSV's columns, in order: every public field of a listing.
CSV_FIELDS = (*PUBLIC_FIELDS, "removed_on", "removal_reason")
CSV_PAGE = 5000


def public_blacklist_csv(
    conn: Connection, filters: dict | None = None, after: list | None = None, page=CSV_PAGE
) -> dict[str, Any]:
    """The next ``page`` listings after ``after`` as CSV text (no header row) and the
    cursor of the page after (null at the end). Formatted here, next to the rows: one page of
    text crosses the bus instead of thousands of dicts; the database turns dates into text and
    leaves out the removal fields of a listing not removed (as the JSON does), so the rows go
    to the C csv writer as they come (about 3x faster than converting each cell in Python)."""
    c = blacklist_listings.c
    removed = c.status == "removed"
    columns: list[Any] = [
        cast(c[k], String) if isinstance(c[k].type, Date) else c[k] for k in PUBLIC_FIELDS
    ]
    columns += [
        case((removed, cast(c.removed_on, String)), else_=None),
        case((removed, c.removal_reason), else_=None),
    ]
    query = _public_query(conn, filters, page, after).with_only_columns(*columns)
    rows = conn.execute(query).all()
    out = io.StringIO()
    csv.writer(out).writerows(rows)  # None is written as an empty cell
    last = rows[-1][0] if len(rows) == page else None
    return {"text": out.getvalue(), "after": None if last is None else [last]}


def unit_listings(conn: Connection, uscc: str) -> dict:
    """A unit's listings, current and past (404 if it was never listed)."""
    uscc = load(schemas.PublicBlacklistQuery, {"uscc": uscc}, "path")["uscc"]
    rows = list(
        conn.execute(
            select(blacklist_listings)
            .where(blacklist_listings.c.uscc == uscc)
            .order_by(blacklist_listings.c.listed_on, blacklist_listings.c.id)
        ).mappings()
    )
    if not rows:
        raise errors.NotFound(f"{uscc} was never listed")
    unit = conn.execute(select(blacklist_units).where(blacklist_units.c.uscc == uscc)).mappings()
    u = unit.first()
    listings = [_public(r) for r in rows]
    return {
        "uscc": uscc,
        "name": u["name"] if u else rows[-1]["name"],
        "district": u["district"] if u else rows[-1]["district"],
        "listed": any(x["status"] == "listed" for x in listings),
        "listings": listings,
    }


def unit_listed(conn: Connection, uscc: str) -> dict:
    """Whether a unit is listed now, and its name here (null if never listed): the public
    equipment lookup's question about the unit that maintains an elevator. ``uscc`` comes
    from the register, validated when it was recorded (an exception-list code among them),
    so it is looked up as it is."""
    uscc = str(uscc).strip().upper()
    b = blacklist_listings.c
    listed = conn.execute(select(exists().where(b.uscc == uscc, b.status == "listed"))).scalar()
    name = conn.execute(
        select(blacklist_units.c.name).where(blacklist_units.c.uscc == uscc)
    ).scalar()
    return {"uscc": uscc, "listed": bool(listed), "name": name}


def public_state(conn: Connection) -> str:
    """How many units and events the list was written from: every event of a unit moves its
    version, so any change to a public row changes the mark."""
    u = blacklist_units.c
    count, total = conn.execute(select(func.count(), func.coalesce(func.sum(u.version), 0))).one()
    return f"{count}-{total}"
