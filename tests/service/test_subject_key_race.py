"""Two transactions writing a data subject's first personal field at once (PostgreSQL: their
transactions really overlap): both commit, and every field of both reads back, for a new
subject and for an erased subject coming back. (SQLite takes its write lock at BEGIN, so its
writers never overlap.)"""

from __future__ import annotations

import os
import uuid

import eventlet
import pytest

from infra.eventstore import EventStore, NewEvent, Personal, SubjectKeys, make_engine, migrate
from infra.eventstore.records import to_db, utcnow

WRITERS = 4


@pytest.fixture
def engine(pg_url):
    eng = make_engine(pg_url, pool_size=WRITERS + 2)
    migrate(eng)
    yield eng
    eng.dispose()


def race(engine, store: EventStore, subject: str) -> list[str]:
    """``WRITERS`` transactions each append one event with a personal field of ``subject``,
    holding their transaction open a moment after the field's key is taken."""
    streams = [f"note-{uuid.uuid4().hex}" for _ in range(WRITERS)]

    def write(i: int) -> None:
        with engine.begin() as conn:
            event = NewEvent("Noted", {"name": Personal(subject, f"name {i}")})
            store.append(conn, streams[i], 0, [event])
            eventlet.sleep(0.3)  # the others reach their first write meanwhile

    threads = [eventlet.spawn(write, i) for i in range(WRITERS)]
    for thread in threads:
        thread.wait()  # a writer that failed raises here
    return streams


def names(engine, store: EventStore, streams: list[str]) -> list[str]:
    with engine.connect() as conn:
        return [store.read_stream(conn, s)[0].data["name"] for s in streams]


def test_concurrent_first_writes_of_a_new_subject_all_read_back(engine):
    store = EventStore("postgresql", SubjectKeys(os.urandom(32)))
    streams = race(engine, store, f"person-{uuid.uuid4().hex}")
    assert names(engine, store, streams) == [f"name {i}" for i in range(WRITERS)]


def test_concurrent_first_writes_of_a_returning_erased_subject_all_read_back(engine):
    store = EventStore("postgresql", SubjectKeys(os.urandom(32)))
    subject = f"person-{uuid.uuid4().hex}"
    with engine.begin() as conn:
        store.append(conn, "note-old", 0, [NewEvent("Noted", {"name": Personal(subject, "x")})])
    with engine.begin() as conn:
        assert store.keys.erase(conn, subject, to_db(utcnow()))
    streams = race(engine, store, subject)
    assert names(engine, store, streams) == [f"name {i}" for i in range(WRITERS)]
    assert names(engine, store, ["note-old"]) == ["[erased]"]  # erased stays erased
