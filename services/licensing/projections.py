"""Licensing read models: rows derived from aggregate state, rebuildable from events.

Every row is a pure function of one aggregate's state (``*_row``), written by ``write_rows``;
risk facts are events of no aggregate, written straight into ``risk_facts``, as are the final
credit grades observed from the maintenance-credit service (``credit_grades``). ``READ_MODELS``
declares them for the kit (``infra.readmodels``): the live path writes the rows of the
aggregate it just saved in the same transaction, a rebuild folds every stream and writes the
same rows with the same functions, so live and rebuilt models are equal by construction.

No personal data is stored here: the application and licence rows carry credit codes and
organization names only; views that show a person's data fold the stream (decrypting) on read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from typing import Any

from sqlalchemy import (
    DDL,
    Boolean,
    Column,
    Date,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection

from infra.eventstore import StoredEvent
from infra.readmodels import ReadModels, upsert
from infra.repository import Kind, Kinds
from services.licensing.domain import delegation as delegation_domain
from services.licensing.domain import equipment as equipment_domain
from services.licensing.domain.application import events as application_events
from services.licensing.domain.application.aggregate import Application
from services.licensing.domain.audit import events as audit_events
from services.licensing.domain.audit.inspectors import Inspector
from services.licensing.domain.audit.plan import AuditPlan
from services.licensing.domain.delegation import Delegation
from services.licensing.domain.equipment import Equipment
from services.licensing.domain.licence import events as licence_events
from services.licensing.domain.licence.aggregate import Licence
from services.licensing.domain.licence.rules import DEFAULT_RULES, LicenceRules

# Licensing's aggregates as stored: stream prefix, class and event types of each kind
# (loading, saving, event ids, actors and personal data are the kit's: infra.repository).
KINDS = Kinds(
    Kind("application-", Application, application_events.EVENT_TYPES),
    Kind("delegation-", Delegation, delegation_domain.EVENT_TYPES),
    Kind("licence-", Licence, licence_events.EVENT_TYPES),
    Kind("equipment-", Equipment, equipment_domain.EVENT_TYPES),
    Kind("audit-", AuditPlan, audit_events.EVENT_TYPES),
    Kind("inspector-", Inspector, audit_events.EVENT_TYPES),
)

metadata = MetaData()

delegations = Table(
    "delegations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("bureau", String(6), nullable=False, index=True),
    Column("kinds", Text, nullable=False),  # JSON list
    Column("effective_from", Date, nullable=False),
    Column("revoked_from", Date),
    Column("revocation_reason", Text),
    Column("version", Integer, nullable=False),
)

applications = Table(
    "applications",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("bureau", String(6), nullable=False),
    Column("status", String(30), nullable=False),
    Column("applicant_uscc", String(18)),
    Column("applicant_name", String(200)),  # organizations only (a person's name is personal)
    Column("district", String(6), nullable=False),
    Column("in_ftz", Boolean, nullable=False),
    Column("received_on", Date, nullable=False),
    Column("intake_due", Date),
    Column("decision_due", Date),
    Column("certificate_due", Date),
    Column("provisional", Boolean, nullable=False),
    Column("clock_running", Boolean, nullable=False),
    # The day after which the application is overdue (None: not running against a deadline).
    Column("late_after", Date, index=True),
    Column("licence_no", String(50)),
    Column("decided_on", Date),
    Column("version", Integer, nullable=False),
    # Decided after the decision due date, and by how many working days (supervisors list
    # late decisions: they leave the overdue list once decided).
    Column("decided_late", Boolean, nullable=False),
    Column("working_days_late", Integer),
)
# Lists are in (received_on, id) order, a page starting after the last one shown: each list's
# filter leads an index that goes on in that order, so a page reads only its own rows.
_RECEIVED = (applications.c.received_on, applications.c.id)
Index("ix_applications_received", *_RECEIVED)
Index("ix_applications_bureau_received", applications.c.bureau, *_RECEIVED)
Index(
    "ix_applications_bureau_status_received",
    applications.c.bureau,
    applications.c.status,
    *_RECEIVED,
)
Index("ix_applications_status_received", applications.c.status, *_RECEIVED)
Index("ix_applications_applicant_received", applications.c.applicant_uscc, *_RECEIVED)

licences = Table(
    "licences",
    metadata,
    Column("licence_no", String(50), primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("bureau", String(6), nullable=False),  # the issuing authority
    Column("status", String(20), nullable=False),
    Column("holder_type", String(20), nullable=False),
    Column("holder_uscc", String(18)),  # an operator's employer, if it applied
    Column("holder_name", String(200)),  # organizations only
    # A person's data-subject id (a keyed hash of the ID number, never the number itself):
    # officers find a person's certificates by ID number through it.
    Column("holder_subject", String(40), index=True),
    Column("application_id", String(64), nullable=False),
    Column("decision_no", String(60), nullable=False),
    Column("decided_on", Date, nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_until", Date),
    Column("scope", Text, nullable=False),  # JSON list
    Column("level", String(4)),
    Column("equipment_code", String(20)),
    Column("renewal_pending", Boolean, nullable=False),
    Column("next_check_on", Date, index=True),
    Column("version", Integer, nullable=False),
    # The bureau that acts on the licence (the issuer, or where a relocation moved the unit).
    Column("supervised_by", String(6), nullable=False),
)
Index("ix_licences_bureau_kind_status", licences.c.bureau, licences.c.kind, licences.c.status)
# Lists are in licence_no order: each list's filter leads an index that goes on in that order.
Index(
    "ix_licences_supervised_by_kind_status_no",
    licences.c.supervised_by,
    licences.c.kind,
    licences.c.status,
    licences.c.licence_no,
)
Index("ix_licences_supervised_by_no", licences.c.supervised_by, licences.c.licence_no)
Index("ix_licences_holder_uscc_no", licences.c.holder_uscc, licences.c.licence_no)
Index("ix_licences_kind_no", licences.c.kind, licences.c.licence_no)  # the public list by kind
# The public search by a fragment of the name (``LIKE '%...%'``): trigrams on PostgreSQL. SQLite
# has no such index; it scans.
Index(
    "ix_licences_holder_name_trgm",
    licences.c.holder_name,
    postgresql_using="gin",
    postgresql_ops={"holder_name": "gin_trgm_ops"},
).ddl_if(dialect="postgresql")
event.listen(
    metadata,
    "before_create",
    DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"),
)

equipment = Table(
    "equipment",
    metadata,
    Column("equipment_code", String(20), primary_key=True),
    Column("district", String(6), nullable=False),
    Column("in_ftz", Boolean, nullable=False),
    Column("status", String(20), nullable=False),
    Column("registered_on", Date),
    Column("version", Integer, nullable=False),
    Column("maintenance_unit_uscc", String(18)),
    Column("user_uscc", String(18)),
    Column("user_name", String(200)),
    Column("manufacture_year", Integer),
    Column("rated_speed_mps", Float),
    Column("rated_load_kg", Float),
    Column("licence_no", String(50)),
    Column("legacy_code", String(20), index=True),
)
# The register is listed in equipment_code order: each filter leads an index in that order.
Index("ix_equipment_district_code", equipment.c.district, equipment.c.equipment_code)
Index("ix_equipment_status_code", equipment.c.status, equipment.c.equipment_code)
Index(
    "ix_equipment_maintenance_unit_code",
    equipment.c.maintenance_unit_uscc,
    equipment.c.equipment_code,
)
Index("ix_equipment_user_code", equipment.c.user_uscc, equipment.c.equipment_code)

audit_plans = Table(
    "audit_plans",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("bureau", String(6), nullable=False, index=True),
    Column("kind", String(40), nullable=False),
    Column("seed", String(24), nullable=False),
    Column("drawn_on", Date, nullable=False),
    Column("targets", Integer, nullable=False),
    Column("published", Boolean, nullable=False),
    Column("next_check_on", Date, index=True),
    Column("results", Text, nullable=False),  # JSON: the public results (no personal data)
    Column("version", Integer, nullable=False),
)

inspectors = Table(
    "inspectors",
    metadata,
    Column("inspector_id", String(64), primary_key=True),
    Column("bureau", String(6), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("organization_uscc", String(18), nullable=False),
    Column("version", Integer, nullable=False),
)

# Fact ids are the recording bureau's own (``SH`` for city-wide callers and for facts recorded
# before ids were per bureau).
risk_facts = Table(
    "risk_facts",
    metadata,
    Column("bureau", String(6), primary_key=True),
    Column("fact_id", String(64), primary_key=True),
    Column("uscc", String(18), nullable=False, index=True),
    Column("type", String(30), nullable=False),
    Column("occurred_on", Date, nullable=False),
    Column("grade", String(1)),
)

# Each maintenance unit's latest final credit grade, published by the maintenance-credit
# service (``GradeFinalized``, recorded here as ``maintenance_credit.GradeFinalized``): it
# weighs the audit draw, ahead of officers' ``credit_grade`` risk facts.
credit_grades = Table(
    "credit_grades",
    metadata,
    Column("uscc", String(18), primary_key=True),
    Column("period", String(4), nullable=False),
    Column("grade", String(4), nullable=False),
)

# Allocation state, not a read model: the last number issued per (kind, bureau, year). Kept
# by rebuilds (``keep`` below) and left out of digests.
sequences = Table(
    "sequences",
    metadata,
    Column("name", String(60), primary_key=True),
    Column("value", Integer, nullable=False),
)


# --- rows -----------------------------------------------------------------------------------


def delegation_row(d: Delegation) -> dict[str, Any]:
    return {
        "id": d.id,
        "bureau": d.bureau,
        "kinds": json.dumps(list(d.kinds)),
        "effective_from": d.effective_from,
        "revoked_from": d.revoked_from,
        "revocation_reason": d.revocation_reason,
        "version": d.version,
    }


def application_row(app: Application) -> dict[str, Any]:
    org = app.applicant_data if app.applicant_data.get("type") == "organization" else {}
    return {
        "id": app.id,
        "kind": app.kind,
        "bureau": app.bureau,
        "status": str(app.status),
        "applicant_uscc": org.get("uscc"),
        "applicant_name": org.get("name"),
        "district": app.location.get("district"),
        "in_ftz": bool(app.location.get("in_ftz")),
        "received_on": app.received_on,
        "intake_due": app.intake_due.on if app.intake_due else None,
        "decision_due": app.decision_due.on if app.decision_due else None,
        "certificate_due": app.certificate_due.on if app.certificate_due else None,
        "provisional": app.provisional,
        "clock_running": app.clock_running,
        "late_after": app.late_after(),
        "licence_no": app.licence_no,
        "decided_on": app.decided_on,
        "version": app.version,
        "decided_late": app.decided_late,
        "working_days_late": app.working_days_late,
    }


def licence_row(lic: Licence, rules: LicenceRules) -> dict[str, Any]:
    holder = lic.holder
    return {
        "licence_no": lic.licence_no,
        "kind": lic.kind,
        "bureau": lic.bureau,
        "status": lic.status,
        "holder_type": holder.get("type", "organization"),
        "holder_uscc": holder.get("uscc") or holder.get("employer_uscc"),
        "holder_name": holder.get("name") if holder.get("type") != "person" else None,
        "holder_subject": holder.get("subject") if holder.get("type") == "person" else None,
        "application_id": lic.application_id,
        "decision_no": lic.decision_no,
        "decided_on": lic.decided_on,
        "valid_from": lic.valid_from,
        "valid_until": lic.valid_until,
        "scope": json.dumps(list(lic.scope)),
        "level": lic.level,
        "equipment_code": lic.equipment_code,
        "renewal_pending": lic.renewal is not None,
        "next_check_on": lic.next_check_on(rules),
        "version": lic.version,
        "supervised_by": lic.supervised_by,
    }


def equipment_row(eq: Equipment) -> dict[str, Any]:
    r = eq.record
    user = r.get("user") or {}
    registered = r.get("registered_on")
    return {
        "equipment_code": eq.code,
        "district": r.get("district"),
        "in_ftz": bool(r.get("in_ftz")),
        "status": eq.status,
        "registered_on": date.fromisoformat(registered) if registered else None,
        "version": eq.version,
        "maintenance_unit_uscc": r.get("maintenance_unit_uscc"),
        "user_uscc": user.get("uscc"),
        "user_name": user.get("name"),
        "manufacture_year": r.get("manufacture_year"),
        "rated_speed_mps": r.get("rated_speed_mps"),
        "rated_load_kg": r.get("rated_load_kg"),
        "licence_no": r.get("licence_no"),
        "legacy_code": r.get("legacy_code"),
    }


def audit_row(plan: AuditPlan) -> dict[str, Any]:
    return {
        "id": plan.id,
        "bureau": plan.bureau,
        "kind": plan.kind,
        "seed": str(plan.seed),
        "drawn_on": plan.drawn_on,
        "targets": len(plan.targets),
        "published": plan.published,
        "next_check_on": plan.next_check_on(),
        "results": json.dumps(plan.public_results(), sort_keys=True),
        "version": plan.version,
    }


def inspector_row(ins: Inspector) -> dict[str, Any]:
    return {
        "inspector_id": ins.inspector_id,
        "bureau": ins.bureau,
        "name": ins.name,
        "organization_uscc": ins.organization_uscc,
        "version": ins.version,
    }


RISK_FACTS_CITY_WIDE = "SH"


def risk_fact_row(data: Mapping[str, Any]) -> dict[str, Any]:
    """The row of a recorded risk fact (``RiskFactRecorded``'s data)."""
    return {
        "bureau": data.get("bureau") or RISK_FACTS_CITY_WIDE,
        "fact_id": data["fact_id"],
        "uscc": data["uscc"],
        "type": data["fact_type"],
        "occurred_on": date.fromisoformat(data["occurred_on"]),
        "grade": data.get("grade"),
    }


def write_risk_fact(conn: Connection, ev: StoredEvent) -> None:
    conn.execute(insert(risk_facts).values(**risk_fact_row(ev.data)))


# The credit service's events as licensing stores them: type ``maintenance_credit.<Type>``.
CREDIT_PREFIX = "maintenance_credit."


def write_credit_grade(conn: Connection, ev: StoredEvent) -> None:
    """Keep the unit's grade of the latest period finalized (an older period's, arriving
    later, changes nothing)."""
    d = ev.data
    kept = conn.execute(
        select(credit_grades.c.period).where(credit_grades.c.uscc == d["uscc"])
    ).scalar()
    if kept is None or kept <= d["period"]:
        upsert(conn, credit_grades, {"uscc": d["uscc"], "period": d["period"], "grade": d["grade"]})


# aggregate type -> (its read-model table, the row of one aggregate)
ROWS: dict[type, tuple[Table, Callable[[Any], dict[str, Any]]]] = {
    Delegation: (delegations, delegation_row),
    Application: (applications, application_row),
    # Licence rows need the licence rules (when the sweep next looks): the rules in force.
    Licence: (licences, lambda lic: licence_row(lic, DEFAULT_RULES)),
    Equipment: (equipment, equipment_row),
    AuditPlan: (audit_plans, audit_row),
    Inspector: (inspectors, inspector_row),
}


def write_rows(conn: Connection, aggregates: Sequence[Any]) -> None:
    """Upsert the read-model row of each aggregate."""
    for aggregate in aggregates:
        table, row = ROWS[type(aggregate)]
        upsert(conn, table, row(aggregate))


READ_MODELS = ReadModels(
    metadata,
    KINDS,
    write_rows,
    facts={
        "RiskFactRecorded": write_risk_fact,
        CREDIT_PREFIX + "GradeFinalized": write_credit_grade,
    },
    keep=("sequences",),
)


def sequence_next(conn, name: str) -> int:
    """The next number of a sequence; concurrent callers queue on the row (never collide)."""
    moved = conn.execute(
        update(sequences).where(sequences.c.name == name).values(value=sequences.c.value + 1)
    ).rowcount
    if not moved:
        try:
            with conn.begin_nested():
                conn.execute(insert(sequences).values(name=name, value=1))
            return 1
        except Exception:  # someone created it meanwhile: take the next one
            conn.execute(
                update(sequences)
                .where(sequences.c.name == name)
                .values(value=sequences.c.value + 1)
            )
    return conn.execute(select(sequences.c.value).where(sequences.c.name == name)).scalar_one()
