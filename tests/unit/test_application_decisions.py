"""The Application aggregate where officers found it wrong: a run-out decision period, late
decisions, provisional deadlines after a recompute, partial supplements, the validity an
approval grants, and who and when the timeline shows.

Dates are worked out by hand from the official schedules (2014: no holiday in November or
December; accepted on Monday 3 November, the decision is due Monday 1 December).
"""

import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from infra.domain import Invalid
from services.licensing.calendar import WorkingCalendar
from services.licensing.domain.application.aggregate import Application
from services.licensing.domain.application.commands import (
    Accept,
    Approve,
    DeemAcceptance,
    DeliverCertificate,
    Extend,
    ReceiveApplication,
    RecomputeDeadlines,
    Refuse,
    RequestCorrection,
    ResumeClock,
    Supplement,
    SuspendClock,
)
from services.licensing.domain.application.events import load_event
from services.licensing.domain.application.rules import ExtensionTooLate
from services.licensing.domain.common import Deadline

CST = timezone(timedelta(hours=8))
CALENDAR = WorkingCalendar()
SHA = "ab" * 32
OFFICER = "bureau_officer:tok-1"
WANG = {"role": "bureau_officer", "bureau": "310115", "name": "Wang Li"}


def at(year, month, day, hour=10):
    return datetime(year, month, day, hour, tzinfo=CST)


def run(app, command, when, calendar=CALENDAR):
    events = app.decide(command, when, calendar)
    for event in events:
        app.apply(event)
    return events


def receive_command(kind="production_licence"):
    subject = {
        "production_licence": {"scope": ["elevator:installation"], "level": "B"},
        "operator_certificate": {
            "person": {
                "id_number": "11010519491231002X",
                "name": "Zhang San",
                "born_on": "1949-12-31",
            },
            "items": ["T"],
            "exam_passed_on": "2014-09-01",
        },
    }[kind]
    return ReceiveApplication(
        actor="applicant:tok-9",
        application_id="app-1",
        kind=kind,
        bureau="310115",
        applicant={"uscc": "91350200776049653A", "name": "Lift Co."},
        location={"district": "310115", "in_ftz": False},
        subject=subject,
        materials=({"name": "application form", "sha256": SHA},),
    )


def received(when=at(2014, 11, 3), kind="production_licence", calendar=CALENDAR):
    app = Application()
    run(app, receive_command(kind), when, calendar)
    return app


def accepted(when=at(2014, 11, 3), kind="production_licence"):
    app = received(when, kind)
    run(app, Accept(actor=OFFICER), when)
    assert app.decision_due == Deadline(date(2014, 12, 1), False)
    return app


SUSPEND = SuspendClock(actor=OFFICER, reason="expert review", notice_ref="N-1")
RESUME = ResumeClock(actor=OFFICER)
EXTEND = Extend(actor=OFFICER, reason="site evaluation needs more time")
APPROVE = Approve(actor=OFFICER, opinion="meets the conditions", licence_no="PL-1")
REFUSE = Refuse(actor=OFFICER, reason="no qualified staff", legal_basis="Art. 38")


# --- 1. a run-out decision period -----------------------------------------------------------


def test_a_period_that_ran_out_before_the_suspension_cannot_be_extended():
    app = accepted()
    run(app, SUSPEND, at(2014, 12, 3))  # two days after the due date
    with pytest.raises(ExtensionTooLate) as info:
        app.decide(EXTEND, at(2014, 12, 5), CALENDAR)
    assert "ran out on 2014-12-01" in info.value.detail


def test_resuming_a_suspension_that_began_after_the_deadline_does_not_move_it():
    app = accepted()
    run(app, SUSPEND, at(2014, 12, 3))
    [resumed] = run(app, RESUME, at(2014, 12, 10))
    # Nothing was left to stop: the days of the late suspension do not count as stopped.
    assert resumed.suspended_working_days == 0
    assert app.decision_due.on == date(2014, 12, 1)
    assert app.overdue(date(2014, 12, 10))
    assert app.working_days_used(date(2014, 12, 10), CALENDAR) == 27


def test_a_period_suspended_in_time_may_still_be_extended_while_suspended():
    app = accepted()
    run(app, SUSPEND, at(2014, 11, 28))  # the due date is Monday 1 December
    run(app, EXTEND, at(2014, 12, 5))
    run(app, RESUME, at(2014, 12, 8))
    # 20 + 10 working days after 3 November is 15 December; stopped after Fri 28 Nov up to
    # and including Mon 8 Dec: 1-5 and 8 December, 6 days: Tuesday 23 December.
    assert app.decision_due.on == date(2014, 12, 23)


# --- 2. late decisions ----------------------------------------------------------------------


def test_an_approval_after_the_deadline_records_that_it_was_decided_late():
    app = accepted()
    run(app, EXTEND, at(2014, 11, 20))  # due 15 December: 30 working days
    [approved] = run(app, APPROVE, at(2014, 12, 16))  # the 31st working day
    assert (approved.decided_late, approved.working_days_late) == (True, 1)
    assert (app.decided_late, app.working_days_late) == (True, 1)
    assert not app.overdue(date(2014, 12, 20))  # no longer running against a deadline
    entry = app.timeline[-1]
    assert (entry["decided_late"], entry["working_days_late"]) == (True, 1)


def test_a_refusal_after_the_deadline_is_late_too():
    app = accepted()
    [refused] = run(app, REFUSE, at(2014, 12, 4))  # 2, 3, 4 December: three days over
    assert (refused.decided_late, refused.working_days_late) == (True, 3)


def test_a_decision_on_a_rest_day_after_the_deadline_is_a_day_late():
    app = received(at(2014, 10, 31))
    run(app, Accept(actor=OFFICER), at(2014, 10, 31))
    assert app.decision_due.on == date(2014, 11, 28)  # a Friday
    [approved] = run(app, APPROVE, at(2014, 11, 29))  # Saturday
    assert (approved.decided_late, approved.working_days_late) == (True, 1)


def test_a_decision_on_the_due_day_is_in_time():
    app = accepted()
    [approved] = run(app, APPROVE, at(2014, 12, 1, 17))
    assert (approved.decided_late, approved.working_days_late) == (False, 0)
    assert (app.decided_late, app.working_days_late) == (False, 0)


def test_a_late_decision_while_the_clock_was_stopped_in_time_is_not_late():
    app = accepted()
    run(app, SUSPEND, at(2014, 11, 28))
    resumed, approved = run(app, APPROVE, at(2014, 12, 4))
    # The suspension closes first (4 days stopped): due 5 December.
    assert resumed.decision_due == date(2014, 12, 5)
    assert approved.decided_late is False


def test_a_decision_stored_before_lateness_was_recorded_is_read_from_its_dates():
    app = Application()
    history = run(app, receive_command(), at(2014, 11, 3))
    history += run(app, Accept(actor=OFFICER), at(2014, 11, 3))
    [approved] = run(app, APPROVE, at(2014, 12, 3))
    data = approved.to_data()
    del data["decided_late"], data["working_days_late"]
    old = Application.from_events([*history, load_event("ApplicationApproved", data)])
    # Late it was (its date is after the due date); by how many working days was not recorded.
    assert old.decided_late is True and old.working_days_late is None


# --- 3. provisional deadlines ---------------------------------------------------------------


def schedule_of_2027(tmp_path):
    (tmp_path / "2027.json").write_text(json.dumps({"holidays": ["2027-01-04"]}))
    return WorkingCalendar.from_directories([tmp_path])


def test_provisional_clears_once_the_current_deadline_is_recomputed(tmp_path):
    app = received(at(2026, 12, 28))
    assert app.intake_due == Deadline(date(2027, 1, 5), True)
    run(app, Accept(actor=OFFICER), at(2026, 12, 29))
    assert app.decision_due.provisional and app.provisional
    run(app, RecomputeDeadlines(), at(2026, 12, 30), schedule_of_2027(tmp_path))
    assert app.decision_due.provisional is False
    # The closed intake deadline was provisional; the flag is about the deadlines now open.
    assert app.intake_due.provisional
    assert app.provisional is False
    assert app.decide(RecomputeDeadlines(), at(2026, 12, 30), schedule_of_2027(tmp_path)) == []


def test_the_timeline_shows_the_recomputed_deadline(tmp_path):
    app = received(at(2026, 12, 28))
    run(app, Accept(actor=OFFICER), at(2026, 12, 29))
    before = app.decision_due.on
    run(app, RecomputeDeadlines(), at(2026, 12, 30), schedule_of_2027(tmp_path))
    entry = app.timeline[-1]
    assert entry["type"] == "deadline_recomputed"
    assert entry["decision_due"] == app.decision_due.on.isoformat() != before.isoformat()
    assert entry["actor"] == "system"


def test_a_delivered_certificate_leaves_nothing_provisional():
    app = received(at(2026, 12, 14))
    run(app, Accept(actor=OFFICER), at(2026, 12, 14))
    run(app, APPROVE, at(2026, 12, 21))
    assert app.certificate_due.provisional and app.provisional
    run(app, DeliverCertificate(actor=OFFICER), at(2026, 12, 22))
    assert app.provisional is False


# --- 4. supplements that answer part of a correction request --------------------------------


def awaiting(items=("site plan", "maintenance contract")):
    app = received(at(2014, 11, 3))
    run(app, RequestCorrection(actor=OFFICER, items=items), at(2014, 11, 4))
    return app


def material(name, item=None):
    return {"name": name, "sha256": SHA, **({"item": item} if item else {})}


def test_a_supplement_answering_part_of_the_items_keeps_the_intake_clock_stopped():
    app = awaiting()
    [event] = run(
        app, Supplement(actor="applicant", materials=(material("site plan"),)), at(2014, 11, 10)
    )
    assert event.open_items == ("maintenance contract",) and event.intake_due is None
    assert app.status == "awaiting_correction"
    assert app.open_correction_items == ("maintenance contract",)
    assert app.timeline[-1]["open_items"] == ["maintenance contract"]
    assert not app.deemed_acceptance_due(date(2015, 1, 5))
    # The last item arrives (named by the material's ``item``): a new intake period starts.
    run(
        app,
        Supplement(
            actor="applicant", materials=(material("contract 2014-7", "maintenance contract"),)
        ),
        at(2014, 11, 12),
    )
    assert (app.status, app.open_correction_items) == ("received", ())
    assert app.intake_due.on == date(2014, 11, 19)


def test_a_material_naming_an_item_that_was_not_requested_is_refused():
    with pytest.raises(Invalid) as info:
        awaiting().decide(
            Supplement(actor="applicant", materials=(material("x", "fire certificate"),)),
            at(2014, 11, 10),
            CALENDAR,
        )
    assert info.value.field == "materials.0.item"


def test_items_are_matched_whatever_the_case_and_spacing():
    app = awaiting()
    materials = (material("Site  Plan"), material(" maintenance contract "))
    run(app, Supplement(actor="applicant", materials=materials), at(2014, 11, 10))
    assert app.status == "received"


# --- 4. the validity an approval grants -----------------------------------------------------


def test_an_operator_certificate_approval_records_the_validity_of_its_licence():
    app = accepted(kind="operator_certificate")
    command = Approve(
        actor=OFFICER, opinion="exam passed", licence_no="OC-1", term_ends_on=date(2018, 11, 6)
    )
    [approved] = run(app, command, at(2014, 11, 7))
    assert approved.valid_until == date(2018, 11, 6) == app.valid_until


def test_a_validity_beyond_the_statutory_term_is_refused():
    command = Approve(
        actor=OFFICER, opinion="ok", valid_until=date(9999, 12, 31), term_ends_on=date(2018, 11, 6)
    )
    with pytest.raises(Invalid) as info:
        accepted().decide(command, at(2014, 11, 7), CALENDAR)
    assert info.value.field == "valid_until" and "2018-11-06" in info.value.message


def test_a_shorter_validity_is_kept():
    command = Approve(
        actor=OFFICER, opinion="ok", valid_until=date(2016, 1, 31), term_ends_on=date(2018, 11, 6)
    )
    app = accepted()
    run(app, command, at(2014, 11, 7))
    assert app.valid_until == date(2016, 1, 31)


# --- 6. who and when the timeline shows ----------------------------------------------------


def test_the_timeline_shows_the_officers_bureau_and_name_not_the_token():
    app = received()
    [event] = run(app, Accept(actor=OFFICER, by=WANG), at(2014, 11, 3))
    assert event.actor == OFFICER  # the stored fact keeps the token for audit
    entry = app.timeline[-1]
    assert entry["actor"] == "bureau_officer:310115:Wang Li"
    assert entry["by"] == WANG
    assert "tok-1" not in json.dumps(app.timeline)


def test_an_actor_recorded_without_a_name_shows_its_role_only():
    app = received()
    run(app, Accept(actor=OFFICER), at(2014, 11, 3))
    assert app.timeline[-1]["actor"] == "bureau_officer"
    assert app.timeline[0]["actor"] == "applicant"


def test_timeline_times_are_china_standard_time():
    app = Application()
    run(app, receive_command(), datetime(2014, 11, 2, 17, 30, tzinfo=UTC))
    assert app.timeline[0]["at"] == "2014-11-03T01:30:00+08:00"
    assert app.received_on == date(2014, 11, 3)


def test_deemed_acceptance_is_shown_as_the_system():
    app = received(at(2014, 9, 29))
    run(app, DeemAcceptance(), at(2014, 10, 13))
    assert app.timeline[-1]["actor"] == "system" and "by" not in app.timeline[-1]
