"""A unit's score from the read models: its facts, the elevators it maintained and its
appeals, folded by ``scoring.score`` under the rule set in force on the day asked about. An
evaluation grades every unit at once (``unit_grades``): each kind read once for all units by
the same readers, folded by ``scoring.grade``."""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
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
from services.maintenance_credit.scoring import (
    REVERSED,
    UNDER_APPEAL,
    Fact,
    Grade,
    Score,
    grade,
    score,
)


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


class StoredDetails(Mapping[str, Any]):
    """A fact's details as stored (JSON), parsed on first use: an evaluation reads the details
    of few facts (a missed window's only explain its deduction)."""

    __slots__ = ("_text", "_parsed")

    def __init__(self, text: str):
        self._text = text
        self._parsed: dict[str, Any] | None = None

    def _data(self) -> dict[str, Any]:
        if self._parsed is None:
            self._parsed = json.loads(self._text)
        return self._parsed

    def __getitem__(self, key: str) -> Any:
        return self._data()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data())

    def __len__(self) -> int:
        return len(self._data())

    def get(self, key: str, default: Any = None) -> Any:  # Mapping's goes by a KeyError
        return self._data().get(key, default)


def facts_by_unit(
    conn: Connection, start: date, end: date, uscc: str | None = None
) -> dict[str, list[Fact]]:
    """Facts from ``start`` to ``end`` by unit: of ``uscc``, or of every unit (one read)."""
    c = credit_facts.c
    query = select(
        c.unit_uscc, c.fact_id, c.type, c.occurred_on, c.equipment_code, c.details
    ).where(c.occurred_on >= start, c.occurred_on <= end)
    if uscc is not None:
        query = query.where(c.unit_uscc == uscc)
    out: dict[str, list[Fact]] = defaultdict(list)
    for unit, fact_id, kind, occurred_on, code, details in conn.execute(query):
        out[unit].append(Fact(fact_id, kind, occurred_on, code, StoredDetails(details)))
    return out


def facts_of(conn: Connection, uscc: str, start: date, end: date) -> list[Fact]:
    return facts_by_unit(conn, start, end, uscc).get(uscc, [])


def elevators_by_unit(
    conn: Connection, start: date, end: date, uscc: str | None = None
) -> dict[str, int]:
    """Distinct elevators each unit (``uscc``, or every one) maintained on some day from
    ``start`` to ``end``."""
    c = credit_contracts.c
    query = (
        select(c.unit_uscc, func.count(func.distinct(c.equipment_code)))
        .where(c.from_on <= end, or_(c.to_on.is_(None), c.to_on > start))
        .group_by(c.unit_uscc)
    )
    if uscc is not None:
        query = query.where(c.unit_uscc == uscc)
    return {unit: n for unit, n in conn.execute(query) if unit is not None}


def elevators_maintained(conn: Connection, uscc: str, start: date, end: date) -> int:
    return elevators_by_unit(conn, start, end, uscc).get(uscc, 0)


def appeals_by_unit(
    conn: Connection, as_of: date, uscc: str | None = None
) -> dict[str, dict[str, str]]:
    """Per unit (``uscc``, or every one): deduction id -> ``under_appeal`` or ``reversed``, as
    the appeals stood on ``as_of``."""
    a = credit_appeals.c
    query = select(a.uscc, a.deduction_id, a.status, a.decided_on).where(a.filed_on <= as_of)
    if uscc is not None:
        query = query.where(a.uscc == uscc)
    out: dict[str, dict[str, str]] = defaultdict(dict)
    for unit, deduction_id, status, decided_on in conn.execute(query):
        if decided_on is None or decided_on > as_of:
            out[unit][deduction_id] = UNDER_APPEAL
        elif status == "overturned":
            out[unit][deduction_id] = REVERSED
    return out


def appeal_states(conn: Connection, uscc: str, as_of: date) -> dict[str, str]:
    return appeals_by_unit(conn, as_of, uscc).get(uscc, {})


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


def unit_grades(
    conn: Connection, usccs: Iterable[str], as_of: date, appeals_as_of: date | None = None
) -> dict[str, Grade]:
    """``unit_score``'s demerits, grade and veto for each of ``usccs`` (what an evaluation
    keeps), from one read of each kind for all of them."""
    start = date(as_of.year, 1, 1)
    ruleset = catalogue(conn).in_force(as_of)
    facts = facts_by_unit(conn, start, as_of)
    elevators = elevators_by_unit(conn, start, as_of)
    appeals = appeals_by_unit(conn, appeals_as_of or as_of)
    return {
        uscc: grade(
            uscc, facts.get(uscc, ()), ruleset, as_of, elevators.get(uscc, 0), appeals.get(uscc)
        )
        for uscc in usccs
    }


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
