"""Licensing's time-driven sweeps on a real store (SQLite and PostgreSQL), no broker: each run
works on a unit of work of its own, as the timer's worker would.

The deadline recomputation used to take the first 200 provisional applications by id on
every run; once 200 of them stayed provisional (their year still unconfigured), newer ones
were never recomputed. The sweep's cursor walks past those that stay due.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from infra.bus.dependencies import UnitOfWork
from infra.eventstore import EventStore, SubjectKeys, make_engine, make_meta, migrate
from infra.repository import Repository
from services.licensing.applications import deadline_recomputation, deemed_acceptance
from services.licensing.calendar import WorkingCalendar, YearOverride
from services.licensing.domain.application.aggregate import Application
from services.licensing.domain.application.commands import Accept, ReceiveApplication
from services.licensing.projections import KINDS, READ_MODELS, applications
from services.licensing.service import MIGRATIONS

CST = timezone(timedelta(hours=8))
SHA = "ab" * 32
# Neither year is in the holiday package: deadlines in them are provisional.
UNCONFIGURED = WorkingCalendar()
# Since those applications were received, the 2030 schedule was published; 2031's was not.
SCHEDULE_OF_2030 = WorkingCalendar({2030: YearOverride()})


class Worker:
    def __init__(self, engine, store: EventStore):
        self.engine, self.store = engine, store
        self.uow = UnitOfWork(engine, store)

    @property
    def repo(self) -> Repository:
        meta = make_meta({"id": "t1", "role": "bureau_officer"})
        return Repository(self.uow, KINDS, READ_MODELS, meta, subject_key=bytes(32))

    def receive(self, app_id: str, when: datetime) -> None:
        app = Application()
        command = ReceiveApplication(
            actor="bureau_officer:t1",
            application_id=app_id,
            kind="production_licence",
            bureau="SH",
            applicant={"uscc": "91350200776049653A", "name": "Acme Lifts"},
            location={"district": "310115", "in_ftz": False},
            subject={"scope": ["elevator:installation"]},
            materials=({"name": "application form", "sha256": SHA},),
        )
        self.repo.decide_and_save(app_id, app, command, when, UNCONFIGURED)
        self.commit()

    def run(self, sweep, now: datetime) -> int:
        changed = sweep.run(self.repo, now)
        self.commit()
        return changed

    def provisional(self) -> dict[str, bool]:
        rows = self.uow.conn.execute(select(applications.c.id, applications.c.provisional))
        return {r.id: r.provisional for r in rows}

    def statuses(self) -> dict[str, str]:
        rows = self.uow.conn.execute(select(applications.c.id, applications.c.status))
        return {r.id: r.status for r in rows}

    def commit(self) -> None:
        self.uow.commit()
        self.uow = UnitOfWork(self.engine, self.store)


@pytest.fixture
def worker(db_url) -> Iterator[Worker]:
    engine = make_engine(db_url)
    migrate(engine, [("licensing_version", MIGRATIONS)])
    w = Worker(engine, EventStore(engine.dialect.name, SubjectKeys(bytes(32))))
    yield w
    w.uow.rollback()
    engine.dispose()


def test_recomputation_reaches_applications_after_a_batch_that_stays_provisional(worker):
    # The first two ids (one batch) have deadlines in 2031: provisional however often they
    # are recomputed. The third, received in 2030, is due a final deadline.
    worker.receive("a-1", datetime(2031, 3, 3, 9, tzinfo=CST))
    worker.receive("a-2", datetime(2031, 3, 3, 9, tzinfo=CST))
    worker.receive("a-3", datetime(2030, 3, 4, 9, tzinfo=CST))
    assert worker.provisional() == {"a-1": True, "a-2": True, "a-3": True}
    sweep = deadline_recomputation(SCHEDULE_OF_2030, batch=2)
    now = datetime(2031, 3, 4, 9, tzinfo=CST)

    assert worker.run(sweep, now) == 0  # the first batch: nothing to record
    assert worker.run(sweep, now) == 1  # the next run goes on after it
    assert worker.provisional() == {"a-1": True, "a-2": True, "a-3": False}
    # The walk wraps round: the ones still due are visited again, and nothing is recorded twice.
    assert [worker.run(sweep, now) for _ in range(3)] == [0, 0, 0]


def test_deemed_acceptance_is_recorded_once_however_often_the_sweep_runs(worker):
    worker.receive("b-1", datetime(2030, 3, 4, 9, tzinfo=CST))
    worker.receive("b-2", datetime(2030, 3, 4, 9, tzinfo=CST))
    worker.receive("b-3", datetime(2030, 3, 25, 9, tzinfo=CST))  # its intake is still open
    sweep = deemed_acceptance(UNCONFIGURED, batch=1)
    after_intake = datetime(2030, 3, 20, 9, tzinfo=CST)

    assert [worker.run(sweep, after_intake) for _ in range(4)] == [1, 1, 0, 0]
    assert worker.statuses() == {"b-1": "accepted", "b-2": "accepted", "b-3": "received"}
    assert len(worker.uow.read_stream("application-b-1")) == 2


def test_the_provisional_flag_clears_once_the_open_deadline_is_final(worker):
    # Received and accepted before 2030's schedule was published: the intake deadline (closed
    # at acceptance) and the decision deadline (open) are both provisional.
    worker.receive("c-1", datetime(2030, 3, 4, 9, tzinfo=CST))
    repo = worker.repo
    app = repo.load(Application, "c-1")
    repo.decide_and_save(
        "c-1", app, Accept(actor="bureau_officer:t1"), datetime(2030, 3, 5, 9, tzinfo=CST),
        UNCONFIGURED,
    )  # fmt: skip
    worker.commit()
    assert worker.provisional() == {"c-1": True}
    assert worker.run(deadline_recomputation(SCHEDULE_OF_2030), datetime(2030, 3, 6, tzinfo=CST))
    # Only the deadline the application runs against is recomputed; the flag follows it.
    assert worker.provisional() == {"c-1": False}
    # Nothing is due any more: the sweep does not pick it up again.
    assert (
        worker.run(deadline_recomputation(SCHEDULE_OF_2030), datetime(2030, 3, 6, tzinfo=CST)) == 0
    )
