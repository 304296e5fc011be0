"""Maintenance credit on a real store (SQLite and PostgreSQL): who is scored (licensing's
events), maintenance records in batches, quality events, the missed-maintenance sweep,
evaluations with appeals, reads, and a rebuild equal to the live read models.

No broker: the use cases run on a unit of work of their own, as a worker's would; licensing's
events arrive as the subscriber hands them over.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select

from infra import errors
from infra.bus.dependencies import UnitOfWork
from infra.bus.incoming import IncomingEvent
from infra.clock import Clock
from infra.eventstore import EventStore, SubjectKeys, make_engine, make_meta, migrate
from infra.eventstore.schema import events, snapshots
from infra.repository import Kind, Kinds, Repository
from services.licensing.calendar import WorkingCalendar
from services.licensing.examples import maintenance_licence_issued
from services.maintenance_credit import (
    evaluations,
    intake,
    reads,
    records,
    ruleset_versions,
    scores,
    standings,
)
from services.maintenance_credit.domain import ELEVATOR_EVENTS, Elevator
from services.maintenance_credit.projections import ELEVATOR_PREFIX, KINDS, READ_MODELS
from services.maintenance_credit.schemas import PUBLIC_READ_EVENTS
from services.maintenance_credit.scores import shipped
from services.maintenance_credit.service import MIGRATIONS, SNAPSHOT_EVERY
from services.maintenance_credit.sweeps import MISSED_MAINTENANCE

UNIT, OTHER = "91350200776049653A", "913502000728319549"
LIFT, LIFT2, LIFT3 = "310112345201400001", "310112345201400002", "310112345201400003"
BOILER = "110112345201400001"


def at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T09:00:00+08:00")


def licensing(kind: str, stream: str, data: dict, on: str = "2016-01-01") -> IncomingEvent:
    return IncomingEvent(
        service="licensing",
        event_id=str(uuid.uuid4()),
        stream_id=stream,
        version=1,
        position=0,
        type=kind,
        schema_version=1,
        data=data,
        meta={},
        occurred_at=at(on),
    )


def licence_issued(
    uscc: str,
    licence_no: str,
    scope=("elevator:maintenance",),
    bureau="310104",
    valid_from="2016-01-01",
    district: str | None = None,
):
    data = maintenance_licence_issued(
        uscc, licence_no, bureau=bureau, district=district, scope=scope, valid_from=valid_from
    )
    return licensing("LicenceIssued", f"licence-{licence_no}", data)


def registered(code: str, unit: str | None, on: str = "2016-01-01") -> IncomingEvent:
    data = {"equipment_code": code, "district": "310104", "in_ftz": False, "registered_on": on}
    if unit:
        data["maintenance_unit_uscc"] = unit
    return licensing("EquipmentRegistered", f"equipment-{code}", data, on)


class Worker:
    """A worker's unit of work, with the service's clock set to ``today``."""

    def __init__(self, engine, store: EventStore):
        self.engine, self.store = engine, store
        self.uow = UnitOfWork(engine, store)
        self.today = "2016-01-05"

    @property
    def now(self) -> datetime:
        return at(self.today)

    def repo(self, role: str = "bureau_officer") -> Repository:
        meta = make_meta({"id": "t1", "role": role}, str(uuid.uuid4()))
        return Repository(self.uow, KINDS, READ_MODELS, meta)

    def commit(self) -> None:
        self.uow.commit()
        self.uow = UnitOfWork(self.engine, self.store)

    def observe(self, *events: IncomingEvent) -> list[bool]:
        out = [intake.observe(self.repo("system"), ev, self.now) for ev in events]
        self.commit()
        return out

    def records(self, *recs: dict, uscc: str = UNIT) -> dict:
        result = records.record_maintenance(
            self.repo("maintenance_unit"), self.now, uscc, {"records": list(recs)}
        )
        self.commit()
        return result

    def quality(self, body: dict, bureau: str | None = None) -> dict:
        result = records.record_quality_event(self.repo(), self.now, body, bureau)
        self.commit()
        return result

    def sweep(self) -> int:
        n = MISSED_MAINTENANCE.run(self.repo("system"), self.now)
        self.commit()
        return n

    def detail(self, uscc: str = UNIT, as_of: str | None = None) -> dict:
        return reads.unit_detail(self.uow.conn, Clock(self.now), uscc, as_of)

    def call(self, fn, *args, **kw):
        try:
            result = fn(self.repo(), self.now, *args, **kw)
        except Exception:
            self.uow.rollback()
            self.uow = UnitOfWork(self.engine, self.store)
            raise
        self.commit()
        return result


@pytest.fixture
def worker(db_url) -> Iterator[Worker]:
    engine = make_engine(db_url)
    migrate(engine, [("maintenance_credit_version", MIGRATIONS)])
    w = Worker(engine, EventStore(engine.dialect.name, SubjectKeys(bytes(32))))
    MISSED_MAINTENANCE.cursor = None
    yield w
    w.uow.rollback()
    engine.dispose()


def record(record_id: str, code: str = LIFT, on: str = "2016-01-04", kind="half_monthly"):
    return {"record_id": record_id, "equipment_code": code, "performed_on": on, "type": kind}


# --- who is scored ------------------------------------------------------------------------


def test_a_maintenance_licence_makes_its_holder_a_scored_unit_once(worker):
    issued = licence_issued(UNIT, "TS3131001-2016")
    assert worker.observe(issued, issued) == [True, False]  # the redelivery stores nothing
    assert worker.observe(licence_issued(OTHER, "TS2131002-2016", scope=("boiler:repair",))) == [
        False
    ]
    detail = worker.detail()
    assert (detail["uscc"], detail["grade"], detail["demerits"]) == (UNIT, "A", 0)
    assert detail["district"] == "310104"
    with pytest.raises(errors.NotFound):
        worker.detail(OTHER)


def test_a_units_district_is_where_its_licence_application_put_it(worker):
    # The city bureau issues most production licences and is no district's: the district is
    # the one licensing now carries in the holder; older events fall back to their bureau's.
    huangpu, ftz, city = "91310115AAJTF5FTGB", "91310115CLAHQFBU8D", "913101153LY1J13BMG"
    worker.observe(
        licence_issued(huangpu, "L-1", bureau="SH", district="310101"),
        licence_issued(ftz, "L-2", bureau="FTZ"),
        licence_issued(city, "L-3", bureau="SH"),
    )
    districts = [worker.detail(u)["district"] for u in (huangpu, ftz, city)]
    assert districts == ["310101", "310115", None]
    worker.today = "2017-01-03"
    worker.call(evaluations.publish, WorkingCalendar(), {"period": "2016"})
    worker.today = "2017-02-01"
    worker.call(evaluations.finalize, "2016")
    found = reads.public_credit(worker.uow.conn, {"district": "310101"})
    assert [(r["uscc"], r["district"], r["grade"]) for r in found] == [(huangpu, "310101", "A")]


def test_an_expired_maintenance_licence_is_a_veto(worker):
    worker.observe(licence_issued(UNIT, "TS3131001-2016"))
    expired = licensing(
        "LicenceExpired",
        "licence-TS3131001-2016",
        {"at": "2016-06-01T00:00:00+08:00", "actor": "system", "expired_on": "2016-06-01"},
        "2016-06-01",
    )
    worker.observe(expired)
    worker.today = "2016-07-01"
    assert worker.detail(as_of="2016-05-31")["vetoed"] is False
    detail = worker.detail()
    assert (detail["grade"], detail["vetoed"], detail["demerits"]) == ("D", True, 0)
    assert detail["vetoes"][0]["veto"] == "licence_expired"


# --- maintenance records ------------------------------------------------------------------


def test_a_batch_keeps_good_records_rejects_the_rest_and_counts_duplicates(worker):
    worker.observe(
        licence_issued(UNIT, "L-1"),
        registered(LIFT, UNIT),
        registered(LIFT2, OTHER),
        registered(BOILER, UNIT),  # not an elevator: not scored here
    )
    result = worker.records(
        record("r1"),
        record("r2", on="2016-01-05"),
        record("r3", LIFT2),  # another unit's elevator
        record("r4", LIFT3),  # an elevator nobody registered
        {"record_id": "r5", "equipment_code": LIFT, "performed_on": "2016-02-30", "type": "x"},
        record("r6", on="2016-01-06"),  # tomorrow
        record("r1"),  # the same record twice in one batch
    )
    assert (result["accepted"], result["duplicates"]) == (2, 1)
    rejected = {r["index"]: r for r in result["rejected"]}
    assert sorted(rejected) == [2, 3, 4, 5]
    assert "not maintained by" in rejected[2]["errors"]["equipment_code"][0]
    assert rejected[3]["record_id"] == "r4"
    assert set(rejected[4]["errors"]) == {"performed_on", "type"}
    assert "future" in rejected[5]["errors"]["performed_on"][0]
    again = worker.records(
        record("r1"), record("r2", on="2016-01-05"), record("r7", on="2016-01-05")
    )
    assert (again["accepted"], again["duplicates"], again["rejected"]) == (1, 2, [])


def test_a_record_counts_for_the_unit_that_maintained_the_elevator_that_day(worker):
    worker.observe(registered(LIFT, OTHER))
    change = licensing(
        "EquipmentChanged",
        f"equipment-{LIFT}",
        {
            "equipment_code": LIFT,
            "changed_on": "2016-03-01",
            "reason": "new contract",
            "maintenance_unit_uscc": UNIT,
        },
        "2016-03-01",
    )
    worker.observe(change)
    worker.today = "2016-03-10"
    result = worker.records(record("before", on="2016-02-20"), record("after", on="2016-03-02"))
    assert result["accepted"] == 1
    assert [r["record_id"] for r in result["rejected"]] == ["before"]
    assert worker.records(record("old", on="2016-02-20"), uscc=OTHER)["accepted"] == 1


def test_a_batch_of_5000_records_is_taken_and_a_larger_one_refused(worker):
    codes = [f"3101123452014{i:05d}" for i in range(250)]
    worker.observe(licence_issued(UNIT, "L-1"), *[registered(c, UNIT) for c in codes])
    worker.today = "2016-12-31"
    batch = [
        record(
            f"b{i}", codes[i % 250], (date(2016, 1, 2) + timedelta(days=i // 250 * 15)).isoformat()
        )
        for i in range(5000)
    ]
    result = worker.records(*batch)
    assert (result["accepted"], result["duplicates"], result["rejected"]) == (5000, 0, [])
    assert worker.records(*batch[:100])["duplicates"] == 100
    with pytest.raises(errors.Invalid) as refused:
        worker.records(*batch, record("one-too-many"))
    assert "records" in refused.value.errors


# --- quality events -----------------------------------------------------------------------


def quality(event_id: str, kind: str, details: dict | None = None, day="2016-03-01", **more):
    body = {
        "event_id": event_id,
        "unit_uscc": UNIT,
        "type": kind,
        "occurred_at": f"{day}T10:00:00+08:00",
        "details": details or {},
    }
    return {**body, **more}


def test_a_quality_event_is_recorded_once_by_its_event_id(worker):
    worker.observe(licence_issued(UNIT, "L-1"))
    body = quality("q-1", "complaint_verified")
    assert worker.quality(body)["status"] == 201
    assert worker.quality(body)["status"] == 200
    with pytest.raises(errors.Conflict):
        worker.quality({**body, "type": "duty_phone_unanswered"})
    worker.today = "2016-03-02"
    detail = worker.detail()
    assert detail["demerits"] == 2
    assert [(d["rule"], d["event_id"]) for d in detail["deductions"]] == [
        ("complaint_verified", "q-1")
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (quality("q", "entrapment", {"arrival_minutes": 40}, equipment_code=LIFT), "details.area"),
        (
            quality(
                "q", "entrapment", {"arrival_minutes": "40", "area": "central"}, equipment_code=LIFT
            ),
            "details.arrival_minutes",
        ),
        (quality("q", "fault", {"caused_by_maintenance": True}), "equipment_code"),
        (
            quality("q", "fault", {"caused_by_maintenance": "yes"}, equipment_code=LIFT),
            "details.caused_by_maintenance",
        ),
        (quality("q", "tea_break"), "type"),
        (quality("q", "penalty", {"kind": "x"}), "details.decision_no"),
        (quality("q", "complaint_verified", unit_uscc="91350200776049653B"), "unit_uscc"),
        (quality("q", "complaint_verified", occurred_at="2016-03-01T10:00:00"), "occurred_at"),
    ],
)
def test_a_bad_quality_event_is_refused_on_its_field(worker, body, field):
    with pytest.raises(errors.Invalid) as refused:
        worker.quality(body)
    assert field in refused.value.errors


def test_an_officer_records_facts_on_units_of_its_own_bureau(worker):
    worker.observe(licence_issued(UNIT, "L-1", bureau="310104"))
    with pytest.raises(errors.Forbidden):
        worker.quality(quality("q-2", "complaint_verified"), bureau="310115")
    assert worker.quality(quality("q-3", "complaint_verified"), bureau="310104")["status"] == 201
    assert worker.quality(quality("q-4", "complaint_verified"), bureau="SH")["status"] == 201


def test_an_officer_records_facts_on_units_and_elevators_of_its_district(worker):
    # the city bureau licensed the unit, which is in Huangpu; its elevator LIFT is in Xuhui
    worker.observe(
        licence_issued(UNIT, "L-1", bureau="SH", district="310101"), registered(LIFT, UNIT)
    )
    assert worker.quality(quality("q-1", "complaint_verified"), bureau="310101")["status"] == 201
    fault = quality("q-2", "fault", {"caused_by_maintenance": True}, equipment_code=LIFT)
    assert worker.quality(fault, bureau="310104")["status"] == 201
    with pytest.raises(errors.Forbidden):  # Xuhui's, but not about its elevator
        worker.quality(quality("q-3", "complaint_verified"), bureau="310104")
    with pytest.raises(errors.Forbidden):
        worker.quality(
            quality("q-4", "fault", {"caused_by_maintenance": True}, equipment_code=LIFT),
            bureau="310115",
        )


# --- missed maintenance -------------------------------------------------------------------


def test_the_sweep_records_each_missed_window_once(worker):
    worker.observe(licence_issued(UNIT, "L-1"), registered(LIFT, UNIT), registered(LIFT2, UNIT))
    worker.today = "2016-01-10"
    worker.records(record("r1", on="2016-01-10"), record("r2", LIFT2, on="2016-01-10"))
    worker.today = "2016-02-20"  # judged until 2016-02-17
    worker.records(*[record(f"r2-{d}", LIFT2, on=f"2016-{d}") for d in ("01-24", "02-07")])
    assert worker.sweep() == 1  # LIFT missed the windows due 01-25 and 02-09; LIFT2 none
    assert worker.sweep() == 0
    detail = worker.detail()
    missed = [d for d in detail["deductions"] if d["rule"] == "missed_maintenance"]
    assert len(missed) == 2
    assert detail["elevators"] == 2
    assert [d["points"] for d in missed] == [50, 50]  # 1 per 100 elevators, 2 maintained
    assert "2016-01-25" in missed[0]["explanation"]
    worker.today = "2016-03-01"  # judged until 02-27: LIFT's window due 02-24, LIFT2's 02-22
    assert worker.sweep() == 2
    assert worker.sweep() == 0
    assert len([d for d in worker.detail()["deductions"] if d["rule"] == "missed_maintenance"]) == 4


def test_a_suspended_or_unmaintained_elevator_is_not_due(worker):
    worker.observe(registered(LIFT, UNIT), registered(LIFT2, None))
    suspended = licensing("EquipmentSuspended", f"equipment-{LIFT}", {"equipment_code": LIFT})
    worker.observe(suspended)
    worker.today = "2016-06-01"
    assert worker.sweep() == 0


# --- evaluations and appeals --------------------------------------------------------------


def test_publish_appeal_overturn_and_finalize(worker):
    worker.observe(licence_issued(UNIT, "L-1", bureau="310104"), licence_issued(OTHER, "L-2"))
    for i in range(6):
        worker.quality(quality(f"c-{i}", "complaint_verified"))
    worker.today = "2016-12-20"
    with pytest.raises(errors.Conflict):  # the period has not ended
        worker.call(evaluations.publish, WorkingCalendar(), {"period": "2016"})
    worker.today = "2017-01-03"
    published = worker.call(evaluations.publish, WorkingCalendar(), {"period": "2016"})
    assert published["status"] == "published"
    assert published["objection_until"] == "2017-01-17"  # 10 working days after 01-03
    assert published["grades"]["B"] == 1 and published["grades"]["A"] == 1
    with pytest.raises(errors.Conflict):
        worker.call(evaluations.publish, WorkingCalendar(), {"period": "2016"})
    deductions = worker.detail(as_of="2016-12-31")["deductions"]
    target = deductions[0]["id"]
    appeal = worker.call(
        evaluations.file_appeal, UNIT, {"deduction_id": target, "grounds": "not our lift"}
    )
    assert (appeal["status"], appeal["bureau"], appeal["rule"]) == (
        "under_appeal",
        "310104",
        "complaint_verified",
    )
    with pytest.raises(errors.Conflict):
        worker.call(evaluations.file_appeal, UNIT, {"deduction_id": target, "grounds": "again"})
    with pytest.raises(errors.NotFound):
        worker.call(evaluations.file_appeal, UNIT, {"deduction_id": "nope", "grounds": "x"})
    assert worker.detail(as_of="2016-12-31")["deductions"][0]["status"] == "under_appeal"
    with pytest.raises(errors.Conflict):  # open for objection, and an appeal pending
        worker.call(evaluations.finalize, "2016")
    decision = {"outcome": "overturned", "reason": "complainant named another lift"}
    with pytest.raises(errors.NotFound):  # another bureau's appeal
        worker.call(evaluations.decide_appeal, appeal["id"], decision, bureau="310115")
    decided = worker.call(evaluations.decide_appeal, appeal["id"], decision, bureau="310104")
    assert decided["status"] == "overturned"
    with pytest.raises(errors.Conflict):
        worker.call(evaluations.decide_appeal, appeal["id"], decision, bureau="310104")
    with pytest.raises(errors.Conflict):  # still open for objection
        worker.call(evaluations.finalize, "2016")
    worker.today = "2017-01-18"
    with pytest.raises(errors.Conflict):  # the objection period is over
        worker.call(
            evaluations.file_appeal, UNIT, {"deduction_id": deductions[1]["id"], "grounds": "x"}
        )
    final = worker.call(evaluations.finalize, "2016")
    assert final["status"] == "final" and final["grades"]["A"] == 2
    detail = worker.detail(as_of="2016-12-31")
    assert detail["demerits"] == 10 and detail["grade"] == "A"
    assert [d["status"] for d in detail["deductions"]].count("reversed") == 1
    public = reads.public_credit(worker.uow.conn, {"grade": "A"})
    assert [(p["uscc"], p["period"], p["grade"]) for p in public] == sorted(
        [(OTHER, "2016", "A"), (UNIT, "2016", "A")]
    )
    assert reads.public_credit(worker.uow.conn, {"uscc": UNIT})[0]["demerits"] == 10
    assert reads.public_credit(worker.uow.conn, {}, limit=1, after=[OTHER])[0]["uscc"] == UNIT
    history = reads.history(worker.uow.conn, Clock(worker.now), UNIT)
    assert [(p["period"], p["grade"], p["status"]) for p in history["periods"]] == [
        ("2016", "A", "final")
    ]


def deduction(worker: Worker, uscc: str, rule: str, event_id: str | None = None) -> str:
    """The id of ``uscc``'s 2016 deduction for ``rule`` (made by ``event_id``)."""
    found = worker.detail(uscc, as_of="2016-12-31")["deductions"]
    return next(d["id"] for d in found if d["rule"] == rule and event_id in (None, d["event_id"]))


def test_every_unit_scored_at_once_gets_the_grade_its_own_score_gives(worker):
    third = "9135021359498494XQ"
    worker.observe(
        licence_issued(UNIT, "L-1"),
        licence_issued(OTHER, "L-2"),
        licence_issued(third, "L-3"),
        registered(LIFT, UNIT),
        registered(LIFT2, UNIT),
        registered(LIFT3, OTHER),
    )
    # LIFT3 is UNIT's in February, then OTHER's again: OTHER maintained it on two contracts
    for unit, on in ((UNIT, "2016-02-01"), (OTHER, "2016-03-01")):
        change = {
            "equipment_code": LIFT3,
            "changed_on": on,
            "reason": "new contract",
            "maintenance_unit_uscc": unit,
        }
        worker.observe(licensing("EquipmentChanged", f"equipment-{LIFT3}", change, on))
    worker.today = "2016-01-10"
    worker.records(record("r-1", LIFT2, on="2016-01-10"))
    worker.records(record("r-2", LIFT3, on="2016-01-10"), uscc=OTHER)
    worker.today = "2016-01-20"  # judged until 01-17: LIFT missed its window due 01-16
    while worker.sweep():
        pass
    worker.today = "2016-06-01"
    for event_id in ("c-1", "c-2"):
        worker.quality(quality(event_id, "complaint_verified"))
    worker.quality(quality("x-1", "accident", {"liability": True}, unit_uscc=OTHER))
    late = {"arrival_minutes": 45, "area": "central"}
    worker.quality(quality("e-1", "entrapment", late, unit_uscc=OTHER, equipment_code=LIFT3))
    for day in ("2016-03-01", "2016-03-09", "2016-03-20"):
        fault = quality(f"f-{day}", "fault", {"caused_by_maintenance": True}, day=day)
        worker.quality({**fault, "unit_uscc": third, "equipment_code": LIFT})
    for i, passed in enumerate((True, True, False)):
        inspection = quality(
            f"i-{i}", "inspection_result", {"passed": passed, "first_attempt": True}
        )
        worker.quality({**inspection, "unit_uscc": third, "equipment_code": LIFT})
    assert [worker.detail(u, as_of="2016-12-31")["elevators"] for u in (UNIT, OTHER)] == [3, 1]

    worker.today = "2017-01-03"
    worker.call(evaluations.publish, WorkingCalendar(), {"period": "2016"})
    worker.today = "2017-01-04"
    appeals = [
        worker.call(evaluations.file_appeal, uscc, {"deduction_id": d, "grounds": "not ours"})
        for uscc, d in [
            (UNIT, deduction(worker, UNIT, "complaint_verified", "c-1")),
            (UNIT, deduction(worker, UNIT, "complaint_verified", "c-2")),
            (third, deduction(worker, third, "repeated_faults")),
        ]
    ]
    worker.today = "2017-01-05"
    overturn = {"outcome": "overturned", "reason": "another unit's lift"}
    for appeal in (appeals[0], appeals[2]):
        worker.call(evaluations.decide_appeal, appeal["id"], overturn)

    usccs, end = [UNIT, OTHER, third], date(2016, 12, 31)
    conn = worker.uow.conn
    grades = {}
    for appeals_as_of in (end, date(2017, 1, 4), date(2017, 1, 5)):
        together = scores.unit_grades(conn, usccs, end, appeals_as_of)
        one_by_one = [scores.unit_score(conn, uscc, end, appeals_as_of) for uscc in usccs]
        grades[appeals_as_of] = [(g.demerits, g.grade, g.vetoed) for g in together.values()]
        assert list(together) == usccs
        assert grades[appeals_as_of] == [(s.demerits, s.grade, s.vetoed) for s in one_by_one]
    # 1 per 100 elevators for LIFT's window, 3 maintained; 2 a complaint, 10 the late arrival;
    # 10 the faults, 20 a first-pass rate of 66.7 %
    assert grades[end] == [
        (Decimal("37.33"), "C", False),
        (Decimal(10), "D", True),
        (Decimal(30), "C", False),
    ]
    assert grades[date(2017, 1, 4)] == grades[end]  # under appeal: still counted
    assert [g[:2] for g in grades[date(2017, 1, 5)]] == [
        (Decimal("35.33"), "C"),
        (Decimal(10), "D"),
        (Decimal(20), "B"),
    ]


def test_a_rebuild_equals_the_live_read_models(worker):
    worker.observe(licence_issued(UNIT, "L-1"), registered(LIFT, UNIT), registered(LIFT2, UNIT))
    worker.today = "2016-03-01"
    worker.records(record("r1", on="2016-01-10"))
    worker.quality(quality("q-1", "complaint_verified"))
    worker.sweep()
    live = READ_MODELS.digest(worker.uow.conn)
    worker.commit()
    READ_MODELS.rebuild(worker.engine, worker.store)
    assert READ_MODELS.digest(worker.uow.conn) == live


# --- rule-set versions --------------------------------------------------------------------


def proposed(version: str = "demerit-2015x", effective_from: str = "2016-07-01", **changes):
    definition = dict(shipped().get("demerit-2016").source)
    definition.update(version=version, effective_from=effective_from, **changes)
    return definition


def test_a_new_rule_set_takes_effect_from_a_future_day_and_a_what_if_shows_the_changes(worker):
    worker.observe(licence_issued(UNIT, "L-1"), licence_issued(OTHER, "L-2"))
    for i in range(5):  # 10 points: A now, B if a complaint cost 3
        worker.quality(quality(f"c-{i}", "complaint_verified"))
    worker.today = "2016-06-01"
    stricter = proposed(rules={**proposed()["rules"], "complaint_verified": {"points": 3}})
    with pytest.raises(errors.Invalid) as refused:
        worker.call(ruleset_versions.adopt, {**stricter, "effective_from": "2016-06-01"})
    assert "effective_from" in refused.value.errors
    with pytest.raises(errors.Invalid) as refused:
        worker.call(ruleset_versions.adopt, {**stricter, "rules": {"tea": {"points": 1}}})
    assert "rules.tea" in refused.value.errors
    adopted = worker.call(ruleset_versions.adopt, stricter)
    assert (adopted["version"], adopted["effective_from"]) == ("demerit-2015x", "2016-07-01")
    with pytest.raises(errors.Conflict):
        worker.call(ruleset_versions.adopt, stricter)
    with pytest.raises(errors.Conflict):  # a shipped version's name
        worker.call(ruleset_versions.adopt, proposed(version="demerit-2016"))
    versions = [r["version"] for r in ruleset_versions.list_rulesets(worker.uow.conn)]
    assert versions == ["demerit-2016", "demerit-2015x"]
    result = ruleset_versions.what_if(worker.uow.conn, worker.now, "demerit-2015x")
    assert (result["compared_with"], result["units"]) == ("demerit-2016", 2)
    assert result["changes"] == [{"uscc": UNIT, "from": "A", "to": "B"}]
    assert worker.detail()["grade"] == "A"  # not in force yet
    with pytest.raises(errors.NotFound):
        ruleset_versions.what_if(worker.uow.conn, worker.now, "demerit-1999")
    worker.today = "2016-07-01"
    in_force = worker.detail()
    assert (in_force["ruleset"], in_force["demerits"], in_force["grade"]) == (
        "demerit-2015x",
        15,
        "B",
    )
    assert worker.detail(as_of="2016-06-30")["ruleset"] == "demerit-2016"
    live = READ_MODELS.digest(worker.uow.conn)
    worker.commit()
    READ_MODELS.rebuild(worker.engine, worker.store)
    assert READ_MODELS.digest(worker.uow.conn) == live


# --- what the service tells others --------------------------------------------------------


def told(worker: Worker, uscc: str = UNIT) -> list[tuple[str, dict]]:
    return [(ev.type, ev.data) for ev in worker.uow.read_stream(f"standing-{uscc}")]


def test_a_units_standing_tells_score_changes_vetoes_and_blacklist_triggers_once(worker):
    worker.observe(licence_issued(UNIT, "L-1"))
    worker.today = "2016-03-02"
    worker.quality(quality("c-1", "complaint_verified"))
    worker.quality(quality("c-1", "complaint_verified"))  # a duplicate tells nothing
    worker.quality(quality("b-1", "beyond_licence_scope"))
    worker.quality(quality("a-1", "accident", {"liability": True}))
    events = told(worker)
    assert [t for t, _ in events] == [
        "ScoreChanged",
        "ScoreChanged",
        "BlacklistTriggered",
        "ScoreChanged",
        "VetoRecorded",
    ]
    assert [(d["demerits"], d["grade"], d["vetoed"]) for t, d in events if t == "ScoreChanged"] == [
        ("2", "A", False),
        ("42", "D", False),
        ("42", "D", True),
    ]
    trigger = next(d for t, d in events if t == "BlacklistTriggered")
    assert (trigger["reason"], trigger["fact_id"]) == ("beyond_licence_scope", "b-1")
    assert standings.refresh(worker.repo("system"), worker.now, [UNIT, OTHER]) == 0
    worker.commit()
    assert len(told(worker)) == 5


def test_a_first_pass_rate_under_60_triggers_the_blacklist_once_a_period(worker):
    worker.observe(licence_issued(UNIT, "L-1"))
    worker.today = "2016-04-01"
    for i in range(5):
        details = {"passed": i < 2, "first_attempt": True}
        worker.quality(quality(f"i-{i}", "inspection_result", details, equipment_code=LIFT))
    triggers = [d for t, d in told(worker) if t == "BlacklistTriggered"]
    # 2 of 3 is 66.7 %, 2 of 4 is 50 %: the fourth inspection triggers it, the fifth not again
    assert [(d["reason"], d["fact_id"]) for d in triggers] == [("first_pass_rate_below_60", "i-3")]


def test_finalizing_tells_each_units_final_grade_and_a_d_triggers_the_blacklist(worker):
    worker.observe(licence_issued(UNIT, "L-1"), licence_issued(OTHER, "L-2"))
    worker.quality(quality("x-1", "accident", {"liability": True}))
    worker.today = "2017-01-03"
    worker.call(evaluations.publish, WorkingCalendar(), {"period": "2016"})
    worker.today = "2017-02-01"
    worker.call(evaluations.finalize, "2016")
    final = [(t, d) for t, d in told(worker) if t in ("GradeFinalized", "BlacklistTriggered")]
    assert [(t, d.get("grade") or d.get("reason")) for t, d in final][-2:] == [
        ("GradeFinalized", "D"),
        ("BlacklistTriggered", "final_grade_d"),
    ]
    assert [(t, d["grade"]) for t, d in told(worker, OTHER) if t == "GradeFinalized"] == [
        ("GradeFinalized", "A")
    ]


def test_an_evaluation_takes_the_units_licensed_on_some_day_of_its_period(worker):
    third = "9135021359498494XQ"
    worker.observe(
        licence_issued(UNIT, "L-1"),
        licence_issued(OTHER, "L-2"),
        licence_issued(third, "L-3", valid_from="2018-03-01"),
    )
    revoked = licensing(
        "LicenceRevoked",
        "licence-L-2",
        {
            "at": "2016-06-01T09:00:00+08:00",
            "actor": "o",
            "reason": "r",
            "revoked_on": "2016-06-01",
        },
        "2016-06-01",
    )
    worker.observe(revoked)
    worker.today = "2018-01-05"
    for period in ("2016", "2017"):
        worker.call(evaluations.publish, WorkingCalendar(), {"period": period})
    history = {
        uscc: [
            p["period"] for p in reads.history(worker.uow.conn, Clock(worker.now), uscc)["periods"]
        ]
        for uscc in (UNIT, OTHER, third)
    }
    assert history == {UNIT: ["2016", "2017"], OTHER: ["2016"], third: []}


def test_an_elevator_loads_from_its_snapshot_as_from_all_its_events(db_url):
    engine = make_engine(db_url)
    migrate(engine, [("maintenance_credit_version", MIGRATIONS)])
    store = EventStore(engine.dialect.name, SubjectKeys(bytes(32)), snapshot_every=SNAPSHOT_EVERY)
    w = Worker(engine, store)
    try:
        w.observe(licence_issued(UNIT, "L-1"), registered(LIFT, UNIT), registered(LIFT2, UNIT))
        for batch in range(6):  # 30 visits of LIFT, 5 a batch; LIFT2 visited in the first only
            days = [date(2016, 1, 2) + timedelta(days=15 * (batch * 5 + k)) for k in range(5)]
            w.today = days[-1].isoformat()
            recs = [record(f"v{d}", on=d.isoformat()) for d in days]
            if batch == 0:
                recs.append(record("lift2", LIFT2, on=days[0].isoformat()))
            assert w.records(*recs)["accepted"] == len(recs)
        assert w.records(record("v2016-01-02", on="2016-01-02"))["duplicates"] == 1
        taken = w.uow.conn.execute(
            select(snapshots.c.stream_id, snapshots.c.version)
        ).all()  # a snapshot each time a stream's version crossed a multiple of 12
        assert sorted(taken) == [(f"elevator-{LIFT}", 26)]
        snapped = w.repo().load_many(Elevator, [LIFT, LIFT2])
        meta = make_meta({"id": "t1", "role": "system"})
        folded = Repository(
            w.uow, Kinds(Kind(ELEVATOR_PREFIX, Elevator, ELEVATOR_EVENTS)), None, meta
        ).load_many(Elevator, [LIFT, LIFT2])
        assert snapped == folded
        assert (snapped[LIFT].version, len(snapped[LIFT].performed)) == (31, 30)
        assert w.repo().load(Elevator, LIFT) == folded[LIFT]
        w.today = (date(2016, 1, 2) + timedelta(days=15 * 29 + 40)).isoformat()
        assert w.sweep() == 2  # each elevator's windows since its last visit, on its snapshot
        assert w.repo().load_many(Elevator, [LIFT])[LIFT].missed
    finally:
        w.uow.rollback()
        engine.dispose()


# --- what the gateway's public cache listens to ---------------------------------------------

PUBLIC_TABLES = re.compile(
    r"^\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(credit_units|credit_grades)\b", re.I
)


def test_every_change_to_what_public_reads_read_comes_with_a_public_read_event(worker):
    """The gateway keeps public credit answers until one of ``PUBLIC_READ_EVENTS`` arrives and
    does not hear the others: every transaction that writes the tables the public reads read
    (``credit_units``, ``credit_grades``) must store one of them, and the busiest facts
    (maintenance records, the sweep's missed windows, quality events) none."""
    statements: list[str] = []
    listen = lambda conn, cursor, statement, *a: statements.append(statement)  # noqa: E731
    sa_event.listen(worker.engine, "before_cursor_execute", listen)
    seen = {"position": 0}
    transactions: list[tuple[bool, set[str]]] = []
    commit = worker.commit

    def recorded_commit() -> None:
        writes = any(PUBLIC_TABLES.match(s) for s in statements)
        commit()
        statements.clear()
        with worker.engine.connect() as conn:
            rows = conn.execute(
                select(events.c.position, events.c.type).where(events.c.position > seen["position"])
            ).all()
        statements.clear()
        if rows:
            seen["position"] = max(r.position for r in rows)
        transactions.append((writes, {r.type for r in rows}))

    worker.commit = recorded_commit  # type: ignore[method-assign]
    worker.observe(licence_issued(UNIT, "L-1"), registered(LIFT, UNIT), registered(LIFT2, UNIT))
    worker.today = "2016-01-10"
    worker.records(record("r1", on="2016-01-10"), record("r2", LIFT2, on="2016-01-10"))
    worker.quality(quality("c-1", "complaint_verified"))
    worker.today = "2016-03-01"
    worker.sweep()
    suspended = {"at": "2016-03-02T09:00:00+08:00", "actor": "system", "reason": "audit"}
    worker.observe(licensing("LicenceSuspended", "licence-L-1", suspended, "2016-03-02"))
    worker.today = "2017-01-03"
    worker.call(evaluations.publish, WorkingCalendar(), {"period": "2016"})
    target = worker.detail(as_of="2016-12-31")["deductions"][0]["id"]
    appeal = worker.call(evaluations.file_appeal, UNIT, {"deduction_id": target, "grounds": "x"})
    decision = {"outcome": "upheld", "reason": "it was ours"}
    worker.call(evaluations.decide_appeal, appeal["id"], decision, bureau="310104")
    worker.today = "2017-01-18"
    worker.call(evaluations.finalize, "2016")
    sa_event.remove(worker.engine, "before_cursor_execute", listen)

    public = set(PUBLIC_READ_EVENTS)
    writing = [types for writes, types in transactions if writes]
    assert len(writing) >= 4  # the licence, its suspension, publishing, finalizing
    assert all(types & public for types in writing), writing
    stored = set().union(*(types for _, types in transactions))
    assert {"MaintenanceRecorded", "MaintenanceMissed", "QualityEventRecorded"} <= stored
    assert not {"MaintenanceRecorded", "MaintenanceMissed", "QualityEventRecorded"} & public
