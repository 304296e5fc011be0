"""Licences: validity, renewal (30 days ahead, deemed at expiry), suspension, revocation,
expiry, operator items with their own expiry, reviews (age 65, one-year gap), reminders."""

from datetime import date, datetime, timedelta, timezone

import pytest

from infra.domain import RuleConflict
from services.licensing.construction import required_level
from services.licensing.domain.licence.aggregate import Licence
from services.licensing.domain.licence.commands import (
    DecideRenewal,
    IssueLicence,
    MoveSupervision,
    ReinstateLicence,
    RequestRenewal,
    RevokeLicence,
    SuspendLicence,
    SweepLicence,
    TransferLicence,
)
from services.licensing.domain.licence.events import (
    EVENT_TYPES,
    LicenceExpired,
    OperatorItemInvalidated,
    RenewalRefused,
    RenewalRequested,
)
from services.licensing.domain.licence.rules import (
    TRANSFERRED,
    LicenceRules,
    default_valid_until,
    licence_number,
)

CST = timezone(timedelta(hours=8))
RULES = LicenceRules()
ORG = {"type": "organization", "uscc": "91350200776049653A", "name": "Lift Co."}


def at(y, m, d):
    return datetime(y, m, d, 10, tzinfo=CST)


def run(licence, command, when, rules=RULES):
    events = licence.decide(command, when, rules)
    for e in events:
        licence.apply(e)
    return events


def issued(
    kind="production_licence",
    on=at(2014, 9, 29),
    valid_until=None,
    items=(),
    person=None,
    holder=ORG,
):
    licence = Licence()
    run(
        licence,
        IssueLicence(
            actor="officer",
            licence_no="PL-SH-2014-00001",
            kind=kind,
            bureau="SH",
            application_id="a1",
            decided_on=on.date(),
            holder=holder,
            person=person,
            valid_until=valid_until,
            scope=("elevator:installation",),
            level="B",
            items=items,
        ),
        on,
    )
    return licence


def operator(born_on="1980-01-01", items=("T", "R1")):
    return issued(
        "operator_certificate",
        items=items,
        holder={"type": "person"},
        person={"id_number": "110105198001010011", "name": "Zhang San", "born_on": born_on},
    )


def test_a_production_licence_is_valid_four_years():
    licence = issued()
    assert (licence.valid_from, licence.valid_until) == (date(2014, 9, 29), date(2018, 9, 28))
    assert licence.decision_no == "XK-PL-SH-2014-00001" and licence.status == "active"


def test_validity_is_configurable():
    rules = LicenceRules(validity_years=5)
    assert default_valid_until("production_licence", date(2014, 9, 29), rules) == date(2019, 9, 28)


def test_a_use_registration_has_no_expiry():
    assert issued("use_registration").valid_until is None


def test_licence_numbers_are_per_kind_bureau_and_year():
    assert licence_number("use_registration", "FTZ", 2014, 7) == "UR-FTZ-2014-00007"


# --- renewal ---


def test_renewal_may_be_asked_30_days_before_expiry():
    licence = issued(valid_until=date(2014, 12, 31))
    [event] = run(licence, RequestRenewal(actor="holder"), at(2014, 12, 1))
    assert isinstance(event, RenewalRequested) and licence.renewal is not None


def test_renewal_asked_29_days_before_expiry_is_refused():
    licence = issued(valid_until=date(2014, 12, 31))
    with pytest.raises(RuleConflict, match="30 days"):
        licence.decide(RequestRenewal(actor="holder"), at(2014, 12, 2), RULES)


def test_a_second_pending_renewal_is_refused():
    licence = issued(valid_until=date(2014, 12, 31))
    run(licence, RequestRenewal(actor="holder"), at(2014, 11, 1))
    with pytest.raises(RuleConflict, match="pending"):
        licence.decide(RequestRenewal(actor="holder"), at(2014, 11, 2), RULES)


def test_granted_renewal_extends_from_the_old_expiry():
    licence = issued(valid_until=date(2014, 12, 31))
    run(licence, RequestRenewal(actor="holder"), at(2014, 11, 1))
    run(licence, DecideRenewal(actor="o", outcome="granted", reason="ok"), at(2014, 12, 31))
    assert licence.valid_until == date(2018, 12, 31) and licence.renewal is None


def test_refused_renewal_leaves_the_licence_to_expire():
    licence = issued(valid_until=date(2014, 12, 31))
    run(licence, RequestRenewal(actor="holder"), at(2014, 11, 1))
    run(licence, DecideRenewal(actor="o", outcome="refused", reason="no"), at(2014, 12, 1))
    [expired] = run(licence, SweepLicence(), at(2015, 1, 1))
    assert isinstance(expired, LicenceExpired) and expired.expired_on == date(2015, 1, 1)


def test_no_deemed_renewal_on_the_expiry_day_itself():
    licence = issued(valid_until=date(2014, 12, 31))
    run(licence, RequestRenewal(actor="holder"), at(2014, 11, 1))
    assert licence.decide(SweepLicence(), at(2014, 12, 31), RULES) == []


def test_a_renewal_undecided_at_expiry_is_deemed_granted():
    licence = issued(valid_until=date(2014, 12, 31))
    run(licence, RequestRenewal(actor="holder"), at(2014, 11, 1))
    [renewed] = run(licence, SweepLicence(), at(2015, 1, 1))
    assert renewed.deemed and licence.valid_until == date(2018, 12, 31)
    assert licence.decide(SweepLicence(), at(2015, 1, 1), RULES) == []  # idempotent


def test_deciding_after_expiry_is_refused_because_it_is_deemed():
    licence = issued(valid_until=date(2014, 12, 31))
    run(licence, RequestRenewal(actor="holder"), at(2014, 11, 1))
    with pytest.raises(RuleConflict, match="deemed"):
        licence.decide(
            DecideRenewal(actor="o", outcome="refused", reason="late"), at(2015, 1, 1), RULES
        )


def test_an_unrenewed_licence_expires_the_day_after():
    licence = issued(valid_until=date(2014, 12, 31))
    assert licence.next_check_on(RULES) == date(2015, 1, 1)
    run(licence, SweepLicence(), at(2015, 1, 5))
    assert licence.status == "expired" and licence.next_check_on(RULES) is None


# --- suspend, reinstate, revoke ---


def test_suspend_reinstate_revoke():
    licence = issued()
    run(licence, SuspendLicence(actor="o", reason="accident"), at(2014, 10, 8))
    assert licence.status == "suspended"
    with pytest.raises(RuleConflict, match="suspended"):
        licence.decide(SuspendLicence(actor="o", reason="again"), at(2014, 10, 9), RULES)
    with pytest.raises(RuleConflict, match="suspended"):
        licence.decide(RequestRenewal(actor="h"), at(2014, 10, 9), RULES)
    run(licence, ReinstateLicence(actor="o", reason="rectified"), at(2014, 10, 20))
    run(licence, RevokeLicence(actor="o", reason="forged records"), at(2014, 11, 1))
    assert licence.status == "revoked"
    with pytest.raises(RuleConflict, match="revoked"):
        licence.decide(ReinstateLicence(actor="o", reason="x"), at(2014, 11, 2), RULES)
    assert [e["type"] for e in licence.timeline] == ["issued", "suspended", "reinstated", "revoked"]


def test_a_suspended_licence_still_expires():
    licence = issued(valid_until=date(2014, 12, 31))
    run(licence, SuspendLicence(actor="o", reason="x"), at(2014, 12, 1))
    run(licence, SweepLicence(), at(2015, 1, 1))
    assert licence.status == "expired"


# --- operator certificates ---


def test_each_operator_item_has_its_own_expiry():
    licence = operator()
    assert {k: v["valid_until"] for k, v in licence.items.items()} == {
        "T": date(2018, 9, 28),
        "R1": date(2018, 9, 28),
    }


@pytest.mark.parametrize(("lead", "by"), [(1, date(2018, 8, 28)), (3, date(2018, 6, 28))])
def test_the_review_deadline_is_configurable(lead, by):
    assert LicenceRules(review_lead_months=lead).review_by(date(2018, 9, 28)) == by


def test_review_deadline_on_a_short_month():
    assert RULES.review_by(date(2018, 3, 31)) == date(2018, 2, 28)


def review(licence, when, **last_worked):
    items = tuple({"item": k, "last_worked_on": v} for k, v in last_worked.items())
    return run(licence, RequestRenewal(actor="employer", items=items), when)


def test_a_review_on_the_last_day_is_accepted_and_the_day_after_refused():
    licence = operator()
    review(licence, at(2018, 8, 28), T="2018-08-01")
    assert licence.renewal["items"] == [{"item": "T", "last_worked_on": "2018-08-01"}]
    with pytest.raises(RuleConflict, match="by 2018-08-28"):
        operator().decide(
            RequestRenewal(actor="e", items=({"item": "T", "last_worked_on": "2018-08-01"},)),
            at(2018, 8, 29),
            RULES,
        )


def test_review_on_the_65th_birthday_is_allowed_the_day_after_refused():
    allowed = operator(born_on="1952-06-01")
    review(allowed, at(2017, 6, 1), T="2017-05-01")
    assert allowed.items["T"]["valid"] and allowed.renewal is not None
    refused = operator(born_on="1952-06-01")
    events = review(refused, at(2017, 6, 2), T="2017-05-01")
    assert [type(e) for e in events] == [RenewalRefused, OperatorItemInvalidated]
    assert not refused.items["T"]["valid"] and refused.items["R1"]["valid"]
    assert "over 65" in refused.items["T"]["reason"]


def test_review_after_exactly_one_year_without_work_is_allowed_after_more_refused():
    licence = operator()
    review(licence, at(2017, 6, 2), T="2016-06-02", R1="2016-06-01")
    assert licence.items["T"]["valid"] and not licence.items["R1"]["valid"]
    assert "gap" in licence.items["R1"]["reason"]


def test_failing_every_item_expires_the_certificate():
    licence = operator(born_on="1940-01-01", items=("T",))
    review(licence, at(2017, 6, 2), T="2017-05-01")
    assert licence.status == "expired"


def test_a_refused_review_invalidates_the_items():
    licence = operator()
    review(licence, at(2018, 8, 1), T="2018-07-01")
    run(
        licence,
        DecideRenewal(actor="o", outcome="refused", reason="failed exam"),
        at(2018, 8, 10),
    )
    assert not licence.items["T"]["valid"] and licence.items["R1"]["valid"]


def test_a_granted_review_renews_that_item_only():
    licence = operator()
    review(licence, at(2018, 8, 1), T="2018-07-01")
    run(licence, DecideRenewal(actor="o", outcome="granted", reason="passed"), at(2018, 8, 10))
    assert licence.items["T"]["valid_until"] == date(2022, 9, 28)
    assert licence.items["R1"]["valid_until"] == date(2018, 9, 28)


def test_reminder_30_days_before_the_review_deadline_once():
    licence = operator(items=("T",))
    assert licence.next_check_on(RULES) == date(2018, 7, 29)
    assert licence.decide(SweepLicence(), at(2018, 7, 28), RULES) == []
    [reminder] = run(licence, SweepLicence(), at(2018, 7, 29))
    assert (reminder.item, reminder.review_by) == ("T", date(2018, 8, 28))
    assert licence.decide(SweepLicence(), at(2018, 8, 1), RULES) == []
    assert licence.next_check_on(RULES) == date(2018, 9, 29)


def test_a_missed_review_invalidates_the_item_and_the_certificate_expires():
    licence = operator(items=("T",))
    run(licence, SweepLicence(), at(2018, 7, 29))
    assert licence.decide(SweepLicence(), at(2018, 9, 28), RULES) == []
    events = run(licence, SweepLicence(), at(2018, 9, 29))
    assert [type(e) for e in events] == [OperatorItemInvalidated, LicenceExpired]
    assert licence.items["T"]["reason"] == "review missed"


def test_a_pending_review_at_item_expiry_is_deemed_granted():
    licence = operator(items=("T",))
    review(licence, at(2018, 8, 1), T="2018-07-01")
    [renewed] = run(licence, SweepLicence(), at(2018, 9, 29))
    assert renewed.deemed and licence.items["T"]["valid_until"] == date(2022, 9, 28)


def test_licence_events_replay_from_their_data():
    licence = operator()
    review(licence, at(2018, 8, 1), T="2018-07-01")
    events = licence.decide(
        DecideRenewal(actor="o", outcome="granted", reason="ok"), at(2018, 8, 2), RULES
    )
    for e in events:
        assert EVENT_TYPES[e.type].from_data(e.to_data()) == e


# --- elevator installation levels ---


@pytest.mark.parametrize(
    ("speed", "level"),
    [(None, "B"), (1.0, "B"), (2.5, "B"), (2.51, "A2"), (6.0, "A2"), (6.01, "A1"), (10, "A1")],
)
def test_installation_level_by_rated_speed(speed, level):
    assert required_level(speed) == level


# --- transfer of a use registration ---------------------------------------------------------

NEW_USER = {"type": "organization", "uscc": "913502000728319549", "name": "New Owner Co."}


def transfer(licence, when=at(2015, 3, 2)):
    return run(
        licence,
        TransferLicence(
            actor="officer",
            to_licence_no="UR-SH-2015-00007",
            to_holder=NEW_USER,
            application_id="a9",
        ),
        when,
    )


def test_a_transferred_use_registration_is_closed_and_names_its_successor():
    licence = issued("use_registration")
    [event] = transfer(licence)
    assert (event.to_licence_no, event.transferred_on) == ("UR-SH-2015-00007", date(2015, 3, 2))
    assert licence.status == TRANSFERRED
    assert licence.view()["transferred_to"] == "UR-SH-2015-00007"
    assert licence.timeline[-1]["type"] == "transferred"
    assert licence.next_check_on(RULES) is None
    with pytest.raises(RuleConflict, match="transferred"):
        run(licence, SuspendLicence(actor="officer", reason="x"), at(2015, 3, 3))


def test_only_an_active_use_registration_can_be_transferred():
    with pytest.raises(RuleConflict, match="production_licence licences cannot be transferred"):
        transfer(issued("production_licence"))
    licence = issued("use_registration")
    run(licence, SuspendLicence(actor="officer", reason="repair"), at(2015, 1, 5))
    with pytest.raises(RuleConflict, match="suspended"):
        transfer(licence)


def test_a_transfer_replays_from_its_data():
    licence = issued("use_registration")
    [event] = transfer(licence)
    again = EVENT_TYPES[event.type].from_data(event.to_data())
    assert again == event


# --- supervision after a relocation ---------------------------------------------------------


def move(licence, to="310104", when=at(2015, 4, 1)):
    command = MoveSupervision(actor="officer", to_bureau=to, reason="relocation (a7)")
    return run(licence, command, when)


def test_a_relocation_moves_a_use_registration_to_the_bureau_of_the_new_place():
    licence = issued("use_registration")
    assert licence.supervised_by == "SH"
    [event] = move(licence)
    assert (event.from_bureau, event.to_bureau, event.moved_on) == (
        "SH",
        "310104",
        date(2015, 4, 1),
    )
    assert (licence.bureau, licence.supervised_by) == ("SH", "310104")  # the issuer stays
    assert licence.view()["supervised_by"] == "310104"
    assert licence.timeline[-1]["type"] == "supervision_moved"
    assert move(licence) == []  # already there
    assert EVENT_TYPES[event.type].from_data(event.to_data()) == event


def test_only_a_use_registration_in_force_moves():
    with pytest.raises(RuleConflict, match="stay with the bureau"):
        move(issued("production_licence"))
    licence = issued("use_registration")
    run(licence, RevokeLicence(actor="officer", reason="scrapped"), at(2015, 1, 5))
    with pytest.raises(RuleConflict, match="revoked"):
        move(licence)
    suspended = issued("use_registration")
    run(suspended, SuspendLicence(actor="officer", reason="repair"), at(2015, 1, 5))
    assert move(suspended)[0].to_bureau == "310104"
