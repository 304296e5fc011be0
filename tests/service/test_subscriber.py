"""``@subscribe`` consumers in real nameko containers, fed through the real broker.

A tiny consumer service writes one effect row per applied event (its read model). Messages are
published to ``source.events`` exactly as the outbox relay publishes them (body
``StoredEvent.to_message``, routing key = event type, persistent, ``message_id`` = event id),
so redeliveries, duplicates and out-of-order arrivals can be staged at will.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from contextlib import contextmanager
from datetime import UTC, datetime

import eventlet
import kombu
import pytest
from nameko.containers import ServiceContainer
from nameko.standalone.rpc import ClusterRpcProxy
from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select, text
from sqlalchemy.exc import OperationalError

from infra.bus import deadletters, subscriber
from infra.bus.dependencies import ServiceDatabase
from infra.bus.entrypoints import IncomingEvent, rpc, subscribe
from infra.errors import Conflict
from infra.eventstore import NewEvent, StoredEvent, make_engine, migrate
from infra.eventstore.schema import consumer_streams, processed_events
from infra.service import KernelService
from infra.settings import nameko_config
from infra.testing import wait_until

MAX_ATTEMPTS = 3
QUEUE = "evt-source--consumer.on_source_event"

effects_metadata = MetaData()
effects = Table(
    "effects",
    effects_metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),  # order of application
    Column("event_id", String(36), nullable=False),  # deliberately not unique
    Column("stream_id", String(200), nullable=False),
    Column("version", Integer, nullable=False),
)

# What the handler is told to do, and what it saw (outside any transaction).
FAILURES: dict[str, int] = {}  # event id -> attempts left to fail (-1: always)
OUTAGES: dict[str, int] = {}  # event id -> attempts left to meet an unreachable database
ATTEMPTS: Counter[str] = Counter()


class ConsumerService(KernelService):
    name = "consumer"
    db = ServiceDatabase(relay=False)

    # The test source only publishes (no ``read_all``): nothing to catch up on.
    @subscribe("source", max_attempts=MAX_ATTEMPTS, catch_up=False)
    def on_source_event(self, event: IncomingEvent) -> None:
        ATTEMPTS[event.event_id] += 1
        # the effect comes first, so a failure below leaves a partial effect to roll back
        self.db.conn.execute(
            insert(effects).values(
                event_id=event.event_id, stream_id=event.stream_id, version=event.version
            )
        )
        if OUTAGES.get(event.event_id, 0):
            OUTAGES[event.event_id] -= 1
            raise OperationalError(
                "SELECT 1", {}, Exception("server closed the connection unexpectedly")
            )
        left = FAILURES.get(event.event_id, 0)
        if left:
            FAILURES[event.event_id] = left - 1 if left > 0 else left
            raise RuntimeError(f"cannot apply {event.event_id}")

    @rpc
    def record(self, stream_id: str, expected_version: int) -> int:
        stored = self.db.append(
            stream_id, expected_version, [NewEvent("Recorded", {})], self.ctx.meta()
        )
        return len(stored)


@pytest.fixture(autouse=True)
def fresh_handler_state(tmp_path, monkeypatch):
    monkeypatch.setenv("SESP_DATA_DIR", str(tmp_path))  # master keys of the test service
    FAILURES.clear()
    OUTAGES.clear()
    ATTEMPTS.clear()
    yield
    FAILURES.clear()
    OUTAGES.clear()


def config_for(amqp_uri: str, db_url: str) -> dict:
    return {**nameko_config("consumer"), "AMQP_URI": amqp_uri, "SESP_DATABASE_URL": db_url}


@pytest.fixture
def database(request):
    """The consumer's database, URL and engine (migrated, plus the effects table)."""
    url = request.getfixturevalue(getattr(request, "param", "pg_url"))
    engine = make_engine(url)
    migrate(engine)
    effects_metadata.create_all(engine)
    yield url, engine
    engine.dispose()


both_backends = pytest.mark.parametrize(
    "database", ["sqlite_url", "pg_url"], indirect=True, ids=["sqlite", "postgresql"]
)


@contextmanager
def consumer(amqp_uri: str, db_url: str):
    container = ServiceContainer(ConsumerService, config_for(amqp_uri, db_url))
    container.start()
    try:
        yield container
    finally:
        with eventlet.Timeout(30):
            container.stop()


class Source:
    """Publishes as the ``source`` service's relay does; builds events stream by stream."""

    def __init__(self, amqp_uri: str):
        self.conn = kombu.Connection(amqp_uri, transport_options={"confirm_publish": True})
        exchange = kombu.Exchange("source.events", type="topic", durable=True)
        self.producer = kombu.Producer(self.conn.channel(), exchange=exchange)
        self.position = 0

    def event(self, stream_id: str, version: int, type_: str = "Happened") -> StoredEvent:
        self.position += 1
        now = datetime.now(UTC)
        return StoredEvent(
            position=self.position,
            event_id=str(uuid.uuid4()),
            stream_id=stream_id,
            version=version,
            type=type_,
            schema_version=1,
            data={"n": self.position},
            meta={"actor": {"id": "system", "role": "system"}, "correlation_id": "c-1"},
            occurred_at=now,
            recorded_at=now,
        )

    def stream(self, stream_id: str, n: int) -> list[StoredEvent]:
        return [self.event(stream_id, v) for v in range(1, n + 1)]

    def publish(self, *events: StoredEvent) -> None:
        for ev in events:
            self.producer.publish(
                ev.to_message("source"),
                routing_key=ev.type,
                serializer="json",
                delivery_mode=2,
                message_id=ev.event_id,
                headers={"sesp.stream_id": ev.stream_id, "sesp.version": ev.version},
                mandatory=True,
            )

    def publish_raw(self, body: str) -> None:
        self.producer.publish(
            body,
            routing_key="Garbled",
            content_type="application/json",
            content_encoding="utf-8",
            delivery_mode=2,
        )

    def close(self) -> None:
        self.conn.release()


@pytest.fixture
def source(amqp_uri):
    s = Source(amqp_uri)
    yield s
    s.close()


def applied(engine) -> list[tuple[str, str, int]]:
    """Effects in the order they were applied: (event id, stream, version)."""
    with engine.connect() as conn:
        rows = conn.execute(select(effects).order_by(effects.c.seq)).all()
    return [(r.event_id, r.stream_id, r.version) for r in rows]


def applied_ids(engine) -> list[str]:
    return [e for e, _, _ in applied(engine)]


def stream_versions(engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(select(consumer_streams.c.stream_id, consumer_streams.c.version))
        return {s.removeprefix("source:"): v for s, v in rows}


def processed_count(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(processed_events)).scalar()


def queue_is_drained(amqp_uri: str, name: str = QUEUE) -> bool:
    with kombu.Connection(amqp_uri) as conn:
        ch = conn.channel()
        _, ready, _ = ch.queue_declare(name, passive=True)
        return ready == 0


# -- idempotency and order ---------------------------------------------------------------------


@both_backends
def test_a_redelivered_or_duplicated_event_changes_nothing(database, amqp_uri, source):
    url, engine = database
    a, b = source.stream("a", 2), source.stream("b", 2)
    with consumer(amqp_uri, url):
        source.publish(a[0], a[1], b[0])
        wait_until(lambda: len(applied(engine)) == 3, what="first three applied")
        # The relay republishes its unconfirmed batch after a reconnect: the same messages again.
        source.publish(a[0], a[1], b[0])
        # Three copies of a new event in a row: deliveries that race each other.
        c1 = source.event("c", 1)
        source.publish(c1, c1, c1, b[1])
        wait_until(lambda: len(applied(engine)) == 5, what="the new events applied")
        eventlet.sleep(1.0)  # time for any requeued racer to come back and be dropped
        wait_until(lambda: queue_is_drained(amqp_uri), what="queue drained")

    assert sorted(applied_ids(engine)) == sorted(e.event_id for e in (*a, *b, c1))
    assert stream_versions(engine) == {"a": 2, "b": 2, "c": 1}
    assert processed_count(engine) == 5
    # a redelivery of an applied event never reaches the handler
    assert all(ATTEMPTS[e.event_id] == 1 for e in (*a, *b))
    assert deadletters.peek(amqp_uri, "consumer") == []


@both_backends
def test_events_of_one_stream_arriving_out_of_order_are_applied_in_version_order(
    database, amqp_uri, source
):
    url, engine = database
    s, t = source.stream("s", 3), source.stream("t", 2)
    with consumer(amqp_uri, url):
        source.publish(s[2], t[1], s[1], t[0], s[0])
        wait_until(lambda: len(applied(engine)) == 5, what="all five applied")

    order = applied(engine)
    assert [v for _, st, v in order if st == "s"] == [1, 2, 3]
    assert [v for _, st, v in order if st == "t"] == [1, 2]
    assert stream_versions(engine) == {"s": 3, "t": 2}
    assert deadletters.peek(amqp_uri, "consumer") == []


def test_a_burst_of_one_stream_is_applied_in_order_without_dead_letters(database, amqp_uri, source):
    """What a relay batch looks like: many events of one stream back to back. Waiting for a
    predecessor that is being applied right now must not use up the retry budget."""
    url, engine = database
    burst = source.stream("busy", 40)
    others = [source.event(f"quiet-{i}", 1) for i in range(10)]
    with consumer(amqp_uri, url):
        source.publish(*burst[:20], *others, *burst[20:])
        wait_until(lambda: len(applied(engine)) == 50, timeout=40, what="all fifty applied")

    assert [v for _, st, v in applied(engine) if st == "busy"] == list(range(1, 41))
    assert deadletters.peek(amqp_uri, "consumer") == []


def test_a_consumer_that_remembers_few_streams_still_applies_each_event_once_in_order(
    database, amqp_uri, source, monkeypatch
):
    """The in-memory map of last applied versions is bounded; forgotten streams are read from
    the database again, so order and exactly-once hold whatever the bound."""
    monkeypatch.setattr(subscriber, "APPLIED_CACHE_SIZE", 2)
    url, engine = database
    streams = [source.stream(f"s{i}", 4) for i in range(8)]
    interleaved = [s[v] for v in range(4) for s in streams]  # s0v1 s1v1 ... s7v4
    with consumer(amqp_uri, url) as container:
        source.publish(*interleaved)
        source.publish(*interleaved[:8])  # a redelivered batch
        wait_until(lambda: len(applied(engine)) == 32, timeout=40, what="all 32 applied")
        eventlet.sleep(1.0)
        wait_until(lambda: queue_is_drained(amqp_uri), what="queue drained")
        [handler] = [e for e in container.entrypoints if e.method_name == "on_source_event"]
        assert len(handler._applied) <= 2

    for i in range(8):
        assert [v for _, st, v in applied(engine) if st == f"s{i}"] == [1, 2, 3, 4]
    assert processed_count(engine) == 32
    assert deadletters.peek(amqp_uri, "consumer") == []


# -- failures ----------------------------------------------------------------------------------


def test_a_failing_handler_leaves_no_partial_effect_and_succeeds_on_retry(
    database, amqp_uri, source
):
    url, engine = database
    flaky = source.event("f", 1)
    FAILURES[flaky.event_id] = 1  # fails once, after writing its effect
    with consumer(amqp_uri, url):
        source.publish(flaky)
        wait_until(lambda: len(applied(engine)) == 1, what="applied on the retry")
        eventlet.sleep(0.3)

    assert ATTEMPTS[flaky.event_id] == 2
    assert applied_ids(engine) == [flaky.event_id]  # the first attempt's row was rolled back
    assert stream_versions(engine) == {"f": 1}


def health(amqp_uri: str) -> dict:
    """The consumer's counters, as ``sesp`` or the gateway read them (the ``health`` RPC)."""
    with ClusterRpcProxy({"AMQP_URI": amqp_uri, "serializer": "json"}, timeout=30) as proxy:
        [handler] = proxy.consumer.health()["consumers"]
    return handler


@both_backends
def test_a_poison_event_parks_only_its_stream_until_it_is_replayed(database, amqp_uri, source):
    url, engine = database
    poison, blocked, later = source.stream("p", 3)
    FAILURES[poison.event_id] = -1
    healthy = [source.event(f"h-{i}", 1) for i in range(5)] + source.stream("h-0x", 3)
    with consumer(amqp_uri, url):
        source.publish(poison, blocked, *healthy)
        wait_until(lambda: len(applied(engine)) == len(healthy), what="healthy events applied")
        wait_until(
            lambda: len(deadletters.peek(amqp_uri, "consumer")) == 1,
            timeout=20,
            what="the poison dead-lettered",
        )
        # Later events of the parked stream wait; they do not run the poison again, and the
        # other streams keep flowing.
        after = [source.event(f"after-{i}", 1) for i in range(3)]
        source.publish(later, *after)
        wait_until(
            lambda: len(applied(engine)) == len(healthy) + len(after), what="later streams flow"
        )
        wait_until(lambda: health(amqp_uri)["waiting"] == 2, what="p v2 and v3 held")
        assert ATTEMPTS[poison.event_id] == MAX_ATTEMPTS  # bounded, and not re-run since
        assert ATTEMPTS[blocked.event_id] == ATTEMPTS[later.event_id] == 0
        assert poison.event_id not in applied_ids(engine)  # every attempt rolled back

        [letter] = deadletters.peek(amqp_uri, "consumer")
        assert (letter["event_id"], letter["queue"]) == (poison.event_id, QUEUE)
        assert (letter["stream_id"], letter["version"]) == ("p", 1)
        counters = health(amqp_uri)
        assert counters["parked"] == [{"stream": "source:p", "version": 1}]
        assert (counters["handler_failures"], counters["dead_lettered"]) == (MAX_ATTEMPTS, 1)
        assert counters["outage_retries"] == 0

        FAILURES.clear()  # the bug is fixed
        assert deadletters.replay(amqp_uri, "consumer") == 1
        wait_until(
            lambda: len(applied(engine)) == len(healthy) + len(after) + 3,
            what="the parked stream applied",
        )
        wait_until(lambda: health(amqp_uri)["parked_streams"] == 0, what="the stream unparked")
        assert health(amqp_uri)["waiting"] == 0
        assert deadletters.peek(amqp_uri, "consumer") == []

    order = applied(engine)
    assert [v for _, st, v in order if st == "p"] == [1, 2, 3]  # once each, in order
    assert sorted(applied_ids(engine)) == sorted(
        e.event_id for e in (poison, blocked, later, *healthy, *after)
    )
    assert ATTEMPTS[poison.event_id] == MAX_ATTEMPTS + 1
    assert stream_versions(engine)["p"] == 3


def test_an_unreachable_database_is_waited_out_without_spending_attempts(
    database, amqp_uri, source, monkeypatch
):
    """The handler meets an outage three times as often as its attempt budget: it is applied
    once when the database answers, never dead-lettered."""
    monkeypatch.setattr(subscriber, "OUTAGE_BACKOFF", (0.01, 0.05))
    url, engine = database
    shaky, follower = source.stream("shaky", 2)
    OUTAGES[shaky.event_id] = 3 * MAX_ATTEMPTS
    with consumer(amqp_uri, url):
        source.publish(shaky, follower)
        wait_until(lambda: len(applied(engine)) == 2, what="both applied")
        counters = health(amqp_uri)

    assert [v for _, st, v in applied(engine) if st == "shaky"] == [1, 2]
    assert ATTEMPTS[shaky.event_id] == 3 * MAX_ATTEMPTS + 1
    assert counters["outage_retries"] == 3 * MAX_ATTEMPTS
    assert (counters["handler_failures"], counters["dead_lettered"]) == (0, 0)
    assert deadletters.peek(amqp_uri, "consumer") == []


def test_an_error_in_the_kernel_path_does_not_end_the_container(
    database, amqp_uri, source, monkeypatch
):
    """A failure outside the handler (reading the stream's version) is retried like any other
    failure of that message; the container, and the other streams, carry on."""
    url, engine = database
    broken = source.event("broken", 1)
    real_last = subscriber.EventSubscriber._last
    failed: list[str] = []

    def last_fails_once(self, key):
        if key == "source:broken" and not failed:
            failed.append(key)
            raise RuntimeError("a bug reading the version")
        return real_last(self, key)

    monkeypatch.setattr(subscriber.EventSubscriber, "_last", last_fails_once)
    with consumer(amqp_uri, url) as container:
        source.publish(broken, source.event("fine", 1))
        wait_until(lambda: len(applied(engine)) == 2, what="both applied")
        assert not container._died.ready()  # still running
    assert failed == ["source:broken"]
    assert deadletters.peek(amqp_uri, "consumer") == []


def test_replaying_messages_that_fail_at_once_does_not_loop(database, amqp_uri, source):
    url, engine = database
    with consumer(amqp_uri, url):
        for i in range(5):  # malformed: dead-lettered at once, on every delivery
            source.publish_raw(json.dumps({"not": "an event", "i": i}))
        wait_until(lambda: len(deadletters.peek(amqp_uri, "consumer")) == 5, what="5 letters")
        letters = deadletters.peek(amqp_uri, "consumer")
        assert {(d["queue"], d["reason"]) for d in letters} == {(QUEUE, "rejected")}
        with eventlet.Timeout(15):  # each dead letter is re-driven once per replay
            assert deadletters.replay(amqp_uri, "consumer") == 5
        wait_until(lambda: len(deadletters.peek(amqp_uri, "consumer")) == 5, what="back again")
        ev = source.event("after", 1)
        source.publish(ev)  # and the consumer goes on
        wait_until(lambda: applied_ids(engine) == [ev.event_id], what="next event applied")


def test_peeking_again_at_once_finds_every_letter_back(database, amqp_uri, source):
    # An operator's `sesp dlq list` twice in a row: the letters the first one read must all be
    # back before it returns, not whenever the broker gets round to the closed channel.
    url, engine = database
    with consumer(amqp_uri, url):
        for i in range(20):
            source.publish_raw(json.dumps({"not": "an event", "i": i}))
        wait_until(lambda: len(deadletters.peek(amqp_uri, "consumer")) == 20, what="20 letters")
    counts = [len(deadletters.peek(amqp_uri, "consumer")) for _ in range(30)]
    assert counts == [20] * 30


# -- rpc ---------------------------------------------------------------------------------------


def test_a_lost_race_on_the_store_reaches_an_rpc_caller_as_conflict(database, amqp_uri):
    url, engine = database
    rpc_config = {"AMQP_URI": amqp_uri, "serializer": "json"}
    with consumer(amqp_uri, url):
        with ClusterRpcProxy(rpc_config) as proxy:
            assert proxy.consumer.record("r-1", 0) == 1
            with pytest.raises(Conflict) as stale:
                proxy.consumer.record("r-1", 0)  # expected version 0, the stream is at 1
        assert "r-1" in stale.value.detail

        def racer(_):
            with ClusterRpcProxy(rpc_config) as proxy:  # one proxy per green thread
                try:
                    return proxy.consumer.record("r-2", 0)
                except Conflict:
                    return "conflict"

        outcomes = Counter(eventlet.GreenPool(6).imap(racer, range(6)))
    assert outcomes == {1: 1, "conflict": 5}
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM events WHERE stream_id = 'r-2'")).scalar() == 1
        )
