"""The kit's pure domain base (``infra.domain``) and its one table of refusals
(``infra.repository.domain_errors`` / ``kernel_error``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from gateway.problems import to_problem
from infra import domain, errors
from infra.eventstore import ConcurrencyError
from infra.repository import domain_errors, kernel_error

CST = timezone(timedelta(hours=8))
AT = datetime(2014, 10, 11, 9, 30, 15, 123456, tzinfo=CST)


@dataclass(frozen=True)
class Address:
    district: str
    street: str | None = None


@dataclass(frozen=True)
class Insured:
    name: str
    address: Address
    since: date


@dataclass(frozen=True, kw_only=True)
class PolicyEnrolled(domain.Event):
    """Every kind of field an event may hold."""

    policy_no: str
    premium: Decimal
    starts_on: date
    ends_on: date | None = None
    confirmed_at: datetime | None = None
    districts: tuple[str, ...] = ()
    insured: Insured | None = None
    earlier: tuple[Insured, ...] = ()
    limits: dict[str, Decimal] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    attempts: int = 0


def full_event() -> PolicyEnrolled:
    return PolicyEnrolled(
        at=AT,
        actor="insurer-1",
        policy_no="P-1",
        premium=Decimal("1234.50"),
        starts_on=date(2014, 10, 1),
        ends_on=date(2015, 9, 30),
        confirmed_at=datetime(2014, 10, 1, 0, 0, tzinfo=UTC),
        districts=("Siming", "Huli"),
        insured=Insured("Unit A", Address("Siming", "Hubin Rd 1"), date(2010, 1, 2)),
        earlier=(
            Insured("Unit B", Address("Huli"), date(2011, 3, 4)),
            Insured("Unit C", Address("Jimei", "Yinjiang Rd"), date(2012, 5, 6)),
        ),
        limits={"per_person": Decimal("500000.00"), "per_accident": Decimal("2E+6")},
        notes=["first", "second"],
        attempts=3,
    )


# --- encode / decode ------------------------------------------------------------------------


def test_an_event_survives_a_trip_through_json_unchanged():
    event = full_event()
    data = json.loads(json.dumps(event.to_data()))
    assert PolicyEnrolled.from_data(data) == event


def test_stored_data_is_plain_json_with_iso_dates_and_decimal_text():
    data = full_event().to_data()
    assert data["at"] == "2014-10-11T09:30:15.123456+08:00"
    assert data["starts_on"] == "2014-10-01"
    assert data["premium"] == "1234.50"
    assert data["districts"] == ["Siming", "Huli"]
    assert data["insured"] == {
        "name": "Unit A",
        "address": {"district": "Siming", "street": "Hubin Rd 1"},
        "since": "2010-01-02",
    }
    assert data["limits"] == {"per_person": "500000.00", "per_accident": "2E+6"}


def test_a_datetime_keeps_its_offset_and_its_instant():
    back = PolicyEnrolled.from_data(full_event().to_data())
    assert back.at.utcoffset() == timedelta(hours=8)
    assert back.at == AT
    assert back.confirmed_at is not None and back.confirmed_at.tzinfo is not None


def test_decimals_come_back_exact_not_as_floats():
    back = PolicyEnrolled.from_data(full_event().to_data())
    assert isinstance(back.premium, Decimal) and str(back.premium) == "1234.50"
    assert back.limits["per_person"] == Decimal("500000.00")
    assert isinstance(back.limits["per_accident"], Decimal)


def test_tuples_and_nested_frozen_dataclasses_come_back_as_their_types():
    back = PolicyEnrolled.from_data(full_event().to_data())
    assert back.districts == ("Siming", "Huli") and isinstance(back.districts, tuple)
    assert isinstance(back.insured, Insured) and isinstance(back.insured.address, Address)
    assert back.insured.since == date(2010, 1, 2)
    assert [type(i) for i in back.earlier] == [Insured, Insured]
    assert back.earlier[0].address.street is None


def test_optional_fields_stored_as_null_come_back_as_none():
    event = PolicyEnrolled(
        at=AT, actor="a", policy_no="P-2", premium=Decimal(1), starts_on=date(2014, 1, 1)
    )
    data = event.to_data()
    assert data["ends_on"] is None and data["insured"] is None
    assert PolicyEnrolled.from_data(data) == event


def test_fields_missing_from_older_stored_data_take_their_defaults():
    old = {"at": AT.isoformat(), "actor": "a", "policy_no": "P-3", "premium": "10"}
    back = PolicyEnrolled.from_data({**old, "starts_on": "2014-01-01"})
    assert back.ends_on is None
    assert back.districts == () and back.limits == {} and back.notes == []
    assert back.attempts == 0


def test_a_missing_field_without_default_is_an_error_not_a_silent_none():
    with pytest.raises(TypeError):
        PolicyEnrolled.from_data({"at": AT.isoformat(), "actor": "a", "policy_no": "P-4"})


def test_fields_the_class_no_longer_has_are_ignored():
    data = {**full_event().to_data(), "retired_field": "x"}
    assert PolicyEnrolled.from_data(data) == full_event()


@dataclass(frozen=True)
class Tally:
    by_day: dict[date, int]
    by_grade: dict[int, Decimal]
    label: str | int | None = None


def test_mapping_keys_stored_as_text_come_back_as_their_types():
    tally = Tally({date(2014, 10, 11): 2}, {3: Decimal("0.5")}, label=7)
    data = json.loads(json.dumps(domain.encode(tally)))
    assert data == {"by_day": {"2014-10-11": 2}, "by_grade": {"3": "0.5"}, "label": 7}
    assert domain.from_data(Tally, data) == tally


def test_a_plain_dataclass_round_trips_through_encode_and_from_data():
    value = Insured("Unit A", Address("Siming"), date(2014, 2, 3))
    assert domain.from_data(Insured, domain.encode(value)) == value


def test_event_types_name_each_class_by_its_type():
    assert domain.event_types(PolicyEnrolled) == {"PolicyEnrolled": PolicyEnrolled}
    assert full_event().type == "PolicyEnrolled"


# --- derived ids ----------------------------------------------------------------------------


def test_derived_ids_are_stable_uuids_of_their_parts():
    first = domain.derived_id("command", "c-1", "board-x", 0)
    assert first == domain.derived_id("command", "c-1", "board-x", 0)
    # Pinned: a changed namespace or joining rule would store every derived fact again.
    assert first == "bc1e5f73-1e38-5540-9b63-f7b8edf4f8de"


def test_derived_ids_differ_when_any_part_differs():
    ids = {
        domain.derived_id("command", "c-1", "board-x", 0),
        domain.derived_id("command", "c-1", "board-x", 1),
        domain.derived_id("command", "c-2", "board-x", 0),
        domain.derived_id("command", "c-1", "board-y", 0),
    }
    assert len(ids) == 4


# --- aggregate base and field checks -------------------------------------------------------


@dataclass
class Counter(domain.Aggregate):
    total: int = 0
    version: int = 0

    def apply(self, event: domain.Event) -> None:
        self.total += 1
        self.version += 1


def test_an_aggregate_exists_once_it_has_applied_an_event_and_fold_applies_in_order():
    counter = Counter()
    assert not counter.exists
    assert counter.fold([full_event(), full_event()]) is counter
    assert counter.exists and counter.version == 2


@pytest.mark.parametrize("value", [None, "", "   ", 3])
def test_text_refuses_what_is_not_non_empty_text_on_its_path(value):
    with pytest.raises(domain.Invalid) as err:
        domain.text(value, "applicant.name")
    assert err.value.errors == {"applicant.name": ["must be non-empty text"]}


def test_text_strips_and_optional_text_may_be_absent():
    assert domain.text("  Unit A ", "name") == "Unit A"
    assert domain.text(None, "name", required=False) is None


@pytest.mark.parametrize("value", ["2014-10-11", date(2014, 10, 11)])
def test_as_date_takes_a_date_or_iso_text(value):
    assert domain.as_date(value, "on") == date(2014, 10, 11)


@pytest.mark.parametrize("value", ["11/10/2014", None, datetime(2014, 10, 11), 20141011])
def test_as_date_refuses_anything_else_on_its_path(value):
    with pytest.raises(domain.Invalid) as err:
        domain.as_date(value, "policies.2.ends_on")
    assert list(err.value.errors) == ["policies.2.ends_on"]


# --- refusals to kernel errors to HTTP -----------------------------------------------------

REFUSALS = [
    (domain.Invalid("title", "must be non-empty text"), errors.Invalid, 422),
    (domain.NotKnown("board x not found"), errors.NotFound, 404),
    (domain.RuleConflict("the notice is unpinned already"), errors.Conflict, 409),
    (domain.Stale("revision 3 is older than 4"), errors.Stale, 409),
]
PROBLEM_OF = {errors.Invalid: "validation", errors.NotFound: "not-found"}
PROBLEM_OF |= {errors.Conflict: "conflict", errors.Stale: "stale"}


@pytest.mark.parametrize(("refusal", "kernel", "status"), REFUSALS)
def test_domain_errors_translates_each_refusal_to_its_kernel_error(refusal, kernel, status):
    with pytest.raises(errors.DomainError) as err, domain_errors():
        raise refusal
    assert type(err.value) is kernel
    assert err.value.status == status
    assert err.value.detail == refusal.detail


@pytest.mark.parametrize(("refusal", "kernel", "status"), REFUSALS)
def test_kernel_error_returns_the_same_translation(refusal, kernel, status):
    translated = kernel_error(refusal)
    assert type(translated) is kernel and translated.status == status


@pytest.mark.parametrize(("refusal", "kernel", "status"), REFUSALS)
def test_the_gateway_answers_each_translated_refusal_with_its_status(refusal, kernel, status):
    problem = to_problem(kernel_error(refusal))
    assert problem.type.slug == PROBLEM_OF[kernel]
    assert problem.status == status


def test_an_invalid_refusal_keeps_its_field_path():
    translated = kernel_error(domain.Invalid("policies.3.ends_on", "must be a date"))
    assert translated.errors == {"policies.3.ends_on": ["must be a date"]}


def test_a_lost_race_is_a_conflict():
    translated = kernel_error(ConcurrencyError("board-x", 3, 4))
    assert type(translated) is errors.Conflict and translated.status == 409


def test_other_exceptions_pass_through_domain_errors_untouched():
    with pytest.raises(KeyError), domain_errors():
        raise KeyError("a bug, not a refusal")
