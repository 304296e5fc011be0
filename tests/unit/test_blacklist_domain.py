"""The blacklist's rules: listings by cause, the management period, credit repair, removal and
the end of publication (``services/blacklist/domain.py``), on the aggregate alone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from infra import domain
from services.blacklist.domain import (
    CREDIT_REPAIRED,
    PUBLICATION_ENDED,
    ApplyForRepair,
    DecideRepair,
    ListingRemoved,
    ListUnit,
    ManagementPeriodRestarted,
    NameUnit,
    RecordReinspection,
    RemoveDue,
    RepairDecided,
    Terms,
    Unit,
    UnitListed,
    UnitNamed,
    add_years,
    remove_due,
    uscc_of,
)

USCC = "91350200776049653A"
LISTED_ON = date(2016, 3, 10)
# 04:00 UTC is noon in Shanghai: the business date is the UTC date.
NOON = datetime(2016, 3, 10, 4, tzinfo=UTC)


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 4, tzinfo=UTC)


def listing_command(cause: str = "final_grade_d:2015", listed_on: date = LISTED_ON) -> ListUnit:
    return ListUnit(
        actor="system",
        uscc=USCC,
        list="maintenance_quality",
        cause=cause,
        reason="final maintenance-quality credit grade D",
        legal_basis="credit rules",
        authority="SH",
        decision_no=f"AUTO-{cause}",
        listed_on=listed_on,
        trigger_event_id="event-1",
    )


def run(unit: Unit, command: domain.Command, now: datetime = NOON, terms: Terms | None = None):
    events = unit.decide(command, now, terms or Terms())
    unit.fold(events)
    return events


def listed_unit(terms: Terms | None = None) -> Unit:
    unit = Unit()
    run(unit, NameUnit(actor="system", uscc=USCC, name="Huangpu Lift Care", district="310101"))
    run(unit, listing_command(), terms=terms)
    return unit


def granted_unit() -> Unit:
    unit = listed_unit()
    run(unit, ApplyForRepair(actor="unit", listing_id=f"{USCC}-1", rectification="new staff"))
    app = f"{USCC}-1-R1"
    run(
        unit,
        RecordReinspection(
            actor="city", application_id=app, passed=True, findings="ok", inspected_on=LISTED_ON
        ),
    )
    run(unit, DecideRepair(actor="city", application_id=app, outcome="granted", reason="fixed"))
    return unit


# --- listing --------------------------------------------------------------------------------


def test_a_listing_carries_its_dates_and_the_triggering_event():
    unit = listed_unit()
    (listing,) = unit.listings
    assert listing.id == f"{USCC}-1" and uscc_of(listing.id) == USCC
    assert listing.listed_on == LISTED_ON
    assert listing.earliest_removal_on == date(2017, 3, 10)
    assert listing.publication_ends_on == date(2019, 3, 10)
    assert listing.trigger_event_id == "event-1"
    assert listing.status == "listed"
    assert (unit.name, unit.district) == ("Huangpu Lift Care", "310101")


def test_the_same_cause_lists_the_unit_once():
    unit = listed_unit()
    assert run(unit, listing_command()) == []
    assert len(unit.listings) == 1


def test_another_cause_is_another_listing():
    unit = listed_unit()
    events = run(unit, listing_command("beyond_licence_scope:fact-9", date(2016, 4, 1)))
    assert isinstance(events[0], UnitListed)
    assert [x.id for x in unit.listings] == [f"{USCC}-1", f"{USCC}-2"]


def test_the_terms_are_configurable():
    unit = listed_unit(Terms(management_years=2, publication_years=5))
    (listing,) = unit.listings
    assert listing.earliest_removal_on == date(2018, 3, 10)
    assert listing.publication_ends_on == date(2021, 3, 10)


def test_a_listing_on_29_february_ends_on_28_february():
    assert add_years(date(2016, 2, 29), 1) == date(2017, 2, 28)
    assert add_years(date(2016, 2, 29), 4) == date(2020, 2, 29)


def test_a_manual_listing_names_the_unit():
    unit = Unit()
    command = ListUnit(
        actor="city_admin:t1",
        uscc=USCC,
        list="serious_violation",
        cause="manual:沪质监罚〔2016〕12号",
        reason="forged maintenance records",
        legal_basis="Special Equipment Safety Law art. 88",
        authority="SH",
        decision_no="沪质监罚〔2016〕12号",
        listed_on=LISTED_ON,
        name="Pudong Lifts",
        district="310115",
    )
    events = run(unit, command)
    assert [type(e) for e in events] == [UnitNamed, UnitListed]
    assert unit.name == "Pudong Lifts" and unit.listings[0].list == "serious_violation"


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("list", {"list": "grey"}),
        ("reason", {"reason": " "}),
        ("legal_basis", {"legal_basis": ""}),
        ("decision_no", {"decision_no": ""}),
    ],
)
def test_a_listing_with_a_bad_field_is_refused(field, change):
    command = listing_command()
    command = ListUnit(**{**command.__dict__, **change})
    with pytest.raises(domain.Invalid) as refused:
        Unit().decide(command, NOON)
    assert field in refused.value.errors


# --- the management period --------------------------------------------------------------------


def test_a_new_bad_record_inside_the_period_restarts_it():
    unit = listed_unit()
    new_day = date(2016, 12, 1)
    events = run(unit, listing_command("beyond_licence_scope:fact-9", new_day))
    restarted = [e for e in events if isinstance(e, ManagementPeriodRestarted)]
    assert [(e.listing_id, e.ends_on) for e in restarted] == [(f"{USCC}-1", date(2017, 12, 1))]
    assert unit.listings[0].earliest_removal_on == date(2017, 12, 1)
    # publication still ends three years after the first listing
    assert unit.listings[0].publication_ends_on == date(2019, 3, 10)


def test_a_bad_record_after_the_period_restarts_nothing():
    unit = listed_unit()
    events = run(unit, listing_command("beyond_licence_scope:fact-9", date(2017, 3, 10)))
    assert not [e for e in events if isinstance(e, ManagementPeriodRestarted)]
    assert unit.listings[0].earliest_removal_on == date(2017, 3, 10)


# --- credit repair ---------------------------------------------------------------------------


def test_a_granted_repair_removes_the_listing_at_the_end_of_the_period_not_before():
    unit = granted_unit()
    assert unit.listings[0].repair_granted_on == LISTED_ON
    day_before = date(2017, 3, 9)
    assert remove_due(unit, at(day_before)) is None
    assert run(unit, RemoveDue(actor="system"), at(day_before)) == []
    command = remove_due(unit, at(date(2017, 3, 10)))
    assert command is not None
    (removed,) = run(unit, command, at(date(2017, 3, 12)))
    assert isinstance(removed, ListingRemoved)
    # removed on the day it was due, however late the sweep ran
    assert (removed.removed_on, removed.reason) == (date(2017, 3, 10), CREDIT_REPAIRED)
    assert unit.listings[0].status == "removed"


def test_a_repair_granted_after_the_period_removes_at_once():
    unit = listed_unit()
    later = at(date(2017, 6, 1))
    run(unit, ApplyForRepair(actor="u", listing_id=f"{USCC}-1", rectification="done"), later)
    app = f"{USCC}-1-R1"
    run(
        unit,
        RecordReinspection(
            actor="c", application_id=app, passed=True, findings="ok", inspected_on=date(2017, 6, 1)
        ),
        later,
    )
    events = run(
        unit, DecideRepair(actor="c", application_id=app, outcome="granted", reason="ok"), later
    )
    assert [type(e) for e in events] == [RepairDecided, ListingRemoved]
    assert unit.listings[0].removed_on == date(2017, 6, 1)


def test_without_a_granted_repair_the_listing_stays_after_the_period():
    unit = listed_unit()
    assert remove_due(unit, at(date(2018, 3, 10))) is None


def test_granting_needs_a_passed_reinspection():
    unit = listed_unit()
    run(unit, ApplyForRepair(actor="u", listing_id=f"{USCC}-1", rectification="done"))
    app = f"{USCC}-1-R1"
    with pytest.raises(domain.RuleConflict):
        unit.decide(
            DecideRepair(actor="c", application_id=app, outcome="granted", reason="x"), NOON
        )
    run(
        unit,
        RecordReinspection(
            actor="c",
            application_id=app,
            passed=False,
            findings="not fixed",
            inspected_on=LISTED_ON,
        ),
    )
    with pytest.raises(domain.RuleConflict):
        unit.decide(
            DecideRepair(actor="c", application_id=app, outcome="granted", reason="x"), NOON
        )


def test_a_denied_application_lets_the_unit_apply_again():
    unit = listed_unit()
    run(unit, ApplyForRepair(actor="u", listing_id=f"{USCC}-1", rectification="a"))
    with pytest.raises(domain.RuleConflict):
        unit.decide(ApplyForRepair(actor="u", listing_id=f"{USCC}-1", rectification="b"), NOON)
    run(unit, DecideRepair(actor="c", application_id=f"{USCC}-1-R1", outcome="denied", reason="no"))
    run(unit, ApplyForRepair(actor="u", listing_id=f"{USCC}-1", rectification="b"))
    assert [a.id for a in unit.applications] == [f"{USCC}-1-R1", f"{USCC}-1-R2"]
    assert [a.status for a in unit.applications] == ["denied", "pending"]


@pytest.mark.parametrize(
    ("command", "refusal"),
    [
        (ApplyForRepair(actor="u", listing_id=f"{USCC}-9", rectification="a"), domain.NotKnown),
        (
            DecideRepair(actor="c", application_id=f"{USCC}-1-R9", outcome="denied", reason="x"),
            domain.NotKnown,
        ),
        (
            RecordReinspection(
                actor="c",
                application_id=f"{USCC}-1-R1",
                passed=True,
                findings="ok",
                inspected_on=LISTED_ON + timedelta(days=1),
            ),
            domain.Invalid,
        ),
        (ApplyForRepair(actor="u", listing_id=f"{USCC}-1", rectification=" "), domain.Invalid),
    ],
)
def test_repair_refusals(command, refusal):
    unit = listed_unit()
    run(unit, ApplyForRepair(actor="u", listing_id=f"{USCC}-1", rectification="a"))
    with pytest.raises(refusal):
        unit.decide(command, NOON)


def test_a_decided_application_is_not_decided_again():
    unit = granted_unit()
    with pytest.raises(domain.RuleConflict):
        unit.decide(
            DecideRepair(actor="c", application_id=f"{USCC}-1-R1", outcome="denied", reason="x"),
            NOON,
        )


def test_a_removed_listing_takes_no_repair_application():
    unit = granted_unit()
    run(unit, RemoveDue(actor="system"), at(date(2017, 3, 10)))
    with pytest.raises(domain.RuleConflict):
        unit.decide(ApplyForRepair(actor="u", listing_id=f"{USCC}-1", rectification="a"), NOON)


# --- end of publication ----------------------------------------------------------------------


def test_publication_ends_on_its_date_not_before():
    unit = listed_unit()
    assert remove_due(unit, at(date(2019, 3, 9))) is None
    (removed,) = run(unit, RemoveDue(actor="system"), at(date(2019, 3, 10)))
    assert (removed.removed_on, removed.reason) == (date(2019, 3, 10), PUBLICATION_ENDED)
    assert unit.next_due_on() is None


def test_publication_end_follows_the_configured_term():
    terms = Terms(publication_years=2)
    unit = listed_unit(terms)
    assert unit.listings[0].publication_ends_on == date(2018, 3, 10)
    assert remove_due(unit, at(date(2018, 3, 9))) is None
    assert remove_due(unit, at(date(2018, 3, 10))) is not None


def test_every_change_is_an_event_replayed_to_the_same_state():
    unit = granted_unit()
    run(unit, RemoveDue(actor="system"), at(date(2017, 3, 10)))
    events = []
    replayed = Unit()
    for command, now in [
        (NameUnit(actor="s", uscc=USCC, name="Huangpu Lift Care", district="310101"), NOON),
        (listing_command(), NOON),
    ]:
        got = replayed.decide(command, now)
        events += got
        replayed.fold(got)
    assert replayed.listings[0].id == unit.listings[0].id
    assert all(type(e).__name__ in {"UnitNamed", "UnitListed"} for e in events)
    # each stored event round-trips through its data
    for e in events:
        assert type(e).from_data(e.to_data()) == e
    assert unit.version == 6


def test_the_terms_come_from_the_settings(monkeypatch):
    from services.blacklist.listings import terms_from_environment

    assert terms_from_environment() == Terms(management_years=1, publication_years=3)
    monkeypatch.setenv("SESP_BLACKLIST_MANAGEMENT_YEARS", "2")
    monkeypatch.setenv("SESP_BLACKLIST_PUBLICATION_YEARS", "5")
    assert terms_from_environment() == Terms(management_years=2, publication_years=5)
