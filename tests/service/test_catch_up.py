"""Catch-up subscriptions: a consumer that starts after its source has history reads it over
the source's ``read_all`` RPC, then goes on from its queue, applying every event once and each
stream in version order across the switch.

The source and consumer services are ``tests.consumers``'s. History is written straight into the
source's store with ``append_many`` before anything runs, so the relay finds no queue for it:
only catch-up can deliver it.
"""

from __future__ import annotations

import logging

import amqp
import eventlet
import kombu
import pytest
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import insert, select, update

from infra.bus import deadletters
from infra.bus.dependencies import ServiceDatabase
from infra.bus.relay import RELAY_NAME
from infra.bus.subscriber import queue_arguments
from infra.eventstore import EventStore, NewEvent, SubjectKeys, make_engine
from infra.eventstore.schema import events, parked, processed_events, relay_state
from infra.eventstore.store import make_meta, to_db, utcnow
from infra.keys import master_key
from infra.service import KernelService
from infra.testing import wait_until
from tests.consumers import (
    SOURCE,
    HistorySource,
    Reader,
    applied,
    count,
    health,
    reader_engine,
    running,
    two_databases,
    write_history,
)


class QuietSource(KernelService):
    """A source whose relay never runs: what ``read_all`` serves is set by hand."""

    name = "quiet"
    db = ServiceDatabase(relay=False)


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SESP_DATA_DIR", str(tmp_path))  # the services' master keys


@pytest.fixture
def databases(postgres):
    with two_databases(postgres) as urls:
        yield urls


def test_a_new_consumer_applies_the_whole_history_once_in_stream_order(databases, amqp_uri):
    """10,000 past events (500 streams of 20), then 500 more published while the consumer
    is catching up: all applied once, each stream in version order."""
    source_url, reader_url = databases
    streams = [f"s-{i:03d}" for i in range(500)]
    write_history(source_url, SOURCE, [streams] * 20, published=True)
    engine = reader_engine(reader_url)
    try:
        with running(HistorySource, amqp_uri, source_url), running(Reader, amqp_uri, reader_url):
            wait_until(lambda: count(engine) >= 1000, timeout=60, what="catch-up under way")
            with ClusterRpcProxy({"AMQP_URI": amqp_uri, "serializer": "json"}, timeout=60) as call:
                # live events while history is still being read
                assert call.history.record_round(streams, 20) == len(streams)
            wait_until(lambda: count(engine) >= 10_500, timeout=240, what="10,500 applied")
            wait_until(lambda: health(amqp_uri)["catch_up"]["state"] == "live", what="live")
            eventlet.sleep(0.5)  # any late duplicate would show now
            counters = health(amqp_uri)
            assert deadletters.peek(amqp_uri, "reader") == []

        rows = applied(engine)
        assert len(rows) == 10_500 == len({event_id for event_id, _, _ in rows})
        by_stream: dict[str, list[int]] = {}
        for _, stream, version in rows:
            by_stream.setdefault(stream, []).append(version)
        assert by_stream == {s: list(range(1, 22)) for s in streams}
        assert count(engine, processed_events) == 10_500
        assert counters["catch_up"]["events_read"] >= 10_000
        assert (counters["handler_failures"], counters["dead_lettered"]) == (0, 0)
    finally:
        engine.dispose()


def test_a_consumer_started_while_its_source_is_down_catches_up_when_it_comes(
    databases, amqp_uri, caplog
):
    """One-event streams registered before the consumer existed, and a source that is not
    running when the consumer starts: the consumer waits for it, then hears of every one.
    The wait is one warning that says the source is not running (not one per retry), and
    one line when it answers again."""
    source_url, reader_url = databases
    streams = [f"one-{i}" for i in range(50)]
    write_history(source_url, SOURCE, [streams], published=True)
    engine = reader_engine(reader_url)
    caplog.set_level(logging.INFO, logger="sesp.bus")
    try:
        with running(Reader, amqp_uri, reader_url):
            wait_until(
                lambda: health(amqp_uri)["catch_up"]["source_failures"] >= 3,
                what="the consumer waiting for its source",
            )
            assert count(engine) == 0
            waiting = [r for r in caplog.records if "cannot read" in r.getMessage()]
            assert len(waiting) == 1 and waiting[0].levelno == logging.WARNING
            assert f"{SOURCE} is not running" in waiting[0].getMessage()
            with running(HistorySource, amqp_uri, source_url):
                wait_until(lambda: count(engine) == 50, timeout=60, what="history applied")
                wait_until(lambda: health(amqp_uri)["catch_up"]["state"] == "live", what="live")
        assert sorted(s for _, s, _ in applied(engine)) == sorted(streams)
        assert any("history again after" in r.getMessage() for r in caplog.records)
    finally:
        engine.dispose()


def test_a_restarted_consumer_resumes_from_the_queue_and_a_new_queue_from_its_checkpoint(
    databases, amqp_uri
):
    """Once live, a restart reads no history; when its queue was deleted meanwhile, what was
    published while it was missing is read from the checkpoint on."""
    source_url, reader_url = databases
    first, second = [f"a-{i}" for i in range(20)], [f"b-{i}" for i in range(20)]
    write_history(source_url, SOURCE, [first], published=True)
    engine = reader_engine(reader_url)
    queue = "evt-history--reader.on_history"
    try:
        with running(HistorySource, amqp_uri, source_url):
            with running(Reader, amqp_uri, reader_url):
                wait_until(lambda: count(engine) == 20, what="first history applied")
            with running(Reader, amqp_uri, reader_url):
                wait_until(lambda: health(amqp_uri)["catch_up"]["state"] == "live", what="live")
                assert health(amqp_uri)["catch_up"]["events_read"] == 0
            with kombu.Connection(amqp_uri) as conn:
                conn.channel().queue_delete(queue)
            with ClusterRpcProxy({"AMQP_URI": amqp_uri, "serializer": "json"}, timeout=60) as call:
                assert call.history.record_round(second, 0) == 20  # nobody listens
                # The relay publishes them (to no queue) before the reader comes back: else they
                # would reach its new queue live and catch-up would have nothing to read.
                wait_until(lambda: call.history.relay_status()["behind"] == 0, what="published")
            with running(Reader, amqp_uri, reader_url):
                wait_until(lambda: count(engine) == 40, timeout=60, what="missed events applied")
                assert health(amqp_uri)["catch_up"]["events_read"] == 20  # not the first 20
        assert sorted(s for _, s, _ in applied(engine)) == sorted(first + second)
    finally:
        engine.dispose()


def test_queues_an_older_version_declared_otherwise_are_recreated_and_history_fills_in(
    databases, amqp_uri
):
    """An upgrade that changed queue arguments: the old consumer queue (classic, holding a
    message) and an empty old dead-letter queue are recreated with this version's arguments,
    and catch-up applies what the old queue held; a dead-letter queue that holds letters is
    kept and the consumer does not start (its letters exist nowhere else)."""
    source_url, reader_url = databases
    streams = [f"u-{i}" for i in range(10)]
    write_history(source_url, SOURCE, [streams], published=True)
    engine = reader_engine(reader_url)
    queue = "evt-history--reader.on_history"
    try:
        with kombu.Connection(amqp_uri) as conn:
            ch = conn.channel()
            ch.queue_declare(queue, durable=True, auto_delete=False)  # classic, no arguments
            ch.queue_declare("reader.dlq", durable=True, auto_delete=False)
            ch.basic_publish(amqp.Message('{"left": "by the old version"}'), "", queue)
        with running(HistorySource, amqp_uri, source_url):
            with running(Reader, amqp_uri, reader_url):
                wait_until(lambda: count(engine) == 10, what="history applied")
        assert sorted(s for _, s, _ in applied(engine)) == sorted(streams)
        with kombu.Connection(amqp_uri) as conn:  # both now have this version's arguments
            ch = conn.channel()
            ch.queue_declare(
                queue, durable=True, auto_delete=False, arguments=queue_arguments("reader")
            )
            ch.queue_declare(
                "reader.dlq", durable=True, auto_delete=False, arguments={"x-queue-type": "quorum"}
            )

            ch.queue_delete("reader.dlq")  # an old dead-letter queue holding a letter
            ch.queue_declare("reader.dlq", durable=True, auto_delete=False)
            ch.basic_publish(amqp.Message('{"a": "letter"}'), "", "reader.dlq")
        with (
            pytest.raises(amqp.exceptions.PreconditionFailed),
            running(Reader, amqp_uri, reader_url),
        ):
            pass
        with kombu.Connection(amqp_uri) as conn:
            _, letters, _ = conn.channel().queue_declare("reader.dlq", passive=True)
        assert letters == 1
    finally:
        engine.dispose()


def test_read_all_serves_what_the_relay_passed_in_position_order_personal_fields_encrypted(
    sqlite_url, amqp_uri
):
    streams = [f"p-{i}" for i in range(5)]
    write_history(sqlite_url, "quiet", [streams, streams], personal=True)
    engine = make_engine(sqlite_url)
    try:
        with engine.begin() as conn:  # the relay has published the first seven events
            conn.execute(
                insert(relay_state).values(name=RELAY_NAME, position=7, updated_at=to_db(utcnow()))
            )
        with running(QuietSource, amqp_uri, sqlite_url):
            with ClusterRpcProxy({"AMQP_URI": amqp_uri, "serializer": "json"}, timeout=60) as call:
                page = call.quiet.read_all(0, 5)
                assert [m["position"] for m in page["events"]] == [1, 2, 3, 4, 5]
                assert (page["next"], page["horizon"], page["head"]) == (5, 7, 10)
                rest = call.quiet.read_all(5, 100)
                assert [m["position"] for m in rest["events"]] == [6, 7]  # not beyond the relay
                assert rest["next"] == 7
                assert call.quiet.read_all(7, 100)["events"] == []
                first = page["events"][0]
                assert first["data"]["who"]["$personal"] == "p-0"  # ciphertext, not the name
                assert "张三" not in str(page)
                assert [(m["stream_id"], m["version"]) for m in page["events"]] == [
                    ("p-0", 1),
                    ("p-1", 1),
                    ("p-2", 1),
                    ("p-3", 1),
                    ("p-4", 1),
                ]
                with engine.begin() as conn:
                    # an event recorded from another service: not this service's to publish
                    store = EventStore(engine.dialect.name, SubjectKeys(master_key("quiet")))
                    store.append(
                        conn, "other:x", 0, [NewEvent("Seen", {})], make_meta(observed_from="x")
                    )
                    conn.execute(update(relay_state).values(position=11))
                    # an event an operator told the relay to step over: never published
                    stepped_over = conn.execute(
                        select(events.c.event_id).where(events.c.position == 9)
                    ).scalar_one()
                    conn.execute(
                        insert(parked).values(
                            position=9,
                            event_id=stepped_over,
                            type="Happened",
                            reason="test",
                            parked_at=to_db(utcnow()),
                        )
                    )
                tail = call.quiet.read_all(7, 100)
                assert [(m["position"], m["version"]) for m in tail["events"]] == [(8, 2), (10, 2)]
                assert (tail["next"], tail["head"]) == (11, 11)
    finally:
        engine.dispose()
