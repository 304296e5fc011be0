"""The Application aggregate: statuses, the statutory clock, events that replay.

Dates are worked out by hand from the official schedules (2014: National Day 1-7 October off,
Sunday 28 September and Saturday 11 October worked; no holiday in November or December).
"""

import copy
import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from infra.domain import Invalid, RuleConflict
from services.licensing.calendar import WorkingCalendar
from services.licensing.domain.application.aggregate import Application
from services.licensing.domain.application.commands import (
    Accept,
    Approve,
    DeemAcceptance,
    DeliverCertificate,
    Extend,
    NotAccept,
    ReceiveApplication,
    RecomputeDeadlines,
    Refuse,
    RequestCorrection,
    ResumeClock,
    Review,
    Supplement,
    SuspendClock,
    Withdraw,
)
from services.licensing.domain.application.events import (
    EVENT_TYPES,
    DeadlinesRecomputed,
    DeemedAccepted,
    load_event,
)
from services.licensing.domain.application.rules import (
    DEFAULT_REMEDIES,
    ClockAlreadySuspended,
    ClockNotSuspended,
    CommandNotAllowed,
    CorrectionAlreadyRequested,
    ExtensionTooLate,
    IntakeWindowClosed,
    SecondExtensionRefused,
)
from services.licensing.domain.common import KINDS, Deadline, Event

CST = timezone(timedelta(hours=8))
CALENDAR = WorkingCalendar()
SHA = "ab" * 32
ID_NUMBER = "11010519491231002X"


def at(year, month, day, hour=10):
    return datetime(year, month, day, hour, tzinfo=CST)


SUBJECTS = {
    "use_registration": {
        "equipment_code": "311010001201400042",
        "reason": "first_use",
        "equipment": {
            "variety": "3110",
            "product_name": "traction elevator",
            "model": "GeN2",
            "maker": "Otis",
            "manufactured_on": date(2014, 3, 1),
            "rated_speed_mps": 1.75,
        },
    },
    "operator_certificate": {
        "person": {"id_number": ID_NUMBER, "name": "Zhang San", "born_on": "1949-12-31"},
        "items": ["T"],
        "exam_passed_on": "2014-09-01",
    },
    "construction_notice": {
        "equipment_code": "311010001201400042",
        "work": "install",
        "installer_uscc": "91350200776049653A",
        "starts_on": "2014-10-20",
    },
    "pressure_piping_licence": {"scope": ["pressure_piping:installation"]},
    "production_licence": {"scope": ["elevator:installation"], "level": "B"},
}


def receive(kind="production_licence", applicant=None, **changes):
    """A valid ReceiveApplication; ``changes`` replace whole fields."""
    fields = {
        "application_id": "app-1",
        "kind": kind,
        "bureau": "FTZ",
        "applicant": applicant or {"uscc": "91350200776049653a", "name": "Lift Co."},
        "location": {"district": "310115", "in_ftz": True, "address": "1 Road"},
        "subject": SUBJECTS.get(kind, {}),
        "materials": ({"name": "application form", "sha256": SHA},),
        "actor": "officer-1",
    }
    return ReceiveApplication(**{**fields, **changes})


def run(app, command, when, calendar=CALENDAR):
    events = app.decide(command, when, calendar)
    for event in events:
        app.apply(event)
    return events


def received(kind="production_licence", when=at(2014, 9, 29)):
    app = Application()
    run(app, receive(kind), when)
    return app


def accepted(when=at(2014, 11, 3), kind="production_licence"):
    app = received(kind, when)
    run(app, Accept(actor="officer-1"), when)
    return app


OFFICER = "officer-1"
COMMANDS = {
    "Accept": Accept(actor=OFFICER),
    "NotAccept": NotAccept(actor=OFFICER, reason="not our competence"),
    "RequestCorrection": RequestCorrection(actor=OFFICER, items=("site plan",)),
    "Supplement": Supplement(actor="applicant", materials=({"name": "site plan", "sha256": SHA},)),
    "Review": Review(actor=OFFICER, opinion="materials complete, scope matches"),
    "SuspendClock": SuspendClock(actor=OFFICER, reason="expert review", notice_ref="N-1"),
    "ResumeClock": ResumeClock(actor=OFFICER),
    "Extend": Extend(actor="head-1", reason="site evaluation needs more time"),
    "Approve": Approve(actor="head-1", opinion="meets the conditions", licence_no="TS3331001"),
    "Refuse": Refuse(actor="head-1", reason="no qualified staff", legal_basis="Art. 38"),
    "Withdraw": Withdraw(actor="applicant"),
}

# The status table of API.md, as the spec: where each command is allowed.
ALLOWED_IN = {
    "Accept": {"received"},
    "NotAccept": {"received", "awaiting_correction"},
    "RequestCorrection": {"received"},
    "Supplement": {"awaiting_correction"},
    "Review": {"accepted", "clock_suspended"},
    "SuspendClock": {"accepted"},
    "ResumeClock": {"clock_suspended"},
    "Extend": {"accepted", "clock_suspended"},
    "Approve": {"accepted", "clock_suspended"},
    "Refuse": {"accepted", "clock_suspended"},
    "Withdraw": {"received", "awaiting_correction", "accepted", "clock_suspended"},
}
SETUPS = {
    "received": [],
    "awaiting_correction": ["RequestCorrection"],
    "accepted": ["Accept"],
    "clock_suspended": ["Accept", "SuspendClock"],
    "not_accepted": ["NotAccept"],
    "approved": ["Accept", "Approve"],
    "refused": ["Accept", "Refuse"],
    "withdrawn": ["Withdraw"],
}


def in_state(state):
    app = received()
    for name in SETUPS[state]:
        run(app, COMMANDS[name], at(2014, 9, 30))
    return app


@pytest.mark.parametrize("state", SETUPS)
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_is_allowed_or_refused_by_status(command, state):
    app = in_state(state)
    if state in ALLOWED_IN[command]:
        assert app.decide(COMMANDS[command], at(2014, 10, 8), CALENDAR)
    elif (command, state) == ("SuspendClock", "clock_suspended"):
        with pytest.raises(ClockAlreadySuspended):
            app.decide(COMMANDS[command], at(2014, 10, 8), CALENDAR)
    elif (command, state) == ("ResumeClock", "accepted"):
        with pytest.raises(ClockNotSuspended):
            app.decide(COMMANDS[command], at(2014, 10, 8), CALENDAR)
    else:
        with pytest.raises(CommandNotAllowed) as info:
            app.decide(COMMANDS[command], at(2014, 10, 8), CALENDAR)
        assert info.value.status == app.status
        assert str(app.status) in info.value.detail
        assert isinstance(info.value, RuleConflict)


def test_each_status_is_one_of_the_api_statuses():
    statuses = {in_state(s).status for s in SETUPS}
    assert statuses == {
        "received", "awaiting_correction", "accepted", "not_accepted",
        "approved", "refused", "withdrawn",
    }  # fmt: skip


# --- receipt -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_can_be_received(kind):
    app = received(kind)
    assert (app.kind, app.status, app.bureau, app.version) == (kind, "received", "FTZ", 1)
    assert app.timeline == [
        {"type": "received", "at": "2014-09-29T10:00:00+08:00", "actor": OFFICER,
         "intake_due": "2014-10-11"}
    ]  # fmt: skip


def test_intake_is_due_five_working_days_after_receipt_across_national_day():
    # Tue 30 Sep = 1, 1-7 Oct holiday, 8 = 2, 9 = 3, 10 = 4, Sat 11 Oct (make-up day) = 5.
    app = received(when=at(2014, 9, 29))
    assert app.intake_due == Deadline(date(2014, 10, 11), provisional=False)
    assert app.deadlines == {
        "intake_due": "2014-10-11", "decision_due": None, "certificate_due": None,
    }  # fmt: skip


def test_receipt_date_is_the_local_date_in_china():
    app = Application()
    run(app, receive(), datetime(2014, 9, 28, 17, 30, tzinfo=UTC))  # 01:30 on the 29th
    assert app.received_on == date(2014, 9, 29)


def test_receiving_an_existing_application_is_refused():
    app = received()
    with pytest.raises(CommandNotAllowed, match="received"):
        app.decide(receive(), at(2014, 9, 30), CALENDAR)


def test_a_command_before_receipt_is_refused():
    with pytest.raises(CommandNotAllowed, match="no application exists yet"):
        Application().decide(Accept(actor=OFFICER), at(2014, 9, 30), CALENDAR)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "fishing_licence"}, "kind"),
        ({"bureau": "310199"}, "bureau"),
        ({"location": {"district": "110105"}}, "location.district"),
        ({"location": {"district": "310104", "in_ftz": True}}, "location.in_ftz"),
        ({"applicant": {"uscc": "91350200776049653A", "id_number": ID_NUMBER, "name": "x"}},
         "applicant"),
        ({"applicant": {"uscc": "91350200776049653A", "name": " "}}, "applicant.name"),
        ({"materials": ({"name": "form", "sha256": "xyz"},)}, "materials.0.sha256"),
        ({"subject": {"scope": ["elevator:dancing"]}}, "subject.scope.0"),
        ({"subject": {"scope": []}}, "subject.scope"),
        ({"subject": {"scope": ["elevator:installation"], "level": "C"}}, "subject.level"),
        ({"subject": {"scope": ["elevator:installation"],
                      "person": {"id_number": ID_NUMBER}}}, "subject.person"),
    ],
)  # fmt: skip
def test_an_invalid_application_names_the_field(changes, field):
    with pytest.raises(Invalid) as info:
        Application().decide(receive(**changes), at(2014, 9, 29), CALENDAR)
    assert info.value.field == field
    assert info.value.errors == {field: [info.value.message]}


@pytest.mark.parametrize(
    ("kind", "subject", "field"),
    [
        ("use_registration", {**SUBJECTS["use_registration"], "reason": "whim"}, "subject.reason"),
        ("use_registration", {**SUBJECTS["use_registration"], "equipment": {"variety": "3110"}},
         "subject.equipment.product_name"),
        ("operator_certificate", {**SUBJECTS["operator_certificate"], "items": []},
         "subject.items"),
        ("operator_certificate", {"items": ["T"], "exam_passed_on": "2014-09-01"},
         "subject.person"),
        ("construction_notice", {**SUBJECTS["construction_notice"], "work": "demolish"},
         "subject.work"),
        ("construction_notice", {**SUBJECTS["construction_notice"], "starts_on": "soon"},
         "subject.starts_on"),
        ("pressure_piping_licence", {"scope": ["boiler:installation"]}, "subject.scope.0"),
    ],
)  # fmt: skip
def test_an_invalid_subject_names_the_field(kind, subject, field):
    with pytest.raises(Invalid) as info:
        Application().decide(receive(kind, subject=subject), at(2014, 9, 29), CALENDAR)
    assert info.value.field == field


def test_dates_in_the_subject_are_stored_as_iso_text():
    [event] = Application().decide(receive("use_registration"), at(2014, 9, 29), CALENDAR)
    assert event.subject["equipment"]["manufactured_on"] == "2014-03-01"
    json.dumps(event.to_data())


def test_personal_data_of_an_operator_is_kept_under_person_only():
    app = Application()
    applicant = {"id_number": ID_NUMBER.lower(), "name": "Zhang San"}
    [event] = app.decide(
        receive("operator_certificate", applicant=applicant), at(2014, 9, 29), CALENDAR
    )
    data = event.to_data()
    assert data["person"] == {"id_number": ID_NUMBER, "name": "Zhang San", "born_on": "1949-12-31"}
    rest = json.dumps({k: v for k, v in data.items() if k != "person"})
    assert ID_NUMBER not in rest and "Zhang San" not in rest and "1949" not in rest
    app.apply(event)
    assert app.applicant == {"id_number": ID_NUMBER, "name": "Zhang San"}
    assert app.subject["person"]["id_number"] == ID_NUMBER


def test_an_employer_may_apply_for_its_operator():
    app = received("operator_certificate")
    assert app.applicant == {"uscc": "91350200776049653A", "name": "Lift Co."}
    assert app.person["id_number"] == ID_NUMBER


def test_a_person_may_apply_only_for_their_own_certificate():
    applicant = {"id_number": "110105194912310039", "name": "Li Si"}
    with pytest.raises(Invalid) as info:
        Application().decide(
            receive("operator_certificate", applicant=applicant), at(2014, 9, 29), CALENDAR
        )
    assert info.value.field == "applicant.id_number"


def test_an_individual_applicant_of_another_kind_is_personal_data():
    applicant = {"id_number": ID_NUMBER, "name": "Zhang San"}
    [event] = Application().decide(
        receive("use_registration", applicant=applicant), at(2014, 9, 29), CALENDAR
    )
    assert event.applicant == {"type": "person"}
    assert event.person == {"id_number": ID_NUMBER, "name": "Zhang San"}


# --- intake: correction, deemed acceptance ------------------------------------------------


def test_correction_request_lists_every_item_at_once():
    app = received()
    items = ("site plan", "quality manual", "list of qualified welders")
    run(app, RequestCorrection(actor=OFFICER, items=items), at(2014, 9, 30))
    assert app.status == "awaiting_correction"
    assert app.correction_items == items
    assert app.timeline[-1]["items"] == list(items)


@pytest.mark.parametrize("items", [(), ("site plan", " "), ("site plan", "site plan")])
def test_correction_request_without_a_proper_list_is_invalid(items):
    with pytest.raises(Invalid):
        received().decide(RequestCorrection(actor=OFFICER, items=items), at(2014, 9, 30), CALENDAR)


def test_correction_may_be_requested_on_the_intake_due_day():
    app = received()
    run(app, COMMANDS["RequestCorrection"], at(2014, 10, 11, 17))
    assert app.status == "awaiting_correction"


def test_correction_request_after_the_intake_window_is_refused():
    with pytest.raises(IntakeWindowClosed, match="2014-10-11"):
        received().decide(COMMANDS["RequestCorrection"], at(2014, 10, 13), CALENDAR)


def test_not_accepting_after_the_intake_window_is_refused():
    with pytest.raises(IntakeWindowClosed):
        received().decide(COMMANDS["NotAccept"], at(2014, 10, 12), CALENDAR)


def test_supplement_starts_a_new_intake_period():
    app = received()
    run(app, COMMANDS["RequestCorrection"], at(2014, 9, 30))
    run(app, COMMANDS["Supplement"], at(2014, 10, 20))
    assert app.status == "received"
    assert app.intake_due.on == date(2014, 10, 27)
    assert [m["name"] for m in app.materials] == ["application form", "site plan"]


def test_a_second_correction_request_is_refused():
    app = received()
    run(app, COMMANDS["RequestCorrection"], at(2014, 9, 30))
    run(app, COMMANDS["Supplement"], at(2014, 10, 20))
    with pytest.raises(CorrectionAlreadyRequested):
        app.decide(COMMANDS["RequestCorrection"], at(2014, 10, 21), CALENDAR)


def test_no_deemed_acceptance_on_the_intake_due_day():
    app = received()
    assert not app.deemed_acceptance_due(date(2014, 10, 11))
    assert app.decide(DeemAcceptance(), at(2014, 10, 11, 23), CALENDAR) == []


def test_deemed_acceptance_on_the_next_working_day_dates_acceptance_from_receipt():
    app = received()
    assert app.deemed_acceptance_due(date(2014, 10, 13))
    [event] = run(app, DeemAcceptance(), at(2014, 10, 13, 0))
    assert isinstance(event, DeemedAccepted)
    assert (event.accepted_on, event.intake_due, event.actor) == (
        date(2014, 9, 29),
        date(2014, 10, 11),
        "system",
    )
    # 20 working days after 29 September: 30 Sep, 8-11 Oct (5), 13-17 (10), 20-24 (15),
    # 27-31 (20): 31 October.
    assert app.decision_due.on == date(2014, 10, 31)
    assert (app.status, app.deemed_accepted) == ("accepted", True)
    assert app.timeline[-1]["type"] == "deemed_accepted"


def test_deemed_acceptance_sweep_twice_changes_nothing():
    app = received()
    run(app, DeemAcceptance(), at(2014, 10, 13))
    assert app.decide(DeemAcceptance(), at(2014, 10, 14), CALENDAR) == []


def test_a_late_accept_records_the_deemed_acceptance():
    app = received()
    [event] = run(app, COMMANDS["Accept"], at(2014, 10, 14))
    assert isinstance(event, DeemedAccepted)
    assert app.accepted_on == date(2014, 9, 29)


def test_a_review_after_the_intake_window_records_deemed_acceptance_first():
    app = received()
    events = run(app, COMMANDS["Review"], at(2014, 10, 14))
    assert [e.type for e in events] == ["DeemedAccepted", "ReviewRecorded"]


def test_deemed_acceptance_after_a_supplement_dates_from_the_supplement():
    app = received()
    run(app, COMMANDS["RequestCorrection"], at(2014, 9, 30))
    run(app, COMMANDS["Supplement"], at(2014, 10, 20))
    assert not app.deemed_acceptance_due(date(2014, 10, 27))
    run(app, DeemAcceptance(), at(2014, 10, 28))
    assert app.accepted_on == date(2014, 10, 20)


def test_no_deemed_acceptance_while_awaiting_correction():
    app = received()
    run(app, COMMANDS["RequestCorrection"], at(2014, 9, 30))
    assert not app.deemed_acceptance_due(date(2014, 12, 1))


# --- decision clock ------------------------------------------------------------------------


def test_decision_is_due_twenty_working_days_after_acceptance():
    app = accepted(at(2014, 11, 3))
    # 4-7 Nov (4), 10-14 (9), 17-21 (14), 24-28 (19), Mon 1 December (20).
    assert app.decision_due == Deadline(date(2014, 12, 1), False)
    assert app.clock_running


def test_extension_adds_ten_working_days_once():
    app = accepted(at(2014, 11, 3))
    run(app, COMMANDS["Extend"], at(2014, 11, 20))
    assert app.decision_due.on == date(2014, 12, 15)
    assert app.timeline[-1] == {
        "type": "extended", "at": "2014-11-20T10:00:00+08:00", "actor": "head-1",
        "reason": "site evaluation needs more time", "decision_due": "2014-12-15",
    }  # fmt: skip


def test_second_extension_is_refused():
    app = accepted(at(2014, 11, 3))
    run(app, COMMANDS["Extend"], at(2014, 11, 20))
    with pytest.raises(SecondExtensionRefused):
        app.decide(COMMANDS["Extend"], at(2014, 11, 21), CALENDAR)


def test_extension_needs_a_reason():
    with pytest.raises(Invalid) as info:
        accepted().decide(Extend(actor="head-1", reason=""), at(2014, 11, 5), CALENDAR)
    assert info.value.field == "reason"


def test_extension_after_the_decision_period_ran_out_is_refused():
    app = accepted(at(2014, 11, 3))
    assert app.decide(COMMANDS["Extend"], at(2014, 12, 1, 18), CALENDAR)
    with pytest.raises(ExtensionTooLate):
        app.decide(COMMANDS["Extend"], at(2014, 12, 2), CALENDAR)


def test_clock_suspension_moves_decision_due():
    app = accepted(at(2014, 11, 3))
    run(app, COMMANDS["SuspendClock"], at(2014, 11, 5))
    assert not app.clock_running
    [event] = run(app, COMMANDS["ResumeClock"], at(2014, 11, 12))
    # Suspended after Wed 5 Nov up to and including Wed 12 Nov: 6, 7, 10, 11, 12 = 5 days.
    assert event.suspended_working_days == 5
    assert app.decision_due.on == date(2014, 12, 8)
    assert app.clock_running


def test_suspended_days_add_up_and_survive_an_extension():
    app = accepted(at(2014, 11, 3))
    run(app, COMMANDS["SuspendClock"], at(2014, 11, 5))
    run(app, COMMANDS["ResumeClock"], at(2014, 11, 12))
    run(app, COMMANDS["SuspendClock"], at(2014, 11, 13))
    run(app, COMMANDS["ResumeClock"], at(2014, 11, 14))
    run(app, COMMANDS["Extend"], at(2014, 11, 17))
    # 20 + 10 + 5 + 1 = 36 working days after 3 November: 1 Dec is the 20th, 15 Dec the 30th,
    # then 16, 17, 18, 19, 22, 23 December.
    assert app.decision_due.on == date(2014, 12, 23)


def test_working_days_used_excludes_suspended_days():
    app = accepted(at(2014, 11, 3))
    run(app, COMMANDS["SuspendClock"], at(2014, 11, 5))
    assert app.working_days_used(date(2014, 11, 5), CALENDAR) == 2
    assert app.working_days_used(date(2014, 11, 11), CALENDAR) == 2
    run(app, COMMANDS["ResumeClock"], at(2014, 11, 12))
    assert app.working_days_used(date(2014, 11, 14), CALENDAR) == 4


def test_working_days_used_stops_at_the_decision():
    app = accepted(at(2014, 11, 3))
    run(app, COMMANDS["Approve"], at(2014, 11, 7))
    assert app.working_days_used(date(2014, 12, 31), CALENDAR) == 4
    assert received().working_days_used(date(2014, 10, 8), CALENDAR) == 0


def test_suspending_needs_a_reason_and_a_notice_reference():
    with pytest.raises(Invalid) as info:
        accepted().decide(
            SuspendClock(actor=OFFICER, reason="hearing", notice_ref=" "),
            at(2014, 11, 5),
            CALENDAR,
        )
    assert info.value.field == "notice_ref"


def test_a_decision_while_suspended_closes_the_suspension_first():
    app = accepted(at(2014, 11, 3))
    run(app, COMMANDS["SuspendClock"], at(2014, 11, 5))
    events = run(app, COMMANDS["Refuse"], at(2014, 11, 7))
    assert [e.type for e in events] == ["ClockResumed", "ApplicationRefused"]
    assert not app.suspended


def test_overdue_only_after_the_decision_due_day():
    app = accepted(at(2014, 11, 3))
    assert not app.overdue(date(2014, 12, 1))
    assert app.overdue(date(2014, 12, 2))


def test_a_suspended_clock_is_not_overdue_unless_it_already_was():
    app = accepted(at(2014, 11, 3))
    run(app, COMMANDS["SuspendClock"], at(2014, 11, 28))
    assert not app.overdue(date(2015, 3, 1))
    late = accepted(at(2014, 11, 3))
    run(late, COMMANDS["SuspendClock"], at(2014, 12, 2))
    assert late.overdue(date(2015, 3, 1))


def test_a_lapsed_intake_period_is_overdue_until_the_sweep_runs():
    assert received().overdue(date(2014, 10, 13))
    assert not received().overdue(date(2014, 10, 11))


def test_refused_applications_are_never_overdue():
    app = accepted(at(2014, 11, 3))
    run(app, COMMANDS["Refuse"], at(2014, 11, 7))
    assert not app.overdue(date(2015, 6, 1))


# --- the certificate -------------------------------------------------------------------------


def approved(kind="production_licence"):
    app = accepted(at(2014, 11, 3), kind)
    run(app, COMMANDS["Approve"], at(2014, 11, 7))
    return app


def test_an_undelivered_certificate_is_overdue_from_the_day_after_its_deadline():
    app = approved()
    assert app.certificate_due.on == date(2014, 11, 21)  # 10 working days after 7 November
    assert not app.overdue(date(2014, 11, 21))
    assert app.overdue(date(2014, 11, 24))


def test_a_delivered_certificate_meets_the_deadline_once():
    app = approved()
    [event] = run(app, DeliverCertificate(actor=OFFICER, reference="EMS 1190"), at(2014, 11, 25))
    assert (event.delivered_on, event.reference) == (date(2014, 11, 25), "EMS 1190")
    assert app.certificate_delivered_on == date(2014, 11, 25)
    assert not app.overdue(date(2015, 6, 1))
    assert app.timeline[-1]["type"] == "certificate_delivered"
    with pytest.raises(RuleConflict, match="delivered on 2014-11-25"):
        app.decide(DeliverCertificate(actor=OFFICER), at(2014, 11, 26), CALENDAR)
    again = EVENT_TYPES[event.type].from_data(event.to_data())
    assert again == event


def test_a_filing_has_no_certificate_and_an_open_application_none_yet():
    with pytest.raises(RuleConflict, match="no certificate"):
        approved("construction_notice").decide(
            DeliverCertificate(actor=OFFICER), at(2014, 11, 10), CALENDAR
        )
    with pytest.raises(CommandNotAllowed) as info:
        accepted().decide(DeliverCertificate(actor=OFFICER), at(2014, 11, 10), CALENDAR)
    assert info.value.status == "accepted"


# --- decisions -----------------------------------------------------------------------------


def test_decision_before_acceptance_is_refused():
    app = received()
    for command in (COMMANDS["Approve"], COMMANDS["Refuse"]):
        with pytest.raises(CommandNotAllowed) as info:
            app.decide(command, at(2014, 9, 30), CALENDAR)
        assert info.value.status == "received"


def test_approval_issues_a_licence_with_a_certificate_due_in_ten_working_days():
    app = accepted(at(2014, 11, 3))
    command = Approve(
        actor="head-1", opinion="meets the conditions", licence_no="TS3331001",
        valid_until=date(2018, 11, 6),
    )  # fmt: skip
    run(app, command, at(2014, 11, 7))
    assert (app.status, app.licence_no, app.valid_until) == (
        "approved", "TS3331001", date(2018, 11, 6),
    )  # fmt: skip
    assert app.certificate_due.on == date(2014, 11, 21)
    assert app.timeline[-1]["opinion"] == "meets the conditions"


def test_a_construction_notice_is_filed_without_a_certificate():
    app = accepted(at(2014, 11, 3), kind="construction_notice")
    run(app, COMMANDS["Approve"], at(2014, 11, 7))
    assert app.status == "approved" and app.certificate_due is None


def test_licence_validity_must_end_after_the_decision():
    with pytest.raises(Invalid) as info:
        accepted().decide(
            Approve(actor="head-1", opinion="ok then", valid_until="2014-11-01"),
            at(2014, 11, 7),
            CALENDAR,
        )
    assert info.value.field == "valid_until"


@pytest.mark.parametrize(
    "kind", ["use_registration", "construction_notice", "operator_certificate"]
)
def test_a_validity_is_set_only_for_licences_that_have_one(kind):
    # Use registrations and filings have no expiry; an operator's items are valid 4 years each.
    with pytest.raises(Invalid) as info:
        accepted(kind=kind).decide(
            Approve(actor="head-1", opinion="ok", valid_until="2015-11-07"),
            at(2014, 11, 7),
            CALENDAR,
        )
    assert info.value.field == "valid_until"


def test_refusal_states_reasons_legal_basis_and_remedies():
    app = accepted()
    run(app, COMMANDS["Refuse"], at(2014, 11, 7))
    entry = app.timeline[-1]
    assert (entry["type"], entry["reason"], entry["legal_basis"]) == (
        "refused", "no qualified staff", "Art. 38",
    )  # fmt: skip
    assert "reconsideration" in entry["remedies"] and "lawsuit" in entry["remedies"]


def test_not_accepting_tells_the_applicant_the_remedies():
    app = received()
    run(app, COMMANDS["NotAccept"], at(2014, 9, 30))
    assert app.timeline[-1]["remedies"] == DEFAULT_REMEDIES
    assert app.decided_on == date(2014, 9, 30)


def test_every_review_records_who_which_opinion_and_when():
    app = accepted()
    run(app, COMMANDS["Review"], at(2014, 11, 4, 15))
    assert app.timeline[-1] == {
        "type": "reviewed", "at": "2014-11-04T15:00:00+08:00", "actor": OFFICER,
        "opinion": "materials complete, scope matches",
    }  # fmt: skip


def test_a_review_without_an_opinion_is_invalid():
    with pytest.raises(Invalid):
        accepted().decide(Review(actor=OFFICER, opinion="  "), at(2014, 11, 4), CALENDAR)


@pytest.mark.parametrize("state", ["received", "awaiting_correction", "accepted"])
def test_withdraw_is_possible_before_the_decision(state):
    app = in_state(state)
    run(app, Withdraw(actor="applicant", reason="project cancelled"), at(2014, 10, 8))
    assert app.status == "withdrawn" and app.timeline[-1]["reason"] == "project cancelled"


@pytest.mark.parametrize("state", ["approved", "refused", "not_accepted", "withdrawn"])
def test_withdraw_after_the_decision_is_refused(state):
    with pytest.raises(CommandNotAllowed):
        in_state(state).decide(COMMANDS["Withdraw"], at(2014, 10, 8), CALENDAR)


# --- provisional deadlines -----------------------------------------------------------------


def test_a_deadline_in_an_unconfigured_year_is_provisional():
    app = received(when=at(2026, 12, 28))
    assert app.intake_due.provisional and app.provisional
    assert not received().provisional


def test_recompute_records_the_deadline_once_the_schedule_is_configured(tmp_path):
    (tmp_path / "2027.json").write_text(json.dumps({"holidays": ["2027-01-01", "2027-01-04"]}))
    configured = WorkingCalendar.from_directories([tmp_path])
    app = received(when=at(2026, 12, 28))
    # Weekdays less the fixed holiday: 29, 30, 31 Dec, (Fri 1 Jan), Mon 4 Jan, Tue 5 Jan.
    assert app.intake_due == Deadline(date(2027, 1, 5), True)
    [event] = run(app, RecomputeDeadlines(), at(2026, 12, 29), configured)
    assert isinstance(event, DeadlinesRecomputed)
    assert app.intake_due == Deadline(date(2027, 1, 6), False)
    assert app.decide(RecomputeDeadlines(), at(2026, 12, 29), configured) == []
    # The timeline shows the new date (the receipt's entry keeps the one told then).
    assert app.timeline[-1]["type"] == "deadline_recomputed"
    assert app.timeline[-1]["intake_due"] == "2027-01-06"


def test_recompute_on_a_closed_application_does_nothing():
    assert in_state("refused").decide(RecomputeDeadlines(), at(2014, 10, 8), CALENDAR) == []


# --- events and replay ---------------------------------------------------------------------


def full_history():
    steps = [
        (COMMANDS["RequestCorrection"], at(2014, 9, 30)),
        (COMMANDS["Supplement"], at(2014, 10, 8)),
        (COMMANDS["Accept"], at(2014, 10, 9)),
        (COMMANDS["Review"], at(2014, 10, 10)),
        (COMMANDS["SuspendClock"], at(2014, 10, 13)),
        (COMMANDS["ResumeClock"], at(2014, 10, 20)),
        (COMMANDS["Extend"], at(2014, 10, 21)),
        (COMMANDS["Approve"], at(2014, 11, 3)),
    ]
    app = Application()
    history = run(app, receive("operator_certificate"), at(2014, 9, 29))
    for command, when in steps:
        history.extend(run(app, command, when))
    return app, history


def test_replay_from_stored_data_gives_identical_state():
    app, history = full_history()
    stored = [(e.type, json.loads(json.dumps(e.to_data()))) for e in history]
    replayed = Application.from_events(load_event(t, data) for t, data in stored)
    assert replayed == app
    assert replayed.version == len(history) == 9
    assert [e["type"] for e in replayed.timeline] == [
        "received", "correction_requested", "supplemented", "accepted", "reviewed",
        "clock_suspended", "clock_resumed", "extended", "approved",
    ]  # fmt: skip


def test_events_round_trip_through_their_data():
    _, history = full_history()
    for event in history:
        assert load_event(event.type, event.to_data()) == event


def test_replay_survives_erased_personal_data():
    _, history = full_history()
    data = history[0].to_data()
    data["person"] = {key: "[erased]" for key in data["person"]}
    app = Application.from_events([load_event("ApplicationReceived", data)] + history[1:])
    assert app.status == "approved"
    assert app.applicant == {"uscc": "91350200776049653A", "name": "Lift Co."}
    assert app.subject["person"]["id_number"] == "[erased]"


def test_every_event_says_what_fact_it_records():
    for name, cls in EVENT_TYPES.items():
        assert cls.__doc__ and cls.__doc__ != Event.__doc__, name
        assert name.endswith(("ed", "Withdrawn")), name  # past tense


def test_deciding_does_not_change_state():
    app = received()
    before = copy.deepcopy(app)
    app.decide(COMMANDS["Review"], at(2014, 10, 14), CALENDAR)  # deemed acceptance + review
    assert app == before
