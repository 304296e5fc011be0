"""Insurance on a real store (SQLite and PostgreSQL): the sync's rows, the sweeps, rebuilds.

No broker: the use cases run on a unit of work of their own, as a worker's would.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import select

from infra.bus.dependencies import UnitOfWork
from infra.clock import Clock
from infra.eventstore import EventStore, SubjectKeys, make_engine, make_meta, migrate
from infra.repository import Repository
from services.insurance import reads, sync
from services.insurance.projections import KINDS, READ_MODELS, policies, policy_equipment
from services.insurance.service import MIGRATIONS
from services.insurance.sweeps import LAPSES, REMINDERS

INSURER = "91350200776049653A"
A, B, C = "311012345201400001", "311012345201400002", "311012345201400003"
PUSHED_AT = datetime.fromisoformat("2014-12-01T09:00:00+08:00")
POLICY = {
    "policy_no": "PA-1",
    "revision": 1,
    "policyholders": [
        {"uscc": "9135021359498494XQ", "name": "Owner Co", "role": "owner", "share": "0.70"},
        {"uscc": "91440101MA5CJQ4N59", "name": "Lift Care", "role": "maintenance", "share": "0.30"},
    ],
    "equipment_codes": [A, B],
    "cover": "liability",
    "limits": {"per_accident": "1000000.00", "per_person": "800000.00"},
    "premium": "93.00",
    "starts_on": "2014-07-01",
    "ends_on": "2015-06-30",
    "status": "active",
}


def pushed(**changes) -> dict:
    return {**copy.deepcopy(POLICY), **changes}


class Worker:
    """A worker's unit of work on the store: ``repo`` for commands, ``commit`` to end it."""

    def __init__(self, engine, store: EventStore):
        self.engine, self.store = engine, store
        self.uow = UnitOfWork(engine, store)

    @property
    def repo(self) -> Repository:
        meta = make_meta({"id": "t1", "role": "insurer"})
        return Repository(self.uow, KINDS, READ_MODELS, meta)

    def sync(self, *items: dict, now: datetime = PUSHED_AT) -> list[dict]:
        results = sync.sync_policies(self.repo, now, INSURER, list(items))
        self.commit()
        return results

    def sweep(self, sweep, now: datetime) -> int:
        changed = sweep.run(self.repo, now)
        self.commit()
        return changed

    def commit(self) -> None:
        self.uow.commit()
        self.uow = UnitOfWork(self.engine, self.store)

    def links(self, policy_no: str) -> set[str]:
        rows = self.uow.conn.execute(
            select(policy_equipment.c.equipment_code).where(
                policy_equipment.c.insurer == INSURER, policy_equipment.c.policy_no == policy_no
            )
        )
        return {r.equipment_code for r in rows}

    def covered(self, code: str, on: str) -> bool:
        return reads.coverage(self.uow, Clock(), code, on)["covered"]

    def reminded(self) -> set[str]:
        rows = self.uow.conn.execute(
            select(policies.c.policy_no).where(policies.c.reminded_for.is_not(None))
        )
        return {r.policy_no for r in rows}

    def statuses(self) -> dict[str, str]:
        rows = self.uow.conn.execute(select(policies.c.policy_no, policies.c.status))
        return {r.policy_no: r.status for r in rows}


@pytest.fixture
def worker(db_url) -> Iterator[Worker]:
    engine = make_engine(db_url)
    migrate(engine, [("insurance_version", MIGRATIONS)])
    w = Worker(engine, EventStore(engine.dialect.name, SubjectKeys(bytes(32))))
    yield w
    w.uow.rollback()
    engine.dispose()


def test_a_cancelling_revision_keeps_only_the_elevators_it_names(worker):
    worker.sync(pushed(equipment_codes=[A, B]))
    [cancelled] = worker.sync(pushed(revision=2, status="cancelled", equipment_codes=[A]))
    assert (cancelled["status"], cancelled["outcome"]) == (200, "superseded")
    assert worker.links("PA-1") == {A}
    # Active again, naming A only: B was dropped by the cancelling revision and stays uncovered.
    worker.sync(pushed(revision=3, equipment_codes=[A]))
    assert worker.links("PA-1") == {A}
    assert worker.covered(A, "2014-12-01") is True
    assert worker.covered(B, "2014-12-01") is False


def test_a_revision_moves_the_links_to_the_elevators_it_names(worker):
    worker.sync(pushed(equipment_codes=[A, B]))
    [revised] = worker.sync(pushed(revision=2, equipment_codes=[B, C]))
    assert revised["outcome"] == "superseded"
    assert worker.links("PA-1") == {B, C}


def test_reminders_reach_every_policy_ending_soon_however_small_the_batch(worker):
    numbers = [f"PE-{i}" for i in range(5)]
    worker.sync(*(pushed(policy_no=n) for n in numbers))
    reminders = dataclasses.replace(REMINDERS, batch=2)
    three_days_before = datetime.fromisoformat("2015-06-27T09:00:00+08:00")
    # A batch of 2 and 5 policies due: three runs remind them all (a due query that kept
    # returning the first two, reminded already, would leave three unreminded).
    assert [worker.sweep(reminders, three_days_before) for _ in range(3)] == [2, 2, 1]
    assert worker.reminded() == set(numbers)
    assert worker.sweep(reminders, three_days_before) == 0


def test_reminders_go_by_the_china_date(worker):
    worker.sync(pushed())
    # 23:30 on 26 June in Shanghai: four days before the end, nothing yet.
    assert worker.sweep(REMINDERS, datetime.fromisoformat("2015-06-26T15:30:00+00:00")) == 0
    # 00:30 on 27 June in Shanghai (still 26 June in UTC): three days before, reminded.
    assert worker.sweep(REMINDERS, datetime.fromisoformat("2015-06-26T16:30:00+00:00")) == 1


def test_lapses_reach_every_ended_policy_in_small_batches(worker):
    numbers = [f"PL-{i}" for i in range(3)]
    worker.sync(*(pushed(policy_no=n) for n in numbers), pushed(policy_no="PL-LATER", revision=1))
    worker.sync(pushed(policy_no="PL-LATER", revision=2, ends_on="2015-12-31"))
    lapses = dataclasses.replace(LAPSES, batch=2)
    after_the_end = datetime.fromisoformat("2015-07-01T09:00:00+08:00")
    assert [worker.sweep(lapses, after_the_end) for _ in range(3)] == [2, 1, 0]
    assert worker.statuses() == {**dict.fromkeys(numbers, "lapsed"), "PL-LATER": "active"}
    assert worker.covered(A, "2015-01-15") is True  # the period it covered stays covered


def test_a_batch_written_in_bulk_rebuilds_to_the_same_read_models(worker):
    batch = [
        pushed(policy_no=f"PB-{i}", equipment_codes=[f"31101234520140{i:04d}"]) for i in range(20)
    ]
    batch.append(pushed(policy_no="PB-0", revision=2, equipment_codes=[A, B]))
    batch.append(pushed(policy_no="PB-1", revision=2, status="cancelled"))
    results = worker.sync(*batch)
    assert [r["status"] for r in results] == [201] * 20 + [200, 200]
    worker.sweep(REMINDERS, datetime.fromisoformat("2015-06-28T09:00:00+08:00"))
    live = READ_MODELS.digest(worker.uow.conn)
    worker.commit()
    rebuilt = READ_MODELS.rebuild(worker.engine, worker.store)
    assert rebuilt.events == 20 + 2 + 19  # 19 reminders (one cancelled)
    assert READ_MODELS.digest(worker.uow.conn) == live
