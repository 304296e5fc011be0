"""The read side: policies, coverage on a date, district coverage, policies ending, premium
factors and the equipment register, all answered from the read models.

Use cases of ``InsuranceService``'s read RPCs (same names), kept apart from the nameko wiring.

An elevator is known by its code and, when it was registered with one, its legacy 20-digit
Shanghai code: policies and quotes may name either, and every read matches both
(``aliases``). An insurer reads the coverage and premium factors only of the elevators it
insures (one of its policies names it) or declared a quote for (until the quote's
``valid_until``); elsewhere it gets ``NotFound``, as for an elevator nobody knows. It never
sees another insurer's policies: only whether one covers the elevator on the date.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

from sqlalchemy import and_, exists, func, or_, select, tuple_

from infra.bus.dependencies import Clock, UnitOfWork
from infra.errors import Invalid, NotFound
from services.insurance.projections import (
    elevator_incidents,
    equipment_register,
    policies,
    policy_equipment,
    quotes,
    unit_grades,
)

_OUT_OF_SCOPE = "equipment {code}: no policy or quote of yours names it"


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
    codes = terms["equipment_codes"]
    e = equipment_register.c
    # Each code the policy names, as registered: under that code, or as a unit's legacy code.
    reg: dict[str, tuple[str, str]] = {}
    for r in db.conn.execute(
        select(e.equipment_code, e.legacy_code, e.status).where(
            or_(e.equipment_code.in_(codes), e.legacy_code.in_(codes))
        )
    ):
        reg.setdefault(r.equipment_code, (r.equipment_code, r.status))
        if r.legacy_code is not None:
            reg.setdefault(r.legacy_code, (r.equipment_code, r.status))
    equipment = []
    for code in codes:
        entry = {"equipment_code": code, "match": "registered" if code in reg else "pending"}
        registered_as, status = reg.get(code, (code, None))
        if registered_as != code:
            entry["registered_as"] = registered_as
        if status == "cancelled":
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


def aliases(db: UnitOfWork, code: str) -> set[str]:
    """The codes an elevator is known by: ``code`` and, for a registered unit, its code and
    its legacy code (whichever of them ``code`` is)."""
    e = equipment_register.c
    found = {code}
    for r in db.conn.execute(
        select(e.equipment_code, e.legacy_code).where(
            or_(e.equipment_code == code, e.legacy_code == code)
        )
    ):
        found.add(r.equipment_code)
        if r.legacy_code is not None:
            found.add(r.legacy_code)
    return found


def in_scope(db: UnitOfWork, clock: Clock, insurer: str, codes: set[str]) -> bool:
    """Whether the insurer insures the elevator (one of its policies names one of its codes,
    whatever the policy's status) or declared a quote for it that is still valid."""
    insured = exists(
        select(1).where(
            policy_equipment.c.insurer == insurer, policy_equipment.c.equipment_code.in_(codes)
        )
    )
    quoted = exists(
        select(1).where(
            quotes.c.insurer == insurer,
            quotes.c.equipment_code.in_(codes),
            quotes.c.valid_until >= clock.today(),
        )
    )
    return bool(db.conn.execute(select(or_(insured, quoted))).scalar())


def coverage(
    db: UnitOfWork,
    clock: Clock,
    equipment_code: str,
    on: str | None = None,
    insurer: str | None = None,
) -> dict:
    """Whether an elevator was covered on a date, with the policies that cover it.

    ``insurer``: an insurer asks (see the module's scope rule): ``NotFound`` outside its
    scope; only its own policies are listed, with ``covered_by_another_insurer``."""
    day = date.fromisoformat(on) if on else clock.today()
    codes = aliases(db, equipment_code)
    if insurer is not None and not in_scope(db, clock, insurer, codes):
        raise NotFound(_OUT_OF_SCOPE.format(code=equipment_code))
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
            .where(policy_equipment.c.equipment_code.in_(codes), _covers(day))
            .order_by(policies.c.starts_on, policies.c.insurer, policies.c.policy_no)
        )
        .mappings()
        .all()
    )
    # A policy naming both codes of one unit is one policy.
    rows = list({(r["insurer"], r["policy_no"]): r for r in rows}.values())
    answer: dict = {"equipment_code": equipment_code, "on": day.isoformat(), "covered": bool(rows)}
    if insurer is not None:
        answer["covered_by_another_insurer"] = any(r["insurer"] != insurer for r in rows)
        rows = [r for r in rows if r["insurer"] == insurer]
    return {
        **answer,
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
    """Registered elevators of a district, how many are covered on the date, the ratio.

    One pass over the district's elevators (by the district index), each looked up in the
    policies that name it (by the elevator index): the cost grows with the district, not with
    the register or the policies of the whole city, and an empty district costs nothing."""
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
        .where(
            # a policy may name the unit's code or its legacy code
            policy_equipment.c.equipment_code.in_(
                [elevators.c.equipment_code, elevators.c.legacy_code]
            ),
            _covers(day),
        )
    )
    # The test is per elevator (an aggregate's FILTER, not a WHERE that the planner could turn
    # into a join against every covered elevator of the city).
    total, covered = db.conn.execute(
        select(func.count(), func.count().filter(is_covered))
        .select_from(elevators)
        .where(
            elevators.c.district == district,
            elevators.c.status != "cancelled",
            elevators.c.equipment_code.like("3%"),
        )
    ).one()
    return {
        "district": district,
        "on": day.isoformat(),
        "elevators": total,
        "covered": covered,
        "ratio": round(covered / total, 4) if total else None,
    }


def policies_ending(
    db: UnitOfWork,
    clock: Clock,
    within_days: int,
    insurer: str | None = None,
    limit: int = 501,
    after: list | None = None,
) -> list[dict]:
    """Active policies whose period ends within N days from today, by end date, insurer and
    number: ``limit`` of them after the position ``after`` (``[ends_on, insurer,
    policy_no]`` of the last one a page showed)."""
    today = clock.today()
    p = policies.c
    q = (
        select(policies)
        .where(
            p.status == "active",
            p.ends_on >= today,
            p.ends_on <= today + timedelta(days=within_days),
        )
        .order_by(p.ends_on, p.insurer, p.policy_no)
    )
    if insurer:
        q = q.where(p.insurer == insurer)
    if after:
        # Row comparisons: where the index range starts, not a filter on every row before.
        ends_on, last_insurer, policy_no = date.fromisoformat(after[0]), after[1], after[2]
        if insurer:  # one insurer's: its index is in (ends_on, policy_no) order
            q = q.where(tuple_(p.ends_on, p.policy_no) > tuple_(ends_on, policy_no))
        else:
            position = tuple_(ends_on, last_insurer, policy_no)
            q = q.where(tuple_(p.ends_on, p.insurer, p.policy_no) > position)
    return [
        {
            "insurer": r["insurer"],
            "policy_no": r["policy_no"],
            "ends_on": r["ends_on"].isoformat(),
            "revision": r["revision"],
        }
        for r in db.conn.execute(q.limit(limit)).mappings()
    ]


def premium_factors(
    db: UnitOfWork, clock: Clock, equipment_code: str, insurer: str | None = None
) -> dict:
    """Factors an insurer may price on (``insurer``: only in its scope, see the module). The
    credit grade (the maintenance unit's latest final grade; null before one is published)
    and the faults and entrapments recorded against the elevator in the 12 months up to
    today come from the maintenance-credit service."""
    if insurer is not None and not in_scope(db, clock, insurer, aliases(db, equipment_code)):
        raise NotFound(_OUT_OF_SCOPE.format(code=equipment_code))
    e = equipment_register.c
    row = (
        db.conn.execute(
            select(equipment_register)
            .where(or_(e.equipment_code == equipment_code, e.legacy_code == equipment_code))
            .order_by(e.equipment_code)
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"equipment {equipment_code} is not in the register")
    year, unit, today = row["manufacture_year"], row["maintenance_unit_uscc"], clock.today()
    grade = None
    if unit is not None:
        grade = db.conn.execute(
            select(unit_grades.c.grade).where(unit_grades.c.uscc == unit)
        ).scalar()
    i = elevator_incidents.c
    counts: dict[str, int] = dict(
        db.conn.execute(
            select(i.type, func.count())
            .where(
                # an officer may have named the unit by its legacy code
                i.equipment_code.in_({row["equipment_code"], row["legacy_code"]} - {None}),
                i.occurred_on > _year_before(today),
                i.occurred_on <= today,
            )
            .group_by(i.type)
        ).all()
    )
    return {
        "equipment_code": row["equipment_code"],
        "maintenance_unit_uscc": unit,
        "credit_grade": grade,
        "age_years": (today.year - year) if year else None,
        "faults_12m": counts.get("fault", 0),
        "entrapments_12m": counts.get("entrapment", 0),
    }


def _year_before(day: date) -> date:
    """The same day a year earlier (28 February for a 29th): the last 12 months start after it."""
    if day.month == 2 and day.day == 29:
        return day.replace(year=day.year - 1, day=28)
    return day.replace(year=day.year - 1)


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
