"""The outbox relay through broker faults, mid-stream: nothing is lost, little is repeated.

A writer appends 2,000 events in small transactions while the relay publishes them; a durable
queue bound with ``#`` collects what the broker accepted. Halfway through, the broker drops
every connection of the test's vhost (``close_all_connections``) or restarts its application
(``stop_app``/``start_app``: this one disturbs every user of the broker for a few seconds, so
it always restarts the broker, even when the test fails). Afterwards every event is in the
queue, duplicates come only from a batch that was in flight when the fault hit, first
deliveries are in position order, and the relay logged the fault and caught up.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import time
from collections import Counter
from urllib.parse import unquote, urlparse

import eventlet
import kombu
import pytest

from infra.bus.relay import OutboxRelay, declare_exchange, exchange_name
from infra.eventstore import EventStore, NewEvent, SubjectKeys, make_engine, migrate
from infra.testing import wait_until

pytestmark = pytest.mark.slow

SERVICE = "src"
TOTAL = 2000
PER_TRANSACTION = 4
BATCH = 100
QUEUE = "collector"


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a broker admin command without blocking the other green threads."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{args} did not finish in {timeout}s")
        eventlet.sleep(0.1)
    out = proc.stdout.read().decode(errors="replace")
    return subprocess.CompletedProcess(args, proc.returncode, out, "")


def broker_answers(amqp_uri: str) -> bool:
    u = urlparse(amqp_uri)
    try:
        with socket.create_connection((u.hostname, u.port or 5672), timeout=1):
            pass
    except OSError:
        return False
    if run("rabbitmq-diagnostics", "-q", "ping", timeout=30).returncode != 0:
        return False
    try:
        with kombu.Connection(amqp_uri, connect_timeout=2) as conn:
            conn.connect()
        return True
    except Exception:
        return False


@pytest.fixture
def stream(pg_url, amqp_uri, caplog):
    """A store, a running relay, a collecting queue and a writer that starts on request."""
    caplog.set_level(logging.INFO, logger="sesp.relay")
    engine = make_engine(pg_url)
    migrate(engine)
    store = EventStore("postgresql", SubjectKeys(os.urandom(32)))
    with kombu.Connection(amqp_uri) as conn:
        ch = conn.channel()
        declare_exchange(ch, SERVICE)
        ch.queue_declare(QUEUE, durable=True, auto_delete=False)
        ch.queue_bind(QUEUE, exchange_name(SERVICE), "#")
    relay = OutboxRelay(
        SERVICE, make_engine(pg_url, pool_size=2), store, amqp_uri, batch_size=BATCH
    )
    relay_thread = eventlet.spawn(relay.run)
    appended: list[str] = []

    def write():
        for i in range(0, TOTAL, PER_TRANSACTION):
            events = [NewEvent("Ticked", {"i": i + k}) for k in range(PER_TRANSACTION)]
            with engine.begin() as conn:
                store.append(conn, f"unit-{i % 50}", None, events)
            appended.extend(e.event_id for e in events)
            eventlet.sleep(0.01)

    class Stream:
        def __init__(self):
            self.relay, self.appended, self.writer = relay, appended, None

        def start(self):
            self.writer = eventlet.spawn(write)

        def position(self) -> int:
            return relay.load_position()

        def faults_logged(self) -> list[str]:
            return [r.getMessage() for r in caplog.records if "broker problem" in r.getMessage()]

        def collected(self) -> list[dict]:
            bodies = []
            with kombu.Connection(amqp_uri) as conn:
                ch = conn.channel()
                while (msg := ch.basic_get(QUEUE, no_ack=True)) is not None:
                    bodies.append(json.loads(msg.body))
            return bodies

    yield Stream()
    relay.stop()
    with eventlet.Timeout(60):
        relay_thread.wait()
    relay.engine.dispose()
    engine.dispose()


def windows(positions: list[int]) -> int:
    """How many windows of BATCH consecutive positions it takes to cover ``positions``."""
    count, end = 0, 0
    for p in sorted(positions):
        if p > end:
            count, end = count + 1, p + BATCH - 1
    return count


def assert_every_event_delivered(s, faults: int) -> None:
    s.writer.wait()
    assert len(s.appended) == TOTAL
    with s.relay.engine.connect() as conn:
        last = conn.exec_driver_sql("SELECT max(position) FROM events").scalar()
    wait_until(lambda: s.position() == last, timeout=60, what="the relay to catch up")
    bodies = s.collected()
    assert {b["event_id"] for b in bodies} == set(s.appended)  # nothing lost
    counts = Counter(b["position"] for b in bodies)
    repeated = sorted(p for p, n in counts.items() if n > 1)
    # Only a batch in flight when a fault hit goes out again: the repeats fit in at most one
    # window of BATCH positions per logged fault.
    assert windows(repeated) <= faults, repeated
    firsts = list(dict.fromkeys(b["position"] for b in bodies))
    assert firsts == sorted(firsts)  # first deliveries in position order
    assert s.position() == last


def test_relay_recovers_when_the_broker_drops_its_connections(stream, amqp_uri):
    vhost = unquote(urlparse(amqp_uri).path.lstrip("/"))
    stream.start()
    wait_until(lambda: stream.position() >= 400, timeout=30, what="mid-stream")
    done = run("rabbitmqctl", "close_all_connections", "-p", vhost, "test: relay fault")
    assert done.returncode == 0, done.stdout
    assert stream.position() < TOTAL, "the fault must land mid-stream"

    wait_until(lambda: stream.faults_logged(), timeout=10, what="the relay to log the fault")
    assert_every_event_delivered(stream, faults=len(stream.faults_logged()))


def test_relay_recovers_from_a_broker_restart(stream, amqp_uri):
    stream.start()
    wait_until(lambda: stream.position() >= 400, timeout=30, what="mid-stream")
    try:
        stopped = run("rabbitmqctl", "stop_app", timeout=120)
        assert stopped.returncode == 0, stopped.stdout
        stopped_at = stream.position()
        eventlet.sleep(1.0)  # the writer goes on while nothing can be published
    finally:
        started = run("rabbitmqctl", "start_app", timeout=180)
    assert started.returncode == 0, started.stdout
    wait_until(lambda: broker_answers(amqp_uri), timeout=120, interval=0.5, what="broker back")
    assert stopped_at < TOTAL, "the restart must land mid-stream"

    assert stream.faults_logged(), "the relay logs the lost broker"
    assert_every_event_delivered(stream, faults=len(stream.faults_logged()))
