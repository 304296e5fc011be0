"""Insurance read models (rebuildable from events), written in the same transaction as them."""

import json
from datetime import date

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
    update,
)

from infra.eventstore.db import bulk_insert
from infra.eventstore.store import to_db
from services.insurance.domain import Terms

metadata = MetaData()
_TERMS_JSON = json.JSONEncoder(sort_keys=True)  # json.dumps(terms, sort_keys=True), built once

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
)

policies = Table(
    "policies",
    metadata,
    Column("insurer", String(18), primary_key=True),
    Column("policy_no", String(64), primary_key=True),
    Column("revision", Integer, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("status", String(20), nullable=False),  # active | cancelled | lapsed
    Column("cover", String(20), nullable=False),
    Column("premium", String(20), nullable=False),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=False),
    Column("terms", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("reminded_for", Date),
    Column("updated_at", DateTime, nullable=False),
)
Index("ix_policies_ends_on", policies.c.ends_on)

policy_equipment = Table(
    "policy_equipment",
    metadata,
    Column("insurer", String(18), primary_key=True),
    Column("policy_no", String(64), primary_key=True),
    Column("equipment_code", String(20), primary_key=True),
)
Index("ix_policy_equipment_code", policy_equipment.c.equipment_code)


# -- projection: one function per event type, used live and by replay alike ----------------


def _policy_row(ev, digest: str | None = None) -> dict:
    """The ``policies`` columns a PolicyEnrolled/Revised/Cancelled event sets. ``digest``: the
    digest of its terms when the caller has it already (the writer: the same value)."""
    terms = ev.data["terms"]
    return {
        "revision": ev.data["revision"],
        "digest": digest or Terms.from_dict(terms).digest(),
        "status": terms["status"],
        "cover": terms["cover"],
        "premium": terms["premium"],
        "starts_on": date.fromisoformat(terms["starts_on"]),
        "ends_on": date.fromisoformat(terms["ends_on"]),
        "terms": _TERMS_JSON.encode(terms),
        "version": ev.version,
        "updated_at": to_db(ev.recorded_at),
    }


def project(conn, ev, digest: str | None = None) -> None:
    """Fold one stored event of this service's store into the read models."""
    if ev.type.startswith("licensing."):
        _project_equipment(conn, ev.type.removeprefix("licensing."), ev.data)
        return
    insurer, _, policy_no = _policy_key(ev.stream_id)
    key = (policies.c.insurer == insurer) & (policies.c.policy_no == policy_no)
    if ev.type in ("PolicyEnrolled", "PolicyRevised", "PolicyCancelled"):
        row = _policy_row(ev, digest)
        if ev.type == "PolicyEnrolled":
            conn.execute(insert(policies).values(insurer=insurer, policy_no=policy_no, **row))
            added, removed = ev.data["terms"]["equipment_codes"], []
        else:
            conn.execute(update(policies).where(key).values(**row))
            added, removed = ev.data.get("added", []), ev.data.get("removed", [])
        if removed:
            conn.execute(
                delete(policy_equipment).where(
                    policy_equipment.c.insurer == insurer,
                    policy_equipment.c.policy_no == policy_no,
                    policy_equipment.c.equipment_code.in_(removed),
                )
            )
        if added:
            conn.execute(
                insert(policy_equipment),
                [{"insurer": insurer, "policy_no": policy_no, "equipment_code": c} for c in added],
            )
    elif ev.type == "PolicyEndingSoon":
        conn.execute(
            update(policies)
            .where(key)
            .values(reminded_for=date.fromisoformat(ev.data["ends_on"]), version=ev.version)
        )
    elif ev.type == "PolicyLapsed":
        conn.execute(update(policies).where(key).values(status="lapsed", version=ev.version))


def project_many(conn, stored, digests: dict[str, str] | None = None) -> None:
    """``project`` for a bulk of events of distinct policies: enrolments are inserted in two
    statements; everything else goes through ``project`` one by one (same result as replay).
    ``digests``: terms digests the writer computed already, by event id."""
    digests = digests or {}
    policy_rows, equipment_rows = [], []
    for ev in stored:
        if ev.type != "PolicyEnrolled":
            project(conn, ev, digests.get(ev.event_id))
            continue
        insurer, _, policy_no = _policy_key(ev.stream_id)
        policy_rows.append(
            {
                "insurer": insurer,
                "policy_no": policy_no,
                **_policy_row(ev, digests.get(ev.event_id)),
            }
        )
        equipment_rows += [
            {"insurer": insurer, "policy_no": policy_no, "equipment_code": c}
            for c in ev.data["terms"]["equipment_codes"]
        ]
    bulk_insert(conn, policies, policy_rows)
    bulk_insert(conn, policy_equipment, equipment_rows)


def _policy_key(stream_id: str) -> tuple[str, str, str]:
    # policy-<insurer (18 chars)>-<policy_no>
    rest = stream_id.removeprefix("policy-")
    return rest[:18], "-", rest[19:]


def _project_equipment(conn, type_: str, d: dict) -> None:
    code = d.get("equipment_code")
    if not code:
        return
    where = equipment_register.c.equipment_code == code
    if type_ == "EquipmentRegistered":
        row = {
            "district": d["district"],
            "in_ftz": bool(d.get("in_ftz")),
            "status": "registered",
            "registered_on": date.fromisoformat(d["registered_on"])
            if d.get("registered_on")
            else None,
            "maintenance_unit_uscc": d.get("maintenance_unit_uscc"),
            "manufacture_year": _year_of(code),
        }
        moved = conn.execute(
            update(equipment_register)
            .where(where)
            .values(applied=equipment_register.c.applied + 1, **row)
        ).rowcount
        if not moved:
            conn.execute(insert(equipment_register).values(equipment_code=code, applied=1, **row))
    elif type_ == "EquipmentChanged":
        changes = {k: d[k] for k in ("district", "in_ftz", "maintenance_unit_uscc") if k in d}
        if changes:
            conn.execute(update(equipment_register).where(where).values(**changes))
    elif type_ in ("EquipmentSuspended", "EquipmentResumed", "EquipmentCancelled"):
        status = {
            "EquipmentSuspended": "suspended",
            "EquipmentResumed": "registered",
            "EquipmentCancelled": "cancelled",
        }[type_]
        conn.execute(update(equipment_register).where(where).values(status=status))


def _year_of(code: str) -> int | None:
    try:
        return int(code[10:14]) if len(code) == 20 else int(code[9:13])
    except ValueError:
        return None


ALL_TABLES = (policy_equipment, policies, equipment_register)
