"""The outbox relay against the real broker and both databases.

Each test runs ``OutboxRelay.run`` in a green thread (as ``ServiceDatabase`` does) and collects
what reaches the broker with a plain durable queue bound to ``<service>.events``. A standby
relay that must survive its peer's crash runs as a separate process and is SIGKILLed.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from collections import Counter
from contextlib import contextmanager

import amqp
import eventlet
import kombu
import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, text, update
from sqlalchemy.exc import OperationalError

from infra import cli, registry
from infra.bus.dependencies import relay_engine, worker_engine
from infra.bus.relay import OutboxRelay, declare_exchange, exchange_name
from infra.bus.relay_status import relay_status
from infra.eventstore import EventStore, NewEvent, Personal, SubjectKeys, make_engine, migrate
from infra.eventstore.crypto import decrypt_personal
from infra.eventstore.schema import events, parked, relay_state, unroutable
from infra.registry import ServiceSpec
from infra.testing import ROOT, env, wait_until

SERVICE = "src"


# -- helpers -----------------------------------------------------------------------------------


@pytest.fixture
def master_key() -> bytes:
    return os.urandom(32)


def open_engine(url: str):
    eng = make_engine(url)
    migrate(eng)
    return eng


@pytest.fixture
def engine(db_url):
    eng = open_engine(db_url)
    yield eng
    eng.dispose()


@pytest.fixture
def store(engine, master_key) -> EventStore:
    return EventStore(engine.dialect.name, SubjectKeys(master_key))


def append(engine, store, stream: str, *events: NewEvent) -> None:
    with engine.begin() as conn:
        store.append(conn, stream, None, list(events))


def stored_events(engine, store) -> list:
    with engine.connect() as conn:
        return store.read_all(conn, 0, 100_000, decrypt=False)


def status(engine) -> dict:
    with engine.connect() as conn:
        return relay_status(conn)


def last_position(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT coalesce(max(position), 0) FROM events")).scalar()


class Collector:
    """A durable queue bound to the service's exchange; keeps every message it drains."""

    def __init__(self, amqp_uri: str, binding: str = "#", name: str = "collector", **arguments):
        self.name = name
        self.conn = kombu.Connection(amqp_uri)
        self.ch = self.conn.channel()
        declare_exchange(self.ch, SERVICE)
        self.ch.queue_declare(name, durable=True, auto_delete=False, arguments=arguments or None)
        self.ch.queue_bind(name, exchange_name(SERVICE), binding)
        self.messages: list[amqp.Message] = []

    def drain(self) -> list[amqp.Message]:
        while (msg := self.ch.basic_get(self.name, no_ack=True)) is not None:
            self.messages.append(msg)
        return self.messages

    def wait_for(self, n: int, timeout: float = 20.0) -> list[amqp.Message]:
        wait_until(lambda: len(self.drain()) >= n, timeout, what=f"{n} messages on {self.name}")
        return self.messages

    def bodies(self) -> list[dict]:
        return [json.loads(m.body) for m in self.messages]

    def all_bodies(self) -> list[dict]:
        """Everything received so far, after draining what is still in the queue."""
        self.drain()
        return self.bodies()

    def close(self) -> None:
        self.conn.release()


@pytest.fixture
def collect(amqp_uri):
    made: list[Collector] = []

    def make(binding: str = "#", name: str = "collector", **arguments) -> Collector:
        made.append(Collector(amqp_uri, binding, name, **arguments))
        return made[-1]

    yield make
    for c in made:
        c.close()


def new_relay(db_url: str, store: EventStore, amqp_uri: str, **kw) -> OutboxRelay:
    # Its own engine, as in ServiceDatabase: the relay never waits behind workers.
    return OutboxRelay(SERVICE, make_engine(db_url, pool_size=2), store, amqp_uri, **kw)


@contextmanager
def running(*relays: OutboxRelay):
    threads = [eventlet.spawn(r.run) for r in relays]
    try:
        yield threads
    finally:
        for r in relays:
            r.stop()
        with eventlet.Timeout(45):
            for gt in threads:
                gt.wait()
        for r in relays:
            r.engine.dispose()


# -- publishing --------------------------------------------------------------------------------


def test_committed_events_are_published_in_position_order_with_type_as_routing_key(
    db_url, engine, store, amqp_uri, collect
):
    everything = collect("#", "everything")
    noted_only = collect("ThingNoted", "noted-only")
    for i in range(10):  # a backlog from before the relay started ...
        append(engine, store, f"thing-{i % 3}", NewEvent("ThingNoted", {"i": i}))
    relay = new_relay(db_url, store, amqp_uri, batch_size=7)
    with running(relay):
        for i in range(10, 40, 2):  # ... and appends while it runs, two events per transaction
            append(
                engine,
                store,
                f"thing-{i % 3}",
                NewEvent("ThingNoted", {"i": i}),
                NewEvent("ThingHappened", {"i": i + 1}),
            )
            eventlet.sleep(0.01)
        everything.wait_for(40)
        wait_until(lambda: relay.load_position() == last_position(engine), what="position")

    stored = stored_events(engine, store)
    assert len(stored) == 40
    # the body is exactly StoredEvent.to_message, in position order, each event once
    assert everything.bodies() == [json.loads(json.dumps(ev.to_message(SERVICE))) for ev in stored]
    assert [m.delivery_info["routing_key"] for m in everything.messages] == [
        ev.type for ev in stored
    ]
    assert [m.properties["message_id"] for m in everything.messages] == [
        ev.event_id for ev in stored
    ]
    assert {m.properties["delivery_mode"] for m in everything.messages} == {2}  # persistent
    assert {m.properties["content_type"] for m in everything.messages} == {"application/json"}
    # a consumer binding one event type receives only that type
    noted = [ev.event_id for ev in stored if ev.type == "ThingNoted"]
    noted_only.wait_for(len(noted))
    assert [b["event_id"] for b in noted_only.bodies()] == noted
    assert relay.load_position() == stored[-1].position


def test_position_advances_only_after_the_broker_confirms(
    db_url, engine, store, amqp_uri, collect, caplog
):
    caplog.set_level(logging.WARNING, logger="sesp.relay")
    # A queue that holds five messages and makes the broker nack the rest of the batch.
    full = collect("#", "full", **{"x-max-length": 5, "x-overflow": "reject-publish"})
    for i in range(12):
        append(engine, store, "thing-1", NewEvent("ThingNoted", {"i": i}))
    relay = new_relay(db_url, store, amqp_uri, batch_size=20)
    with running(relay):
        wait_until(
            lambda: sum("nacked" in r.getMessage() for r in caplog.records) >= 2,
            timeout=10,
            what="two refused publish attempts",
        )
        # Five of the twelve reached the queue, but the batch was not confirmed as a whole:
        assert len(full.drain()) == 5
        assert relay.load_position() == 0
        failing = status(engine)  # and the refusals are on record, not only in the log
        assert (failing["position"], failing["behind"]) == (0, 12)
        assert failing["error"].startswith("PublishNacked") and failing["failures"] >= 2
        assert failing["stuck_event"] is None  # the broker's doing, not an event's

        # Room again (bind the new queue first: the relay must never see nowhere to route).
        roomy = collect("#", "roomy")
        full.ch.queue_delete("full")
        roomy.wait_for(12)
        wait_until(lambda: relay.load_position() == 12, what="position after the retry")
        recovered = status(engine)
        assert (recovered["error"], recovered["failures"], recovered["behind"]) == (None, 0, 0)

    assert [b["position"] for b in roomy.bodies()][-12:] == list(range(1, 13))
    assert relay.published_total == 12


def test_an_idle_relay_keeps_its_broker_connection_alive(
    sqlite_url, master_key, amqp_uri, collect, caplog
):
    caplog.set_level(logging.WARNING, logger="sesp.relay")
    engine = open_engine(sqlite_url)
    store = EventStore("sqlite", SubjectKeys(master_key))
    queue = collect()
    relay = new_relay(sqlite_url, store, amqp_uri, heartbeat=1)
    try:
        with running(relay):
            append(engine, store, "a", NewEvent("Noted", {"n": 1}))
            queue.wait_for(1)
            eventlet.sleep(4)  # quiet for four heartbeats: the broker gives up after two
            append(engine, store, "a", NewEvent("Noted", {"n": 2}))
            queue.wait_for(2)
            wait_until(lambda: relay.load_position() == 2, what="position 2")
            eventlet.sleep(0.3)
    finally:
        engine.dispose()
    assert [r.getMessage() for r in caplog.records] == []
    assert [b["position"] for b in queue.all_bodies()] == [1, 2]


def test_an_unroutable_event_is_recorded_counted_and_reported_once_per_type(
    db_url, engine, store, amqp_uri, collect, caplog
):
    caplog.set_level(logging.INFO, logger="sesp.relay")
    routed = collect("Routed")
    append(engine, store, "a", NewEvent("Routed", {"n": 1}))
    append(engine, store, "b", NewEvent("NobodyListens", {"n": 2}))
    append(engine, store, "a", NewEvent("Routed", {"n": 3}))
    relay = new_relay(db_url, store, amqp_uri)
    with running(relay):
        routed.wait_for(2)
        wait_until(lambda: relay.load_position() == 3, what="position 3")
        # Later batches: the same type again, and a new one; the relay keeps going.
        append(engine, store, "b", NewEvent("NobodyListens", {"n": 4}))
        append(engine, store, "c", NewEvent("NobodyHearsThisEither", {"n": 5}))
        append(engine, store, "a", NewEvent("Routed", {"n": 6}))
        routed.wait_for(3)
        wait_until(lambda: relay.load_position() == 6, what="position 6")

    orphans = [ev for ev in stored_events(engine, store) if ev.type != "Routed"]
    assert [b["data"]["n"] for b in routed.bodies()] == [1, 3, 6]
    with engine.connect() as conn:
        rows = conn.execute(select(unroutable).order_by(unroutable.c.position)).mappings().all()
    assert [(r["position"], r["event_id"], r["type"]) for r in rows] == [
        (ev.position, ev.event_id, ev.type) for ev in orphans
    ]
    assert all(r["reason"].startswith("unroutable") for r in rows)
    assert status(engine)["unroutable"] == 3
    with registered_as_service(db_url):
        shown = sesp("relay", "status", SERVICE)
    assert shown.exit_code == 0, shown.output
    assert "position 6 of 6 (up to date); 3 unroutable (nothing subscribed)" in shown.output
    # Not an error (nothing subscribes yet): one INFO line per type, naming its first event.
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    said = [r.getMessage() for r in caplog.records if "nothing subscribes" in r.getMessage()]
    assert len(said) == 2
    assert "NobodyListens" in said[0] and orphans[0].event_id in said[0]
    assert "NobodyHearsThisEither" in said[1] and orphans[2].event_id in said[1]


def test_personal_fields_are_published_encrypted_never_in_clear(
    db_url, engine, store, amqp_uri, collect
):
    queue = collect()
    name, id_no, phone = "张三", "110101199003071234", "13800138000"
    append(
        engine,
        store,
        "licence-1",
        NewEvent(
            "OperatorCertified",
            {
                "licence_no": "TS-2024-001",
                "operator": {
                    "name": Personal("person-7", name),
                    "id_no": Personal("person-7", id_no),
                },
                "phones": [Personal("person-7", phone)],
            },
        ),
    )
    relay = new_relay(db_url, store, amqp_uri)
    with running(relay):
        (msg,) = queue.wait_for(1)

    raw = msg.body if isinstance(msg.body, str) else msg.body.decode()
    for clear in (name, id_no, phone, json.dumps(name)[1:-1]):  # also as a JSON \u escape
        assert clear not in raw
    data = json.loads(raw)["data"]
    assert data["licence_no"] == "TS-2024-001"  # the rest of the event travels as it is
    envelope = data["operator"]["name"]
    assert envelope["$personal"] == "person-7" and set(envelope) == {"$personal", "nonce", "ct"}
    # ... and it is the real ciphertext: the owning service's key opens it
    with engine.connect() as conn:
        assert decrypt_personal(data, conn, store.keys) == {
            "licence_no": "TS-2024-001",
            "operator": {"name": name, "id_no": id_no},
            "phones": [phone],
        }


# -- one active relay per service --------------------------------------------------------------


def test_only_one_relay_is_active_and_the_standby_takes_over_where_it_stopped(
    db_url, engine, store, amqp_uri, collect
):
    queue = collect()
    first = new_relay(db_url, store, amqp_uri)
    second = new_relay(db_url, store, amqp_uri)
    with running(first):
        wait_until(lambda: first.active, what="first relay active")
        with running(second):
            eventlet.sleep(2.5)  # the standby tries the lock about once a second
            assert first.active and not second.active
            for i in range(20):
                append(engine, store, f"s-{i % 4}", NewEvent("Ticked", {"i": i}))
            queue.wait_for(20)
            wait_until(lambda: first.load_position() == 20, what="position 20")
            assert second.published_total == 0

            first.stop()  # a graceful stop releases the lock: the standby takes over
            wait_until(lambda: second.active, timeout=5, what="standby takes over")
            for i in range(20, 40):
                append(engine, store, f"s-{i % 4}", NewEvent("Ticked", {"i": i}))
            queue.wait_for(40)
            wait_until(lambda: second.load_position() == 40, what="position 40")
            eventlet.sleep(0.3)

    positions = [b["position"] for b in queue.all_bodies()]
    assert positions == list(range(1, 41))  # in order, nothing lost, nothing twice
    assert (first.published_total, second.published_total) == (20, 20)


_RELAY_PROCESS = """
import eventlet
eventlet.monkey_patch()
import logging, os, sys
from infra.bus.relay import OutboxRelay
from infra.eventstore import EventStore, SubjectKeys, make_engine
logging.basicConfig(level=logging.INFO)
url, uri, batch = sys.argv[1], sys.argv[2], int(sys.argv[3])
engine = make_engine(url, pool_size=2)
OutboxRelay("src", engine, EventStore(engine.dialect.name, SubjectKeys(os.urandom(32))),
            uri, batch_size=batch).run()
"""


def test_a_crashed_relay_is_replaced_and_only_its_unconfirmed_batch_is_published_twice(
    db_url, engine, store, amqp_uri, collect, tmp_path
):
    batch, total = 25, 600
    queue = collect()
    log_file = open(tmp_path / "relay.log", "wb")
    crashing = subprocess.Popen(
        [sys.executable, "-c", _RELAY_PROCESS, db_url, amqp_uri, str(batch)],
        cwd=ROOT,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    standby = new_relay(db_url, store, amqp_uri, batch_size=batch)
    try:
        append(engine, store, "s-0", NewEvent("Ticked", {"i": -1}))
        wait_until(lambda: standby.load_position() == 1, timeout=30, what="process relay active")
        total += 1

        def produce():
            for i in range(0, total - 1, 3):
                append(
                    engine,
                    store,
                    f"s-{i % 7}",
                    *[NewEvent("Ticked", {"i": i + k}) for k in range(3)],
                )
                eventlet.sleep(0.002)

        with running(standby):
            producer = eventlet.spawn(produce)
            wait_until(lambda: standby.load_position() >= 150, what="mid-stream")
            assert not standby.active
            crashing.send_signal(signal.SIGKILL)
            crashing.wait(10)
            recorded_at_crash = standby.load_position()
            producer.wait()
            assert recorded_at_crash < total, "the crash must land mid-stream"

            wait_until(lambda: standby.active, timeout=10, what="standby takes over")
            wait_until(
                lambda: standby.load_position() == last_position(engine),
                timeout=30,
                what="standby publishes to the end",
            )
            queue.wait_for(total)
            eventlet.sleep(0.3)
    finally:
        if crashing.poll() is None:
            crashing.kill()
        log_file.close()

    stored = stored_events(engine, store)
    assert len(stored) == total
    bodies = queue.all_bodies()
    assert {b["event_id"] for b in bodies} == {ev.event_id for ev in stored}  # none lost
    twice = [p for p, n in Counter(b["position"] for b in bodies).items() if n > 1]
    # The dead relay's last batch may have reached the broker unrecorded: republished once.
    assert len(twice) <= batch
    assert all(recorded_at_crash < p <= recorded_at_crash + batch for p in twice), (
        recorded_at_crash,
        twice,
    )
    firsts = list(dict.fromkeys(b["position"] for b in bodies))
    assert firsts == sorted(firsts)


def test_a_relay_that_loses_its_lock_session_stops_publishing_even_while_busy(
    pg_url, amqp_uri, collect, master_key
):
    eng = make_engine(pg_url)
    migrate(eng)
    store = EventStore("postgresql", SubjectKeys(master_key))
    queue = collect()
    first = new_relay(pg_url, store, amqp_uri, batch_size=5)
    second = new_relay(pg_url, store, amqp_uri, batch_size=5)
    try:
        with running(first):
            wait_until(lambda: first.active, what="first relay active")
            for i in range(0, 3000, 50):  # a long backlog keeps the first relay busy
                append(eng, store, f"s-{i}", *[NewEvent("Ticked", {"i": i + k}) for k in range(50)])
            with running(second):
                wait_until(lambda: first.published_total >= 50, what="first relay busy")
                with eng.connect() as conn:  # its lock session dies (a proxy, an operator)
                    killed = conn.execute(
                        text(
                            "SELECT pg_terminate_backend(pid) FROM pg_locks "
                            "WHERE locktype = 'advisory' AND granted AND objsubid = 1"
                            " AND classid::bigint = :high AND objid::bigint = :low AND database ="
                            " (SELECT oid FROM pg_database WHERE datname = current_database())"
                        ),
                        {
                            "high": (first.lock.key >> 32) & 0xFFFFFFFF,
                            "low": first.lock.key & 0xFFFFFFFF,
                        },
                    ).all()
                    conn.commit()
                assert len(killed) == 1
                wait_until(lambda: second.active, timeout=5, what="standby takes over")
                wait_until(lambda: not first.active, timeout=3, what="first relay steps down")
                stepped_down_at = first.published_total
                assert stepped_down_at < 2900, "it must step down while still busy"
                wait_until(lambda: second.load_position() == 3000, timeout=40, what="all out")
                queue.wait_for(3000, timeout=20)
                assert first.published_total == stepped_down_at  # and stays down
                assert not first.active
    finally:
        eng.dispose()
    # Each event delivered exactly once: the old relay checks its lock before every batch,
    # and the new one starts after whatever batch the old one still had in flight.
    deliveries = Counter(b["position"] for b in queue.all_bodies())
    assert sorted(deliveries) == list(range(1, 3001))
    assert {p: n for p, n in deliveries.items() if n > 1} == {}


# -- nothing stops silently --------------------------------------------------------------------


@contextmanager
def registered_as_service(db_url: str):
    """``src`` as a registered service whose store is ``db_url`` (what ``sesp`` reads)."""
    registry.register(ServiceSpec(name=SERVICE, target="tests.service.test_relay:SERVICE"))
    try:
        with env(**{f"SESP_{SERVICE.upper()}_DATABASE_URL": db_url}):
            yield
    finally:
        registry.unregister(SERVICE)


def sesp(*args: str) -> Result:
    return CliRunner().invoke(cli.main, list(args))


def test_a_poison_event_is_named_and_once_parked_the_rest_is_published(
    db_url, engine, store, amqp_uri, collect
):
    queue = collect()
    for n in (1, 2):
        append(engine, store, "a", NewEvent("Noted", {"n": n}))
    append(engine, store, "b", NewEvent("Noted", {"n": 3}))
    for n in (4, 5):
        append(engine, store, "a", NewEvent("Noted", {"n": n}))
    before = stored_events(engine, store)
    poison, healthy = before[2], before[3]
    with engine.begin() as conn:  # data the relay cannot read back (a bad migration, a bug)
        conn.execute(
            update(events).where(events.c.event_id == poison.event_id).values(data='{"n": 3')
        )
    relay = new_relay(db_url, store, amqp_uri)
    with running(relay), registered_as_service(db_url):
        queue.wait_for(2)

        def stuck_twice() -> dict | None:
            s = status(engine)
            return s if s["stuck_event"] is not None and s["failures"] >= 2 else None

        stuck = wait_until(stuck_twice, what="two failed attempts on the poison event")
        assert stuck["stuck_event"] == {
            "event_id": poison.event_id,
            "position": poison.position,
            "type": "Noted",
        }
        assert (stuck["position"], stuck["head"], stuck["behind"]) == (2, 5, 3)
        assert stuck["lag_seconds"] > 0 and not stuck["waiting_at_gap"]
        assert stuck["error"].startswith("PoisonEvent") and "unreadable" in stuck["error"]
        assert stuck["error_since"] is not None

        shown = sesp("relay", "status", SERVICE)
        assert shown.exit_code == 1, shown.output
        assert "position 2 of 5 (3 behind" in shown.output
        assert f"STUCK at event {poison.event_id} (Noted, position 3)" in shown.output
        assert "unreadable" in shown.output
        assert f"sesp relay skip {SERVICE} {poison.event_id}" in shown.output

        refused = sesp("relay", "skip", SERVICE, healthy.event_id, "--reason", "wrong one")
        assert refused.exit_code == 1
        assert f"not stuck on event {healthy.event_id}" in refused.output

        skipped = sesp("relay", "skip", SERVICE, poison.event_id, "--reason", "bad migration")
        assert skipped.exit_code == 0, skipped.output
        wait_until(lambda: status(engine)["behind"] == 0, what="the rest published")
        assert sesp("relay", "status", SERVICE).exit_code == 0

    assert [b["data"]["n"] for b in queue.all_bodies()] == [1, 2, 4, 5]  # the poison stays out
    after = status(engine)
    assert (after["error"], after["stuck_event"], after["failures"]) == (None, None, 0)
    assert after["parked"] == 1
    with engine.connect() as conn:
        (row,) = conn.execute(select(parked)).mappings().all()
    assert (row["event_id"], row["position"], row["reason"]) == (
        poison.event_id,
        3,
        "bad migration",
    )
    assert "unreadable" in row["error"]


def test_a_relay_waiting_at_a_gap_shows_it_in_its_lag(pg_url, amqp_uri, collect, master_key):
    eng = open_engine(pg_url)
    store = EventStore("postgresql", SubjectKeys(master_key))
    queue = collect()
    append(eng, store, "a", NewEvent("Noted", {"n": 1}))
    relay = new_relay(pg_url, store, amqp_uri)
    try:
        with running(relay):
            queue.wait_for(1)
            open_writer = eng.connect()
            tx = open_writer.begin()
            store.append(open_writer, "b", None, [NewEvent("Noted", {"n": 2})])  # not committed
            append(eng, store, "c", NewEvent("Noted", {"n": 3}))
            waiting = status(eng)
            assert (waiting["position"], waiting["behind"], waiting["waiting_at_gap"]) == (
                1,
                2,
                True,
            )
            assert waiting["lag_seconds"] > 0 and waiting["error"] is None
            tx.commit()
            open_writer.close()
            queue.wait_for(3)
            wait_until(lambda: status(eng)["behind"] == 0, what="caught up")
        assert not status(eng)["waiting_at_gap"]
    finally:
        eng.dispose()


def test_a_statement_timeout_cuts_a_stuck_relay_query_and_the_relay_reports_it(
    pg_url, amqp_uri, collect, master_key
):
    eng = open_engine(pg_url)
    store = EventStore("postgresql", SubjectKeys(master_key))
    queue = collect()
    append(eng, store, "a", NewEvent("Noted", {"n": 1}))
    relay = OutboxRelay(
        SERVICE,
        make_engine(pg_url, pool_size=2, statement_timeout_ms=300),
        store,
        amqp_uri,
    )
    blocker = eng.connect()
    tx = blocker.begin()
    blocker.execute(text("LOCK TABLE events IN ACCESS EXCLUSIVE MODE"))  # a migration, a DBA
    try:
        with running(relay):
            wait_until(
                lambda: "statement timeout" in (relay.last_error or ""), what="the poll is cut"
            )
            with eng.connect() as conn:  # on record for every replica (not only in memory)
                error = conn.execute(select(relay_state.c.error)).scalar_one()
            assert error.startswith("OperationalError") and "statement timeout" in error
            tx.rollback()
            queue.wait_for(1)
            wait_until(lambda: status(eng)["error"] is None, what="the error cleared")
    finally:
        blocker.close()
        eng.dispose()


def test_a_services_engines_cut_stuck_statements(pg_url, master_key):
    worker, relay = worker_engine(pg_url), relay_engine(pg_url)
    try:
        for eng, expected in ((worker, "30s"), (relay, "10s")):
            with eng.connect() as conn:
                assert conn.execute(text("SHOW statement_timeout")).scalar() == expected
    finally:
        worker.dispose()
        relay.dispose()
    with env(SESP_STATEMENT_TIMEOUT_MS="300"):
        worker = worker_engine(pg_url)
    migrate(worker)
    store = EventStore("postgresql", SubjectKeys(master_key))
    blocker = worker.connect()
    tx = blocker.begin()
    blocker.execute(text("LOCK TABLE events IN ACCESS EXCLUSIVE MODE"))
    try:
        with pytest.raises(OperationalError, match="statement timeout"):
            append(worker, store, "a", NewEvent("Noted", {"n": 1}))  # would wait for ever
    finally:
        tx.rollback()
        blocker.close()
        worker.dispose()
