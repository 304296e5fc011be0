"""Insurance read models, rebuildable from this service's own events.

- ``policies`` and ``policy_equipment``: a pure function of each ``Policy`` aggregate's state
  (``policy_row``, ``policy_links``), written by ``write_policies`` for the aggregates just
  saved, live and in a rebuild alike: a rebuilt model equals the live one by construction.
  A policy links exactly the elevators its current terms name, so an elevator that an
  earlier revision named and a later one (a cancellation included) dropped is linked no more.
  The ``digest`` is of the canonical terms (``Terms.canonical``): equal for two pushes that
  say the same.
- ``quotes``: one row per elevator of a quote an insurer declared (``quote_rows``), what opens
  the elevator's coverage and premium factors to that insurer until ``valid_until``.
- ``equipment_register``: the service's copy of the register, fed by licensing's equipment
  events. Those are facts insurance decides nothing about (no rule, no command), so they are
  written straight into the table (``facts``) instead of being folded into an aggregate: each
  consumed event is also stored in insurance's own store (stream ``licensing:<stream>``, same
  event id), which is what a rebuild reads them from. A unit registered with a legacy
  20-digit Shanghai code keeps it in ``legacy_code``: policies and quotes name either code,
  and reads match them through both (``reads.aliases``).
- ``unit_grades`` and ``elevator_incidents``: what the premium factors take from the
  maintenance-credit service, stored the same way (stream ``maintenance_credit:<stream>``):
  each maintenance unit's latest final grade (``GradeFinalized``; a period older than the
  one kept changes nothing), and each fault and entrapment recorded against an elevator
  (``QualityEventRecorded`` of those types), counted over the last 12 months when read.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection

from infra.clock import local_date
from infra.domain import encode
from infra.eventstore import StoredEvent
from infra.eventstore.db import bulk_insert
from infra.eventstore.records import to_db
from infra.readmodels import ReadModels, upsert
from infra.repository import Kind, Kinds
from services.insurance.domain import (
    EVENT_TYPES,
    QUOTE_EVENT_TYPES,
    QUOTE_PREFIX,
    STREAM_PREFIX,
    Policy,
    Quote,
)

metadata = MetaData()
# json.dumps(terms, sort_keys=True), its encoder built once.
_TERMS_JSON = json.JSONEncoder(sort_keys=True)

# The insurance service's copy of the register, fed by licensing's equipment events.
equipment_register = Table(
    "equipment_register",
    metadata,
    Column("equipment_code", String(20), primary_key=True),
    Column("district", String(6), nullable=False),
    Column("in_ftz", Boolean, nullable=False),
    Column("status", String(20), nullable=False),
    Column("registered_on", Date),
    Column("maintenance_unit_uscc", String(18)),
    Column("manufacture_year", Integer),
    # how many registration events took effect on this row: exactly once keeps it at 1
    Column("applied", Integer, nullable=False),
    # the unit's legacy 20-digit Shanghai code, when it was registered with one (an alias)
    Column("legacy_code", String(20)),
)
Index("ix_equipment_register_legacy_code", equipment_register.c.legacy_code)
# District coverage reads one district's elevators, never the whole register.
Index(
    "ix_equipment_register_district_code",
    equipment_register.c.district,
    equipment_register.c.equipment_code,
)

policies = Table(
    "policies",
    metadata,
    Column("insurer", String(18), primary_key=True),
    Column("policy_no", String(64), primary_key=True),
    Column("revision", Integer, nullable=False),
    # of the canonical terms: equal for pushes that say the same, however they write it
    Column("digest", String(64), nullable=False),
    Column("status", String(20), nullable=False),  # active | cancelled | lapsed
    Column("cover", String(20), nullable=False),
    Column("premium", String(20), nullable=False),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=False),
    Column("terms", Text, nullable=False),  # JSON, as the insurer pushed them
    Column("version", Integer, nullable=False),
    Column("reminded_for", Date),
    Column("updated_at", DateTime, nullable=False),
)
# Policies ending are listed in (ends_on, insurer, policy_no) order, city-wide or one insurer's.
Index(
    "ix_policies_ends_on_insurer_no", policies.c.ends_on, policies.c.insurer, policies.c.policy_no
)
Index(
    "ix_policies_insurer_ends_on_no", policies.c.insurer, policies.c.ends_on, policies.c.policy_no
)
# A policy looked up by its number alone (the key leads with the insurer).
Index("ix_policies_policy_no", policies.c.policy_no)

policy_equipment = Table(
    "policy_equipment",
    metadata,
    Column("insurer", String(18), primary_key=True),
    Column("policy_no", String(64), primary_key=True),
    Column("equipment_code", String(20), primary_key=True),
)
Index("ix_policy_equipment_code", policy_equipment.c.equipment_code)

quotes = Table(
    "quotes",
    metadata,
    Column("insurer", String(18), primary_key=True),
    Column("quote_id", String(36), primary_key=True),
    Column("equipment_code", String(20), primary_key=True),
    Column("valid_until", Date, nullable=False),
    Column("declared_at", DateTime, nullable=False),
)
Index("ix_quotes_equipment_code", quotes.c.equipment_code)

# Each maintenance unit's latest final credit grade, from the credit service.
unit_grades = Table(
    "unit_grades",
    metadata,
    Column("uscc", String(18), primary_key=True),
    Column("period", String(4), nullable=False),
    Column("grade", String(4), nullable=False),
)

# Faults and entrapments recorded against elevators, from the credit service.
elevator_incidents = Table(
    "elevator_incidents",
    metadata,
    Column("fact_id", String(64), primary_key=True),  # the credit service's quality event id
    Column("equipment_code", String(20), nullable=False),
    Column("type", String(20), nullable=False),  # fault | entrapment
    Column("occurred_on", Date, nullable=False),  # China date
)
# Premium factors count one elevator's incidents since a day.
Index(
    "ix_elevator_incidents_code_on",
    elevator_incidents.c.equipment_code,
    elevator_incidents.c.occurred_on,
)


# --- policies: rows of the aggregate's state ------------------------------------------------


def policy_row(policy: Policy) -> dict[str, Any]:
    """The ``policies`` row of a policy (one that exists: it has terms)."""
    terms = policy.terms
    assert terms is not None and policy.changed_at is not None  # saved: enrolled at least
    text = _TERMS_JSON.encode(encode(terms))
    canonical = _TERMS_JSON.encode(encode(terms.canonical()))
    return {
        "insurer": policy.insurer,
        "policy_no": policy.policy_no,
        "revision": policy.revision,
        "digest": hashlib.sha256(canonical.encode()).hexdigest(),
        "status": policy.status,
        "cover": terms.cover,
        "premium": terms.premium,
        "starts_on": terms.starts_on,
        "ends_on": terms.ends_on,
        "terms": text,
        "version": policy.version,
        "reminded_for": policy.reminded_for,
        "updated_at": to_db(policy.changed_at),
    }


def policy_links(policy: Policy) -> list[dict[str, str]]:
    """The elevators a policy names now: its current terms', whatever earlier revisions said."""
    codes = policy.terms.equipment_codes if policy.terms else ()
    return [
        {"insurer": policy.insurer, "policy_no": policy.policy_no, "equipment_code": code}
        for code in codes
    ]


def write_rows(conn: Connection, saved: Sequence[Policy | Quote]) -> None:
    """Write the rows of the aggregates just saved (policies and quotes)."""
    saved_policies = [a for a in saved if isinstance(a, Policy)]
    if saved_policies:
        write_policies(conn, saved_policies)
    saved_quotes = [a for a in saved if isinstance(a, Quote)]
    if saved_quotes:
        write_quotes(conn, saved_quotes)


def write_policies(conn: Connection, saved: Sequence[Policy]) -> None:
    """Write the rows of policies just saved in a few statements whatever their number: per
    insurer, one delete of their rows and one of their links, then one bulk insert of each."""
    by_insurer: dict[str, list[str]] = defaultdict(list)
    for policy in saved:
        by_insurer[policy.insurer].append(policy.policy_no)
    for insurer, numbers in by_insurer.items():
        for table in (policy_equipment, policies):
            conn.execute(
                delete(table).where(table.c.insurer == insurer, table.c.policy_no.in_(numbers))
            )
    bulk_insert(conn, policies, [policy_row(p) for p in saved])
    bulk_insert(conn, policy_equipment, [link for p in saved for link in policy_links(p)])


# --- quotes: rows of the aggregate's state --------------------------------------------------


def quote_rows(quote: Quote) -> list[dict[str, Any]]:
    """The ``quotes`` rows of a declared quote: one per elevator it names."""
    assert quote.declared_at is not None  # saved: declared
    return [
        {
            "insurer": quote.insurer,
            "quote_id": quote.quote_id,
            "equipment_code": code,
            "valid_until": quote.valid_until,
            "declared_at": to_db(quote.declared_at),
        }
        for code in quote.equipment_codes
    ]


def write_quotes(conn: Connection, saved: Sequence[Quote]) -> None:
    for quote in saved:
        conn.execute(
            delete(quotes).where(
                quotes.c.insurer == quote.insurer, quotes.c.quote_id == quote.quote_id
            )
        )
    bulk_insert(conn, quotes, [row for q in saved for row in quote_rows(q)])


# --- the equipment register: licensing's facts ----------------------------------------------

_EQUIPMENT_STATUS = {
    "EquipmentSuspended": "suspended",
    "EquipmentResumed": "registered",
    "EquipmentCancelled": "cancelled",
}


def _equipment_registered(conn: Connection, ev: StoredEvent) -> None:
    d = ev.data
    code = d.get("equipment_code")
    if not code:
        return
    row = {
        "district": d["district"],
        "in_ftz": bool(d.get("in_ftz")),
        "status": "registered",
        "registered_on": date.fromisoformat(d["registered_on"]) if d.get("registered_on") else None,
        "maintenance_unit_uscc": d.get("maintenance_unit_uscc"),
        "manufacture_year": _year_of(code),
        "legacy_code": d.get("legacy_code"),
    }
    where = equipment_register.c.equipment_code == code
    moved = conn.execute(
        update(equipment_register)
        .where(where)
        .values(applied=equipment_register.c.applied + 1, **row)
    ).rowcount
    if not moved:
        conn.execute(insert(equipment_register).values(equipment_code=code, applied=1, **row))


def _equipment_changed(conn: Connection, ev: StoredEvent) -> None:
    d = ev.data
    changes = {k: d[k] for k in ("district", "in_ftz", "maintenance_unit_uscc") if k in d}
    if d.get("equipment_code") and changes:
        conn.execute(
            update(equipment_register)
            .where(equipment_register.c.equipment_code == d["equipment_code"])
            .values(**changes)
        )


def _equipment_status(conn: Connection, ev: StoredEvent) -> None:
    code = ev.data.get("equipment_code")
    if code:
        status = _EQUIPMENT_STATUS[ev.type.removeprefix(OBSERVED_PREFIX)]
        conn.execute(
            update(equipment_register)
            .where(equipment_register.c.equipment_code == code)
            .values(status=status)
        )


def _year_of(code: str) -> int | None:
    try:
        return int(code[10:14]) if len(code) == 20 else int(code[9:13])
    except ValueError:
        return None


# Licensing's events as insurance stores them: type ``licensing.<Type>``.
OBSERVED_PREFIX = "licensing."
EQUIPMENT_FACTS = {
    "EquipmentRegistered": _equipment_registered,
    "EquipmentChanged": _equipment_changed,
    **{name: _equipment_status for name in _EQUIPMENT_STATUS},
}

# --- credit: final grades and elevator incidents -------------------------------------------


def _grade_finalized(conn: Connection, ev: StoredEvent) -> None:
    d = ev.data
    kept = conn.execute(
        select(unit_grades.c.period).where(unit_grades.c.uscc == d["uscc"])
    ).scalar()
    if kept is not None and kept > d["period"]:  # a later period's grade stays
        return
    upsert(conn, unit_grades, {"uscc": d["uscc"], "period": d["period"], "grade": d["grade"]})


def _incident(conn: Connection, ev: StoredEvent) -> None:
    d = ev.data
    occurred = datetime.fromisoformat(d["occurred_at"])
    row = {
        "fact_id": d["event_id"],
        "equipment_code": d["equipment_code"],
        "type": d["type"],
        "occurred_on": local_date(occurred),
    }
    upsert(conn, elevator_incidents, row)


# The credit service's events as insurance stores them: type ``maintenance_credit.<Type>``.
CREDIT_PREFIX = "maintenance_credit."
CREDIT_FACTS = {"GradeFinalized": _grade_finalized, "QualityEventRecorded": _incident}

KINDS = Kinds(
    Kind(STREAM_PREFIX, Policy, EVENT_TYPES),
    Kind(QUOTE_PREFIX, Quote, QUOTE_EVENT_TYPES),
)
READ_MODELS = ReadModels(
    metadata,
    KINDS,
    write_rows,
    facts={
        **{OBSERVED_PREFIX + name: writer for name, writer in EQUIPMENT_FACTS.items()},
        **{CREDIT_PREFIX + name: writer for name, writer in CREDIT_FACTS.items()},
    },
)
