"""Credit read models, rebuildable from this service's own events.

- ``credit_units``, ``credit_licences``: the maintenance units licensing reported, their
  licences (to find a unit from a licence event) and status; a pure function of ``Unit``.
- ``credit_elevators``, ``credit_contracts``: each elevator's maintainer over time and the day
  its next maintenance is due (the missed-maintenance sweep's due query); of ``Elevator``.
- ``credit_facts``: every fact a score is computed from, one row each: quality events
  recorded by officers (written straight from their events: ``facts``), missed windows (rows
  of their ``Elevator``), expired licences (rows of their ``Unit``). Each writer replaces only
  the rows it owns.
- ``credit_evaluations``, ``credit_grades``: evaluations of a period and the grades they
  published or made final; of ``Evaluation``.
- ``credit_appeals``: appeals against deductions; of ``Appeal``.
- ``credit_rulesets``: rule-set versions adopted over the API (the shipped ones are files);
  of ``RuleSetVersion``.
- ``credit_complaints``: complaints from the public and their decisions (never the contact
  details: the officers' queue reads them from the events, where they are encrypted); of
  ``Complaint``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, timedelta
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
    select,
)
from sqlalchemy.engine import Connection

from infra.clock import local_date
from infra.domain import derived_id
from infra.eventstore import StoredEvent
from infra.eventstore.db import bulk_insert
from infra.eventstore.records import to_db
from infra.readmodels import ReadModels, upsert
from infra.repository import Kind, Kinds
from services.maintenance_credit.complaint import COMPLAINT_EVENTS, Complaint
from services.maintenance_credit.domain import (
    APPEAL_EVENTS,
    ELEVATOR_EVENTS,
    EVALUATION_EVENTS,
    RECORD_GRACE_DAYS,
    RULESET_EVENTS,
    STANDING_EVENTS,
    UNIT_EVENTS,
    Appeal,
    Elevator,
    Evaluation,
    RuleSetVersion,
    Standing,
    Unit,
)

metadata = MetaData()

credit_units = Table(
    "credit_units",
    metadata,
    Column("uscc", String(18), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("bureau", String(10), nullable=False),
    Column("district", String(6)),
    Column("status", String(20), nullable=False),
    Column("version", Integer, nullable=False),
    # evaluated for the periods from the first licence's day to the day the last one ended
    Column("licensed_from", Date),
    Column("ended_on", Date),
)

credit_licences = Table(
    "credit_licences",
    metadata,
    Column("licence_no", String(64), primary_key=True),
    Column("uscc", String(18), nullable=False),
)

credit_elevators = Table(
    "credit_elevators",
    metadata,
    Column("equipment_code", String(20), primary_key=True),
    Column("district", String(6), nullable=False),
    Column("status", String(20), nullable=False),
    Column("unit_uscc", String(18)),
    Column("next_due_on", Date),
    Column("version", Integer, nullable=False),
)
Index("ix_credit_elevators_next_due_on", credit_elevators.c.next_due_on)

credit_contracts = Table(
    "credit_contracts",
    metadata,
    Column("equipment_code", String(20), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("unit_uscc", String(18)),
    Column("from_on", Date, nullable=False),
    Column("to_on", Date),  # the day the next contract starts (exclusive); None: current
)
Index("ix_credit_contracts_unit_uscc", credit_contracts.c.unit_uscc)

credit_facts = Table(
    "credit_facts",
    metadata,
    Column("fact_id", String(64), primary_key=True),
    Column("unit_uscc", String(18), nullable=False),
    Column("type", String(40), nullable=False),
    Column("occurred_on", Date, nullable=False),
    Column("equipment_code", String(20)),
    Column("details", Text, nullable=False),  # JSON
)
Index("ix_credit_facts_unit_uscc_occurred_on", credit_facts.c.unit_uscc, credit_facts.c.occurred_on)
Index("ix_credit_facts_equipment_code", credit_facts.c.equipment_code)

credit_evaluations = Table(
    "credit_evaluations",
    metadata,
    Column("period", String(4), primary_key=True),
    Column("ruleset", String(40), nullable=False),
    Column("status", String(20), nullable=False),
    Column("published_on", Date, nullable=False),
    Column("objection_until", Date, nullable=False),
    Column("finalized_on", Date),
    Column("version", Integer, nullable=False),
)

credit_grades = Table(
    "credit_grades",
    metadata,
    Column("period", String(4), primary_key=True),
    Column("uscc", String(18), primary_key=True),
    Column("demerits", String(20), nullable=False),
    Column("grade", String(4), nullable=False),
    Column("vetoed", Boolean, nullable=False),
    Column("status", String(20), nullable=False),  # published | final
)
Index("ix_credit_grades_uscc", credit_grades.c.uscc)

credit_appeals = Table(
    "credit_appeals",
    metadata,
    Column("appeal_id", String(36), primary_key=True),
    Column("uscc", String(18), nullable=False),
    Column("deduction_id", String(36), nullable=False),
    Column("period", String(4), nullable=False),
    Column("rule", String(40), nullable=False),
    Column("points", String(20), nullable=False),
    Column("grounds", Text, nullable=False),
    Column("bureau", String(10), nullable=False),
    Column("status", String(20), nullable=False),
    Column("filed_on", Date, nullable=False),
    Column("decided_on", Date),
    Column("reason", Text),
    Column("version", Integer, nullable=False),
)
Index("ix_credit_appeals_uscc", credit_appeals.c.uscc)
Index("ix_credit_appeals_period_status", credit_appeals.c.period, credit_appeals.c.status)

credit_rulesets = Table(
    "credit_rulesets",
    metadata,
    Column("version", String(40), primary_key=True),
    Column("effective_from", Date, nullable=False),
    Column("definition", Text, nullable=False),  # JSON, as adopted
)

credit_complaints = Table(
    "credit_complaints",
    metadata,
    Column("reference", String(40), primary_key=True),
    Column("equipment_code", String(20), nullable=False),
    Column("district", String(6), nullable=False),
    Column("what", Text, nullable=False),
    Column("occurred_at", DateTime, nullable=False),  # naive UTC (to_db), as every time here
    Column("received_at", DateTime, nullable=False),
    Column("has_contact", Boolean, nullable=False),
    Column("status", String(20), nullable=False),
    Column("reason", Text),
    Column("decided_on", Date),
    Column("unit_uscc", String(18)),
    Column("version", Integer, nullable=False),
)
# The queue: a district's complaints in the order they came (and the city's, all of them).
Index(
    "ix_credit_complaints_district_received",
    credit_complaints.c.district,
    credit_complaints.c.received_at,
    credit_complaints.c.reference,
)
Index(
    "ix_credit_complaints_received", credit_complaints.c.received_at, credit_complaints.c.reference
)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


# --- rows of aggregate state ----------------------------------------------------------------


def write_units(conn: Connection, units: Sequence[Unit]) -> None:
    usccs = [u.uscc for u in units]
    conn.execute(delete(credit_licences).where(credit_licences.c.uscc.in_(usccs)))
    conn.execute(
        delete(credit_facts).where(
            credit_facts.c.unit_uscc.in_(usccs), credit_facts.c.type == "licence_expired"
        )
    )
    for unit in units:
        upsert(
            conn,
            credit_units,
            {
                "uscc": unit.uscc,
                "name": unit.name,
                "bureau": unit.bureau,
                "district": unit.district,
                "status": unit.status,
                "version": unit.version,
                "licensed_from": unit.licensed_from,
                "ended_on": unit.ended_on,
            },
        )
    bulk_insert(
        conn,
        credit_licences,
        [{"licence_no": lic.licence_no, "uscc": u.uscc} for u in units for lic in u.licences],
    )
    bulk_insert(
        conn,
        credit_facts,
        [
            {
                "fact_id": derived_id("licence-expired", u.uscc, lic.licence_no),
                "unit_uscc": u.uscc,
                "type": "licence_expired",
                "occurred_on": lic.changed_on,
                "equipment_code": None,
                "details": _json({"licence_no": lic.licence_no}),
            }
            for u in units
            for lic in u.expirations
        ],
    )


def missed_fact_id(code: str, due_on: date) -> str:
    return derived_id("missed-maintenance", code, due_on.isoformat())


def write_elevators(conn: Connection, elevators: Sequence[Elevator]) -> None:
    """Rows of the elevators just saved, in a few statements whatever their number."""
    codes = [e.equipment_code for e in elevators]
    for table in (credit_elevators, credit_contracts):
        conn.execute(delete(table).where(table.c.equipment_code.in_(codes)))
    conn.execute(
        delete(credit_facts).where(
            credit_facts.c.equipment_code.in_(codes),
            credit_facts.c.type == "missed_maintenance",
        )
    )
    rows, contracts, facts = [], [], []
    for e in elevators:
        current = e.current
        rows.append(
            {
                "equipment_code": e.equipment_code,
                "district": e.district,
                "status": e.status,
                "unit_uscc": current.unit_uscc if current else None,
                "next_due_on": e.next_due_on,
                "version": e.version,
            }
        )
        ordered = sorted(e.contracts, key=lambda c: c.from_on)
        for seq, contract in enumerate(ordered):
            to_on = ordered[seq + 1].from_on if seq + 1 < len(ordered) else None
            contracts.append(
                {
                    "equipment_code": e.equipment_code,
                    "seq": seq,
                    "unit_uscc": contract.unit_uscc,
                    "from_on": contract.from_on,
                    "to_on": to_on,
                }
            )
        for m in e.missed:
            facts.append(
                {
                    "fact_id": missed_fact_id(e.equipment_code, m.due_on),
                    "unit_uscc": m.unit_uscc,
                    "type": "missed_maintenance",
                    "occurred_on": m.due_on,
                    "equipment_code": e.equipment_code,
                    "details": _json(
                        {"window_from": m.window_from.isoformat(), "due_on": m.due_on.isoformat()}
                    ),
                }
            )
    bulk_insert(conn, credit_elevators, rows)
    bulk_insert(conn, credit_contracts, contracts)
    bulk_insert(conn, credit_facts, facts)


def write_evaluations(conn: Connection, evaluations: Sequence[Evaluation]) -> None:
    for ev in evaluations:
        assert ev.published_on is not None and ev.objection_until is not None  # saved: published
        upsert(
            conn,
            credit_evaluations,
            {
                "period": ev.period,
                "ruleset": ev.ruleset,
                "status": ev.status,
                "published_on": ev.published_on,
                "objection_until": ev.objection_until,
                "finalized_on": ev.finalized_on,
                "version": ev.version,
            },
        )
        conn.execute(delete(credit_grades).where(credit_grades.c.period == ev.period))
        bulk_insert(
            conn,
            credit_grades,
            [
                {
                    "period": ev.period,
                    "uscc": g.uscc,
                    "demerits": str(g.demerits),
                    "grade": g.grade,
                    "vetoed": g.vetoed,
                    "status": ev.status,
                }
                for g in ev.grades
            ],
        )


def write_appeals(conn: Connection, appeals: Sequence[Appeal]) -> None:
    for a in appeals:
        assert a.filed_on is not None  # saved: filed
        upsert(
            conn,
            credit_appeals,
            {
                "appeal_id": a.appeal_id,
                "uscc": a.uscc,
                "deduction_id": a.deduction_id,
                "period": a.period,
                "rule": a.rule,
                "points": str(a.points),
                "grounds": a.grounds,
                "bureau": a.bureau,
                "status": a.status,
                "filed_on": a.filed_on,
                "decided_on": a.decided_on,
                "reason": a.reason,
                "version": a.version,
            },
        )


def write_rulesets(conn: Connection, versions: Sequence[RuleSetVersion]) -> None:
    for v in versions:
        assert v.effective_from is not None  # saved: adopted
        upsert(
            conn,
            credit_rulesets,
            {
                "version": v.version_name,
                "effective_from": v.effective_from,
                "definition": _json(v.definition),
            },
        )


def write_complaints(conn: Connection, complaints: Sequence[Complaint]) -> None:
    for c in complaints:
        assert c.occurred_at is not None and c.received_at is not None  # saved: received
        upsert(
            conn,
            credit_complaints,
            {
                "reference": c.reference,
                "equipment_code": c.equipment_code,
                "district": c.district,
                "what": c.what,
                "occurred_at": to_db(c.occurred_at),
                "received_at": to_db(c.received_at),
                "has_contact": c.contact is not None,
                "status": c.status,
                "reason": c.reason,
                "decided_on": c.decided_on,
                "unit_uscc": c.unit_uscc,
                "version": c.version,
            },
        )


_WRITERS: list[tuple[type, Any]] = [
    (Unit, write_units),
    (Elevator, write_elevators),
    (Evaluation, write_evaluations),
    (Appeal, write_appeals),
    (RuleSetVersion, write_rulesets),
    (Complaint, write_complaints),
]


def write_rows(conn: Connection, saved: Sequence[Any]) -> None:
    for cls, writer in _WRITERS:
        mine = [a for a in saved if isinstance(a, cls)]
        if mine:
            writer(conn, mine)


# --- quality events: facts written straight into their table ------------------------------

QUALITY_EVENT = "QualityEventRecorded"
QUALITY_PREFIX = "quality-"


def quality_fact_row(data: dict[str, Any]) -> dict[str, Any]:
    occurred_at = datetime.fromisoformat(data["occurred_at"])
    return {
        "fact_id": data["event_id"],
        "unit_uscc": data["unit_uscc"],
        "type": data["type"],
        "occurred_on": local_date(occurred_at),
        "equipment_code": data.get("equipment_code"),
        "details": _json(data.get("details") or {}),
    }


def _quality_event(conn: Connection, ev: StoredEvent) -> None:
    conn.execute(delete(credit_facts).where(credit_facts.c.fact_id == ev.data["event_id"]))
    bulk_insert(conn, credit_facts, [quality_fact_row(ev.data)])


# --- the blacklist's serious-violation listings: veto facts ----------------------------------

SERIOUS_LISTING = "SeriousViolationListed"
SERIOUS_LISTING_PREFIX = "serious-listing-"


def listing_fact_id(listing_id: str) -> str:
    """The veto fact of a blacklist listing, named after it."""
    return f"listing-{listing_id}"


def _serious_listing(conn: Connection, ev: StoredEvent) -> None:
    d = ev.data
    fact_id = listing_fact_id(d["listing_id"])
    conn.execute(delete(credit_facts).where(credit_facts.c.fact_id == fact_id))
    row = {
        "fact_id": fact_id,
        "unit_uscc": d["uscc"],
        "type": "serious_violation_listed",
        "occurred_on": date.fromisoformat(d["listed_on"]),
        "equipment_code": None,
        "details": _json(
            {k: d.get(k) for k in ("listing_id", "decision_no", "authority", "legal_basis")}
        ),
    }
    bulk_insert(conn, credit_facts, [row])


# --- the missed-maintenance sweep's due query ------------------------------------------------


def elevators_due(conn: Connection, after: str | None, limit: int, now: datetime) -> list[str]:
    """Elevators whose next maintenance was due more than the grace days before today, in
    code order (recording the missed window moves their due day on)."""
    judged_until = local_date(now) - timedelta(days=RECORD_GRACE_DAYS)
    query = (
        select(credit_elevators.c.equipment_code)
        .where(credit_elevators.c.next_due_on < judged_until)
        .order_by(credit_elevators.c.equipment_code)
        .limit(limit)
    )
    if after is not None:
        query = query.where(credit_elevators.c.equipment_code > after)
    return list(conn.execute(query).scalars())


UNIT_PREFIX, ELEVATOR_PREFIX = "unit-", "elevator-"
EVALUATION_PREFIX, APPEAL_PREFIX, RULESET_PREFIX = "evaluation-", "appeal-", "ruleset-"
COMPLAINT_PREFIX = "complaint-"
KINDS = Kinds(
    Kind(UNIT_PREFIX, Unit, UNIT_EVENTS),
    # an elevator gains 24 visits a year: loaded from its latest snapshot (SNAPSHOT_EVERY)
    Kind(ELEVATOR_PREFIX, Elevator, ELEVATOR_EVENTS, snapshots=True),
    Kind(EVALUATION_PREFIX, Evaluation, EVALUATION_EVENTS),
    Kind(APPEAL_PREFIX, Appeal, APPEAL_EVENTS),
    Kind(RULESET_PREFIX, RuleSetVersion, RULESET_EVENTS),
    Kind(COMPLAINT_PREFIX, Complaint, COMPLAINT_EVENTS),
    # what the service tells others; no read model of its own
    Kind("standing-", Standing, STANDING_EVENTS),
)
READ_MODELS = ReadModels(
    metadata,
    KINDS,
    write_rows,
    facts={QUALITY_EVENT: _quality_event, SERIOUS_LISTING: _serious_listing},
)
