"""The bus: the outbox relay's publish rate and the consumer's apply rate, next to raw kombu.

- d) ``relay``: ``infra.bus.relay.OutboxRelay.run`` drains a PostgreSQL event store prefilled
  with ``SESP_BENCH_RELAY_EVENTS`` (10,000 x scale) events to the service's topic exchange,
  where one quorum queue is bound (as a subscriber's is). Limit, ``raw-publish``: the same
  number of messages of the same size published with kombu/py-amqp straight to such an
  exchange, ``mandatory``, publisher confirms pipelined over batches of the relay's batch size:
  the broker's own ceiling for confirmed publishing, with no database in the way.
- e) ``consumer``: a nameko service with one ``infra.bus.entrypoints.subscribe`` handler that
  does nothing itself, so what is measured is the consumer's idempotency and ordering work
  (version check, compare-and-set, processed event id, commit on PostgreSQL, ack) on
  ``SESP_BENCH_CONSUMER_EVENTS`` (2,000 x scale) events queued before it starts. Limit,
  ``raw-consume``: a kombu consumer with the same prefetch (nameko's ``max_workers``) on a
  quorum queue that decodes each JSON body and acks it.

Rates are measured after the first batch (relay) or the first message (consumer), so
connecting and container start-up are left out. Each side runs ``SESP_BENCH_ROUNDS`` times
(the relay pair once more), interleaved, and keeps its best run. Child usage:
``python -m bench.bus relay|raw-publish|consumer|raw-consume [DATABASE_URL]``.
"""

import os
import sys
import time

if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "consumer":
    # nameko runs on eventlet; patch before anything else is imported, as a service does.
    import eventlet

    eventlet.monkey_patch()

import json  # noqa: E402
import threading  # noqa: E402
import uuid  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

RELAY_BATCH = 500


def relay_events() -> int:
    from . import common

    return int(int(os.environ.get("SESP_BENCH_RELAY_EVENTS", "10000")) * common.scale())


def consumer_events() -> int:
    from . import common

    return int(int(os.environ.get("SESP_BENCH_CONSUMER_EVENTS", "2000")) * common.scale())


def max_workers() -> int:
    return int(os.environ.get("SESP_MAX_WORKERS", "10"))


def message_body(service: str, stream: str, version: int, position: int) -> dict:
    """The shape the relay publishes (``StoredEvent.to_message``)."""
    from .eventstore import payload

    now = datetime.now(UTC).isoformat()
    return {
        "service": service,
        "event_id": str(uuid.uuid4()),
        "stream_id": stream,
        "version": version,
        "position": position,
        "type": "QualityFactRecorded",
        "schema_version": 1,
        "data": payload(position % 100, position),
        "meta": {
            "actor": {"id": "token-bench", "role": "maintenance_unit"},
            "correlation_id": str(uuid.uuid4()),
            "causation_id": None,
        },
        "occurred_at": now,
        "recorded_at": now,
    }


def stream_order(n: int, streams: int) -> list[tuple[str, int]]:
    """(stream, version) pairs, round-robin over ``streams`` streams: v1 of each, v2 of each..."""
    return [(f"unit-bench-{i % streams}", i // streams + 1) for i in range(n)]


class ConfirmPublisher:
    """Raw py-amqp publishing through a kombu connection: mandatory, pipelined confirms."""

    def __init__(self, uri: str):
        import kombu

        self.conn = kombu.Connection(uri, heartbeat=0, connect_timeout=5)
        self.conn.connect()
        self.ch = self.conn.channel()
        self.ch.confirm_select()
        self.published = self.acked = 0
        self.failed: list[str] = []
        self.ch.events["basic_ack"].add(self._ack)
        self.ch.events["basic_nack"].add(self._nack)
        self.ch.events["basic_return"].add(lambda exc, *a: self.failed.append(f"returned: {exc}"))

    def _ack(self, tag: int, multiple: bool) -> None:
        self.acked = max(self.acked, tag)

    def _nack(self, tag: int, multiple: bool) -> None:
        self.failed.append(f"nacked {tag}")
        self.acked = max(self.acked, tag)

    def publish_batch(self, exchange: str, bodies: list[dict]) -> None:
        import amqp

        for b in bodies:
            msg = amqp.Message(
                json.dumps(b, separators=(",", ":")),
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
                message_id=b["event_id"],
                correlation_id=b["meta"]["correlation_id"],
                application_headers={
                    "sesp.stream_id": b["stream_id"],
                    "sesp.version": b["version"],
                },
            )
            self.ch.basic_publish(msg, exchange=exchange, routing_key=b["type"], mandatory=True)
            self.published += 1
        deadline = time.monotonic() + 60
        while self.acked < self.published:
            if time.monotonic() > deadline:
                raise TimeoutError("publisher confirms did not arrive")
            try:
                self.conn.drain_events(timeout=1)
            except TimeoutError:
                continue
        if self.failed:
            raise RuntimeError(f"publishing failed: {self.failed[0]}")

    def declare(self, exchange: str, queue: str, **arguments) -> None:  # noqa: ANN003
        self.ch.exchange_declare(exchange, "topic", durable=True, auto_delete=False)
        self.ch.queue_declare(
            queue,
            durable=True,
            auto_delete=False,
            arguments={"x-queue-type": "quorum", **arguments},
        )
        self.ch.queue_bind(queue, exchange, "#")

    def delete(self, exchange: str | None = None, queues: tuple[str, ...] = ()) -> None:
        for q in queues:
            try:
                self.ch.queue_delete(q)
            except Exception:  # noqa: BLE001 - cleanup: a channel error must not hide results
                self.ch = self.conn.channel()
        if exchange:
            try:
                self.ch.exchange_delete(exchange)
            except Exception:  # noqa: BLE001
                pass

    def close(self) -> None:
        self.conn.release()


# -- children ------------------------------------------------------------------------------


def relay_child(url: str) -> dict:
    from infra.bus.relay import OutboxRelay, exchange_name
    from infra.eventstore import EventStore, NewEvent, SubjectKeys, make_engine, migrate

    from . import common
    from .eventstore import payload

    n = relay_events()
    service = f"benchrelay{uuid.uuid4().hex[:8]}"
    engine = make_engine(url)
    migrate(engine)
    store = EventStore(engine.dialect.name, SubjectKeys(os.urandom(32)))
    for start in range(0, n, 100):  # prefill: 100-event appends over 50 streams
        k = min(100, n - start)
        with engine.begin() as conn:
            store.append(
                conn,
                f"unit-bench-{start // 100 % 50}",
                None,
                [NewEvent("QualityFactRecorded", payload(1, start + i)) for i in range(k)],
            )
    pub = ConfirmPublisher(common.amqp_uri())
    queue = f"{service}-bench"
    pub.declare(exchange_name(service), queue)
    relay = OutboxRelay(
        service, make_engine(url, pool_size=2), store, common.amqp_uri(), batch_size=RELAY_BATCH
    )
    thread = threading.Thread(target=relay.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 300
    first = t_first = None
    while relay.published_total < n:
        if first is None and relay.published_total:
            first, t_first = relay.published_total, time.perf_counter()
        if time.monotonic() > deadline:
            raise TimeoutError(f"relay published {relay.published_total} of {n}")
        time.sleep(0.001)
    t1 = time.perf_counter()
    relay.stop()
    thread.join(timeout=30)
    pub.delete(exchange_name(service), (queue,))
    pub.close()
    if first is None or first >= n:
        raise RuntimeError("too few events to time the relay past its first batch")
    return {"events": n - first, "seconds": t1 - t_first, "per_s": (n - first) / (t1 - t_first)}


def raw_publish_child() -> dict:
    from . import common

    n = relay_events()
    service = f"benchraw{uuid.uuid4().hex[:8]}"
    exchange, queue = f"{service}.events", f"{service}-bench"
    bodies = [message_body(service, s, v, i + 1) for i, (s, v) in enumerate(stream_order(n, 50))]
    pub = ConfirmPublisher(common.amqp_uri())
    pub.declare(exchange, queue)
    pub.publish_batch(exchange, bodies[:RELAY_BATCH])  # warm-up: not timed
    t0 = time.perf_counter()
    for i in range(RELAY_BATCH, n, RELAY_BATCH):
        pub.publish_batch(exchange, bodies[i : i + RELAY_BATCH])
    t1 = time.perf_counter()
    pub.delete(exchange, (queue,))
    pub.close()
    done = n - RELAY_BATCH
    return {"events": done, "seconds": t1 - t0, "per_s": done / (t1 - t0)}


def consumer_child(url: str) -> dict:
    import base64

    import eventlet
    from nameko.containers import ServiceContainer
    from sqlalchemy import create_engine, func, select

    from infra import settings
    from infra.bus.dependencies import ServiceDatabase
    from infra.bus.entrypoints import dlq_name, subscribe
    from infra.eventstore.schema import processed_events

    from . import common

    # The service would otherwise write a master key file beside the data directory.
    os.environ["SESP_MASTER_KEY"] = base64.b64encode(os.urandom(32)).decode()
    n = consumer_events()
    tag = uuid.uuid4().hex[:8]
    source, sink = f"benchsrc{tag}", f"benchsink{tag}"
    applied: list[float] = []

    class Sink:
        name = sink
        db = ServiceDatabase(relay=False)

        @subscribe(source, catch_up=False)  # a bare publisher: no history to read
        def on_event(self, event):  # noqa: ANN001
            applied.append(time.perf_counter())

    config = {
        **settings.nameko_config(sink),
        "AMQP_URI": common.amqp_uri(),
        "SESP_DATABASE_URL": url,
    }
    # Start once to declare the queue (and its dead-letter queue), stop, then queue n events.
    container = ServiceContainer(Sink, config)
    container.start()
    queue = next(e.queue.name for e in container.entrypoints if hasattr(e, "queue"))
    container.stop()
    pub = ConfirmPublisher(common.amqp_uri())
    bodies = [message_body(source, s, v, i + 1) for i, (s, v) in enumerate(stream_order(n, 100))]
    for i in range(0, n, RELAY_BATCH):
        pub.publish_batch(f"{source}.events", bodies[i : i + RELAY_BATCH])

    check = create_engine(url)
    container = ServiceContainer(Sink, config)
    container.start()
    deadline = time.monotonic() + 300
    try:
        while True:
            with check.connect() as conn:
                done = conn.execute(select(func.count()).select_from(processed_events)).scalar()
            if done >= n:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"consumer applied {done} of {n}")
            eventlet.sleep(0.02)
        t1 = time.perf_counter()
    finally:
        container.stop()
        check.dispose()
        pub.delete(f"{source}.events", (queue, dlq_name(sink)))
        pub.close()
    t0 = applied[0]
    return {
        "events": n - 1,
        "seconds": t1 - t0,
        "per_s": (n - 1) / (t1 - t0),
        "max_workers": container.max_workers,
    }


def raw_consume_child() -> dict:
    from . import common

    n = consumer_events()
    tag = uuid.uuid4().hex[:8]
    exchange, queue = f"benchrawsrc{tag}.events", f"benchrawsink{tag}"
    pub = ConfirmPublisher(common.amqp_uri())
    pub.declare(exchange, queue)
    bodies = [
        message_body("benchrawsrc", s, v, i + 1) for i, (s, v) in enumerate(stream_order(n, 100))
    ]
    for i in range(0, n, RELAY_BATCH):
        pub.publish_batch(exchange, bodies[i : i + RELAY_BATCH])

    import kombu

    conn = kombu.Connection(common.amqp_uri(), heartbeat=0)
    conn.connect()
    ch = conn.channel()
    ch.basic_qos(0, max_workers(), False)
    stamps: list[float] = []

    def on_message(msg) -> None:  # noqa: ANN001
        json.loads(msg.body)
        ch.basic_ack(msg.delivery_tag)
        stamps.append(time.perf_counter())

    ch.basic_consume(queue, callback=on_message)
    deadline = time.monotonic() + 120
    while len(stamps) < n:
        if time.monotonic() > deadline:
            raise TimeoutError(f"raw consumer got {len(stamps)} of {n}")
        try:
            conn.drain_events(timeout=1)
        except TimeoutError:
            continue
    conn.release()
    pub.delete(exchange, (queue,))
    pub.close()
    return {
        "events": n - 1,
        "seconds": stamps[-1] - stamps[0],
        "per_s": (n - 1) / (stamps[-1] - stamps[0]),
        "prefetch": max_workers(),
    }


def child(argv: list[str]) -> None:
    from . import common

    kind = argv[0]
    if kind == "relay":
        result = relay_child(argv[1])
    elif kind == "raw-publish":
        result = raw_publish_child()
    elif kind == "consumer":
        result = consumer_child(argv[1])
    elif kind == "raw-consume":
        result = raw_consume_child()
    else:
        raise SystemExit(f"unknown bus child {kind!r}")
    common.emit(result)


# -- rows (parent side) --------------------------------------------------------------------


def _available(module: str, names: tuple[str, ...]) -> str | None:
    import importlib

    try:
        mod = importlib.import_module(module)
    except Exception as exc:  # noqa: BLE001
        return f"{module} does not import: {exc}"
    missing = [n for n in names if not hasattr(mod, n)]
    return f"{module} lacks {', '.join(missing)}" if missing else None


def _measure(kind: str, db: bool) -> dict:
    from . import common

    if db:
        with common.fresh_pg_database(kind.replace("-", "_")) as url:
            return common.run_child("bench.bus", [kind, url], timeout=400)
    return common.run_child("bench.bus", [kind], timeout=400)


def rows(log=print) -> tuple[list, dict]:  # noqa: ANN001
    from . import common
    from .common import Row
    from .eventstore import rounds

    problem = common.pg_available()
    if problem:
        raise RuntimeError(problem)
    out: list[Row] = []
    pairs = [
        # (ours, limit, needs (module, names), label, limit label)
        (
            "relay",
            "raw-publish",
            ("infra.bus.relay", ("OutboxRelay",)),
            "outbox relay publish (PostgreSQL -> quorum queue)",
            f"raw kombu publish, confirms per {RELAY_BATCH} (limit)",
        ),
        (
            "consumer",
            "raw-consume",
            ("infra.bus.entrypoints", ("subscribe",)),
            "idempotent consumer apply (PostgreSQL)",
            f"raw consume + ack, prefetch {max_workers()} (limit)",
        ),
    ]
    for ours, limit, (module, names), label, limit_label in pairs:
        missing = _available(module, names)
        got: dict[str, dict] = {}
        # The relay's windows are short (1-3 s) and the broker is shared: one more round.
        for r in range(rounds() + (1 if ours == "relay" else 0)):
            kinds = [limit] if missing else ([ours, limit] if r % 2 == 0 else [limit, ours])
            for kind in kinds:
                res = _measure(kind, db=kind in ("relay", "consumer"))
                log(
                    f"  {kind}, round {r + 1}: {res['per_s']:,.0f} events/s "
                    f"({res['events']} in {res['seconds']:.2f} s)"
                )
                if res["per_s"] > got.get(kind, {}).get("per_s", -1):
                    got[kind] = res
        if missing:
            # TODO(bench): the row for our side appears once the module offers the API above.
            log(f"  TODO: {ours} row skipped ({missing}); limit measured only")
            continue
        out.append(Row.of(label, got[ours]["per_s"], "events/s", limit_label, got[limit]["per_s"]))
    return out, {}


if __name__ == "__main__":
    child(sys.argv[1:])
