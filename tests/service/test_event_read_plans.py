"""The event store's reads of one stream go through its ``(stream_id, version)`` index, the
point-in-time read too (``read_stream(..., until=)``, which has no index on ``occurred_at``
of its own since kernel migration 0005), on both backends."""

from __future__ import annotations

import os
from datetime import UTC, datetime

from sqlalchemy import event

from infra.eventstore import EventStore, NewEvent, SubjectKeys, make_engine, migrate


def test_a_point_in_time_read_of_a_stream_uses_the_stream_version_index(db_url):
    engine = make_engine(db_url)
    try:
        migrate(engine)
        store = EventStore(engine.dialect.name, SubjectKeys(os.urandom(32)))
        with engine.begin() as conn:
            for s in range(20):
                store.append(conn, f"s-{s}", 0, [NewEvent("Noted", {"n": i}) for i in range(5)])
        sent: list[tuple[str, object]] = []

        def keep(conn, cursor, statement, parameters, context, executemany):
            sent.append((statement, parameters))

        event.listen(engine, "before_cursor_execute", keep)
        with engine.connect() as conn:
            got = store.read_stream(conn, "s-3", until=datetime.now(UTC))
            assert [e.data["n"] for e in got] == [0, 1, 2, 3, 4]
            event.remove(engine, "before_cursor_execute", keep)
            (statement, parameters) = sent[-1]
            if engine.dialect.name == "sqlite":
                plan = " ".join(
                    str(row[-1])
                    for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
                )
                assert "stream_id=? AND version>?" in plan, plan
            else:
                conn.exec_driver_sql("SET enable_seqscan = off")  # a table this small
                plan = " ".join(
                    row[0] for row in conn.exec_driver_sql("EXPLAIN " + statement, parameters)
                )
                assert "uq_events_stream_version" in plan, plan
                assert "Sort" not in plan, plan
    finally:
        engine.dispose()
