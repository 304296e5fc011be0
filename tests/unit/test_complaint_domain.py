"""The complaint's rules: received once, decided once with a reason, verified or dismissed;
an officer of another district does not find it; contact details ride as a person wrapped
for encryption (the reference is its subject)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from infra import domain
from services.maintenance_credit.complaint import (
    MAX_WHAT,
    Complaint,
    ComplaintDecided,
    ComplaintReceived,
    DecideComplaint,
    ReceiveComplaint,
    officer_district,
)

NOW = datetime.fromisoformat("2016-03-01T09:00:00+08:00")
REF = "C-AAAAAAAAAAAAAAAAAAAAAAAAAA"
UNIT = "91350200776049653A"


def receive(**kw) -> ReceiveComplaint:
    fields = {
        "actor": "public:anon",
        "reference": REF,
        "equipment_code": "310112345201400001",
        "district": "310104",
        "what": "the doors closed on my arm",
        "occurred_at": NOW - timedelta(days=2),
        "contact": None,
    } | kw
    return ReceiveComplaint(**fields)


def received(**kw) -> Complaint:
    c = Complaint()
    c.fold(c.decide(receive(**kw), NOW))
    return c


def decision(outcome="verified", reason="footage checked", district="310104", unit=UNIT):
    return DecideComplaint(
        actor="bureau_officer:t1", outcome=outcome, reason=reason, district=district, unit_uscc=unit
    )


def test_a_complaint_is_received_with_its_account_and_no_contact_unless_given():
    c = received()
    assert (c.status, c.reference, c.district, c.contact) == ("received", REF, "310104", None)
    assert c.occurred_on.isoformat() == "2016-02-28"
    (event,) = Complaint().decide(receive(contact="138 0000 0000"), NOW)
    assert isinstance(event, ComplaintReceived)
    # the person the repository wraps for encryption, the reference its subject
    assert event.person == {"id_number": REF, "contact": "138 0000 0000"}
    assert "contact" not in event.to_data()


def test_a_complaint_is_received_once():
    with pytest.raises(domain.RuleConflict):
        received().decide(receive(), NOW)


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"what": "   "}, "what"),
        ({"what": "x" * (MAX_WHAT + 1)}, "what"),
        ({"occurred_at": NOW + timedelta(hours=1)}, "occurred_at"),
    ],
)
def test_a_complaint_needs_an_account_of_the_past(kw, field):
    with pytest.raises(domain.Invalid) as exc:
        Complaint().decide(receive(**kw), NOW)
    assert exc.value.field == field


def test_verified_names_the_unit_and_the_day():
    c = received()
    (event,) = c.decide(decision(), NOW)
    assert isinstance(event, ComplaintDecided)
    c.apply(event)
    assert (c.status, c.reason, c.unit_uscc) == ("verified", "footage checked", UNIT)
    assert c.decided_on.isoformat() == "2016-03-01"


def test_dismissed_names_no_unit():
    c = received()
    c.fold(c.decide(decision("dismissed", "not our lift", unit=UNIT), NOW))
    assert (c.status, c.unit_uscc) == ("dismissed", None)


def test_a_complaint_is_decided_once():
    c = received()
    c.fold(c.decide(decision(), NOW))
    for outcome in ("verified", "dismissed"):
        with pytest.raises(domain.RuleConflict):
            c.decide(decision(outcome), NOW)


def test_a_decision_needs_a_reason_and_a_known_outcome():
    with pytest.raises(domain.Invalid) as exc:
        received().decide(decision(reason=" "), NOW)
    assert exc.value.field == "reason"
    with pytest.raises(domain.Invalid) as exc:
        received().decide(decision(outcome="upheld"), NOW)
    assert exc.value.field == "outcome"


def test_another_districts_officer_does_not_find_it_the_city_does():
    with pytest.raises(domain.NotKnown):
        received().decide(decision(district="310101"), NOW)
    with pytest.raises(domain.NotKnown):
        Complaint().decide(decision(), NOW)
    assert received().decide(decision(district=None), NOW)


def test_officers_districts():
    assert officer_district(None) is None
    assert officer_district("SH") is None
    assert officer_district("FTZ") == "310115"
    assert officer_district("310104") == "310104"
