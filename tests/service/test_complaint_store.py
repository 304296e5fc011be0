"""Complaints on a real store (SQLite and PostgreSQL): received from the public, decided by
the elevator's district; a verified one records exactly one complaint_verified fact for the
unit that maintained the elevator that day; a dismissed one none; contact details never sit
in clear in any table, and the officers' queue reads them back.

No broker: the use cases run on a unit of work of their own, as a worker's would.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime

import pytest
import sqlalchemy as sa

from infra import errors
from infra.bus.dependencies import UnitOfWork
from infra.bus.incoming import IncomingEvent
from infra.clock import Clock
from infra.erasure import erase
from infra.eventstore import EventStore, SubjectKeys, make_engine, make_meta, migrate
from infra.repository import Repository
from services.licensing.examples import maintenance_licence_issued
from services.maintenance_credit import complaints, intake, reads
from services.maintenance_credit.projections import KINDS, READ_MODELS, credit_facts
from services.maintenance_credit.service import MIGRATIONS

FIRST, SECOND = "91350200776049653A", "913502000728319549"
LIFT = "310112345201400001"
CONTACT = "欧阳娜娜 13800138000"
SUBJECT_KEY = b"k" * 32


def at(day: str, time: str = "09:00:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{time}+08:00")


def licensing(kind: str, stream: str, data: dict, on: str) -> IncomingEvent:
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


def licence_issued(uscc: str, licence_no: str) -> IncomingEvent:
    data = maintenance_licence_issued(uscc, licence_no)
    return licensing("LicenceIssued", f"licence-{licence_no}", data, "2016-01-01")


class Worker:
    def __init__(self, engine, store: EventStore):
        self.engine, self.store = engine, store
        self.uow = UnitOfWork(engine, store)
        self.now = at("2016-03-01")

    def repo(self, role: str = "bureau_officer") -> Repository:
        meta = make_meta({"id": "t1", "role": role}, str(uuid.uuid4()))
        return Repository(self.uow, KINDS, READ_MODELS, meta, subject_key=SUBJECT_KEY)

    def run(self, fn, *args, role: str = "bureau_officer", **kw):
        try:
            result = fn(self.repo(role), self.now, *args, **kw)
        except Exception:
            self.uow.rollback()
            self.uow = UnitOfWork(self.engine, self.store)
            raise
        self.uow.commit()
        self.uow = UnitOfWork(self.engine, self.store)
        return result

    def observe(self, *events: IncomingEvent) -> None:
        for ev in events:
            intake.observe(self.repo("system"), ev, self.now)
        self.uow.commit()
        self.uow = UnitOfWork(self.engine, self.store)

    def submit(self, **kw) -> str:
        body = {
            "equipment_code": LIFT,
            "what": "the car stopped between floors for 20 minutes",
            "occurred_at": "2016-02-20T08:30:00+08:00",
        } | kw
        return self.run(complaints.submit, body, role="public")["reference"]

    def facts(self) -> list:
        return list(
            self.uow.conn.execute(
                sa.select(credit_facts).where(credit_facts.c.type == "complaint_verified")
            )
        )

    def read(self, fn, *args):
        result = fn(*args)
        self.uow.rollback()
        self.uow = UnitOfWork(self.engine, self.store)
        return result


@pytest.fixture
def worker(db_url) -> Iterator[Worker]:
    engine = make_engine(db_url)
    migrate(engine, [("maintenance_credit_version", MIGRATIONS)])
    w = Worker(engine, EventStore(engine.dialect.name, SubjectKeys(bytes(32))))
    # FIRST maintains the lift from January, SECOND from 2016-02-25
    registered = {
        "equipment_code": LIFT,
        "district": "310104",
        "in_ftz": False,
        "registered_on": "2016-01-01",
        "maintenance_unit_uscc": FIRST,
    }
    changed = {
        "at": "2016-02-25T09:00:00+08:00",
        "actor": "bureau_officer:t1",
        "equipment_code": LIFT,
        "maintenance_unit_uscc": SECOND,
        "changed_on": "2016-02-25",
        "reason": "new maintenance contract",
    }
    w.observe(
        licence_issued(FIRST, "L-1"),
        licence_issued(SECOND, "L-2"),
        licensing("EquipmentRegistered", f"equipment-{LIFT}", registered, "2016-01-01"),
        licensing("EquipmentChanged", f"equipment-{LIFT}", changed, "2016-02-25"),
    )
    yield w
    w.uow.rollback()
    engine.dispose()


def test_verified_records_one_fact_for_the_unit_of_that_day(worker):
    early = worker.submit()  # 2016-02-20: FIRST maintained it
    late = worker.submit(occurred_at="2016-02-27T23:30:00+08:00")  # SECOND by then
    assert early != late
    assert worker.read(complaints.public_status, worker.uow.conn, early) == {
        "reference": early,
        "status": "received",
    }
    decided = worker.run(complaints.decide, early, {"outcome": "verified", "reason": "seen"})
    assert (decided["status"], decided["unit_uscc"]) == ("verified", FIRST)
    # deciding again is refused and counts nothing twice
    with pytest.raises(errors.Conflict):
        worker.run(complaints.decide, early, {"outcome": "verified", "reason": "again"})
    with pytest.raises(errors.Conflict):
        worker.run(complaints.decide, early, {"outcome": "dismissed", "reason": "again"})
    worker.run(complaints.decide, late, {"outcome": "verified", "reason": "seen too"})
    facts = sorted(
        ((f.unit_uscc, f.occurred_on.isoformat(), f.equipment_code) for f in worker.facts()),
        key=lambda f: f[1],
    )
    assert facts == [(FIRST, "2016-02-20", LIFT), (SECOND, "2016-02-27", LIFT)]
    status = worker.read(complaints.public_status, worker.uow.conn, early)
    assert status == {"reference": early, "status": "verified", "decided_on": "2016-03-01"}
    detail = worker.read(reads.unit_detail, worker.uow.conn, Clock(worker.now), FIRST, None)
    kinds = [d.get("type") or d.get("rule") for d in detail["deductions"]]
    assert "complaint_verified" in kinds, detail["deductions"]


def test_the_same_decision_retried_stores_nothing_more(worker):
    ref = worker.submit()
    body = {"outcome": "verified", "reason": "seen"}
    first = worker.run(complaints.decide, ref, body, command_id="cmd-1")
    again = worker.run(complaints.decide, ref, body, command_id="cmd-1")
    assert first["version"] == again["version"] == 2
    assert len(worker.facts()) == 1


def test_dismissed_records_no_fact(worker):
    ref = worker.submit()
    result = worker.run(complaints.decide, ref, {"outcome": "dismissed", "reason": "no fault"})
    assert (result["status"], result["unit_uscc"]) == ("dismissed", None)
    assert worker.facts() == []


def test_a_reason_is_required_and_other_districts_do_not_find_it(worker):
    ref = worker.submit()
    with pytest.raises(errors.Invalid):
        worker.run(complaints.decide, ref, {"outcome": "verified", "reason": ""})
    with pytest.raises(errors.NotFound):
        worker.run(complaints.decide, ref, {"outcome": "verified", "reason": "x"}, "310101")
    with pytest.raises(errors.NotFound):
        worker.run(complaints.decide, "C-" + "A" * 26, {"outcome": "verified", "reason": "x"})
    assert worker.read(complaints.queue, worker.repo(), "310101") == []
    assert [c["reference"] for c in worker.read(complaints.queue, worker.repo(), "310104")] == [ref]
    assert worker.facts() == []


def test_an_unknown_elevator_or_bad_text_is_refused(worker):
    with pytest.raises(errors.NotFound):
        worker.submit(equipment_code="310112345201400009")
    with pytest.raises(errors.Invalid) as exc:
        worker.submit(what="stuck\x00")
    assert "what" in exc.value.errors
    with pytest.raises(errors.Invalid):
        worker.submit(occurred_at="2016-03-02T09:00:00+08:00")  # tomorrow
    with pytest.raises(errors.NotFound):
        worker.read(complaints.public_status, worker.uow.conn, "1")


def test_the_queue_pages_in_order_and_shows_contact_to_officers(worker):
    refs = []
    for i in range(3):  # received a minute apart: the queue is in the order they came
        worker.now = at("2016-03-01", f"09:0{i}:00")
        refs.append(worker.submit(contact=CONTACT if i == 1 else None))
    page = worker.read(complaints.queue, worker.repo(), None, None, 2)
    assert [c["reference"] for c in page] == refs[:2]
    assert [c["contact"] for c in page] == [None, CONTACT]
    rest = worker.read(
        complaints.queue, worker.repo(), "310104", None, 2, complaints.cursor_of(page[-1])
    )
    assert [c["reference"] for c in rest] == refs[2:]
    received = worker.read(complaints.queue, worker.repo(), None, {"status": "verified"})
    assert received == []


def test_contact_is_never_in_clear_in_any_table_and_is_erased_by_reference(worker):
    ref = worker.submit(contact=CONTACT)
    worker.run(complaints.decide, ref, {"outcome": "verified", "reason": "seen"})
    needles = [CONTACT, "13800138000", "欧阳娜娜"]
    for table in sa.inspect(worker.engine).get_table_names():
        for row in worker.uow.conn.execute(sa.text(f'SELECT * FROM "{table}"')):
            text = json.dumps([str(v) for v in row], ensure_ascii=False)
            for needle in needles:
                assert needle not in text, table
    worker.uow.rollback()
    worker.uow = UnitOfWork(worker.engine, worker.store)
    (item,) = worker.read(complaints.queue, worker.repo(), "310104")
    assert item["contact"] == CONTACT
    erased = erase(worker.uow.conn, worker.store.keys, ref, SUBJECT_KEY, worker.now)
    worker.uow.commit()
    worker.uow = UnitOfWork(worker.engine, worker.store)
    assert erased
    (item,) = worker.read(complaints.queue, worker.repo(), "310104")
    assert item["contact"] == "[erased]"
    assert item["status"] == "verified"


def test_a_rebuild_equals_the_live_complaints(worker):
    kept = worker.submit(contact=CONTACT)
    worker.submit()
    worker.run(complaints.decide, kept, {"outcome": "verified", "reason": "seen"})
    live = READ_MODELS.digest(worker.uow.conn)
    worker.uow.rollback()
    worker.uow = UnitOfWork(worker.engine, worker.store)
    READ_MODELS.rebuild(worker.engine, worker.store)
    assert READ_MODELS.digest(worker.uow.conn) == live
    rows = worker.uow.conn.execute(sa.select(READ_MODELS.metadata.tables["credit_complaints"]))
    assert sorted(r.has_contact for r in rows) == [False, True]
