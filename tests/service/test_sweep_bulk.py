"""A sweep in bulk (``Sweep(bulk=True)``) on a real store (SQLite and PostgreSQL), with the
insurance lapse sweep: it stores what a run one aggregate at a time stores, under the same ids,
with the same read models, and a stream another writer moved on is skipped alone."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import select

from infra.bus.dependencies import UnitOfWork
from infra.eventstore import EventStore, SubjectKeys, make_engine, make_meta, migrate
from infra.eventstore.schema import events as events_table
from infra.repository import Repository
from services.insurance import sync
from services.insurance.domain import Policy, SyncPolicy, policy_key
from services.insurance.projections import KINDS, READ_MODELS
from services.insurance.service import MIGRATIONS
from services.insurance.sweeps import LAPSES

INSURER = "91350200776049653A"
PUSHED = datetime.fromisoformat("2014-12-01T09:00:00+08:00")
AFTER_THE_END = datetime.fromisoformat("2015-07-01T09:00:00+08:00")
N = 12


def policy(n: int) -> dict:
    return {
        "policy_no": f"PL-{n:02d}",
        "revision": 1,
        "policyholders": [
            {"uscc": "9135021359498494XQ", "name": "Owner Co", "role": "owner", "share": "1"}
        ],
        "equipment_codes": [f"3110123452014{n:05d}"],
        "cover": "liability",
        "limits": {"per_accident": "1000000.00", "per_person": "800000.00"},
        "premium": "93.00",
        "starts_on": "2014-07-01",
        "ends_on": "2015-06-30",
        "status": "active",
    }


class Store:
    def __init__(self, url: str):
        self.engine = make_engine(url)
        migrate(self.engine, [("insurance_version", MIGRATIONS)])
        self.store = EventStore(self.engine.dialect.name, SubjectKeys(bytes(32)))
        self.uow = UnitOfWork(self.engine, self.store)

    def repo(self) -> Repository:
        return Repository(self.uow, KINDS, READ_MODELS, make_meta({"id": "t", "role": "insurer"}))

    def commit(self) -> None:
        self.uow.commit()
        self.uow = UnitOfWork(self.engine, self.store)

    def lapse_ids(self) -> dict[str, str]:
        rows = self.uow.conn.execute(
            select(events_table.c.stream_id, events_table.c.event_id).where(
                events_table.c.type == "PolicyLapsed"
            )
        )
        return {r.stream_id: r.event_id for r in rows}


@pytest.fixture
def stores(db_url, request, tmp_path) -> Iterator[tuple[Store, Store]]:
    """Two stores with the same policies (the second in a database of its own)."""
    postgres = request.getfixturevalue("postgres") if db_url.startswith("postgresql") else None
    second_url = postgres.create_database() if postgres else f"sqlite:///{tmp_path / 'two.db'}"
    pair = (Store(db_url), Store(second_url))
    for s in pair:
        sync.sync_policies(s.repo(), PUSHED, INSURER, [policy(n) for n in range(N)])
        s.commit()
    yield pair
    for s in pair:
        s.uow.rollback()
        s.engine.dispose()
    if postgres:
        postgres.drop_database(second_url)


def test_a_bulk_run_stores_the_same_events_and_rows_as_one_at_a_time(stores):
    one, bulk = stores
    single = dataclasses.replace(LAPSES, bulk=False, batch=5)
    together = dataclasses.replace(LAPSES, bulk=True, batch=5)
    assert LAPSES.bulk  # insurance lapses in bulk
    for sweep, s in ((single, one), (together, bulk)):
        assert [sweep.run(s.repo(), AFTER_THE_END) for _ in range(4)] == [5, 5, 2, 0]
        s.commit()
    assert len(bulk.lapse_ids()) == N and bulk.lapse_ids() == one.lapse_ids()
    assert READ_MODELS.digest(bulk.uow.conn) == READ_MODELS.digest(one.uow.conn)


def test_a_policy_another_writer_moved_on_is_skipped_alone_and_lapsed_next_run(stores):
    _, s = stores
    moved = policy_key(INSURER, "PL-03")

    def lapse_but_push_first(aggregate: Policy, now: datetime):
        # Another worker supersedes PL-03 between this run's load and its save.
        if aggregate.policy_no == "PL-03":
            other = s.repo()
            theirs = other.load(Policy, moved)
            push = SyncPolicy(
                actor="insurer:t",
                insurer=INSURER,
                policy_no="PL-03",
                revision=2,
                terms=dataclasses.replace(theirs.terms, premium="94.00"),
            )
            other.save(moved, theirs, theirs.decide(push, now))
        return LAPSES.command(aggregate, now)

    racing = dataclasses.replace(LAPSES, command=lapse_but_push_first, batch=N)
    assert racing.run(s.repo(), AFTER_THE_END) == N - 1
    s.commit()
    assert moved not in {k.removeprefix("policy-") for k in s.lapse_ids()}
    assert LAPSES.run(s.repo(), AFTER_THE_END) == 1
    s.commit()
    assert len(s.lapse_ids()) == N
