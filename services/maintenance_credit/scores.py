"""A unit's score from the read models: its facts, the elevators it maintained and its
appeals, folded by ``scoring.score`` under the rule set in force on the day asked about."""

from __future__ import annotations

import functools
import json
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Connection

from services.maintenance_credit import rules
from services.maintenance_credit.projections import (
    credit_appeals,
    credit_contracts,
    credit_facts,
    credit_rulesets,
)
from services.maintenance_credit.rules import RuleSet, RuleSets
from services.maintenance_credit.scoring import REVERSED, UNDER_APPEAL, Fact, Score, score


@functools.cache
def shipped() -> RuleSets:
    """The versions shipped with the service (read once, on first use)."""
    return RuleSets.shipped()


def catalogue(conn: Connection) -> RuleSets:
    """The shipped versions and those adopted over the API."""
    adopted = [
        rules.parse(json.loads(text))
        for text in conn.execute(select(credit_rulesets.c.definition)).scalars()
    ]
    return shipped().with_versions(adopted) if adopted else shipped()


def facts_of(conn: Connection, uscc: str, start: date, end: date) -> list[Fact]:
    rows = conn.execute(
        select(credit_facts).where(
            credit_facts.c.unit_uscc == uscc,
            credit_facts.c.occurred_on >= start,
            credit_facts.c.occurred_on <= end,
        )
    ).mappings()
    return [
        Fact(
            r["fact_id"], r["type"], r["occurred_on"], r["equipment_code"], json.loads(r["details"])
        )
        for r in rows
    ]


def elevators_maintained(conn: Connection, uscc: str, start: date, end: date) -> int:
    """Distinct elevators the unit maintained on some day from ``start`` to ``end``."""
    c = credit_contracts.c
    return (
        conn.execute(
            select(func.count(func.distinct(c.equipment_code))).where(
                c.unit_uscc == uscc,
                c.from_on <= end,
                or_(c.to_on.is_(None), c.to_on > start),
            )
        ).scalar()
        or 0
    )


def appeal_states(conn: Connection, uscc: str, as_of: date) -> dict[str, str]:
    """Deduction id -> ``under_appeal`` or ``reversed``, as the appeals stood on ``as_of``."""
    out = {}
    for r in conn.execute(
        select(credit_appeals).where(
            credit_appeals.c.uscc == uscc, credit_appeals.c.filed_on <= as_of
        )
    ).mappings():
        decided = r["decided_on"] is not None and r["decided_on"] <= as_of
        if not decided:
            out[r["deduction_id"]] = UNDER_APPEAL
        elif r["status"] == "overturned":
            out[r["deduction_id"]] = REVERSED
    return out


def unit_score(
    conn: Connection,
    uscc: str,
    as_of: date,
    appeals_as_of: date | None = None,
    ruleset: RuleSet | None = None,
) -> Score:
    """The score for the calendar year of ``as_of`` up to it; appeals as they stood on
    ``appeals_as_of`` (default: ``as_of``): an evaluation scores the period's facts with the
    appeals decided since. ``ruleset``: instead of the version in force on ``as_of`` (a
    what-if run)."""
    start = date(as_of.year, 1, 1)
    ruleset = ruleset or catalogue(conn).in_force(as_of)
    facts = facts_of(conn, uscc, start, as_of)
    elevators = elevators_maintained(conn, uscc, start, as_of)
    appeals = appeal_states(conn, uscc, appeals_as_of or as_of)
    return score(uscc, facts, ruleset, as_of, elevators, appeals)


def number(value: Decimal) -> int | float:
    """Demerit points as a JSON number (at most two decimals)."""
    return int(value) if value == value.to_integral_value() else float(value)


def score_view(result: Score, name: str) -> dict[str, Any]:
    return {
        "uscc": result.uscc,
        "name": name,
        "period": result.period,
        "ruleset": result.ruleset,
        "demerits": number(result.demerits),
        "grade": result.grade,
        "vetoed": result.vetoed,
        "vetoes": [
            {"veto": v.veto, "event_id": v.fact_id, "occurred_on": v.occurred_on.isoformat()}
            for v in result.vetoes
        ],
        "elevators": result.elevators,
        "deductions": [
            {
                "id": d.id,
                "rule": d.rule,
                "points": number(d.points),
                "event_id": d.event_id,
                "facts": list(d.facts),
                "explanation": d.explanation,
                "status": d.status,
            }
            for d in result.deductions
        ],
        "as_of": result.as_of.isoformat(),
    }
