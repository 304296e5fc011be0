"""Post-approval audits: the reproducible risk-weighted draw, conflicts of inspectors,
findings, rectification orders, verification, overdue orders, public results."""

from collections import Counter
from datetime import UTC, date, datetime

import pytest

from services.licensing.domain import audit as dau
from services.licensing.domain import common as dc

NOW = datetime(2014, 9, 29, 2, tzinfo=UTC)
RULES = dau.AuditRules()


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
    p = dau.AuditPlan()
    for e in p.decide(
        dau.DrawAuditPlan(
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
        for t in dau.draw(candidates(10, heavy), INSPECTORS, seed, 2, 0):
            counts[t["licence_no"]] += 1
    heavy_rate = (counts["PL-SH-2014-00000"] + counts["PL-SH-2014-00001"]) / 2
    light_rate = sum(counts[f"PL-SH-2014-{i:05d}"] for i in range(2, 10)) / 8
    assert heavy_rate > 2 * light_rate


def test_inspectors_with_a_conflict_are_never_assigned():
    for seed in range(50):
        for t in dau.draw(candidates(4), INSPECTORS, seed, 4, 3):
            own = "i" + str(int(t["holder_uscc"][1:]))
            assert own not in t["inspectors"] and len(t["inspectors"]) == 3


def test_fewer_eligible_inspectors_than_asked_assigns_those_there_are():
    [t] = dau.draw(candidates(1), INSPECTORS[:2], 1, 1, 5)
    assert t["inspectors"] == ["i1"]


@pytest.mark.parametrize(
    ("n", "size", "rate", "expected"),
    [(100, None, 0.05, 5), (101, None, 0.05, 6), (3, None, 0.05, 1), (3, 10, None, 3)],
)
def test_plan_size_from_size_or_rate(n, size, rate, expected):
    assert dau.plan_size(n, size, rate) == expected


def test_weights_add_up_per_risk_factor():
    assert RULES.weight({}) == 1.0
    assert RULES.weight({"accident": True, "credit_c_or_d": True, "complaint": True}) == 6.0


def fact(kind, on, grade=None):
    return dau.RiskFact("f", "U", kind, on, grade)


def test_risk_factors_look_back_two_years_and_at_the_latest_grade():
    on = date(2014, 9, 29)
    assert dau.risk_factors([fact("accident", date(2012, 9, 30))], on)["accident"]
    assert not dau.risk_factors([fact("accident", date(2012, 9, 29))], on)["accident"]
    grades = [
        fact("credit_grade", date(2013, 1, 1), "D"),
        fact("credit_grade", date(2014, 1, 1), "B"),
    ]
    assert not dau.risk_factors(grades, on)["credit_c_or_d"]
    assert dau.risk_factors(grades[:1], on)["credit_c_or_d"]
    assert dau.risk_factors([fact("complaint_verified", date(2014, 9, 1))], on)["complaint"]


def test_an_empty_candidate_list_is_refused():
    with pytest.raises(dc.RuleConflict, match="no active"):
        dau.AuditPlan().decide(
            dau.DrawAuditPlan(
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
        dau.RecordFindings(
            actor="o", licence_no=no, findings=({"item": "brake", "severity": "serious"},)
        ),
    )
    with pytest.raises(dc.RuleConflict, match="recorded already"):
        p.decide(dau.RecordFindings(actor="o", licence_no=no, findings=()), NOW)
    run(
        p,
        dau.OrderRectification(
            actor="o", licence_no=no, due_on=date(2014, 10, 20), items=("fix the brake",)
        ),
    )
    assert dau.outcome_of(p.targets[no]) == "rectification_ordered"
    assert p.next_check_on() == date(2014, 10, 21)
    run(p, dau.VerifyRectification(actor="o", licence_no=no))
    assert dau.outcome_of(p.targets[no]) == "rectified" and p.next_check_on() is None


def test_an_order_needs_a_serious_finding_and_a_future_deadline():
    p = plan()
    no = first_target(p)
    with pytest.raises(dc.RuleConflict, match="no findings"):
        p.decide(
            dau.OrderRectification(
                actor="o", licence_no=no, due_on=date(2014, 10, 1), items=("x",)
            ),
            NOW,
        )
    run(
        p,
        dau.RecordFindings(
            actor="o", licence_no=no, findings=({"item": "label", "severity": "minor"},)
        ),
    )
    with pytest.raises(dc.RuleConflict, match="serious"):
        p.decide(
            dau.OrderRectification(
                actor="o", licence_no=no, due_on=date(2014, 10, 1), items=("x",)
            ),
            NOW,
        )


def test_an_unrectified_order_past_its_deadline_opens_proceedings_once():
    p = plan()
    no = first_target(p)
    run(
        p,
        dau.RecordFindings(
            actor="o", licence_no=no, findings=({"item": "brake", "severity": "serious"},)
        ),
    )
    run(
        p,
        dau.OrderRectification(actor="o", licence_no=no, due_on=date(2014, 10, 20), items=("fix",)),
    )
    assert p.decide(dau.SweepAudit(), datetime(2014, 10, 20, 2, tzinfo=UTC)) == []
    [event] = run(p, dau.SweepAudit(), datetime(2014, 10, 21, 2, tzinfo=UTC))
    assert event.proceedings == "suspension"
    assert p.decide(dau.SweepAudit(), datetime(2014, 10, 22, 2, tzinfo=UTC)) == []
    with pytest.raises(dc.RuleConflict, match="overdue"):
        p.decide(dau.VerifyRectification(actor="o", licence_no=no), NOW)


def test_a_licence_outside_the_plan_is_invalid():
    with pytest.raises(dc.Invalid):
        plan().decide(dau.RecordFindings(actor="o", licence_no="nope", findings=()), NOW)


def test_public_results_have_no_inspectors_or_weights():
    p = plan()
    results = p.public_results()
    assert results["seed"] == 42 and len(results["targets"]) == 3
    assert all(
        set(t)
        == {"licence_no", "holder", "holder_uscc", "outcome", "findings", "rectification_due_on"}
        for t in results["targets"]
    )


def test_plan_events_replay_from_their_data():
    p = dau.AuditPlan()
    [event] = p.decide(
        dau.DrawAuditPlan(
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
    again = dau.AuditPlanDrawn.from_data(event.to_data())
    assert again == event
