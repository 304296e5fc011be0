"""What the credit service's users take from it, as pure code: licensing's audit weights from a
published final grade (officers' grade facts only where none is published), and the published
contract of a recorded quality event."""

from datetime import date

import pytest

from services.licensing.domain.audit.risk import RiskFact, risk_factors
from services.licensing.domain.audit.rules import AuditRules
from services.maintenance_credit.schemas import validate_event

ON = date(2016, 6, 1)
RULES = AuditRules()


def officer_grade(grade: str) -> RiskFact:
    return RiskFact("f-1", "U", "credit_grade", date(2016, 1, 4), grade)


@pytest.mark.parametrize(("published", "weight"), [("A", 1.0), ("B", 1.0), ("C", 3.0), ("D", 3.0)])
def test_a_published_c_or_d_weighs_more_than_a_or_b(published, weight):
    assert RULES.weight(risk_factors([], ON, published)) == weight


@pytest.mark.parametrize(
    ("officers", "published", "c_or_d"),
    [
        ("D", "A", False),  # the published grade wins over an officer's fact
        ("A", "D", True),
        ("D", None, True),  # none published: the officer's fact counts
        ("B", None, False),
    ],
)
def test_an_officers_grade_counts_only_where_none_is_published(officers, published, c_or_d):
    factors = risk_factors([officer_grade(officers)], ON, published)
    assert factors["credit_c_or_d"] is c_or_d


def test_a_recorded_quality_event_has_a_published_contract():
    recorded = {
        "event_id": "q-1",
        "unit_uscc": "91310000132200821H",
        "equipment_code": "311012345201400001",
        "type": "entrapment",
        "occurred_at": "2016-03-01T10:00:00+08:00",
        "details": {"arrival_minutes": 45, "area": "central"},
        "recorded_by": "bureau_officer:t1",
    }
    assert validate_event("QualityEventRecorded", recorded) == {}
    about_the_unit = {**recorded, "equipment_code": None, "type": "complaint_verified"}
    assert validate_event("QualityEventRecorded", about_the_unit) == {}
    assert set(validate_event("QualityEventRecorded", {**recorded, "type": "rumour"})) == {"type"}
    assert "equipment_code" in validate_event(
        "QualityEventRecorded", {k: v for k, v in recorded.items() if k != "equipment_code"}
    )
