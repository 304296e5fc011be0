"""The read side: policies, coverage on a date, district coverage, policies ending, premium
factors and the equipment register, all answered from the read models.

Use cases of ``InsuranceService``'s read RPCs (same names), kept apart from the nameko wiring.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

from sqlalchemy import and_, exists, func, select

from infra.bus.dependencies import Clock, UnitOfWork
from infra.errors import Invalid, NotFound
from services.insurance.projections import equipment_register, policies, policy_equipment


def get_policy(db: UnitOfWork, policy_no: str, insurer: str | None = None) -> dict:
    """One policy with its elevators and how each matched the register.

    ``insurer`` narrows (and, for an insurer caller, scopes) the look-up; without it a
    policy number held by two insurers is ambiguous.
    """
    q = select(policies).where(policies.c.policy_no == policy_no)
    if insurer:
        q = q.where(policies.c.insurer == insurer)
    rows = db.conn.execute(q).mappings().all()
    if not rows:
        raise NotFound(f"policy {policy_no} not found")
    if len(rows) > 1:
        raise Invalid(
            "several insurers use this policy number",
            {"insurer": ["give the insurer's credit code"]},
        )
    return _policy_view(db, rows[0])


def _policy_view(db: UnitOfWork, row) -> dict:
    terms = json.loads(row["terms"])
    reg = {
        r.equipment_code: r.status
        for r in db.conn.execute(
            select(equipment_register.c.equipment_code, equipment_register.c.status).where(
                equipment_register.c.equipment_code.in_(terms["equipment_codes"])
            )
        )
    }
    equipment = []
    for code in terms["equipment_codes"]:
        entry = {"equipment_code": code, "match": "registered" if code in reg else "pending"}
        if reg.get(code) == "cancelled":
            entry["flag"] = "equipment_cancelled"
        equipment.append(entry)
    return {
        "policy_no": row["policy_no"],
        "insurer": row["insurer"],
        "revision": row["revision"],
        "version": row["version"],
        **terms,
        "status": row["status"],
        "equipment": equipment,
    }


def coverage(db: UnitOfWork, clock: Clock, equipment_code: str, on: str | None = None) -> dict:
    """Whether an elevator was covered on a date, with the policies that cover it."""
    day = date.fromisoformat(on) if on else clock.today()
    rows = (
        db.conn.execute(
            select(policies)
            .join(
                policy_equipment,
                and_(
                    policy_equipment.c.insurer == policies.c.insurer,
                    policy_equipment.c.policy_no == policies.c.policy_no,
                ),
            )
            .where(policy_equipment.c.equipment_code == equipment_code, _covers(day))
            .order_by(policies.c.starts_on)
        )
        .mappings()
        .all()
    )
    return {
        "equipment_code": equipment_code,
        "on": day.isoformat(),
        "covered": bool(rows),
        "policies": [
            {
                "insurer": r["insurer"],
                "policy_no": r["policy_no"],
                "cover": r["cover"],
                "starts_on": r["starts_on"].isoformat(),
                "ends_on": r["ends_on"].isoformat(),
                "status": r["status"],
            }
            for r in rows
        ],
    }


def district_coverage(db: UnitOfWork, clock: Clock, district: str, on: str | None = None) -> dict:
    """Registered elevators of a district, how many are covered on the date, the ratio."""
    day = date.fromisoformat(on) if on else clock.today()
    elevators = equipment_register.alias("e")
    is_covered = exists(
        select(1)
        .select_from(
            policy_equipment.join(
                policies,
                and_(
                    policy_equipment.c.insurer == policies.c.insurer,
                    policy_equipment.c.policy_no == policies.c.policy_no,
                ),
            )
        )
        .where(policy_equipment.c.equipment_code == elevators.c.equipment_code, _covers(day))
    )
    base = (
        select(func.count())
        .select_from(elevators)
        .where(
            elevators.c.district == district,
            elevators.c.status != "cancelled",
            elevators.c.equipment_code.like("3%"),
        )
    )
    total = db.conn.execute(base).scalar() or 0
    covered = db.conn.execute(base.where(is_covered)).scalar() or 0
    return {
        "district": district,
        "on": day.isoformat(),
        "elevators": total,
        "covered": covered,
        "ratio": round(covered / total, 4) if total else None,
    }


def policies_ending(
    db: UnitOfWork, clock: Clock, within_days: int, insurer: str | None = None
) -> list[dict]:
    """Active policies whose period ends within N days from today (officers' list)."""
    today = clock.today()
    q = (
        select(policies)
        .where(
            policies.c.status == "active",
            policies.c.ends_on >= today,
            policies.c.ends_on <= today + timedelta(days=within_days),
        )
        .order_by(policies.c.ends_on, policies.c.insurer, policies.c.policy_no)
    )
    if insurer:
        q = q.where(policies.c.insurer == insurer)
    return [
        {
            "insurer": r["insurer"],
            "policy_no": r["policy_no"],
            "ends_on": r["ends_on"].isoformat(),
            "revision": r["revision"],
        }
        for r in db.conn.execute(q.limit(5000)).mappings()
    ]


def premium_factors(db: UnitOfWork, clock: Clock, equipment_code: str) -> dict:
    """Factors an insurer may price on. The credit grade, faults and entrapments come from
    the maintenance-credit service, which publishes nothing yet: they are null until then."""
    row = (
        db.conn.execute(
            select(equipment_register).where(equipment_register.c.equipment_code == equipment_code)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"equipment {equipment_code} is not in the register")
    year = row["manufacture_year"]
    return {
        "equipment_code": equipment_code,
        "maintenance_unit_uscc": row["maintenance_unit_uscc"],
        "credit_grade": None,
        "age_years": (clock.today().year - year) if year else None,
        "faults_12m": None,
        "entrapments_12m": None,
    }


def equipment(db: UnitOfWork, equipment_code: str) -> dict:
    row = (
        db.conn.execute(
            select(equipment_register).where(equipment_register.c.equipment_code == equipment_code)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"equipment {equipment_code} is not known to insurance")
    return {**row, "registered_on": row["registered_on"] and row["registered_on"].isoformat()}


def register_stats(db: UnitOfWork) -> dict:
    """How many elevators the register holds, and how many registration effects applied."""
    n, applied = db.conn.execute(
        select(func.count(), func.coalesce(func.sum(equipment_register.c.applied), 0))
    ).one()
    return {"elevators": n, "applied": int(applied)}


def _covers(day: date):
    # Cancelled policies cover nothing; a lapsed one covered its own period.
    return and_(
        policies.c.status.in_(["active", "lapsed"]),
        policies.c.starts_on <= day,
        policies.c.ends_on >= day,
    )
