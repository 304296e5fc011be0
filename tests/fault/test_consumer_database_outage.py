"""A consumer's database unreachable for longer than any retry budget, under a stream of events:
nothing is dead-lettered, nothing ends the container, and once the database is back every event
is applied once, each stream in order.

The consumer's database URL points at a fault-injecting proxy (``tests.faultproxy``) in front of
the shared PostgreSQL server; cutting the proxy drops every connection and refuses new ones, as
a database restart does, without touching the server other tests use. The outage lasts
``SESP_FAULT_OUTAGE_SECONDS`` (default 15: longer than the ~9 s the consumer used to retry
before dead-lettering; set 60 to reproduce a long restart).
"""

from __future__ import annotations

import os
import time

import eventlet
import pytest
from nameko.standalone.rpc import ClusterRpcProxy

from infra.bus import deadletters
from infra.eventstore.schema import processed_events
from infra.testing import wait_until
from tests.consumers import (
    HistorySource,
    Reader,
    applied,
    count,
    health,
    reader_engine,
    running,
    two_databases,
)
from tests.faultproxy import FaultProxy

OUTAGE = float(os.environ.get("SESP_FAULT_OUTAGE_SECONDS", "15"))
STREAMS, ROUNDS = 200, 25  # 5,000 events


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SESP_DATA_DIR", str(tmp_path))  # the services' master keys


def settled_count(engine) -> int:
    """The applied count once it stops moving: a COMMIT the proxy forwarded just before the
    cut still completes on the server after it."""
    before = count(engine)
    while True:
        eventlet.sleep(0.5)
        now = count(engine)
        if now == before:
            return now
        before = now


def test_an_unreachable_database_is_waited_out_and_nothing_is_dead_lettered(postgres, amqp_uri):
    streams = [f"unit-{i:03d}" for i in range(STREAMS)]
    with two_databases(postgres) as (source_url, reader_url):
        proxy = FaultProxy.for_url(reader_url, 5432)
        engine = reader_engine(reader_url)  # the test's own view, not through the proxy
        try:
            with (
                running(HistorySource, amqp_uri, source_url),
                running(Reader, amqp_uri, proxy.url(reader_url)),
            ):
                wait_until(lambda: health(amqp_uri)["catch_up"]["state"] == "live", what="live")

                def produce():
                    with ClusterRpcProxy(
                        {"AMQP_URI": amqp_uri, "serializer": "json"}, timeout=60
                    ) as call:
                        for expected in range(ROUNDS):
                            call.history.record_round(streams, expected)

                producer = eventlet.spawn(produce)
                wait_until(lambda: count(engine) >= 500, timeout=60, what="500 applied")

                proxy.cut()
                cut_at, applied_at_cut = time.monotonic(), settled_count(engine)
                while time.monotonic() - cut_at < OUTAGE:
                    eventlet.sleep(1.0)
                    assert count(engine) == applied_at_cut  # nothing gets through
                    assert deadletters.peek(amqp_uri, "reader") == []
                waiting = health(amqp_uri)  # the service answers, and shows the outage
                proxy.restore()

                producer.wait()
                wait_until(
                    lambda: count(engine) == STREAMS * ROUNDS, timeout=180, what="all applied"
                )
                eventlet.sleep(1.0)  # a late duplicate would show now
                after = health(amqp_uri)
                assert deadletters.peek(amqp_uri, "reader") == []

            assert applied_at_cut < STREAMS * ROUNDS  # the outage hit mid-stream
            assert waiting["outage_retries"] > 0
            assert (after["handler_failures"], after["dead_lettered"]) == (0, 0)
            rows = applied(engine)
            assert len(rows) == STREAMS * ROUNDS == len({event_id for event_id, _, _ in rows})
            by_stream: dict[str, list[int]] = {}
            for _, stream, version in rows:
                by_stream.setdefault(stream, []).append(version)
            assert by_stream == {s: list(range(1, ROUNDS + 1)) for s in streams}
            assert count(engine, processed_events) == STREAMS * ROUNDS
        finally:
            engine.dispose()
            proxy.close()
