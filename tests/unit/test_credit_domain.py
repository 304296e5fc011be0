"""The credit service's aggregates: half-monthly windows of an elevator, appeals, evaluations."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from infra import domain
from services.maintenance_credit.domain import (
    Appeal,
    AppealFiled,
    CheckMaintenance,
    DecideAppeal,
    Elevator,
    ElevatorRegistered,
    ElevatorStatusChanged,
    Evaluation,
    EvaluationPublished,
    FinalizeEvaluation,
    FinalizeGrade,
    MaintainerChanged,
    MaintenanceMissed,
    MaintenanceRecorded,
    RecordMaintenance,
    RecordStanding,
    Standing,
    check_maintenance,
)
from services.maintenance_credit.schemas import validate_event

UNIT, OTHER = "91350200776049653A", "913502000728319549"
T0 = datetime.fromisoformat("2016-01-01T09:00:00+08:00")


def on(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T09:00:00+08:00")


def elevator(*maintained: str, start: str = "2016-01-01") -> Elevator:
    lift = Elevator()
    lift.apply(
        ElevatorRegistered(
            at=T0,
            actor="system",
            equipment_code="310112345201400001",
            district="310104",
            maintenance_unit_uscc=UNIT,
            registered_on=date.fromisoformat(start),
        )
    )
    for i, day in enumerate(maintained):
        lift.apply(
            MaintenanceRecorded(
                at=T0,
                actor="u",
                record_id=f"r{i}",
                unit_uscc=UNIT,
                performed_on=date.fromisoformat(day),
                record_type="half_monthly",
            )
        )
    return lift


def check(lift: Elevator, today: str) -> list[tuple[str, str]]:
    events = lift.decide(CheckMaintenance(actor="system"), on(today))
    return [(e.window_from.isoformat(), e.due_on.isoformat()) for e in events]


def test_maintained_every_15_days_nothing_is_missed():
    lift = elevator("2016-01-16", "2016-01-31", "2016-02-15")
    assert lift.next_due_on == date(2016, 3, 1)
    assert check(lift, "2016-03-04") == []  # due 03-01, judged with 3 days' grace
    assert check(lift, "2016-03-05") == [("2016-02-16", "2016-03-01")]


def test_a_gap_of_16_days_is_a_missed_window_then_counting_goes_on_from_its_due_day():
    lift = elevator("2016-01-10", "2016-01-26")  # 16 days after the 10th
    assert lift.next_due_on == date(2016, 1, 25)
    missed = lift.decide(CheckMaintenance(actor="system"), on("2016-02-12"))
    assert [(m.window_from.isoformat(), m.due_on.isoformat()) for m in missed] == [
        ("2016-01-11", "2016-01-25")
    ]
    lift.fold(missed)
    # the record of the 26th lies in the next window: maintenance is due again 15 days later
    assert lift.next_due_on == date(2016, 2, 10)
    assert check(lift, "2016-02-13") == []
    assert check(lift, "2016-02-14") == [("2016-01-27", "2016-02-10")]


def test_each_window_is_recorded_once_and_the_due_day_moves_on():
    lift = elevator()
    missed = lift.decide(CheckMaintenance(actor="system"), on("2016-02-20"))
    assert [(m.window_from, m.due_on) for m in missed] == [
        (date(2016, 1, 2), date(2016, 1, 16)),
        (date(2016, 1, 17), date(2016, 1, 31)),
        (date(2016, 2, 1), date(2016, 2, 15)),
    ]
    lift.fold(missed)
    assert lift.decide(CheckMaintenance(actor="system"), on("2016-02-20")) == []
    assert check_maintenance(lift, on("2016-02-20")) is None
    assert lift.next_due_on == date(2016, 3, 1)


def test_a_new_maintainer_has_a_full_interval_and_the_misses_go_to_who_held_the_contract():
    lift = elevator()
    lift.apply(
        MaintainerChanged(
            at=T0, actor="s", maintenance_unit_uscc=OTHER, changed_on=date(2016, 3, 1)
        )
    )
    assert lift.maintainer_on(date(2016, 2, 29)) == UNIT
    assert lift.maintainer_on(date(2016, 3, 1)) == OTHER
    assert lift.next_due_on == date(2016, 3, 16)
    (missed,) = lift.decide(CheckMaintenance(actor="system"), on("2016-03-20"))
    assert missed.unit_uscc == OTHER


def test_a_contract_made_on_the_day_of_registration_is_the_current_one():
    lift = Elevator()  # registered without a maintainer, under contract the same day
    lift.apply(
        ElevatorRegistered(
            at=T0,
            actor="system",
            equipment_code="310112345201400001",
            district="310104",
            maintenance_unit_uscc=None,
            registered_on=date(2016, 1, 1),
        )
    )
    lift.apply(
        MaintainerChanged(at=T0, actor="s", maintenance_unit_uscc=UNIT, changed_on=date(2016, 1, 1))
    )
    assert lift.maintainer_on(date(2016, 1, 1)) == UNIT
    assert lift.current is not None and lift.current.unit_uscc == UNIT
    assert lift.next_due_on == date(2016, 1, 16)
    assert check(lift, "2016-01-20") == [("2016-01-02", "2016-01-16")]


@pytest.mark.parametrize("status", ["suspended", "cancelled"])
def test_an_elevator_out_of_use_is_not_due(status):
    lift = elevator()
    lift.apply(ElevatorStatusChanged(at=T0, actor="s", status=status))
    assert lift.next_due_on is None and check(lift, "2017-01-01") == []


def test_a_long_unmaintained_elevator_catches_up_in_bounded_steps():
    lift = elevator()
    first = lift.decide(CheckMaintenance(actor="system"), on("2020-01-01"))
    assert len(first) == 50
    lift.fold(first)
    rest = lift.decide(CheckMaintenance(actor="system"), on("2020-01-01"))
    lift.fold(rest)
    # every window from 2016-01-02 to the last one due before 2019-12-29, each once
    assert len(first) + len(rest) == (date(2019, 12, 29) - date(2016, 1, 1)).days // 15
    assert lift.decide(CheckMaintenance(actor="system"), on("2020-01-01")) == []


@pytest.mark.parametrize(
    ("unit", "day", "field"),
    [
        (OTHER, "2016-01-05", "equipment_code"),
        (UNIT, "2015-12-31", "equipment_code"),
        (UNIT, "2016-01-06", "performed_on"),
    ],
)
def test_a_record_is_refused_unless_the_unit_maintained_the_elevator_that_day(unit, day, field):
    command = RecordMaintenance(
        actor="u",
        record_id="r",
        unit_uscc=unit,
        performed_on=date.fromisoformat(day),
        record_type="half_monthly",
    )
    with pytest.raises(domain.Invalid) as refused:
        elevator().decide(command, on("2016-01-05"))
    assert refused.value.field == field


def filed(bureau: str = "310104") -> Appeal:
    appeal = Appeal()
    appeal.apply(
        AppealFiled(
            at=T0,
            actor="u",
            appeal_id="a1",
            uscc=UNIT,
            deduction_id="d1",
            period="2016",
            rule="complaint_verified",
            points=Decimal(2),
            grounds="not ours",
            bureau=bureau,
        )
    )
    return appeal


@pytest.mark.parametrize(
    ("bureau", "refusal"),
    [("310115", domain.NotKnown), ("310104", None), ("SH", None), (None, None)],
)
def test_an_appeal_is_decided_by_the_units_bureau_or_the_city(bureau, refusal):
    command = DecideAppeal(actor="o", outcome="overturned", reason="r", bureau=bureau)
    appeal = filed()
    if refusal:
        with pytest.raises(refusal):
            appeal.decide(command, T0)
        return
    appeal.fold(appeal.decide(command, T0))
    assert appeal.status == "overturned"
    with pytest.raises(domain.RuleConflict):
        appeal.decide(command, T0)


def published(until: str = "2017-01-17") -> Evaluation:
    evaluation = Evaluation()
    evaluation.apply(
        EvaluationPublished(
            at=on("2017-01-03"),
            actor="a",
            period="2016",
            ruleset="demerit-2016",
            published_on=date(2017, 1, 3),
            objection_until=date.fromisoformat(until),
            grades=(),
        )
    )
    return evaluation


@pytest.mark.parametrize(
    ("today", "pending", "ok"),
    [("2017-01-17", 0, False), ("2017-01-18", 1, False), ("2017-01-18", 0, True)],
)
def test_an_evaluation_is_final_only_after_the_objection_period_with_every_appeal_decided(
    today, pending, ok
):
    evaluation = published()
    command = FinalizeEvaluation(actor="a", appeals_pending=pending, grades=())
    if not ok:
        with pytest.raises(domain.RuleConflict):
            evaluation.decide(command, on(today))
        return
    evaluation.fold(evaluation.decide(command, on(today)))
    assert evaluation.status == "final" and evaluation.finalized_on == date(2017, 1, 18)
    assert not evaluation.open_for_objection(date(2017, 1, 10))


def test_missed_events_fold_into_the_windows_recorded():
    lift = elevator()
    lift.apply(
        MaintenanceMissed(
            at=T0, actor="s", unit_uscc=UNIT, window_from=date(2016, 1, 2), due_on=date(2016, 1, 16)
        )
    )
    assert lift.check_start == date(2016, 1, 16)
    assert lift.next_due_on == date(2016, 1, 16) + timedelta(days=15)


def test_what_a_standing_tells_fits_the_published_contract():
    standing = Standing()
    told = standing.decide(
        RecordStanding(
            actor="system",
            uscc=UNIT,
            period="2016",
            as_of=date(2016, 3, 1),
            demerits=Decimal("41.50"),
            grade="D",
            vetoed=True,
            ruleset="demerit-2016",
            vetoes=(("liability_accident", "a-1"),),
            triggers=(
                ("beyond_licence_scope:b-1", "beyond_licence_scope", "b-1", date(2016, 2, 1)),
            ),
        ),
        T0,
    )
    standing.fold(told)
    told += standing.decide(
        FinalizeGrade(
            actor="system",
            uscc=UNIT,
            period="2016",
            demerits=Decimal("41.50"),
            grade="D",
            vetoed=True,
            worst_grade="D",
        ),
        T0,
    )
    assert [e.type for e in told] == [
        "ScoreChanged",
        "VetoRecorded",
        "BlacklistTriggered",
        "GradeFinalized",
        "BlacklistTriggered",
    ]
    for event in told:
        assert validate_event(event.type, event.to_data()) == {}, event.type
    assert validate_event("BlacklistTriggered", {"uscc": UNIT}) != {}
