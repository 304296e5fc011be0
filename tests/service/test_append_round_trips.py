"""An append after a known head: one statement, and every guarantee of the store kept.

A caller that loaded the stream passes its head (``expected_version`` and ``head_hash``, the
hash of the last event it read); the append is then one ``INSERT`` that writes only while that
event is still the head. The statement count catches a regression without timing anything.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import event, func, select

from infra.eventstore import (
    ConcurrencyError,
    EventStore,
    NewEvent,
    SubjectKeys,
    make_engine,
    migrate,
)
from infra.eventstore.schema import events


@pytest.fixture
def engine(db_url):
    eng = make_engine(db_url)
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def store(engine) -> EventStore:
    return EventStore(engine.dialect.name, SubjectKeys(os.urandom(32)))


class Statements:
    """Statements sent through SQLAlchemy while counting (``before_cursor_execute``)."""

    def __init__(self, engine):
        self.sql: list[str] = []
        self.on = False
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, *args) -> None:
        if self.on:
            self.sql.append(statement)

    def __enter__(self) -> Statements:
        self.sql.clear()
        self.on = True
        return self

    def __exit__(self, *exc) -> None:
        self.on = False


def one(n: int) -> list[NewEvent]:
    return [NewEvent("Tick", {"n": n})]


def test_a_one_event_append_with_a_known_head_is_one_statement_on_postgresql(pg_url):
    engine = make_engine(pg_url)
    try:
        migrate(engine)
        store = EventStore("postgresql", SubjectKeys(os.urandom(32)))
        counted = Statements(engine)
        with engine.begin() as conn, counted:
            (first,) = store.append(conn, "unit-1", 0, one(1))
        assert len(counted.sql) <= 2  # the first on a connection also prepares the statement
        head = first
        for n in range(2, 5):
            with engine.begin() as conn, counted:
                (head,) = store.append(conn, "unit-1", head.version, one(n), head_hash=head.hash)
            # One round trip (the transaction id and the insert travel together); with
            # psycopg2's BEGIN and the COMMIT, three per append, as a bare INSERT needs.
            assert len(counted.sql) == 1, counted.sql
        with engine.begin() as conn, counted:
            store.append(conn, "unit-2", 0, one(1))  # a new stream needs no head either
        assert len(counted.sql) == 1, counted.sql
        with engine.connect() as conn:
            assert store.verify(conn) == []
    finally:
        engine.dispose()


def test_the_returned_events_carry_their_position_and_hash(engine, store):
    with engine.begin() as conn:
        written = store.append(conn, "unit-1", 0, [NewEvent("Tick", {"n": n}) for n in range(3)])
        written += store.append(
            conn, "unit-1", 3, [NewEvent("Tock", {"n": 3})], head_hash=written[-1].hash
        )
    with engine.connect() as conn:
        stored = store.read_stream(conn, "unit-1")
        assert store.verify(conn) == []
    assert [(e.position, e.version, e.hash) for e in written] == [
        (e.position, e.version, e.hash) for e in stored
    ]
    assert all(e.position > 0 for e in written)


def test_a_head_that_moved_is_a_conflict_and_leaves_the_transaction_usable(engine, store):
    with engine.begin() as conn:
        (first,) = store.append(conn, "unit-1", 0, one(1))
        store.append(conn, "unit-1", 1, one(2), head_hash=first.hash)
    with engine.begin() as conn:
        with pytest.raises(ConcurrencyError) as err:
            store.append(conn, "unit-1", 1, one(3), head_hash=first.hash)
        assert (err.value.expected, err.value.actual) == (1, 2)
        with pytest.raises(ConcurrencyError):
            store.append(conn, "unit-1", 0, one(3))  # a "new" stream that exists
        # Nothing was written and the transaction goes on (no aborted statement).
        store.append(conn, "unit-2", 0, one(1))
    with engine.connect() as conn:
        assert store.stream_version(conn, "unit-1") == 2
        assert store.stream_version(conn, "unit-2") == 1
        assert store.verify(conn) == []


def test_a_wrong_head_hash_never_breaks_the_chain(engine, store):
    with engine.begin() as conn:
        store.append(conn, "unit-1", 0, one(1))
        store.append(conn, "unit-1", 1, one(2), head_hash="f" * 64)  # not the head's hash
    with engine.connect() as conn:
        assert store.stream_version(conn, "unit-1") == 2
        assert store.verify(conn) == []


def test_a_version_beyond_the_head_is_a_conflict_not_a_hole(engine, store):
    with engine.begin() as conn:
        (first,) = store.append(conn, "unit-1", 0, one(1))
    with engine.begin() as conn, pytest.raises(ConcurrencyError):
        store.append(conn, "unit-1", 5, one(2), head_hash=first.hash)
    with engine.connect() as conn:
        assert store.stream_version(conn, "unit-1") == 1


def test_a_retried_append_with_a_known_head_writes_nothing(engine, store):
    evs = [NewEvent("Tick", {"n": n}) for n in range(2)]
    with engine.begin() as conn:
        (first,) = store.append(conn, "unit-1", 0, one(0))
        assert len(store.append(conn, "unit-1", 1, evs, head_hash=first.hash)) == 2
    with engine.begin() as conn:  # the same command again, from the same loaded head
        assert store.append(conn, "unit-1", 1, evs, head_hash=first.hash) == []
        assert store.append(conn, "unit-1", 3, evs, head_hash="0" * 64) == []  # or a later one
    with engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(events)).scalar_one()
        assert n == 3 and store.verify(conn) == []


def test_an_append_half_taken_writes_none_of_its_events(engine, store):
    """The first event's slot is free, the second's id is taken: nothing of it stays."""
    with engine.begin() as conn:
        (taken,) = store.append(conn, "unit-other", 0, one(0))
        (first,) = store.append(conn, "unit-1", 0, one(1))
    clash = [NewEvent("Tick", {"n": 2}), NewEvent("Tick", {"n": 3}, event_id=taken.event_id)]
    conn = engine.connect()
    try:
        with conn.begin(), pytest.raises(ConcurrencyError):
            store.append(conn, "unit-1", 1, clash, head_hash=first.hash)
    finally:
        conn.close()
    with engine.connect() as conn:
        assert store.stream_version(conn, "unit-1") == 1
        assert store.verify(conn) == []


def test_an_sqlite_without_returning_takes_the_head_read_path(sqlite_url, monkeypatch):
    from infra.eventstore import store as store_module

    monkeypatch.setattr(store_module, "_SQLITE_RETURNING", False)
    engine = make_engine(sqlite_url)
    try:
        migrate(engine)
        store = EventStore("sqlite", SubjectKeys(os.urandom(32)))
        counted = Statements(engine)
        with engine.begin() as conn, counted:
            (first,) = store.append(conn, "unit-1", 0, one(1))
            (second,) = store.append(conn, "unit-1", 1, one(2), head_hash=first.hash)
        assert len(counted.sql) == 4  # a head read and an insert each
        with engine.begin() as conn, pytest.raises(ConcurrencyError):
            store.append(conn, "unit-1", 1, one(3), head_hash=first.hash)
        with engine.connect() as conn:
            assert [e.hash for e in store.read_stream(conn, "unit-1")] == [first.hash, second.hash]
            assert store.verify(conn) == []
    finally:
        engine.dispose()
