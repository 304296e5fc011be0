"""The kernel's event entrypoint: ``subscribe(source)`` consumes every event the ``source``
service publishes, exactly once in effect and in stream order:
- a quorum queue per handler, with a delivery limit and a dead-letter exchange: a message that
  keeps failing is retried with back-off a bounded number of times, then parked in
  ``<service>.dlq`` while the consumer goes on (``sesp dlq list|replay``);
- before a worker is spawned the consumer's last applied version of the source stream is
  checked: an older or equal version is a redelivery (acked, no effect); a newer one beyond the
  next is a gap: it waits in the process when its predecessor is being handled there (a burst
  of one stream), else it goes back to the queue and comes back; it is never skipped;
- the version bump and the processed event id are written in the handler's own transaction, as
  a compare-and-set, so two racing deliveries cannot both apply.
"""

from __future__ import annotations

import logging
import sys
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import eventlet
import kombu
from eventlet.event import Event
from nameko.events import EventHandler
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import Consumer
from sqlalchemy import insert, select, update

from infra.bus.dependencies import ServiceDatabase, commit_worker, service_database
from infra.eventstore import ConcurrencyError
from infra.eventstore.schema import consumer_streams, processed_events
from infra.eventstore.store import to_db, utcnow

log = logging.getLogger("sesp.bus")

DLX = "sesp.dlx"


def dlq_name(service: str) -> str:
    return f"{service}.dlq"


@dataclass(frozen=True)
class IncomingEvent:
    """An event another service published, as a handler receives it."""

    service: str
    event_id: str
    stream_id: str
    version: int
    position: int
    type: str
    schema_version: int
    data: dict[str, Any]
    meta: dict[str, Any]
    occurred_at: datetime

    @classmethod
    def from_message(cls, body: dict[str, Any]) -> IncomingEvent:
        return cls(
            service=body["service"],
            event_id=body["event_id"],
            stream_id=body["stream_id"],
            version=int(body["version"]),
            position=int(body.get("position") or 0),
            type=body["type"],
            schema_version=int(body.get("schema_version", 1)),
            data=body.get("data") or {},
            meta=body.get("meta") or {},
            occurred_at=datetime.fromisoformat(body["occurred_at"]),
        )


# Streams whose last applied version a consumer keeps in memory (the least recently used are
# forgotten and read from ``consumer_streams`` again when their next event comes).
APPLIED_CACHE_SIZE = 100_000


class AppliedVersions:
    """Last applied version per source stream, bounded: least recently used entries go
    first. Only a cache; the compare-and-set on ``consumer_streams`` stays the authority."""

    def __init__(self, size: int):
        self.size = size
        self._versions: OrderedDict[str, int] = OrderedDict()

    def __contains__(self, key: str) -> bool:
        return key in self._versions

    def __len__(self) -> int:
        return len(self._versions)

    def __getitem__(self, key: str) -> int:
        self._versions.move_to_end(key)
        return self._versions[key]

    def get(self, key: str, default: int = 0) -> int:
        return self[key] if key in self._versions else default

    def __setitem__(self, key: str, version: int) -> None:
        self._versions[key] = version
        self._versions.move_to_end(key)
        while len(self._versions) > self.size:
            self._versions.popitem(last=False)

    def pop(self, key: str, default: int | None = None) -> int | None:
        return self._versions.pop(key, default)


class OutOfOrder(Exception):
    """An event arrived before an earlier one of its stream: it must wait."""


class EventSubscriber(EventHandler):
    """Consume all events of ``source_service`` (see the module docstring)."""

    def __init__(self, source_service: str, max_attempts: int = 8, **kwargs):
        self.max_attempts = max_attempts
        super().__init__(source_service, "#", **kwargs)

    @property
    def consumer_name(self) -> str:
        return f"{self.container.service_name}.{self.method_name}"

    def setup(self) -> None:
        from nameko.standalone.events import get_event_exchange

        service = self.container.service_name
        exchange = get_event_exchange(self.source_service, self.container.config)
        self.queue = kombu.Queue(
            f"evt-{self.source_service}--{service}.{self.method_name}",
            exchange=exchange,
            routing_key="#",
            durable=True,
            queue_arguments={
                "x-queue-type": "quorum",
                # the broker counts deliveries; past the limit it dead-letters the message
                "x-delivery-limit": self.max_attempts - 1,
                "x-dead-letter-exchange": DLX,
                "x-dead-letter-routing-key": dlq_name(service),
                # one consumer at a time per handler: replicas stand by, so the events of a
                # stream are applied by one process, in order (no retries burnt on gaps)
                "x-single-active-consumer": True,
            },
        )
        self._declare_dlq()
        # (stream key, version) -> set when this process is done with that event's message
        self._here: dict[tuple[str, int], Event] = {}
        # Last applied version per source stream, as committed by this process. The queue has
        # a single active consumer, so this is usually the truth; the compare-and-set in
        # ``_record`` stays the authority (a stale entry fails it, and is dropped).
        self._applied = AppliedVersions(APPLIED_CACHE_SIZE)
        Consumer.setup(self)

    def _declare_dlq(self) -> None:
        service = self.container.service_name
        with kombu.Connection(self.container.config["AMQP_URI"]) as conn:
            ch = conn.channel()
            dlx = kombu.Exchange(DLX, type="direct", durable=True)
            kombu.Queue(
                dlq_name(service), exchange=dlx, routing_key=dlq_name(service), durable=True
            )(ch).declare()

    # -- delivery ------------------------------------------------------------------------

    def handle_message(self, body, message):
        try:
            event = IncomingEvent.from_message(body)
        except (KeyError, TypeError, ValueError):
            log.error("malformed event message on %s: dead-lettered", self.queue.name)
            message.reject(requeue=False)
            return
        key = self._key(event)
        # Each message runs in its own green thread. Events of one stream usually arrive in a
        # burst (a relay batch): a message whose predecessor is being handled in this process
        # waits for it here instead of going back to the queue, where every return counts
        # against the delivery limit (a burst of 10 would dead-letter its tail). Another copy
        # of the same event being handled here is waited for too (then it is a redelivery).
        while (key, event.version) in self._here:
            self._here[key, event.version].wait()
        done = self._here[key, event.version] = Event()
        spawned = False
        try:
            while True:
                last = self._last_applied(key)
                if event.version <= last:
                    self.queue_consumer.ack_message(message)  # a redelivery: already applied
                    return
                if event.version == last + 1:
                    break
                before = self._here.get((key, event.version - 1))
                if before is None and self._attempt(message) > 1 and self._backfill(event, last):
                    continue  # the missing versions were fetched and applied: look again
                if before is None:  # not here: the gap fills from the queue, or by backfill
                    self._applied.pop(key, None)  # look in the database next time
                    self._retry_later(
                        message,
                        OutOfOrder(
                            f"{event.stream_id} v{event.version} arrived before v{last + 1}"
                        ),
                    )
                    return
                before.wait()  # then look again: applied, or gone back to the queue
            self.container.spawn_worker(
                self,
                (event,),
                {},
                context_data=self.unpack_message_headers(message),
                handle_result=lambda worker_ctx, result, exc_info: self.handle_result(
                    message, event, worker_ctx, result, exc_info, done
                ),
            )
            spawned = True
        except ContainerBeingKilled:
            self.queue_consumer.requeue_message(message)
        finally:
            if not spawned:
                self._done_here(key, event.version, done)

    @staticmethod
    def _attempt(message) -> int:
        return int((message.headers or {}).get("x-delivery-count") or 0) + 1

    def _backfill(self, event: IncomingEvent, last: int) -> bool:
        """Fetch the versions between ``last`` and ``event`` from the source and apply them.

        A gap that the queue did not fill on the first wait is history this consumer never
        received: it started after the source, or the messages were unroutable then. The source
        serves its stream over RPC (``read_stream``); each missing event is applied like a
        delivered one (same worker, same bookkeeping). True when the gap is closed.
        """
        from nameko.standalone.rpc import ClusterRpcProxy

        try:
            with ClusterRpcProxy(self.container.config, timeout=30) as rpc:
                history = getattr(rpc, event.service).read_stream(event.stream_id, last)
        except Exception as exc:  # the source is down: wait and try again later
            log.warning(
                "%s: backfill of %s from %s failed: %s",
                self.queue.name,
                event.stream_id,
                event.service,
                exc,
            )
            return False
        missing = [
            IncomingEvent.from_message(m)
            for m in history
            if last < int(m["version"]) < event.version
        ]
        if [m.version for m in missing] != list(range(last + 1, event.version)):
            return False
        log.info(
            "%s: backfilling %s v%d-v%d from %s",
            self.queue.name,
            event.stream_id,
            last + 1,
            event.version - 1,
            event.service,
        )
        for missing_event in missing:
            finished = Event()

            def result(worker_ctx, res, exc_info, ev=missing_event, finished=finished):
                if exc_info is None:
                    try:
                        self._record(worker_ctx, ev)
                        commit_worker(self.container, worker_ctx)
                    except Exception:
                        exc_info = sys.exc_info()
                if exc_info is None:
                    self._applied[self._key(ev)] = ev.version
                else:
                    self._applied.pop(self._key(ev), None)
                finished.send(exc_info is None)
                return res, exc_info

            self.container.spawn_worker(self, (missing_event,), {}, handle_result=result)
            if not finished.wait():
                return False
        return True

    def _database(self) -> ServiceDatabase:
        db = service_database(self.container)
        if db is None:
            raise RuntimeError(f"{self.consumer_name}: the service has no ServiceDatabase")
        return db

    def _last_applied(self, key: str) -> int:
        if key in self._applied:
            return self._applied[key]
        db = self._database()
        with db.engine.connect() as conn:
            last = conn.execute(
                select(consumer_streams.c.version).where(
                    consumer_streams.c.consumer == self.consumer_name,
                    consumer_streams.c.stream_id == key,
                )
            ).scalar()
            conn.rollback()
        # Never move the cache backwards: a worker may have committed (and cached) a newer
        # version while this read was in flight.
        last = max(self._applied.get(key, 0), last or 0)
        self._applied[key] = last
        return last

    def _done_here(self, key: str, version: int, done: Event) -> None:
        if self._here.get((key, version)) is done:
            del self._here[key, version]
        done.send()

    @staticmethod
    def _key(event: IncomingEvent) -> str:
        return f"{event.service}:{event.stream_id}"

    def handle_result(self, message, event, worker_ctx, result, exc_info, done=None):
        try:
            if exc_info is None:
                try:
                    self._record(worker_ctx, event)
                    commit_worker(self.container, worker_ctx)
                except Exception:
                    exc_info = sys.exc_info()
            if exc_info is None:
                self._applied[self._key(event)] = event.version
                self.queue_consumer.ack_message(message)
            else:
                self._applied.pop(self._key(event), None)
                self._retry_later(message, exc_info[1])
        finally:  # after the commit: a successor waiting for this event now sees it applied
            if done is not None:
                self._done_here(self._key(event), event.version, done)
        return result, exc_info

    def _record(self, worker_ctx, event: IncomingEvent) -> None:
        """Version compare-and-set plus the processed event id, in the handler's transaction."""
        db = self._database()
        conn = db.units[worker_ctx].conn
        key = self._key(event)
        if event.version == 1:
            conn.execute(
                insert(consumer_streams).values(
                    consumer=self.consumer_name, stream_id=key, version=1
                )
            )
        else:
            moved = conn.execute(
                update(consumer_streams)
                .where(
                    consumer_streams.c.consumer == self.consumer_name,
                    consumer_streams.c.stream_id == key,
                    consumer_streams.c.version == event.version - 1,
                )
                .values(version=event.version)
            ).rowcount
            if moved != 1:
                raise ConcurrencyError(key, event.version - 1, None)
        conn.execute(
            insert(processed_events).values(
                consumer=self.consumer_name, event_id=event.event_id, processed_at=to_db(utcnow())
            )
        )

    def _retry_later(self, message, exc) -> None:
        headers = message.headers or {}
        attempt = int(headers.get("x-delivery-count") or 0) + 1
        delay = min(0.1 * 2 ** (attempt - 1), 3.0)
        log.warning(
            "%s: attempt %d of %s failed (%s); back in %.1fs",
            self.queue.name,
            attempt,
            self.max_attempts,
            exc,
            delay,
        )
        # The broker dead-letters it once the delivery limit is reached.
        eventlet.spawn_after(delay, self.queue_consumer.requeue_message, message)


subscribe = EventSubscriber.decorator
