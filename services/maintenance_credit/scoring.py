"""Scoring a maintenance unit for a period from its facts under a rule set: pure.

The period is the calendar year of the day asked about; facts of that year up to and
including the day count, later ones are ignored. Every deduction says which fact (or facts)
made it, which rule and how many points, so a score can be explained and a single deduction
appealed. A veto fact forces the worst grade whatever the points.

Missed half-monthly maintenance is scaled per ``per_elevators`` elevators maintained: a miss
costs ``points * per_elevators / elevators``, so a unit with 2,000 elevators and one with 20
that miss the same share of their maintenance get the same demerits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from operator import attrgetter
from typing import Any

from infra.domain import derived_id
from services.maintenance_credit.rules import RuleSet

CENT = Decimal("0.01")
# Rules a single fact of the same name triggers, at the rule's points.
SINGLE_FACT_RULES = (
    "beyond_licence_scope",
    "forged_record",
    "expired_licence_work",
    "duty_phone_unanswered",
    "complaint_verified",
    "penalty",
)
ACTIVE, UNDER_APPEAL, REVERSED = "active", "under_appeal", "reversed"


@dataclass(frozen=True)
class Fact:
    """Something recorded about a unit that may cost it points or force grade D."""

    fact_id: str
    type: str
    occurred_on: date
    equipment_code: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Deduction:
    """Points taken for ``rule``: ``event_id`` is the fact that made it (for a rule over
    several facts, the one that completed it), ``facts`` all the facts it rests on."""

    id: str
    rule: str
    points: Decimal
    event_id: str | None
    facts: tuple[str, ...]
    explanation: str
    status: str = ACTIVE

    @property
    def counts(self) -> bool:
        return self.status != REVERSED


@dataclass(frozen=True)
class VetoHit:
    veto: str
    fact_id: str
    occurred_on: date


@dataclass(frozen=True)
class Score:
    uscc: str
    period: str
    as_of: date
    ruleset: str
    elevators: int
    demerits: Decimal
    grade: str
    vetoed: bool
    vetoes: tuple[VetoHit, ...]
    deductions: tuple[Deduction, ...]


def deduction_id(uscc: str, rule: str, *key: Any) -> str:
    """The same deduction always gets the same id: appeals name it across re-computations."""
    return derived_id("deduction", uscc, rule, *key)


def period_of(day: date) -> str:
    return str(day.year)


@dataclass(frozen=True)
class Grade:
    """What an evaluation keeps of a unit's score."""

    demerits: Decimal
    grade: str
    vetoed: bool


# A rule's deduction as the fold finds it: (rule, points, the fact that made it, the facts it
# rests on, its explanation, the key of its id).
Deduct = Callable[[str, Decimal, Fact | None, tuple[str, ...], str, tuple], None]


def score(
    uscc: str,
    facts: Iterable[Fact],
    ruleset: RuleSet,
    as_of: date,
    elevators: int,
    appeals: Mapping[str, str] | None = None,
) -> Score:
    """The unit's score for the calendar year of ``as_of``, from the facts of that year up to
    ``as_of``. ``elevators``: how many it maintained in the period (the scale of missed
    maintenance). ``appeals``: deduction id -> ``under_appeal`` or ``reversed`` (overturned:
    the deduction stays listed but counts no points)."""
    appeals = appeals or {}
    found: list[Deduction] = []

    def deduct(rule: str, points: Decimal, fact: Fact | None, facts: tuple, why: str, key: tuple):
        the_id = deduction_id(uscc, rule, *key)
        found.append(
            Deduction(
                id=the_id,
                rule=rule,
                points=points,
                event_id=fact.fact_id if fact else None,
                facts=facts,
                explanation=why,
                status=appeals.get(the_id, ACTIVE),
            )
        )

    vetoes = _fold(facts, ruleset, as_of, elevators, deduct, explain=True)
    demerits = sum((d.points for d in found if d.counts), Decimal(0))
    return Score(
        uscc=uscc,
        period=period_of(as_of),
        as_of=as_of,
        ruleset=ruleset.version,
        elevators=elevators,
        demerits=demerits,
        grade=ruleset.worst_grade if vetoes else ruleset.grade(demerits),
        vetoed=bool(vetoes),
        vetoes=tuple(vetoes),
        deductions=tuple(found),
    )


def grade(
    uscc: str,
    facts: Iterable[Fact],
    ruleset: RuleSet,
    as_of: date,
    elevators: int,
    appeals: Mapping[str, str] | None = None,
) -> Grade:
    """``score``'s demerits, grade and veto by the same fold, for scoring every unit: no
    explanation is made, and a deduction's id only when the unit has appeals (the id is how an
    appeal names its deduction)."""
    counted: list[Decimal] = []

    def deduct(rule: str, points: Decimal, fact: Fact | None, facts: tuple, why: str, key: tuple):
        if not appeals or appeals.get(deduction_id(uscc, rule, *key)) != REVERSED:
            counted.append(points)

    vetoes = _fold(facts, ruleset, as_of, elevators, deduct, explain=False)
    demerits = sum(counted, Decimal(0))
    return Grade(demerits, ruleset.worst_grade if vetoes else ruleset.grade(demerits), bool(vetoes))


def _fold(
    facts: Iterable[Fact],
    ruleset: RuleSet,
    as_of: date,
    elevators: int,
    deduct: Deduct,
    explain: bool,
) -> list[VetoHit]:
    """Each rule over the facts of the calendar year of ``as_of`` up to it, in the order they
    occurred: every deduction handed to ``deduct`` (with its explanation if ``explain``, else
    ""), the vetoes hit returned."""
    start = date(as_of.year, 1, 1)
    counted = sorted(
        (f for f in facts if start <= f.occurred_on <= as_of),
        key=attrgetter("occurred_on", "fact_id"),
    )
    vetoes: list[VetoHit] = []
    vetoed_types = {veto.fact for veto in ruleset.vetoes}  # most facts can veto nothing
    faults: dict[tuple[str, str], list[str]] = defaultdict(list)
    first_attempts: list[Fact] = []
    missed = ruleset.rule("missed_maintenance")
    if missed:  # the same points for each window the unit missed in the period
        scale = max(elevators, 1)
        missed_points = (Decimal(missed["points"]) * missed["per_elevators"] / scale).quantize(
            CENT, ROUND_HALF_UP
        )

    for fact in counted:
        if fact.type in vetoed_types:
            for veto in ruleset.vetoes:
                if veto.matches(fact.type, fact.details):
                    vetoes.append(VetoHit(veto.id, fact.fact_id, fact.occurred_on))
        rule = ruleset.rule(fact.type)
        if fact.type in SINGLE_FACT_RULES and rule is not None:
            pts = Decimal(rule["points"])
            why = f"{fact.type} on {fact.occurred_on.isoformat()}: {pts} points" if explain else ""
            deduct(fact.type, pts, fact, (fact.fact_id,), why, (fact.fact_id,))
        elif fact.type == "entrapment":
            late = ruleset.rule("late_entrapment_arrival")
            area = fact.details.get("area", "outer")
            limit = late["limit_minutes"].get(area) if late else None
            minutes = fact.details.get("arrival_minutes")
            if late and limit is not None and isinstance(minutes, int) and minutes > limit:
                pts = Decimal(late["points"])
                why = (
                    f"arrived after {minutes} minutes, limit {limit} ({area}): {pts} points"
                    if explain
                    else ""
                )
                key = (fact.fact_id,)
                deduct("late_entrapment_arrival", pts, fact, key, why, key)
        elif fact.type == "fault" and fact.details.get("caused_by_maintenance"):
            repeated = ruleset.rule("repeated_faults")
            month = fact.occurred_on.strftime("%Y-%m")
            bucket = faults[(fact.equipment_code or "", month)]
            bucket.append(fact.fact_id)
            if repeated and len(bucket) == repeated["faults_per_month"]:
                pts = Decimal(repeated["points"])
                why = (
                    f"elevator {fact.equipment_code}: {len(bucket)} faults caused by "
                    f"maintenance in {month}: {pts} points"
                    if explain
                    else ""
                )
                code = fact.equipment_code or ""
                deduct("repeated_faults", pts, fact, tuple(bucket), why, (code, month))
        elif fact.type == "inspection_result" and fact.details.get("first_attempt"):
            first_attempts.append(fact)
        elif fact.type == "missed_maintenance" and missed:
            why = (
                f"elevator {fact.equipment_code}: maintenance due by "
                f"{fact.details.get('due_on', fact.occurred_on.isoformat())} missed; "
                f"{missed['points']} per {missed['per_elevators']} elevators, "
                f"{scale} maintained: {missed_points} points"
                if explain
                else ""
            )
            key = (fact.fact_id,)
            deduct("missed_maintenance", missed_points, fact, key, why, key)

    rate_rule = ruleset.rule("first_pass_rate")
    if rate_rule and first_attempts:
        passed = sum(1 for f in first_attempts if f.details.get("passed"))
        rate = Decimal(passed * 100) / len(first_attempts)
        band = None
        for b in rate_rule["bands"]:  # thresholds fall: the last one the rate is under
            if rate < b["below_percent"]:
                band = b
        if band is not None and band["points"]:
            pts = Decimal(band["points"])
            shown = rate.quantize(Decimal("0.1"), ROUND_HALF_UP)
            why = (
                f"first-pass inspection rate {shown} % ({passed} of {len(first_attempts)}), "
                f"below {band['below_percent']} %: {pts} points"
            )
            ids = tuple(f.fact_id for f in first_attempts)
            deduct("first_pass_rate", pts, first_attempts[-1], ids, why, (period_of(as_of),))
    return vetoes


# --- blacklist triggers ---------------------------------------------------------------------

# DOMAIN.md: work beyond the licence scope, or a first-pass rate under 60 %, lists the unit.
BLACKLIST_FIRST_PASS_BELOW = Decimal(60)


@dataclass(frozen=True)
class Trigger:
    """A fact that lists the unit on the blacklist; ``key`` makes it count once."""

    key: str
    reason: str  # beyond_licence_scope | first_pass_rate_below_60
    fact_id: str
    occurred_on: date


def first_pass_rate(facts: Iterable[Fact]) -> tuple[Decimal, int] | None:
    """Percent of first-attempt inspections passed, and how many there were (None: none)."""
    first = [f for f in facts if f.type == "inspection_result" and f.details.get("first_attempt")]
    if not first:
        return None
    passed = sum(1 for f in first if f.details.get("passed"))
    return Decimal(passed * 100) / len(first), len(first)


def blacklist_triggers(facts: Iterable[Fact], as_of: date) -> list[Trigger]:
    """The triggers among the facts of the calendar year of ``as_of`` up to it."""
    start = date(as_of.year, 1, 1)
    counted = sorted(
        (f for f in facts if start <= f.occurred_on <= as_of),
        key=lambda f: (f.occurred_on, f.fact_id),
    )
    found = [
        Trigger(
            f"beyond_licence_scope:{f.fact_id}", "beyond_licence_scope", f.fact_id, f.occurred_on
        )
        for f in counted
        if f.type == "beyond_licence_scope"
    ]
    rate = first_pass_rate(counted)
    if rate is not None and rate[0] < BLACKLIST_FIRST_PASS_BELOW:
        last = [f for f in counted if f.type == "inspection_result"][-1]
        key = f"first_pass_rate_below_60:{period_of(as_of)}"
        found.append(Trigger(key, "first_pass_rate_below_60", last.fact_id, last.occurred_on))
    return found
