"""Scoring a maintenance unit for a period from its facts under a rule set (pure)."""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

import pytest

from services.maintenance_credit.rules import RuleSets
from services.maintenance_credit.scoring import REVERSED, UNDER_APPEAL, Fact, Grade, grade, score

UNIT = "91350200776049653A"
RULES = RuleSets.shipped().get("demerit-2016")
AS_OF = date(2016, 12, 31)
_ids = itertools.count(1)


def fact(kind: str, on: date = date(2016, 3, 1), code: str | None = None, /, **details) -> Fact:
    return Fact(f"f{next(_ids)}", kind, on, code, details)


def scored(facts, as_of=AS_OF, elevators=20, appeals=None, ruleset=RULES):
    return score(UNIT, facts, ruleset, as_of, elevators, appeals)


def test_a_unit_without_facts_has_no_demerits_and_grade_a():
    result = scored([])
    assert (result.demerits, result.grade, result.vetoed, result.deductions) == (0, "A", False, ())
    assert (result.period, result.ruleset) == ("2016", "demerit-2016")


@pytest.mark.parametrize(
    ("kind", "points"),
    [
        ("beyond_licence_scope", 40),
        ("forged_record", 40),
        ("expired_licence_work", 20),
        ("duty_phone_unanswered", 5),
        ("complaint_verified", 2),
    ],
)
def test_each_single_fact_rule_costs_its_points_and_says_why(kind, points):
    f = fact(kind)
    (deduction,) = scored([f]).deductions
    assert (deduction.rule, deduction.points, deduction.event_id) == (kind, points, f.fact_id)
    assert deduction.facts == (f.fact_id,)
    assert f"{points} points" in deduction.explanation
    assert deduction.status == "active"


@pytest.mark.parametrize(
    ("area", "minutes", "late"),
    [("central", 30, False), ("central", 31, True), ("outer", 60, False), ("outer", 61, True)],
)
def test_late_arrival_to_an_entrapment_costs_10_each(area, minutes, late):
    facts = [fact("entrapment", arrival_minutes=minutes, area=area) for _ in range(2)]
    result = scored(facts)
    assert result.demerits == (20 if late else 0)
    assert all(d.rule == "late_entrapment_arrival" for d in result.deductions)


def test_an_elevator_with_3_faults_caused_by_maintenance_in_a_month_costs_10_once():
    code = "310100000000000001"
    march = [fact("fault", date(2016, 3, d), code, caused_by_maintenance=True) for d in (1, 9, 20)]
    fourth = fact("fault", date(2016, 3, 28), code, caused_by_maintenance=True)
    not_ours = fact("fault", date(2016, 3, 29), code, caused_by_maintenance=False)
    april = [fact("fault", date(2016, 4, d), code, caused_by_maintenance=True) for d in (1, 2)]
    other = [fact("fault", date(2016, 3, 5), "310100000000000002", caused_by_maintenance=True)]
    result = scored([*march, fourth, not_ours, *april, *other])
    (deduction,) = result.deductions
    assert deduction.points == 10 and deduction.rule == "repeated_faults"
    assert deduction.facts == tuple(f.fact_id for f in march)
    assert deduction.event_id == march[-1].fact_id


@pytest.mark.parametrize(
    ("passed", "points"),
    [(100, 0), (95, 0), (94, 2), (90, 2), (89, 5), (80, 5), (79, 10), (70, 10), (69, 20), (0, 20)],
)
def test_first_pass_rate_bands(passed, points):
    facts = [fact("inspection_result", passed=i < passed, first_attempt=True) for i in range(100)]
    # re-inspections do not enter the first-pass rate
    facts += [fact("inspection_result", passed=False, first_attempt=False) for _ in range(50)]
    result = scored(facts)
    assert result.demerits == points
    if points:
        (deduction,) = result.deductions
        assert deduction.rule == "first_pass_rate" and len(deduction.facts) == 100
        assert f"{passed} of 100" in deduction.explanation


def missed(n: int, code_base: int = 0) -> list[Fact]:
    return [
        fact("missed_maintenance", date(2016, 5, 1), f"3101{code_base + i:014d}") for i in range(n)
    ]


def test_missed_maintenance_is_scaled_per_100_elevators_so_units_compare_fairly():
    small = scored(missed(2), elevators=20)  # 10 % of 20 elevators missed once
    large = scored(missed(200), elevators=2000)  # 10 % of 2,000 elevators missed once
    assert small.demerits == large.demerits == Decimal("10.00")
    assert small.grade == large.grade == "A"
    assert small.deductions[0].points == Decimal("5.00")
    assert large.deductions[0].points == Decimal("0.05")
    assert "2000 maintained" in large.deductions[0].explanation


def test_a_veto_forces_d_at_zero_demerits():
    result = scored([fact("accident", liability=True)])
    assert (result.demerits, result.grade, result.vetoed) == (0, "D", True)
    assert result.vetoes[0].veto == "liability_accident"


@pytest.mark.parametrize(
    ("kind", "details", "vetoed"),
    [
        ("accident", {"liability": False}, False),
        ("penalty", {"kind": "bypassing_safety_circuits", "decision_no": "1"}, True),
        ("penalty", {"kind": "subcontracting_maintenance", "decision_no": "2"}, True),
        ("penalty", {"kind": "late_report", "decision_no": "3"}, False),
        ("licence_expired", {}, True),
        ("serious_violation_listed", {}, True),
    ],
)
def test_veto_events(kind, details, vetoed):
    result = scored([fact(kind, **details)])
    assert result.vetoed is vetoed
    assert result.grade == ("D" if vetoed else "A")


@pytest.mark.parametrize(
    ("complaints", "grade"),
    [(5, "A"), (6, "B")],  # 10 / 12 points
)
def test_grade_edge_10_11_from_facts(complaints, grade):
    assert scored([fact("complaint_verified") for _ in range(complaints)]).grade == grade


@pytest.mark.parametrize(
    ("facts", "demerits", "grade"),
    [
        ((("expired_licence_work", 1), ("duty_phone_unanswered", 1)), 25, "B"),
        ((("expired_licence_work", 1), ("complaint_verified", 3)), 26, "C"),
        ((("beyond_licence_scope", 1),), 40, "C"),
        ((("beyond_licence_scope", 1), ("missed_maintenance", 1)), 41, "D"),
    ],
)
def test_grade_edges_25_26_and_40_41_from_facts(facts, demerits, grade):
    made = [fact(kind) for kind, n in facts for _ in range(n)]
    result = scored(made, elevators=100)  # one miss of 100 elevators: 1 point
    assert (result.demerits, result.grade) == (demerits, grade)


def test_an_appeal_overturning_one_deduction_reverses_exactly_that_one():
    facts = [fact("complaint_verified") for _ in range(3)] + [fact("duty_phone_unanswered")]
    before = scored(facts)
    assert before.demerits == 11 and before.grade == "B"
    target = before.deductions[1]
    pending = scored(facts, appeals={target.id: UNDER_APPEAL})
    assert pending.demerits == 11
    assert [d.status for d in pending.deductions] == ["active", "under_appeal", "active", "active"]
    after = scored(facts, appeals={target.id: REVERSED})
    assert after.demerits == 9 and after.grade == "A"
    assert [d.status for d in after.deductions] == ["active", "reversed", "active", "active"]
    assert [d.id for d in after.deductions] == [d.id for d in before.deductions]


def test_score_as_of_a_date_ignores_later_facts_and_earlier_years():
    day = date(2016, 6, 30)
    facts = [
        fact("complaint_verified", date(2015, 12, 31)),  # last year's period
        fact("complaint_verified", day),
        fact("complaint_verified", day + timedelta(days=1)),  # after the day asked about
    ]
    result = scored(facts, as_of=day)
    assert result.demerits == 2 and len(result.deductions) == 1
    assert scored(facts, as_of=date(2016, 12, 31)).demerits == 4
    assert scored(facts, as_of=date(2015, 12, 31)).demerits == 2


def test_score_as_of_a_date_uses_the_rule_set_in_force_that_day():
    data = dict(RULES.source)
    data.update(version="demerit-2020", effective_from="2020-07-01")
    data["rules"] = {**RULES.source["rules"], "complaint_verified": {"points": 7}}
    from services.maintenance_credit.rules import parse

    catalogue = RuleSets.shipped().with_version(parse(data))
    facts = [fact("complaint_verified", date(2020, 3, 1))]
    for day, points, version in [
        (date(2020, 6, 30), 2, "demerit-2016"),
        (date(2020, 7, 1), 7, "demerit-2020"),
    ]:
        result = score(UNIT, facts, catalogue.in_force(day), day, 20)
        assert (result.demerits, result.ruleset) == (points, version)


def test_deduction_ids_are_stable_and_differ_between_units():
    f = fact("complaint_verified")
    first, again = scored([f]), scored([f])
    other = score("913502000728319549", [f], RULES, AS_OF, 20)
    assert first.deductions[0].id == again.deductions[0].id != other.deductions[0].id


def test_grading_alone_gives_the_scores_demerits_grade_and_veto():
    code = "310100000000000001"
    facts = [
        *[fact("complaint_verified") for _ in range(3)],
        fact("entrapment", arrival_minutes=45, area="central"),
        *[fact("fault", date(2016, 3, d), code, caused_by_maintenance=True) for d in (1, 9, 20)],
        *[fact("inspection_result", first_attempt=True, passed=p) for p in (True, False)],
        *missed(3),
        fact("complaint_verified", date(2017, 1, 2)),  # after the period
    ]
    vetoed = [*facts, fact("penalty", kind="bypassing_safety_circuits", decision_no="1")]
    full = scored(facts)
    rule_of = {d.id: d.rule for d in full.deductions}
    assert sorted(set(rule_of.values())) == [
        "complaint_verified",
        "first_pass_rate",
        "late_entrapment_arrival",
        "missed_maintenance",
        "repeated_faults",
    ]
    one = {rule: the_id for the_id, rule in rule_of.items()}  # a deduction of each rule
    some_reversed = {
        one["repeated_faults"]: REVERSED,
        one["missed_maintenance"]: REVERSED,
        one["first_pass_rate"]: UNDER_APPEAL,
    }
    assert scored(facts, appeals=some_reversed).demerits < full.demerits
    for appeals in (
        None,
        {one["complaint_verified"]: UNDER_APPEAL},
        some_reversed,
        dict.fromkeys(rule_of, REVERSED),
    ):
        for case in (facts, vetoed):
            expected = scored(case, appeals=appeals)
            alone = grade(UNIT, case, RULES, AS_OF, 20, appeals)
            assert alone == Grade(expected.demerits, expected.grade, expected.vetoed)
