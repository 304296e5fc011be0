"""A command's recorded answer (``command_results``): read back as it was given, kept under the
keys of the persons it shows (erasure reaches it), and pruned by age. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from infra.bus.dependencies import UnitOfWork, prune_command_results
from infra.eventstore import EventStore, NewEvent, Personal, SubjectKeys, make_engine, migrate
from infra.eventstore.crypto import ERASED
from infra.eventstore.schema import command_results

NAME, ID_NUMBER = "欧阳娜娜", "110101199003077774"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        server = request.getfixturevalue("postgres")
        url = server.create_database()
        request.addfinalizer(lambda: server.drop_database(url))
    engine = make_engine(url)
    migrate(engine)
    yield engine, EventStore(engine.dialect.name, SubjectKeys(os.urandom(32)))
    engine.dispose()


def shows(raw: str, text: str) -> bool:
    """``text`` in ``raw`` as it is, or as JSON escapes it (``\\u6b27...``)."""
    return text in raw or json.dumps(text)[1:-1] in raw


def raw_results(engine) -> list[str]:
    with engine.connect() as c:
        return list(c.execute(select(command_results.c.result)).scalars())


def test_an_answer_showing_a_person_is_stored_encrypted_and_erasure_reaches_it(store):
    engine, events = store
    uow = UnitOfWork(engine, events, "key:cmd-1")
    person = {"name": Personal("person-1", NAME), "id_number": Personal("person-1", ID_NUMBER)}
    uow.append("application-1", 0, [NewEvent("ApplicationReceived", {"applicant": person})], {})
    answer = {"id": "application-1", "applicant": {"name": NAME, "id_number": ID_NUMBER}}
    uow.record_result("key:cmd-1", "submit_application", answer)
    uow.commit()

    [stored] = raw_results(engine)
    assert not shows(stored, NAME) and not shows(stored, ID_NUMBER)

    reader = UnitOfWork(engine, events)
    assert reader.recorded_result("key:cmd-1") == (True, answer)
    assert reader.recorded_result("key:other") == (False, None)
    events.erase_subject(reader.conn, "person-1")
    assert reader.recorded_result("key:cmd-1") == (True, ERASED)
    reader.commit()


def test_an_answer_shows_what_the_worker_read_under_that_persons_key(store):
    engine, events = store
    writer = UnitOfWork(engine, events)
    person = {"name": Personal("person-2", NAME)}
    writer.append("application-2", 0, [NewEvent("ApplicationReceived", {"applicant": person})], {})
    writer.commit()

    # A later command (accept) writes nothing personal but answers with the application.
    uow = UnitOfWork(engine, events, "req:accept-1")
    [received] = uow.read_stream("application-2")
    uow.append("application-2", 1, [NewEvent("ApplicationAccepted", {})], {})
    uow.record_result(
        "req:accept-1", "application_command", {"applicant": received.data["applicant"]}
    )
    uow.commit()
    assert not any(shows(r, NAME) for r in raw_results(engine))
    reader = UnitOfWork(engine, events)
    assert reader.recorded_result("req:accept-1") == (True, {"applicant": {"name": NAME}})
    reader.rollback()


def test_an_answer_without_personal_data_reads_back_as_given(store):
    engine, events = store
    uow = UnitOfWork(engine, events, "req:1")
    uow.append("plan-1", 0, [NewEvent("AuditPlanDrawn", {"size": 3})], {})
    when = datetime(2026, 1, 2, 3, 4, 5)
    uow.record_result("req:1", "draw", {"id": "plan-1", "on": when})
    uow.commit()
    reader = UnitOfWork(engine, events)
    # As the caller received it over the wire (kombu's JSON keeps the datetime a datetime).
    assert reader.recorded_result("req:1") == (True, {"id": "plan-1", "on": when})
    reader.rollback()


def test_old_answers_are_pruned_and_recent_ones_kept(store):
    engine, events = store
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as c:
        for i, age in enumerate([10, 8, 1, 0]):
            c.execute(
                command_results.insert().values(
                    command_id=f"req:{i}",
                    method="m",
                    result='{"result": 1}',
                    recorded_at=now - timedelta(days=age),
                )
            )
        assert prune_command_results(c, now - timedelta(days=7)) == 2
    with engine.connect() as c:
        left = sorted(c.execute(select(command_results.c.command_id)).scalars())
    assert left == ["req:2", "req:3"]
