"""Post-approval audits: the reproducible risk-weighted draw, conflicts of inspectors,
findings, rectification orders, verification, overdue orders, public results, the yearly
minimum across plans and the preference for licensees not yet drawn in the year."""

from collections import Counter
from datetime import UTC, date, datetime

import pytest

from infra.clock import today
from infra.domain import Invalid, RuleConflict
from infra.errors import Invalid as InvalidInput
from infra.schemas import load
from services.licensing.domain.audit.commands import (
    DrawAuditPlan,
    OrderRectification,
    RecordFindings,
    SweepAudit,
    VerifyRectification,
)
from services.licensing.domain.audit.coverage import drawn_in_year, yearly_coverage
from services.licensing.domain.audit.events import AuditPlanDrawn
from services.licensing.domain.audit.plan import AuditPlan, outcome_of
from services.licensing.domain.audit.risk import RiskFact, risk_factors
from services.licensing.domain.audit.rules import AuditRules, at_rate, draw, plan_size
from services.licensing.schemas.audits import AuditCoverageQuery, AuditPlanIn

NOW = datetime(2014, 9, 29, 2, tzinfo=UTC)
RULES = AuditRules()


def candidates(n=10, heavy=()):
    return [
        {
            "licence_no": f"PL-SH-2014-{i:05d}",
            "holder": f"Unit {i}",
            "holder_uscc": f"U{i:017d}",
            "weight": 5.0 if i in heavy else 1.0,
            "factors": {},
            "conflicts": [f"U{i:017d}"],
        }
        for i in range(n)
    ]


INSPECTORS = [{"inspector_id": f"i{k}", "organization_uscc": f"U{k:017d}"} for k in range(4)]


def plan(n=10, size=3, seed=42, per_target=2, inspectors=INSPECTORS, rate=None):
    p = AuditPlan()
    for e in p.decide(
        DrawAuditPlan(
            actor="officer",
            plan_id="p1",
            bureau="SH",
            kind="production_licence",
            seed=seed,
            size=None if rate else size,
            rate=rate,
            per_target=per_target,
            candidates=tuple(candidates(n)),
            inspectors=tuple(inspectors),
        ),
        NOW,
    ):
        p.apply(e)
    return p


def test_the_same_seed_and_candidates_draw_the_same_targets():
    a, b = plan(seed=7), plan(seed=7)
    assert [t["licence_no"] for t in a.targets.values()] == [
        t["licence_no"] for t in b.targets.values()
    ]
    assert a.reproduce() == [
        {k: v for k, v in t.items() if k not in ("findings", "order")} for t in a.targets.values()
    ]


def test_another_seed_draws_differently():
    draws = {tuple(plan(seed=s).targets) for s in range(20)}
    assert len(draws) > 1


def test_heavier_weights_are_drawn_more_often():
    heavy = {0, 1}
    counts: Counter = Counter()
    for seed in range(400):
        for t in draw(candidates(10, heavy), INSPECTORS, seed, 2, 0):
            counts[t["licence_no"]] += 1
    heavy_rate = (counts["PL-SH-2014-00000"] + counts["PL-SH-2014-00001"]) / 2
    light_rate = sum(counts[f"PL-SH-2014-{i:05d}"] for i in range(2, 10)) / 8
    assert heavy_rate > 2 * light_rate


def test_inspectors_with_a_conflict_are_never_assigned():
    for seed in range(50):
        for t in draw(candidates(4), INSPECTORS, seed, 4, 3):
            own = "i" + str(int(t["holder_uscc"][1:]))
            assert own not in t["inspectors"] and len(t["inspectors"]) == 3


def test_fewer_eligible_inspectors_than_asked_assigns_those_there_are():
    [t] = draw(candidates(1), INSPECTORS[:2], 1, 1, 5)
    assert t["inspectors"] == ["i1"]


@pytest.mark.parametrize(
    ("n", "size", "rate", "expected"),
    [(100, None, 0.05, 5), (101, None, 0.05, 6), (3, None, 0.05, 1), (3, 10, None, 3)],
)
def test_plan_size_from_size_or_rate(n, size, rate, expected):
    assert plan_size(n, size, rate) == expected


def test_weights_add_up_per_risk_factor():
    assert RULES.weight({}) == 1.0
    assert RULES.weight({"accident": True, "credit_c_or_d": True, "complaint": True}) == 6.0


def fact(kind, on, grade=None):
    return RiskFact("f", "U", kind, on, grade)


def test_risk_factors_look_back_two_years_and_at_the_latest_grade():
    on = date(2014, 9, 29)
    assert risk_factors([fact("accident", date(2012, 9, 30))], on)["accident"]
    assert not risk_factors([fact("accident", date(2012, 9, 29))], on)["accident"]
    grades = [
        fact("credit_grade", date(2013, 1, 1), "D"),
        fact("credit_grade", date(2014, 1, 1), "B"),
    ]
    assert not risk_factors(grades, on)["credit_c_or_d"]
    assert risk_factors(grades[:1], on)["credit_c_or_d"]
    assert risk_factors([fact("complaint_verified", date(2014, 9, 1))], on)["complaint"]


def test_an_empty_candidate_list_is_refused():
    with pytest.raises(RuleConflict, match="no active"):
        AuditPlan().decide(
            DrawAuditPlan(
                actor="o",
                plan_id="p",
                bureau="SH",
                kind="production_licence",
                seed=1,
                size=1,
                rate=None,
                per_target=1,
                candidates=(),
                inspectors=(),
            ),
            NOW,
        )


def first_target(p):
    return next(iter(p.targets))


def run(p, command, when=NOW):
    events = p.decide(command, when)
    for e in events:
        p.apply(e)
    return events


def test_findings_order_verify():
    p = plan()
    no = first_target(p)
    run(
        p,
        RecordFindings(
            actor="o", licence_no=no, findings=({"item": "brake", "severity": "serious"},)
        ),
    )
    with pytest.raises(RuleConflict, match="recorded already"):
        p.decide(RecordFindings(actor="o", licence_no=no, findings=()), NOW)
    run(
        p,
        OrderRectification(
            actor="o", licence_no=no, due_on=date(2014, 10, 20), items=("fix the brake",)
        ),
    )
    assert outcome_of(p.targets[no]) == "rectification_ordered"
    assert p.next_check_on() == date(2014, 10, 21)
    run(p, VerifyRectification(actor="o", licence_no=no))
    assert outcome_of(p.targets[no]) == "rectified" and p.next_check_on() is None


def test_an_order_needs_a_serious_finding_and_a_future_deadline():
    p = plan()
    no = first_target(p)
    with pytest.raises(RuleConflict, match="no findings"):
        p.decide(
            OrderRectification(actor="o", licence_no=no, due_on=date(2014, 10, 1), items=("x",)),
            NOW,
        )
    run(
        p,
        RecordFindings(
            actor="o", licence_no=no, findings=({"item": "label", "severity": "minor"},)
        ),
    )
    with pytest.raises(RuleConflict, match="serious"):
        p.decide(
            OrderRectification(actor="o", licence_no=no, due_on=date(2014, 10, 1), items=("x",)),
            NOW,
        )


def test_an_unrectified_order_past_its_deadline_opens_proceedings_once():
    p = plan()
    no = first_target(p)
    run(
        p,
        RecordFindings(
            actor="o", licence_no=no, findings=({"item": "brake", "severity": "serious"},)
        ),
    )
    run(
        p,
        OrderRectification(actor="o", licence_no=no, due_on=date(2014, 10, 20), items=("fix",)),
    )
    assert p.decide(SweepAudit(), datetime(2014, 10, 20, 2, tzinfo=UTC)) == []
    [event] = run(p, SweepAudit(), datetime(2014, 10, 21, 2, tzinfo=UTC))
    assert event.proceedings == "suspension"
    assert p.decide(SweepAudit(), datetime(2014, 10, 22, 2, tzinfo=UTC)) == []
    with pytest.raises(RuleConflict, match="overdue"):
        p.decide(VerifyRectification(actor="o", licence_no=no), NOW)


def test_a_licence_outside_the_plan_is_invalid():
    with pytest.raises(Invalid):
        plan().decide(RecordFindings(actor="o", licence_no="nope", findings=()), NOW)


def test_public_results_have_no_inspectors_or_weights():
    p = plan()
    results = p.public_results()
    assert results["seed"] == 42 and len(results["targets"]) == 3
    assert all(
        set(t)
        == {
            "licence_no",
            "holder",
            "holder_uscc",
            "outcome",
            "findings",
            "minor_findings",
            "rectification_due_on",
        }
        for t in results["targets"]
    )


def test_a_plan_is_refused_while_the_bureau_has_no_inspectors():
    with pytest.raises(RuleConflict, match="no inspectors"):
        plan(inspectors=[])


def test_public_results_count_minor_findings_and_list_serious_ones():
    p = plan()
    no = next(iter(p.targets))
    findings = (
        {"item": "log untidy", "severity": "minor"},
        {"item": "sign faded", "severity": "minor"},
        {"item": "brake worn", "severity": "serious"},
    )
    for e in p.decide(RecordFindings(actor="o", licence_no=no, findings=findings), NOW):
        p.apply(e)
    [published] = [t for t in p.public_results()["targets"] if t["licence_no"] == no]
    assert (published["findings"], published["minor_findings"]) == (["brake worn"], 2)


def test_a_persons_certificate_is_published_without_holder_or_employer():
    p = AuditPlan()
    for e in p.decide(
        DrawAuditPlan(
            actor="o",
            plan_id="p",
            bureau="SH",
            kind="operator_certificate",
            seed=1,
            size=2,
            rate=None,
            per_target=1,
            candidates=tuple({**c, "holder": None} for c in candidates(2)),
            inspectors=tuple(INSPECTORS),
        ),
        NOW,
    ):
        p.apply(e)
    assert all(t["holder_uscc"] for t in p.view()["targets"])  # officials see the employer
    published = p.public_results()["targets"]
    assert [(t["holder"], t["holder_uscc"]) for t in published] == [(None, None), (None, None)]


def test_a_target_short_of_inspectors_says_so():
    short = plan(n=1, size=1, per_target=3, inspectors=INSPECTORS[:2])
    [target] = short.view()["targets"]
    assert (target["inspectors"], target["inspectors_short"]) == (["i1"], 2)


def test_plan_events_replay_from_their_data():
    p = AuditPlan()
    [event] = p.decide(
        DrawAuditPlan(
            actor="o",
            plan_id="p",
            bureau="SH",
            kind="production_licence",
            seed=3,
            size=2,
            rate=None,
            per_target=1,
            candidates=tuple(candidates(4)),
            inspectors=tuple(INSPECTORS),
        ),
        NOW,
    )
    again = AuditPlanDrawn.from_data(event.to_data())
    assert again == event


# --- the yearly minimum -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("licensees", "required"),
    [(0, 0), (1, 1), (19, 1), (20, 1), (21, 2), (40, 2), (41, 3), (100, 5)],
)
def test_the_yearly_minimum_is_5_percent_of_licensees_rounded_up(licensees, required):
    coverage = yearly_coverage(RULES, "SH", "production_licence", 2014, licensees, [])
    assert coverage.required == required
    assert coverage.shortfall == required and coverage.met == (required == 0)


def test_the_rate_is_taken_as_written_not_as_binary_floating_point():
    assert 0.07 * 100 > 7  # what a bare ceil would round up to 8
    assert at_rate(100, 0.07) == 7 and plan_size(100, None, 0.07) == 7
    assert at_rate(3, 1.0) == 3


def test_the_yearly_minimum_rate_is_configurable_within_0_and_1():
    assert AuditRules().yearly_minimum_rate == 0.05
    ten = AuditRules(yearly_minimum_rate=0.1)
    assert yearly_coverage(ten, "SH", "production_licence", 2014, 21, []).required == 3
    for bad in (0, -0.1, 1.5):
        with pytest.raises(ValueError, match="yearly_minimum_rate"):
            AuditRules(yearly_minimum_rate=bad)


def drawn_plan(targets, on=date(2014, 3, 1), bureau="SH", kind="production_licence"):
    return {"bureau": bureau, "kind": kind, "drawn_on": on, "targets": list(targets)}


def test_drawn_counts_distinct_licences_across_the_years_plans_of_the_bureau_and_kind():
    plans = [
        drawn_plan(["L1", "L2"], date(2014, 1, 1)),
        drawn_plan(["L2", "L3"], date(2014, 12, 31)),
        drawn_plan(["L4", "L5", "L6"], date(2013, 12, 31)),  # last year
        drawn_plan(["L7"], bureau="310104"),  # another bureau
        drawn_plan(["L8"], kind="pressure_piping_licence"),  # another kind
    ]
    assert drawn_in_year(plans, "SH", "production_licence", 2014) == {"L1", "L2", "L3"}
    coverage = yearly_coverage(RULES, "SH", "production_licence", 2014, 61, plans)
    assert (coverage.required, coverage.drawn, coverage.shortfall) == (4, 3, 1)
    assert not coverage.met
    more = [*plans, drawn_plan(["L1", "L9"], date(2014, 6, 1))]
    coverage = yearly_coverage(RULES, "SH", "production_licence", 2014, 61, more)
    assert (coverage.drawn, coverage.shortfall, coverage.met) == (4, 0, True)
    assert coverage.view() == {
        "year": 2014,
        "licensees": 61,
        "required": 4,
        "drawn": 4,
        "shortfall": 0,
        "met": True,
    }
    assert coverage.row()["bureau"] == "SH"
    last_year = yearly_coverage(RULES, "SH", "production_licence", 2013, 61, more)
    assert (last_year.drawn, last_year.shortfall) == (3, 1)


def test_drawing_more_than_required_leaves_no_negative_shortfall():
    plans = [drawn_plan(["L1", "L2", "L3"])]
    coverage = yearly_coverage(RULES, "SH", "production_licence", 2014, 20, plans)
    assert (coverage.required, coverage.drawn, coverage.shortfall, coverage.met) == (1, 3, 0, True)


def test_a_plan_at_the_yearly_minimum_rate_meets_the_minimum_on_its_own():
    p = plan(n=21, rate=RULES.yearly_minimum_rate)
    assert len(p.targets) == 2
    drawn = [drawn_plan(p.targets, p.drawn_on)]
    assert yearly_coverage(RULES, "SH", "production_licence", 2014, 21, drawn).met


def flagged(n, drawn_before):
    return [{**c, "drawn_this_year": c["licence_no"] in drawn_before} for c in candidates(n)]


def test_licensees_drawn_earlier_in_the_year_are_drawn_last():
    for seed in range(30):
        first = {t["licence_no"] for t in draw(candidates(10), INSPECTORS, seed, 3, 1)}
        second = draw(flagged(10, first), INSPECTORS, seed, 3, 1)
        assert not first & {t["licence_no"] for t in second}
        everyone = draw(flagged(10, first), INSPECTORS, seed, 9, 1)
        assert {t["licence_no"] for t in everyone[-2:]} <= first  # only when needed


def test_without_earlier_draws_the_flag_changes_nothing():
    for seed in range(30):
        old = draw(candidates(10, heavy={2, 5}), INSPECTORS, seed, 4, 2)
        unflagged = [{**c, "drawn_this_year": False} for c in candidates(10, heavy={2, 5})]
        new = draw(unflagged, INSPECTORS, seed, 4, 2)
        assert [t["licence_no"] for t in new] == [t["licence_no"] for t in old]
        assert [t["inspectors"] for t in new] == [t["inspectors"] for t in old]


def test_a_plan_with_earlier_draws_is_reproduced_from_its_recorded_candidates():
    p = AuditPlan()
    [event] = p.decide(
        DrawAuditPlan(
            actor="o",
            plan_id="p2",
            bureau="SH",
            kind="production_licence",
            seed=11,
            size=3,
            rate=None,
            per_target=1,
            candidates=tuple(flagged(6, {"PL-SH-2014-00000", "PL-SH-2014-00001"})),
            inspectors=tuple(INSPECTORS),
        ),
        NOW,
    )
    p.apply(event)
    again = AuditPlan.from_events([AuditPlanDrawn.from_data(event.to_data())])
    assert again.reproduce() == [
        {k: v for k, v in t.items() if k not in ("findings", "order")} for t in p.targets.values()
    ]
    assert not any(t["drawn_this_year"] for t in p.targets.values())
    assert [c["drawn_this_year"] for c in event.candidates][:3] == [True, True, False]


def test_a_plan_names_size_or_rate_or_neither_but_not_both():
    body = {"kind": "production_licence"}
    neither = load(AuditPlanIn, body)
    assert "size" not in neither and "rate" not in neither
    assert load(AuditPlanIn, {**body, "rate": 0.1})["rate"] == 0.1
    with pytest.raises(InvalidInput) as both:
        load(AuditPlanIn, {**body, "size": 2, "rate": 0.1})
    assert "not both" in str(both.value.errors)


def test_the_coverage_year_is_checked_against_the_clock():
    this_year = today().year
    assert load(AuditCoverageQuery, {"year": str(this_year)}) == {"year": this_year}
    for bad in ("1999", str(this_year + 1), "twenty"):
        with pytest.raises(InvalidInput) as refused:
            load(AuditCoverageQuery, {"year": bad})
        assert list(refused.value.errors) == ["year"]
    with pytest.raises(InvalidInput) as refused:
        load(AuditCoverageQuery, {"kind": "fishing_licence"})
    assert list(refused.value.errors) == ["kind"]
