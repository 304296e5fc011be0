"""Reads: a unit's score with its deductions (as of a day), its grades over time, and the
public list of final grades."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection

from infra import errors
from infra.clock import Clock, local_date
from infra.repository import domain_errors
from infra.schemas import load
from services.maintenance_credit import schemas
from services.maintenance_credit.projections import credit_grades, credit_units
from services.maintenance_credit.scores import number, score_view, unit_score


def _unit(conn: Connection, uscc: str) -> dict[str, Any]:
    row = conn.execute(select(credit_units).where(credit_units.c.uscc == uscc)).mappings().first()
    if row is None:
        raise errors.NotFound(f"maintenance unit {uscc} not found")
    return dict(row)


def unit_detail(conn: Connection, clock: Clock, uscc: str, as_of: str | None = None) -> dict:
    """The unit's score for the year of ``as_of`` (default today) up to that day."""
    query = load(schemas.ScoreQuery, {"as_of": as_of} if as_of else {}, "query")
    today = local_date(clock.now())
    day: date = query.get("as_of") or today
    unit = _unit(conn, uscc)
    with domain_errors():
        # Facts that occurred by the day; appeals as decided by now (an overturned deduction
        # was never due, whenever it is asked about).
        result = unit_score(conn, uscc, day, max(day, today))
    return {**score_view(result, unit["name"]), "district": unit["district"]}


def history(conn: Connection, clock: Clock, uscc: str) -> dict:
    """Grades and demerits of every evaluated period (published, then final), and the score of
    the current period so far."""
    unit = _unit(conn, uscc)
    rows = conn.execute(
        select(credit_grades).where(credit_grades.c.uscc == uscc).order_by(credit_grades.c.period)
    ).mappings()
    periods = [
        {
            "period": r["period"],
            "demerits": number(Decimal(r["demerits"])),
            "grade": r["grade"],
            "vetoed": r["vetoed"],
            "status": r["status"],
        }
        for r in rows
    ]
    today = local_date(clock.now())
    with domain_errors():
        current = unit_score(conn, uscc, today)
    return {
        "uscc": uscc,
        "name": unit["name"],
        "district": unit["district"],
        "periods": periods,
        "current": {
            "period": current.period,
            "as_of": today.isoformat(),
            "demerits": number(current.demerits),
            "grade": current.grade,
            "vetoed": current.vetoed,
        },
    }


def public_credit(
    conn: Connection, filters: dict | None = None, limit: int = 50, after: list | None = None
) -> list[dict]:
    """Each unit's latest final grade, in credit-code order, after ``after`` (``[uscc]``);
    ``limit`` rows (ask one more to know a next page exists)."""
    f = load(schemas.PublicCreditQuery, filters or {}, "query")
    g, u = credit_grades.c, credit_units.c
    latest = (
        select(g.uscc, func.max(g.period).label("period"))
        .where(g.status == "final")
        .group_by(g.uscc)
        .subquery()
    )
    query = (
        select(g.uscc, g.period, g.grade, g.demerits, g.vetoed, u.name, u.district)
        .join(latest, and_(latest.c.uscc == g.uscc, latest.c.period == g.period))
        .join(credit_units, u.uscc == g.uscc)
        .order_by(g.uscc)
        .limit(max(1, min(int(limit), 501)))
    )
    if f.get("uscc"):
        query = query.where(g.uscc == f["uscc"].upper())
    if f.get("name"):
        query = query.where(func.lower(u.name).contains(f["name"].lower(), autoescape=True))
    if f.get("grade"):
        query = query.where(g.grade == f["grade"].upper())
    if f.get("district"):
        query = query.where(u.district == f["district"])
    if after:
        query = query.where(g.uscc > str(after[0]))
    return [
        {
            "uscc": r.uscc,
            "name": r.name,
            "district": r.district,
            "period": r.period,
            "grade": r.grade,
            "demerits": number(Decimal(r.demerits)),
            "vetoed": r.vetoed,
        }
        for r in conn.execute(query)
    ]


def units(conn: Connection, limit: int = 50, after: list | None = None) -> list[dict]:
    """The maintenance units scored, in credit-code order after ``after`` (``[uscc]``)."""
    query = select(credit_units).order_by(credit_units.c.uscc).limit(max(1, min(int(limit), 501)))
    if after:
        query = query.where(credit_units.c.uscc > str(after[0]))
    return [
        {k: r[k] for k in ("uscc", "name", "bureau", "district", "status")}
        for r in conn.execute(query).mappings()
    ]


def final_grade(conn: Connection, uscc: str) -> dict:
    """A maintenance unit's name and latest final grade (``grade`` and ``period`` null before
    its first final evaluation; ``name`` null when the unit is unknown here): the public
    equipment lookup's view of the unit that maintains an elevator."""
    uscc = str(uscc).strip().upper()
    g = credit_grades.c
    name = conn.execute(select(credit_units.c.name).where(credit_units.c.uscc == uscc)).scalar()
    latest = conn.execute(
        select(g.period, g.grade)
        .where(g.uscc == uscc, g.status == "final")
        .order_by(g.period.desc())
        .limit(1)
    ).first()
    return {
        "uscc": uscc,
        "name": name,
        "grade": latest.grade if latest else None,
        "period": latest.period if latest else None,
    }
