"""Rebuilding read models while the service keeps writing (``ReadModels.rebuild``), on SQLite
and PostgreSQL: writers commit between the rebuild's batches (one held open across several
of them), readers keep the old rows until the swap, nothing committed before the end is
missed, a page bounds the aggregates held, and a rebuild that stopped resumes.

The read model is the test's own: an aggregate per ``tally-<key>`` stream (one row each), a
fact inserted per note (order does not matter) and a fact that counts (``+1``: applying one
twice, or out of order with a reset, would show). Its live path is the kit's: the aggregate's
row (``ReadModels.save``) or the fact (``project_fact``) in the transaction of the append.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import eventlet
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, update

from infra import domain
from infra.eventstore import EventStore, NewEvent, SubjectKeys, make_engine, migrate
from infra.readmodels import ReadModels, upsert
from infra.repository import Kind, Kinds

metadata = MetaData()
tallies = Table(
    "tallies",
    metadata,
    Column("key", String(50), primary_key=True),
    Column("total", Integer, nullable=False),
    Column("version", Integer, nullable=False),
)
notes = Table(
    "notes",
    metadata,
    Column("event_id", String(36), primary_key=True),
    Column("text", String(200), nullable=False),
)
counts = Table(
    "counts",
    metadata,
    Column("name", String(50), primary_key=True),
    Column("n", Integer, nullable=False),
)


@dataclass(frozen=True, kw_only=True)
class Added(domain.Event):
    """An amount was added to a tally."""

    key: str
    n: int


@dataclass
class Tally:
    key: str = ""
    total: int = 0
    version: int = 0

    def apply(self, event: Added) -> None:
        self.key, self.total, self.version = event.key, self.total + event.n, self.version + 1


def write_tallies(conn, aggregates) -> None:
    for t in aggregates:
        upsert(conn, tallies, {"key": t.key, "total": t.total, "version": t.version})


def write_note(conn, ev) -> None:
    conn.execute(insert(notes).values(event_id=ev.event_id, text=ev.data["text"]))


def write_count(conn, ev) -> None:
    name = ev.data["name"]
    if not conn.execute(
        update(counts).where(counts.c.name == name).values(n=counts.c.n + 1)
    ).rowcount:
        conn.execute(insert(counts).values(name=name, n=1))


KINDS = Kinds(Kind("tally-", Tally, domain.event_types(Added)))
MODELS = ReadModels(
    metadata, KINDS, write_tallies, facts={"Noted": write_note, "Counted": write_count}
)
AT = datetime(2030, 1, 1, tzinfo=UTC).isoformat()


@pytest.fixture
def engine(db_url):
    eng = make_engine(db_url)
    migrate(eng)
    metadata.create_all(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def store(engine) -> EventStore:
    return EventStore(engine.dialect.name, SubjectKeys(os.urandom(32)))


# -- the live path -------------------------------------------------------------------------


def add(conn, store: EventStore, key: str, n: int) -> None:
    """A command on a tally: fold its stream, append, write its row (one transaction)."""
    stream = f"tally-{key}"
    tally = Tally()
    for ev in store.read_stream(conn, stream):
        tally.apply(KINDS.of_stream(stream).event(ev))  # type: ignore[union-attr]
    event = Added(at=AT, actor="system", key=key, n=n)
    store.append(conn, stream, tally.version, [NewEvent("Added", event.to_data())])
    tally.apply(event)
    MODELS.save(conn, [tally])


def fact(conn, store: EventStore, type_: str, **data) -> None:
    for ev in store.append(conn, f"{type_.lower()}-{uuid.uuid4().hex}", 0, [NewEvent(type_, data)]):
        MODELS.project_fact(conn, ev)


def commands(engine, store: EventStore, i: int) -> None:
    """One round of writes, each its own transaction."""
    with engine.begin() as conn:
        add(conn, store, f"k{i % 7}", i)
    with engine.begin() as conn:
        add(conn, store, f"new{i}", 1)
    with engine.begin() as conn:
        fact(conn, store, "Noted", text=f"note {i}")
    with engine.begin() as conn:
        fact(conn, store, "Counted", name=f"c{i % 3}")


def seed(engine, store: EventStore, keys: int, rounds: int = 2) -> None:
    for r in range(rounds):
        for k in range(keys):
            with engine.begin() as conn:
                add(conn, store, f"k{k}", k + r)
    for i in range(10):
        with engine.begin() as conn:
            fact(conn, store, "Noted", text=f"seed {i}")
        with engine.begin() as conn:
            fact(conn, store, "Counted", name=f"c{i % 3}")


# -- what the read model must hold ---------------------------------------------------------


def expected(engine, store: EventStore) -> dict[str, set]:
    """The read model as a fold of every committed event."""
    with engine.connect() as conn:
        stored = store.read_all(conn, 0, 1_000_000)
    totals: dict[str, list[int]] = {}
    for ev in stored:
        if ev.type == "Added":
            t = totals.setdefault(ev.data["key"], [0, 0])
            t[0] += ev.data["n"]
            t[1] += 1
    return {
        "tallies": {(k, t[0], t[1]) for k, t in totals.items()},
        "notes": {(ev.event_id, ev.data["text"]) for ev in stored if ev.type == "Noted"},
        "counts": set(Counter(ev.data["name"] for ev in stored if ev.type == "Counted").items()),
    }


def held(engine) -> dict[str, set]:
    with engine.connect() as conn:
        return {t.name: {tuple(r) for r in conn.execute(select(t))} for t in metadata.sorted_tables}


def events_in(engine) -> int:
    with engine.connect() as conn:
        return len(EventStore(engine.dialect.name, SubjectKeys(b"0" * 32)).read_all(conn, 0, 10**6))


# -- tests ---------------------------------------------------------------------------------


def test_writers_go_on_during_a_rebuild_and_it_misses_nothing_they_committed(engine, store):
    seed(engine, store, keys=40)
    live_digests: list[dict] = []
    seen_by_readers: list[bool] = []
    late: dict = {}

    def between_batches(done: int, total: int) -> None:
        calls = len(live_digests) + 1
        # A writer commits between the rebuild's transactions: it would wait on (or be
        # skipped by) a rebuild that held one transaction throughout.
        if calls <= 12:
            writer = eventlet.spawn(commands, engine, store, calls)
            with eventlet.Timeout(30):
                writer.wait()
        if calls == 1 and engine.dialect.name == "postgresql":
            # An append held open across batches: it commits later, below events committed
            # meanwhile (a late commit the rebuild must not skip).
            conn = engine.connect()
            tx = conn.begin()
            add(conn, store, "late", 1000)
            late.update(conn=conn, tx=tx)
        if calls == 4 and late:
            late["tx"].commit()
            late["conn"].close()
        # Readers see the live rows, whole, all along (the rebuild writes elsewhere).
        seen_by_readers.append(held(engine) == expected(engine, store))
        with engine.connect() as conn:
            live_digests.append(MODELS.digest(conn))

    rebuilt = MODELS.rebuild(engine, store, progress=between_batches, page=16)

    assert len(live_digests) > 12  # the writers ran between the rebuild's batches
    assert all(seen_by_readers)
    everything = expected(engine, store)
    assert held(engine) == everything  # every committed event is in the rebuilt read model
    if late:  # PostgreSQL: the append held open across batches is in
        assert ("late", 1000, 1) in everything["tallies"]
    with engine.connect() as conn:
        assert MODELS.digest(conn) == live_digests[-1]  # and it equals the live one
    assert rebuilt.events == events_in(engine)
    # The live path goes on writing the swapped tables.
    commands(engine, store, 99)
    assert held(engine) == expected(engine, store)


def test_a_rebuild_holds_at_most_a_page_of_aggregates(engine, store):
    seed(engine, store, keys=150, rounds=1)
    rebuilt = MODELS.rebuild(engine, store, page=20)
    assert 0 < rebuilt.held_max <= 20
    assert rebuilt.pages >= 150 // 20
    assert held(engine) == expected(engine, store)


def test_a_rebuild_that_stopped_resumes_and_readers_kept_the_old_rows(engine, store):
    seed(engine, store, keys=60)
    with engine.begin() as conn:  # damage the live model: the rebuild must repair it
        conn.execute(update(tallies).where(tallies.c.key == "k1").values(total=-1))
    damaged = held(engine)

    class Crash(Exception):
        pass

    reports: list[int] = []

    def crash_after_three(done: int, total: int) -> None:
        reports.append(done)
        if len(reports) == 4:
            raise Crash

    with pytest.raises(Crash):
        MODELS.rebuild(engine, store, progress=crash_after_three, page=10)
    assert reports[-1] > 0
    assert held(engine) == damaged  # nothing swapped in: readers kept the old rows

    first: list[int] = []
    resumed = MODELS.rebuild(engine, store, progress=lambda d, t: first.append(d), page=10)
    assert resumed.resumed
    assert first[0] == reports[-1]  # it went on from where the first one stopped
    assert held(engine) == expected(engine, store)
    # a new call after a finished one starts afresh
    assert not MODELS.rebuild(engine, store, page=10).resumed
