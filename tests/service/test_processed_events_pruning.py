"""``processed_events`` is pruned (``KernelService.forget_old_processed_events``, hourly, after
``SESP_PROCESSED_EVENTS_DAYS``) and exactly-once still holds: a consumer recognises an old
event redelivered after its id was forgotten by its stream's version in ``consumer_streams``,
also after a restart (nothing of it left in memory). The consumer is the one of
``test_subscriber`` (one effect row per applied event), in a real nameko container on the real
broker, on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import eventlet
from sqlalchemy import func, insert, select

from infra.bus import consumer_state, deadletters
from infra.bus.dependencies import commit_worker
from infra.bus.entrypoints import KernelTimer
from infra.eventstore.schema import consumer_streams, processed_events
from infra.testing import wait_until
from tests.service import test_subscriber as sub
from tests.service.test_subscriber import (
    ATTEMPTS,
    applied,
    applied_ids,
    both_backends,
    consumer,
    processed_count,
    queue_is_drained,
    stream_versions,
)

# The consumer's fixtures: its database, the publishing source, and fresh handler state.
database, source, fresh_handler_state = sub.database, sub.source, sub.fresh_handler_state


def prune_now(container) -> None:
    """Run the hourly job now, in a worker of its own that commits, as its timer's does."""
    [timer] = [
        e
        for e in container.entrypoints
        if isinstance(e, KernelTimer) and e.method_name == "forget_old_processed_events"
    ]
    done = eventlet.Event()

    def finished(worker_ctx, result, exc_info):
        if exc_info is None:
            commit_worker(container, worker_ctx)
        done.send(exc_info)
        return result, exc_info

    container.spawn_worker(timer, (), {}, handle_result=finished)
    assert done.wait() is None


@both_backends
def test_old_events_redelivered_after_pruning_are_not_applied_again(
    database, amqp_uri, source, monkeypatch
):
    url, engine = database
    a, b = source.stream("a", 3), source.stream("b", 2)
    old = [a[0], a[1], b[0], b[1]]
    with consumer(amqp_uri, url) as container:
        source.publish(*old)
        wait_until(lambda: len(applied(engine)) == 4, what="four applied")
        assert processed_count(engine) == 4

        monkeypatch.setenv("SESP_PROCESSED_EVENTS_DAYS", "1")
        prune_now(container)
        assert processed_count(engine) == 4  # applied just now: kept
        monkeypatch.setenv("SESP_PROCESSED_EVENTS_DAYS", "0")
        eventlet.sleep(0.01)
        prune_now(container)
        assert processed_count(engine) == 0
        assert stream_versions(engine) == {"a": 2, "b": 2}

        source.publish(*old)  # the relay republishes, long after
        source.publish(a[2])
        wait_until(lambda: len(applied(engine)) == 5, what="the new event applied")
        eventlet.sleep(1.0)  # time for a wrongly accepted copy to be applied
        wait_until(lambda: queue_is_drained(amqp_uri), what="queue drained")

    # A fresh process: no version cached, no processed id left for the old events.
    with consumer(amqp_uri, url):
        source.publish(*reversed(old))
        eventlet.sleep(1.0)
        wait_until(lambda: queue_is_drained(amqp_uri), what="queue drained after the restart")

    assert sorted(applied_ids(engine)) == sorted(e.event_id for e in (*old, a[2]))
    assert all(ATTEMPTS[e.event_id] == 1 for e in (*old, a[2]))
    assert stream_versions(engine) == {"a": 3, "b": 2}
    assert processed_count(engine) == 1  # only the event applied after the pruning
    assert deadletters.peek(amqp_uri, "consumer") == []


@both_backends
def test_pruning_forgets_only_ids_older_than_the_retention(database):
    _, engine = database
    now = datetime(2030, 6, 1, 12, 0)
    rows = [
        {"consumer": c, "event_id": f"{c}-{age}", "processed_at": now - timedelta(days=age)}
        for c in ("x.on_a", "y.on_b")
        for age in (30, 8, 7, 6, 0)
    ]
    with engine.begin() as conn:
        conn.execute(insert(processed_events), rows)
        conn.execute(
            insert(consumer_streams), [{"consumer": "x.on_a", "stream_id": "s:1", "version": 9}]
        )
    # In batches of three: two transactions, the second one short.
    assert consumer_state.prune_processed(engine, now - timedelta(days=7), batch=3) == 4
    assert consumer_state.prune_processed(engine, now - timedelta(days=7), batch=3) == 0
    with engine.connect() as conn:
        left = sorted(conn.execute(select(processed_events.c.event_id)).scalars())
        streams = conn.execute(select(func.count()).select_from(consumer_streams)).scalar()
    assert left == sorted(f"{c}-{age}" for c in ("x.on_a", "y.on_b") for age in (7, 6, 0))
    assert streams == 1
