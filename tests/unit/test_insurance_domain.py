"""The policy aggregate: sync by revision, reminders and lapse, and a fold that never checks."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import pytest

from infra.domain import Stale
from services.insurance.domain import (
    EVENT_TYPES,
    LapsePolicy,
    Limits,
    Policy,
    PolicyCancelled,
    PolicyEndingSoon,
    PolicyEnrolled,
    Policyholder,
    PolicyLapsed,
    PolicyRevised,
    RemindPolicy,
    SyncPolicy,
    Terms,
    outcome,
)

INSURER = "91350200776049653A"
NOW = datetime(2014, 12, 1, 1, 0, tzinfo=UTC)
TERMS = Terms(
    policyholders=(
        Policyholder(uscc="9135021359498494XQ", name="Owner Co", role="owner", share="0.70"),
        Policyholder(uscc="91440101MA5CJQ4N59", name="Lift Care", role="maintenance", share="0.30"),
    ),
    equipment_codes=("311012345201400001", "311012345201400002"),
    cover="liability",
    limits=Limits(per_accident="1000000.00", per_person="800000.00"),
    premium="93.00",
    starts_on=date(2014, 7, 1),
    ends_on=date(2015, 6, 30),
    status="active",
)


def push(revision: int, **changes) -> SyncPolicy:
    terms = dataclasses.replace(TERMS, **changes)
    return SyncPolicy(
        actor="insurer:t1", insurer=INSURER, policy_no="PA-1", revision=revision, terms=terms
    )


def enrolled(revision: int = 1, **changes) -> Policy:
    policy = Policy()
    return policy.fold(policy.decide(push(revision, **changes), NOW))


def remind(on: date) -> RemindPolicy:
    return RemindPolicy(actor="system", on=on)


def lapse(on: date) -> LapsePolicy:
    return LapsePolicy(actor="system", on=on)


# --- sync ---------------------------------------------------------------------------------


def test_first_push_enrolls_the_policy():
    events = Policy().decide(push(1), NOW)
    assert events == [
        PolicyEnrolled(
            at=NOW, actor="insurer:t1", insurer=INSURER, policy_no="PA-1", revision=1, terms=TERMS
        )
    ]
    assert outcome(events) == "created"
    policy = Policy().fold(events)
    assert (policy.insurer, policy.policy_no, policy.revision, policy.version) == (
        INSURER,
        "PA-1",
        1,
        1,
    )
    assert policy.status == "active"


def test_identical_replay_of_a_revision_changes_nothing():
    policy = enrolled(2)
    events = policy.decide(push(2), NOW)
    assert events == [] and outcome(events) == "unchanged"


def test_an_older_revision_is_stale():
    with pytest.raises(Stale, match="older than the stored 3"):
        enrolled(3).decide(push(2), NOW)


def test_the_same_revision_with_other_content_is_stale():
    with pytest.raises(Stale, match="already stored with other content"):
        enrolled(3).decide(push(3, premium="99.00"), NOW)


def test_a_newer_revision_supersedes_with_the_elevators_added_and_removed():
    policy = enrolled(1)
    events = policy.decide(
        push(2, equipment_codes=("311012345201400002", "311012345201400003")), NOW
    )
    [revised] = events
    assert isinstance(revised, PolicyRevised) and outcome(events) == "superseded"
    assert revised.added == ("311012345201400003",)
    assert revised.removed == ("311012345201400001",)
    policy.fold(events)
    assert policy.revision == 2 and policy.version == 2
    assert policy.terms is not None
    assert policy.terms.equipment_codes == ("311012345201400002", "311012345201400003")


def test_a_newer_cancelled_revision_cancels():
    policy = enrolled(1)
    events = policy.decide(push(2, status="cancelled"), NOW)
    assert [type(e) for e in events] == [PolicyCancelled] and outcome(events) == "superseded"
    assert policy.fold(events).status == "cancelled"
    # a cancelled policy is neither reminded nor lapsed
    assert policy.decide(remind(date(2015, 6, 28)), NOW) == []
    assert policy.decide(lapse(date(2015, 7, 1)), NOW) == []


# --- reminders and lapse ------------------------------------------------------------------


def test_reminder_from_three_days_before_the_end_once_per_end_date():
    policy = enrolled(1)
    assert policy.decide(remind(date(2015, 6, 26)), NOW) == []  # four days before
    events = policy.decide(remind(date(2015, 6, 27)), NOW)
    assert events == [
        PolicyEndingSoon(
            at=NOW, actor="system", ends_on=date(2015, 6, 30), reminded_on=date(2015, 6, 27)
        )
    ]
    policy.fold(events)
    assert policy.decide(remind(date(2015, 6, 28)), NOW) == []  # once for this end date
    # a newer revision that moves the end date is reminded again when that one nears
    policy.fold(policy.decide(push(2, ends_on=date(2015, 12, 31)), NOW))
    assert policy.decide(remind(date(2015, 6, 28)), NOW) == []
    assert len(policy.decide(remind(date(2015, 12, 29)), NOW)) == 1


def test_lapse_only_after_the_last_day():
    policy = enrolled(1)
    assert policy.decide(lapse(date(2015, 6, 30)), NOW) == []  # the last day is covered
    events = policy.decide(lapse(date(2015, 7, 1)), NOW)
    assert events == [
        PolicyLapsed(
            at=NOW, actor="system", ends_on=date(2015, 6, 30), equipment_codes=TERMS.equipment_codes
        )
    ]
    policy.fold(events)
    assert policy.status == "lapsed"
    assert policy.decide(lapse(date(2015, 7, 2)), NOW) == []  # once
    assert policy.decide(remind(date(2015, 6, 29)), NOW) == []


def test_a_newer_revision_after_a_lapse_makes_the_policy_active_again():
    policy = enrolled(1)
    policy.fold(policy.decide(lapse(date(2015, 7, 1)), NOW))
    policy.fold(policy.decide(push(2, ends_on=date(2016, 6, 30)), NOW))
    assert policy.status == "active"


# --- apply never checks; stored data round-trips ------------------------------------------


def test_apply_folds_what_decide_would_refuse():
    policy = enrolled(5)
    # an older revision would be stale as a command; as a recorded fact it is folded as is
    policy.apply(PolicyRevised(at=NOW, actor="insurer:t1", revision=2, terms=TERMS))
    assert (policy.revision, policy.version) == (2, 2)
    # so is a lapse before the end, and a second reminder
    policy.apply(
        PolicyLapsed(at=NOW, actor="system", ends_on=date(2015, 6, 30), equipment_codes=())
    )
    assert policy.status == "lapsed" and policy.version == 3


def test_events_round_trip_through_stored_data_with_todays_field_names():
    policy = enrolled(1)
    events = [
        *Policy().decide(push(1), NOW),
        *policy.decide(push(2, equipment_codes=("311012345201400009",)), NOW),
        PolicyEndingSoon(
            at=NOW, actor="system", ends_on=date(2015, 6, 30), reminded_on=date(2015, 6, 27)
        ),
    ]
    for event in events:
        data = event.to_data()
        assert EVENT_TYPES[event.type].from_data(data) == event
    enrolment = events[0].to_data()
    assert set(enrolment) == {"at", "actor", "insurer", "policy_no", "revision", "terms"}
    assert enrolment["terms"]["starts_on"] == "2014-07-01"
    assert enrolment["terms"]["policyholders"][0] == {
        "uscc": "9135021359498494XQ",
        "name": "Owner Co",
        "role": "owner",
        "share": "0.70",
    }
    assert enrolment["terms"]["limits"] == {"per_accident": "1000000.00", "per_person": "800000.00"}
    assert set(events[1].to_data()) == {"at", "actor", "revision", "terms", "added", "removed"}


# --- what counts as the same content ------------------------------------------------------


def test_a_replay_that_lists_the_elevators_and_holders_in_another_order_is_unchanged():
    policy = enrolled(2)
    reordered = push(
        2,
        equipment_codes=tuple(reversed(TERMS.equipment_codes)),
        policyholders=tuple(reversed(TERMS.policyholders)),
    )
    assert policy.decide(reordered, NOW) == []


def test_a_replay_that_writes_the_same_amounts_with_other_digits_is_unchanged():
    policy = enrolled(2)
    owner, care = TERMS.policyholders
    same = push(
        2,
        policyholders=(
            dataclasses.replace(owner, share="0.7"),
            dataclasses.replace(care, share="0.3000"),
        ),
        limits=Limits(per_accident="1000000", per_person="800000.0"),
        premium="93",
    )
    assert policy.decide(same, NOW) == []


def test_the_same_revision_naming_another_elevator_is_still_stale():
    with pytest.raises(Stale, match="other content"):
        enrolled(2).decide(push(2, equipment_codes=("311012345201400009",)), NOW)
    with pytest.raises(Stale, match="other content"):
        enrolled(2).decide(push(2, premium="93.01"), NOW)
