"""Rule sets as versioned data: the shipped default, validation by field, the version in force."""

from __future__ import annotations

import copy
import json
from datetime import date
from decimal import Decimal

import pytest

from infra import domain
from services.maintenance_credit import rules
from services.maintenance_credit.rules import SHIPPED, RuleSets, parse


def default_data() -> dict:
    return json.loads((SHIPPED / "demerit-2016.json").read_text(encoding="utf-8"))


def test_the_default_rule_set_is_demerit_2016_as_the_standard_gives_it():
    ruleset = RuleSets.shipped().get("demerit-2016")
    assert ruleset.effective_from == date(2016, 1, 1)
    assert ruleset.objection_working_days == 10
    points = {name: rule.get("points") for name, rule in ruleset.rules.items()}
    assert points == {
        "beyond_licence_scope": 40,
        "forged_record": 40,
        "expired_licence_work": 20,
        "duty_phone_unanswered": 5,
        "repeated_faults": 10,
        "late_entrapment_arrival": 10,
        "first_pass_rate": None,
        "complaint_verified": 2,
        "missed_maintenance": 1,
    }
    assert ruleset.rules["repeated_faults"]["faults_per_month"] == 3
    assert ruleset.rules["late_entrapment_arrival"]["limit_minutes"] == {"central": 30, "outer": 60}
    assert [
        (b["below_percent"], b["points"]) for b in ruleset.rules["first_pass_rate"]["bands"]
    ] == [
        (95, 2),
        (90, 5),
        (80, 10),
        (70, 20),
    ]
    assert ruleset.rules["missed_maintenance"]["per_elevators"] == 100
    assert [(b.grade, b.min, b.max) for b in ruleset.bands] == [
        ("A", 0, 10),
        ("B", 11, 25),
        ("C", 26, 40),
        ("D", 41, None),
    ]
    assert {v.id for v in ruleset.vetoes} == {
        "licence_expired",
        "liability_accident",
        "bypassing_safety_circuits",
        "subcontracting_maintenance",
        "serious_violation_listing",
    }


@pytest.mark.parametrize(
    ("demerits", "grade"),
    [
        ("0", "A"),
        ("10", "A"),
        ("10.50", "B"),
        ("11", "B"),
        ("25", "B"),
        ("26", "C"),
        ("40", "C"),
        ("40.01", "D"),
        ("41", "D"),
        ("500", "D"),
    ],
)
def test_grade_bands_at_their_edges(demerits, grade):
    assert RuleSets.shipped().get("demerit-2016").grade(Decimal(demerits)) == grade


def broken(change) -> dict:
    data = copy.deepcopy(default_data())
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda d: d["rules"].update(tea_break={"points": 1}), "rules.tea_break", "unknown rule"),
        (
            lambda d: d["rules"]["complaint_verified"].update(points=-1),
            "rules.complaint_verified.points",
            "at least 0",
        ),
        (
            lambda d: d["rules"]["complaint_verified"].pop("points"),
            "rules.complaint_verified.points",
            "required",
        ),
        (
            lambda d: d["rules"]["complaint_verified"].update(weight=2),
            "rules.complaint_verified.weight",
            "unknown parameter",
        ),
        (
            lambda d: d["rules"]["missed_maintenance"].update(per_elevators=0),
            "rules.missed_maintenance.per_elevators",
            "at least 1",
        ),
        (
            lambda d: d["rules"]["late_entrapment_arrival"].update(limit_minutes={"central": 30}),
            "rules.late_entrapment_arrival.limit_minutes",
            "central",
        ),
        (
            lambda d: d["rules"]["first_pass_rate"]["bands"][1].update(below_percent=96),
            "rules.first_pass_rate.bands.1.below_percent",
            "fall",
        ),
        (lambda d: d["grades"][1].update(min=10), "grades.1.min", "overlaps grade A"),
        (lambda d: d["grades"][2].update(min=27), "grades.2.min", "gap after grade B"),
        (lambda d: d["grades"][0].update(min=1), "grades.0.min", "start at 0"),
        (lambda d: d["grades"][3].update(max=100), "grades.3.max", "open-ended"),
        (lambda d: d["grades"][1].update(max=None), "grades.1.max", "only the last"),
        (lambda d: d["grades"][1].update(grade="A"), "grades.1.grade", "twice"),
        (
            lambda d: d["vetoes"].append({"id": "x", "fact": "sneezing"}),
            "vetoes.5.fact",
            "unknown fact",
        ),
        (lambda d: d.update(effective_from="2016-13-01"), "effective_from", "date"),
        (lambda d: d.update(colour="red"), "colour", "unknown field"),
        (lambda d: d.update(version=" "), "version", "non-empty"),
    ],
)
def test_a_broken_rule_set_is_refused_naming_the_field(change, field, words):
    with pytest.raises(domain.Invalid) as refused:
        parse(broken(change))
    assert refused.value.field == field
    assert words in refused.value.message


def test_the_rule_set_in_force_is_the_latest_effective_on_the_day():
    old = RuleSets.shipped().get("demerit-2016")
    newer = parse(broken(lambda d: d.update(version="demerit-2020", effective_from="2020-07-01")))
    catalogue = RuleSets.shipped().with_version(newer)
    assert catalogue.in_force(date(2020, 6, 30)) == old
    assert catalogue.in_force(date(2020, 7, 1)).version == "demerit-2020"
    assert catalogue.in_force(date(2016, 1, 1)) == old
    # before every version, the default scores the period
    assert catalogue.in_force(date(2014, 12, 31)) == old
    without_default = RuleSets([newer])
    assert without_default.in_force(date(2020, 7, 1)) == newer
    with pytest.raises(domain.NotKnown):
        without_default.in_force(date(2020, 6, 30))
    with pytest.raises(domain.Invalid):
        catalogue.with_version(newer)


def test_every_shipped_file_is_named_after_its_version():
    assert [r.version for r in RuleSets.shipped()] == [
        p.stem for p in sorted(SHIPPED.glob("*.json"))
    ]
    assert rules.DEFAULT_VERSION in RuleSets.shipped().by_version
