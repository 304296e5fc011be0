"""SQLite data files are their owner's only (database, WAL and SHM, new or older ones), and
an erased subject's wrapped key is left in no file: not in free pages (``secure_delete``), not
in the WAL (emptied after an erasure)."""

from __future__ import annotations

import os
import stat
import uuid

from sqlalchemy import select

from infra import erasure
from infra.eventstore import EventStore, NewEvent, Personal, SubjectKeys, make_engine, migrate
from infra.eventstore.records import to_db, utcnow
from infra.eventstore.schema import subject_keys


def modes(directory) -> dict[str, int]:
    return {p.name: stat.S_IMODE(p.stat().st_mode) for p in directory.iterdir() if p.is_file()}


def write_person(engine, store, subject: str) -> None:
    with engine.begin() as conn:
        event = NewEvent("Noted", {"name": Personal(subject, "Wang Wu")})
        store.append(conn, f"note-{uuid.uuid4().hex}", 0, [event])


def test_new_database_wal_and_shm_files_are_owner_only(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    migrate(engine)
    write_person(engine, EventStore("sqlite", SubjectKeys(os.urandom(32))), "person-1")
    with engine.connect() as conn:  # the WAL and SHM files exist while a connection is open
        conn.exec_driver_sql("SELECT 1")
        found = modes(tmp_path)
    engine.dispose()
    assert {"store.db", "store.db-wal", "store.db-shm"} <= set(found)
    assert all(mode == 0o600 for mode in found.values()), found


def test_files_an_older_version_left_world_readable_become_owner_only(tmp_path):
    path = tmp_path / "store.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    for name in os.listdir(tmp_path):
        os.chmod(tmp_path / name, 0o644)
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    engine.dispose()
    assert all(mode == 0o600 for mode in modes(tmp_path).values()), modes(tmp_path)


def test_an_erased_key_is_left_in_no_file(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    migrate(engine)
    subject_key = os.urandom(32)
    store = EventStore("sqlite", SubjectKeys(os.urandom(32)))
    subject = erasure.subject_id(subject_key, "310115198808082141")
    write_person(engine, store, subject)
    with engine.connect() as conn:
        wrapped = conn.execute(
            select(subject_keys.c.wrapped_key).where(subject_keys.c.subject_id == subject)
        ).scalar_one()
        assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
    with engine.begin() as conn:
        erased = erasure.erase(conn, store.keys, "310115198808082141", subject_key, to_db(utcnow()))
    assert erased == [subject]
    erasure.scrub(engine)
    held = [p.name for p in tmp_path.iterdir() if p.is_file() and wrapped in p.read_bytes()]
    engine.dispose()
    assert held == []
