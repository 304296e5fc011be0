"""What insurance and licensing keep of the maintenance-credit service's events, on a real store
(SQLite and PostgreSQL): each event is recorded once by its event id, so a redelivered one
(the kernel's bookkeeping lost, a replay under a new handler) changes nothing twice. The
handlers' use cases run on a unit of work of their own, as a worker's would; the last test
runs the credit service and insurance in nameko containers on the real broker and publishes
a credit event a second time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime

import eventlet
import kombu
import pytest
from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import func, select

from infra.bus.dependencies import UnitOfWork
from infra.bus.incoming import IncomingEvent
from infra.clock import Clock
from infra.eventstore import EventStore, NewEvent, SubjectKeys, make_engine, migrate
from infra.eventstore.schema import events
from infra.settings import nameko_config
from infra.testing import env, wait_until
from services.insurance import credit as insurance_credit
from services.insurance import reads
from services.insurance.projections import READ_MODELS as INSURANCE_MODELS
from services.insurance.projections import elevator_incidents
from services.insurance.service import MIGRATIONS as INSURANCE_MIGRATIONS
from services.insurance.service import InsuranceService
from services.licensing import credit as licensing_credit
from services.licensing.projections import credit_grades
from services.licensing.service import MIGRATIONS as LICENSING_MIGRATIONS
from services.maintenance_credit.service import MaintenanceCreditService

UNIT = "91310000132200821H"
LIFT, OTHER_LIFT = "311012345201400001", "311012345201400002"
TODAY = datetime.fromisoformat("2016-06-01T09:00:00+08:00")


def credit_event(kind: str, stream: str, data: dict, at: str = "2016-03-01T10:00:00+08:00"):
    return IncomingEvent(
        service="maintenance_credit",
        event_id=str(uuid.uuid4()),
        stream_id=stream,
        version=1,
        position=0,
        type=kind,
        schema_version=1,
        data={"at": at, "actor": "system", **data},
        meta={"actor": "system"},
        occurred_at=datetime.fromisoformat(at),
    )


def finalized(period: str, grade: str, uscc: str = UNIT) -> IncomingEvent:
    data = {"uscc": uscc, "period": period, "demerits": "30", "grade": grade, "vetoed": False}
    return credit_event("GradeFinalized", f"standing-{uscc}", data)


def quality(kind: str, on: str, code: str | None = LIFT, details: dict | None = None):
    event_id = f"q-{uuid.uuid4().hex[:12]}"
    at = f"{on}T10:00:00+08:00"
    data = {
        "event_id": event_id,
        "unit_uscc": UNIT,
        "equipment_code": code,
        "type": kind,
        "occurred_at": at,
        "details": details if details is not None else {"caused_by_maintenance": False},
        "recorded_by": "bureau_officer:t1",
    }
    return credit_event("QualityEventRecorded", f"quality-{event_id}", data, at)


class Worker:
    """Units of work on one service's store: ``observe`` runs the consumer's use case and
    commits, as the subscriber's worker does."""

    def __init__(self, db_url: str, migrations, observe):
        self.engine = make_engine(db_url)
        migrate(self.engine, [(migrations[0], migrations[1])])
        self.store = EventStore(self.engine.dialect.name, SubjectKeys(bytes(32)))
        self.uow = UnitOfWork(self.engine, self.store)
        self._observe = observe

    def observe(self, *incoming: IncomingEvent) -> list[bool]:
        done = [self._observe(self.uow, e) for e in incoming]
        self.commit()
        return done

    def commit(self) -> None:
        self.uow.commit()
        self.uow = UnitOfWork(self.engine, self.store)

    def stored(self) -> int:
        return self.uow.conn.execute(select(func.count()).select_from(events)).scalar()

    def close(self) -> None:
        self.uow.rollback()
        self.engine.dispose()


@pytest.fixture
def insurance(db_url) -> Iterator[Worker]:
    w = Worker(db_url, ("insurance_version", INSURANCE_MIGRATIONS), insurance_credit.observe)
    # the elevator in insurance's register, maintained by UNIT (as licensing's event makes it)
    data = {"equipment_code": LIFT, "district": "310104", "maintenance_unit_uscc": UNIT}
    stored = w.uow.append(
        f"licensing:equipment-{LIFT}",
        None,
        [NewEvent("licensing.EquipmentRegistered", {**data, "registered_on": "2014-01-02"})],
        {"observed_from": "licensing"},
    )
    INSURANCE_MODELS.project_fact(w.uow.conn, stored[0])
    w.commit()
    yield w
    w.close()


@pytest.fixture
def licensing(db_url) -> Iterator[Worker]:
    w = Worker(db_url, ("licensing_version", LICENSING_MIGRATIONS), licensing_credit.observe)
    yield w
    w.close()


def factors(w: Worker) -> dict:
    return reads.premium_factors(w.uow, Clock(TODAY), LIFT)


def test_insurance_prices_on_the_units_final_grade_and_the_elevators_last_12_months(insurance):
    assert factors(insurance) | {"age_years": None} == {
        "equipment_code": LIFT,
        "maintenance_unit_uscc": UNIT,
        "credit_grade": None,  # none published yet
        "age_years": None,
        "faults_12m": 0,
        "entrapments_12m": 0,
    }
    entrapment = {"arrival_minutes": 45, "area": "central"}
    insurance.observe(
        finalized("2015", "C"),
        quality("fault", "2016-03-01"),
        quality("fault", "2015-06-02"),  # within the 12 months up to 2016-06-01
        quality("fault", "2015-06-01"),  # a year before today: not within them
        quality("entrapment", "2016-05-30", details=entrapment),
        quality("fault", "2016-03-01", code=OTHER_LIFT),  # another elevator
        quality("complaint_verified", "2016-03-01", code=None, details={}),  # no incident
    )
    got = factors(insurance)
    assert (got["credit_grade"], got["faults_12m"], got["entrapments_12m"]) == ("C", 2, 1)


def test_an_incident_recorded_under_the_legacy_code_counts_for_the_elevator(insurance):
    code, legacy = "311012345201400003", "31101234520140000003"
    data = {"equipment_code": code, "district": "310104", "maintenance_unit_uscc": UNIT}
    stored = insurance.uow.append(
        f"licensing:equipment-{code}",
        None,
        [NewEvent("licensing.EquipmentRegistered", {**data, "legacy_code": legacy})],
        {"observed_from": "licensing"},
    )
    INSURANCE_MODELS.project_fact(insurance.uow.conn, stored[0])
    insurance.observe(
        quality("fault", "2016-03-01", code=legacy), quality("fault", "2016-04-01", code=code)
    )
    for asked in (code, legacy):
        got = reads.premium_factors(insurance.uow, Clock(TODAY), asked)
        assert (got["equipment_code"], got["faults_12m"]) == (code, 2)


def test_a_redelivered_credit_event_changes_nothing_twice_in_insurance(insurance):
    grade, fault = finalized("2015", "D"), quality("fault", "2016-03-01")
    before = insurance.stored()
    assert insurance.observe(grade, fault) == [True, True]
    once = (factors(insurance), insurance.stored())
    assert once[1] == before + 2
    assert insurance.observe(grade, fault) == [False, False]  # redelivered: nothing stored
    assert (factors(insurance), insurance.stored()) == once
    assert once[0]["faults_12m"] == 1 and once[0]["credit_grade"] == "D"


def test_insurance_keeps_the_latest_periods_grade_whatever_the_order(insurance):
    insurance.observe(finalized("2016", "B"), finalized("2015", "D"))
    assert factors(insurance)["credit_grade"] == "B"


def test_an_event_breaking_the_credit_contract_is_skipped(insurance):
    bad = finalized("2015", "C")
    del bad.data["grade"]
    before = insurance.stored()
    assert insurance.observe(bad) == [False]
    assert insurance.stored() == before and factors(insurance)["credit_grade"] is None


def grades(w: Worker) -> dict[str, tuple[str, str]]:
    rows = w.uow.conn.execute(select(credit_grades))
    return {r.uscc: (r.period, r.grade) for r in rows}


def test_a_redelivered_final_grade_changes_nothing_twice_in_licensing(licensing):
    event = finalized("2015", "C")
    assert licensing.observe(event, quality("fault", "2016-03-01")) == [True, False]
    once = (grades(licensing), licensing.stored())
    assert once == ({UNIT: ("2015", "C")}, 1)
    assert licensing.observe(event) == [False]
    assert (grades(licensing), licensing.stored()) == once
    licensing.observe(finalized("2016", "A"), finalized("2014", "D"))
    assert grades(licensing) == {UNIT: ("2016", "A")}  # the latest period's grade


# --- over the real bus: the credit service and insurance in nameko containers ---------------


def test_a_credit_event_published_again_is_applied_once_by_insurance(broker, tmp_path):
    """The relay publishes at most its unconfirmed batch again after a crash: insurance's
    consumer meets the event twice and counts it once."""
    vhost = broker.create_vhost()
    amqp_uri = broker.uri_for(vhost)
    urls = {name: f"sqlite:///{tmp_path / f'{name}.db'}" for name in ("credit", "insurance")}
    containers = [
        ServiceContainer(
            cls, {**nameko_config(name), "AMQP_URI": amqp_uri, "SESP_DATABASE_URL": url}
        )
        for cls, name, url in (
            (MaintenanceCreditService, "maintenance_credit", urls["credit"]),
            (InsuranceService, "insurance", urls["insurance"]),
        )
    ]
    insurance_db = make_engine(urls["insurance"])

    def incidents() -> int:
        with insurance_db.connect() as conn:
            return conn.execute(select(func.count()).select_from(elevator_incidents)).scalar()

    def insurance_store() -> int:
        with insurance_db.connect() as conn:
            return conn.execute(select(func.count()).select_from(events)).scalar()

    try:
        with env(SESP_DATA_DIR=str(tmp_path)):
            for container in containers:
                container.start()
            with ClusterRpcProxy({"AMQP_URI": amqp_uri, "serializer": "json"}, timeout=30) as rpc:
                body = {
                    "event_id": "q-bus-1",
                    "unit_uscc": UNIT,
                    "equipment_code": LIFT,
                    "type": "fault",
                    "occurred_at": "2016-03-01T10:00:00+08:00",
                    "details": {"caused_by_maintenance": True},
                }
                assert rpc.maintenance_credit.record_quality_event(body)["status"] == 201

                def consumer() -> dict:
                    [c] = [
                        c
                        for c in rpc.insurance.health()["consumers"]
                        if c["source"] == "maintenance_credit"
                    ]
                    return c

                wait_until(lambda: incidents() == 1, what="insurance to keep the fault")
                wait_until(lambda: consumer()["catch_up"]["state"] == "live", what="live")
                stored, seen = insurance_store(), consumer()
                [message] = [
                    m
                    for m in rpc.maintenance_credit.read_all(0, 500)["events"]
                    if m["type"] == "QualityEventRecorded"
                ]
                with kombu.Connection(amqp_uri) as conn:
                    exchange = kombu.Exchange(
                        "maintenance_credit.events", type="topic", durable=True
                    )
                    kombu.Producer(conn.channel(), exchange=exchange).publish(
                        message,
                        routing_key=message["type"],
                        serializer="json",
                        delivery_mode=2,
                        message_id=message["event_id"],
                    )
                again = wait_until(
                    lambda: (c := consumer())["duplicates"] > seen["duplicates"] and c,
                    what="the redelivery to arrive",
                )
        assert again["applied"] == seen["applied"]
        assert (incidents(), insurance_store()) == (1, stored)
    finally:
        for container in containers:
            with eventlet.Timeout(30):
                container.stop()
        insurance_db.dispose()
        broker.delete_vhost(vhost)
