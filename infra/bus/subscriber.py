"""The kernel's event entrypoint: ``subscribe(source)`` consumes every event the ``source``
service publishes, exactly once in effect and in stream order, whenever the consumer started:

- **catch-up, then live**: a quorum queue per handler, declared and bound before anything else;
  then the source's history is read from the consumer's checkpoint over the source's
  ``read_all`` RPC up to where the queue takes over (``catchup``). A new consumer (or a read
  model started from zero under a new handler name) applies the whole history.
- **order and exactly-once**: before a worker is spawned the consumer's last applied version of
  the source stream is checked: older or equal is a duplicate (no effect); the next one is
  applied; one further ahead waits in-process when its predecessor is being applied here, else
  it is held in ``consumer_pending`` (and its message acked) until the predecessor is applied,
  from the queue, from history or from holding. The version bump and the processed event id
  are written in the handler's own transaction, as a compare-and-set, so two racing
  deliveries cannot both apply.
- **outages are waited out**: a failure that says the database, the broker or the source is
  unreachable (``outages.is_outage``) is retried with back-off for as long as it lasts, the
  message kept unacked, without counting as an attempt.
- **only poison is dead-lettered**: the handler's own failures are retried with back-off and
  counted; at ``max_attempts`` the event is dead-lettered into the quorum queue
  ``<service>.dlq`` (at-least-once) and its stream is parked (``consumer_parked``): its later
  events are held without running the poison again, every other stream flows. Replaying the
  dead letter (``sesp dlq replay``) applies it and releases the held events in order.
- **nothing ends the container**: an unexpected error handling one message is logged and the
  message goes back to the queue; ``health()`` reports the counters (``KernelService.health``).
"""

from __future__ import annotations

import logging
import sys
from collections import Counter, OrderedDict
from dataclasses import asdict, dataclass
from typing import Any

import amqp.exceptions
import eventlet
import kombu
from eventlet.event import Event
from nameko.events import EventHandler
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import Consumer
from sqlalchemy import Integer, String, column, insert, select, update, values

from infra.bus import consumer_state
from infra.bus.catchup import CatchUp
from infra.bus.dependencies import ServiceDatabase, commit_worker, service_database
from infra.bus.incoming import IncomingEvent, Origin, Outcome, Stopping
from infra.bus.outages import OUTAGE_TYPES, Backoff, Repeats, is_outage, pause, unlogged_note
from infra.eventstore import ConcurrencyError
from infra.eventstore.schema import consumer_streams, processed_events
from infra.eventstore.store import to_db, utcnow

__all__ = ["EventSubscriber", "IncomingEvent", "dlq_name", "subscribe"]

log = logging.getLogger("sesp.bus")

DLX = "sesp.dlx"
# Headers of an event the consumer dead-lettered itself (met in history or in holding: there
# was no message for the broker to dead-letter): the queue a replay sends it to, and why.
ORIGIN_HEADER = "sesp-dead-letter-queue"
REASON_HEADER = "sesp-dead-letter-reason"

# The broker's own count of deliveries. The consumer counts a handler's failures itself and
# dead-letters at ``max_attempts``; the broker's count also grows each time a connection drops
# with the message unacked (an outage), so its limit is only a backstop against a message that
# kills its consumer process every time.
DELIVERY_LIMIT = 50

MIGRATION_HINT = (
    "replay or move its letters (sesp dlq replay with the previous version running), delete "
    "it, and start again: see 'Changing queue arguments' in docs/operations.md"
)

# Back-off while infrastructure is unreachable: first delay and cap, in seconds (the end of an
# outage is noticed within the cap).
OUTAGE_BACKOFF = (0.2, 5.0)


def dlq_name(service: str) -> str:
    return f"{service}.dlq"


def queue_arguments(service: str) -> dict[str, Any]:
    """Arguments of a consumer's queue (one declared with others is recreated at start)."""
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": DELIVERY_LIMIT,
        "x-dead-letter-exchange": DLX,
        "x-dead-letter-routing-key": dlq_name(service),
        # The dead-letter queue confirms a letter before it leaves this queue (a broker crash in
        # between cannot lose it); at-least-once needs reject-publish, or the broker falls back
        # to at-most-once.
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
        # One consumer at a time per handler: replicas stand by, so the events of a stream are
        # applied by one process, in order (no waiting on another process's predecessor).
        "x-single-active-consumer": True,
    }


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


@dataclass
class Counters:
    """Since the process started; ``health()`` reports them."""

    applied: int = 0
    duplicates: int = 0
    held: int = 0  # events put in holding (ahead of their predecessor)
    outage_retries: int = 0  # waits on the database, broker or source: not attempts
    handler_failures: int = 0  # the handler's own failures: these count toward dead-lettering
    dead_lettered: int = 0


class EventSubscriber(EventHandler):
    """Consume all events of ``source_service`` (see the module docstring).

    ``catch_up=False`` only for a source that is not a kernel service (it has no ``read_all``):
    such a consumer hears only what is published while its queue exists.
    """

    def __init__(
        self,
        source_service: str,
        max_attempts: int = 8,
        catch_up: bool = True,
        page_size: int = 500,
        **kwargs,
    ):
        self.max_attempts = max_attempts
        self.catch_up_enabled = catch_up
        self.page_size = page_size
        # nameko logs a worker's expected exceptions as one warning line, not a traceback per
        # message: during an outage every message fails the same way.
        kwargs.setdefault("expected_exceptions", OUTAGE_TYPES)
        super().__init__(source_service, "#", **kwargs)

    @property
    def consumer_name(self) -> str:
        return f"{self.container.service_name}.{self.method_name}"

    # -- life cycle ----------------------------------------------------------------------

    def setup(self) -> None:
        from nameko.standalone.events import get_event_exchange

        service = self.container.service_name
        exchange = get_event_exchange(self.source_service, self.container.config)
        self.queue = kombu.Queue(
            f"evt-{self.source_service}--{service}.{self.method_name}",
            exchange=exchange,
            routing_key="#",
            durable=True,
            queue_arguments=queue_arguments(service),
        )
        self.queue_existed = self._declare()
        # (stream key, version) -> set when this process is done with that event
        self._here: dict[tuple[str, int], Event] = {}
        # Last applied version per source stream, as committed by this process (the queue has
        # a single active consumer, so this is usually the truth; the compare-and-set in
        # ``_record`` stays the authority: a stale entry fails it, and is dropped).
        self._applied = AppliedVersions(APPLIED_CACHE_SIZE)
        self._pending: dict[str, set[int]] = {}  # held versions per stream (consumer_pending)
        self._parked: dict[str, int] = {}  # stream -> dead-lettered version (consumer_parked)
        self._failures: Counter[str] = Counter()  # event id -> the handler's failures so far
        self.counters = Counters()
        self._outage_lines = Repeats()
        self.stopping = False
        self.stop_event = Event()
        self._ready = Event()
        self.catch_up = CatchUp(self, self.page_size)
        self._runner: Any = None  # eventlet GreenThread (untyped)
        Consumer.setup(self)

    def _declare(self) -> bool:
        """Declare the dead-letter queue, then this handler's queue, bound: every event the
        source publishes from now on reaches it, before any history is read. True when the
        queue was there already."""
        service = self.container.service_name
        with kombu.Connection(self.container.config["AMQP_URI"]) as conn:
            dlx = kombu.Exchange(DLX, type="direct", durable=True)
            dlq = kombu.Queue(
                dlq_name(service),
                exchange=dlx,
                routing_key=dlq_name(service),
                durable=True,
                queue_arguments={"x-queue-type": "quorum"},
            )
            # A queue an older version declared with other arguments is recreated (RabbitMQ
            # refuses to redeclare it): the consumer's queue at once, since catch-up reads
            # from history whatever it held; the dead-letter queue only when it is empty (its
            # letters exist nowhere else: then the operator replays them first).
            if not self._declare_or_recreate(conn, dlq, keep_if_holding=True):
                log.warning("%s: recreated the dead-letter queue %s", self.consumer_name, dlq.name)
            ch = conn.channel()
            try:
                ch.queue_declare(self.queue.name, passive=True)
                existed = True
            except amqp.exceptions.NotFound:
                existed = False
            if not self._declare_or_recreate(conn, self.queue, keep_if_holding=False):
                log.warning(
                    "%s: queue %s was declared by an older version with other arguments: "
                    "recreated; catch-up reads from history what it held",
                    self.consumer_name,
                    self.queue.name,
                )
                existed = False
        return existed

    def _declare_or_recreate(self, conn, queue: kombu.Queue, keep_if_holding: bool) -> bool:
        """Declare ``queue``; False when it had to be deleted and declared again because it
        existed with other arguments. With ``keep_if_holding``, a queue holding messages is
        not deleted: the start fails with ``MIGRATION_HINT``."""
        try:
            queue(conn.channel()).declare()
            return True
        except amqp.exceptions.PreconditionFailed:
            pass
        ch = conn.channel()  # the refused declare closed its channel
        _, waiting, _ = ch.queue_declare(queue.name, passive=True)
        if keep_if_holding and waiting:
            log.error(
                "%s: %s holds %d message(s) and has other arguments than this version declares; %s",
                self.consumer_name,
                queue.name,
                waiting,
                MIGRATION_HINT,
            )
            raise amqp.exceptions.PreconditionFailed(f"{queue.name}: inequivalent arguments")
        ch.queue_delete(queue.name)
        queue(conn.channel()).declare()
        return False

    def start(self) -> None:
        self._runner = self.container.spawn_managed_thread(
            self._run, identifier=f"{self.consumer_name}.catch_up"
        )

    def _run(self) -> None:
        """Load what waits from the last run, release what can go, then catch up."""
        db = self.database()
        try:
            self._pending = self.retrying(
                "read held events",
                lambda: consumer_state.pending_index(db.engine, self.consumer_name),
            )
            self._parked = self.retrying(
                "read parked streams", lambda: consumer_state.parked(db.engine, self.consumer_name)
            )
            self._ready.send()
            for key in list(self._pending):  # a predecessor applied just before a crash
                self._kick(key, self.retrying("read a version", lambda k=key: self._last(k)))
        except Stopping:
            return
        finally:
            if not self._ready.ready():
                self._ready.send()
        if self.catch_up_enabled:
            self.catch_up.run()
        else:
            self.catch_up.state = "off"

    def stop(self) -> None:
        self.stopping = True
        if not self.stop_event.ready():
            self.stop_event.send()
        if self._runner is not None:
            try:
                self._runner.wait()
            except Exception:  # its failure was logged where it happened
                pass
        super().stop()

    # -- live messages -------------------------------------------------------------------

    def handle_message(self, body, message):
        """One message from the queue, in its own green thread. Never raises: an exception
        here would end the container, and every consumer in it."""
        try:
            self._handle_live(body, message)
        except Exception:
            log.exception(
                "%s: failed to handle a message; it goes back to the queue", self.queue.name
            )
            eventlet.spawn_after(1.0, self.queue_consumer.requeue_message, message)

    def _handle_live(self, body, message) -> None:
        self._ready.wait()
        try:
            event = IncomingEvent.from_message(body)
        except (KeyError, TypeError, ValueError):
            log.error("malformed event message on %s: dead-lettered", self.queue.name)
            self.counters.dead_lettered += 1
            self._reject(message)
            return
        outcome = self.deliver(event, Origin.LIVE, self.unpack_message_headers(message))
        if outcome is Outcome.POISON:
            self._reject(message)  # the broker moves it to the dead-letter queue
        elif outcome is Outcome.STOPPING:
            self.queue_consumer.requeue_message(message)
        else:
            self.queue_consumer.ack_message(message)

    @staticmethod
    def _reject(message) -> None:
        if message.channel.connection:  # else the broker has taken it back already
            try:
                message.reject(requeue=False)
            except ConnectionError:
                pass

    # -- delivery (live, catch-up and held events alike) ---------------------------------

    def deliver(
        self, event: IncomingEvent, origin: Origin, context_data: dict | None = None
    ) -> Outcome:
        """Apply ``event`` if it is its stream's next, once; see ``Outcome`` for the rest."""
        key = self.key(event)
        # Each delivery runs in its own green thread. Another copy of the same event being
        # handled here (a redelivery, or the same event from history) is waited for: then it
        # is a duplicate.
        while (key, event.version) in self._here:
            self._here[key, event.version].wait()
        done = self._here[key, event.version] = Event()
        try:
            return self._deliver(event, key, origin, context_data)
        finally:
            if self._here.get((key, event.version)) is done:
                del self._here[key, event.version]
            done.send()

    def _deliver(
        self, event: IncomingEvent, key: str, origin: Origin, context_data: dict | None
    ) -> Outcome:
        outages = Backoff(*OUTAGE_BACKOFF)
        while True:
            if self.stopping:
                return Outcome.STOPPING
            try:
                last = self._last(key)
                if event.version <= last:
                    if origin is Origin.PENDING:
                        self._drop_held(key, event.version)
                    self.counters.duplicates += 1
                    return Outcome.DUPLICATE
                if event.version > last + 1:
                    before = self._here.get((key, event.version - 1))
                    if before is not None:  # being applied here (a burst of one stream)
                        before.wait()
                        continue
                    return self._hold(event, key, origin)
                if origin is Origin.CATCH_UP and self._parked.get(key) == event.version:
                    return Outcome.PARKED  # it waits in the dead-letter queue, not run again
                failure = self._apply([event], origin, context_data)
                if failure is None:
                    return self._applied_now(event, key, origin)
                self._applied.pop(key, None)
                if isinstance(failure, ConcurrencyError) and self._last(key) >= event.version:
                    continue  # another delivery applied it first: a duplicate now
                raise failure
            except (Stopping, ContainerBeingKilled):
                return Outcome.STOPPING
            except Exception as exc:
                if is_outage(exc):
                    self._wait_out(exc, f"apply {event.stream_id} v{event.version}", outages)
                    continue
                attempts = self._failures[event.event_id] = self._failures[event.event_id] + 1
                self.counters.handler_failures += 1
                if attempts >= self.max_attempts:
                    return self._give_up(event, key, origin, exc)
                delay = min(0.1 * 2 ** (attempts - 1), 3.0)
                log.warning(
                    "%s: %s v%d failed (attempt %d of %d: %s: %s); again in %.1fs",
                    self.consumer_name,
                    event.stream_id,
                    event.version,
                    attempts,
                    self.max_attempts,
                    type(exc).__name__,
                    exc,
                    delay,
                )
                pause(delay, self.stop_event)

    def _apply(
        self, events: list[IncomingEvent], origin: Origin, context_data: dict | None = None
    ) -> BaseException | None:
        """Run the handler in one worker for each event, in order, recording each; commit
        once. The failure (nothing is committed then), or None."""
        finished: Event = Event()

        def result(worker_ctx, res, exc_info):
            if exc_info is None:
                try:
                    # Further events of a batch run in the same worker, so in the same
                    # transaction (the worker's dependencies are torn down only after this).
                    handler = getattr(worker_ctx.service, self.method_name)
                    for event in events[1:]:
                        handler(event)
                    if len(events) == 1:
                        self._record(worker_ctx, events[0], origin)
                    else:
                        self._record_batch(self.database().units[worker_ctx].conn, events)
                    commit_worker(self.container, worker_ctx)
                except Exception:
                    exc_info = sys.exc_info()
            finished.send(None if exc_info is None else exc_info[1])
            return res, exc_info

        self.container.spawn_worker(
            self, (events[0],), {}, context_data=context_data, handle_result=result
        )
        return finished.wait()

    def apply_batch(self, events: list[IncomingEvent]) -> bool:
        """Apply events from history in one transaction: each must be its stream's next
        version, in order, a stream's events together. False when any is not, or anything
        fails: nothing was applied then, and each goes through ``deliver`` (where failures
        are told apart and counted). One commit per batch instead of per event is what makes
        reading a long history fast."""
        marks: list[tuple[tuple[str, int], Event]] = []
        try:
            expected: dict[str, int] = {}
            for ev in events:
                key = self.key(ev)
                if key not in expected:
                    expected[key] = self._applied.get(key, -1) + 1  # primed: no query here
                if (
                    ev.version != expected[key]
                    or (key, ev.version) in self._here
                    or self._parked.get(key) == ev.version
                ):
                    return False
                expected[key] += 1
                marks.append(((key, ev.version), Event()))
            for mark, done in marks:
                self._here[mark] = done
            failure = None if self.stopping else self._apply(events, Origin.CATCH_UP)
            if self.stopping or failure is not None:
                for key in expected:
                    self._applied.pop(key, None)
                log.debug("%s: a batch of history failed (%r)", self.queue.name, failure)
                return False
            for ev in events:
                self._applied_now(ev, self.key(ev), Origin.CATCH_UP)
            return True
        except ContainerBeingKilled:
            return False
        finally:
            for mark, done in marks:
                if self._here.get(mark) is done:
                    del self._here[mark]
                done.send()

    def _applied_now(self, event: IncomingEvent, key: str, origin: Origin) -> Outcome:
        self._applied[key] = event.version
        self.counters.applied += 1
        self._failures.pop(event.event_id, None)
        if origin is Origin.PENDING:
            self._unindex(key, event.version)
        if self._parked.get(key) == event.version:
            del self._parked[key]
            log.info(
                "%s: %s v%d applied; the stream flows again",
                self.consumer_name,
                event.stream_id,
                event.version,
            )
        self._kick(key, event.version)
        return Outcome.APPLIED

    def _record(self, worker_ctx, event: IncomingEvent, origin: Origin) -> None:
        """Version compare-and-set plus the processed event id, in the handler's transaction;
        a held event leaves holding, a parked stream is released, in the same commit."""
        conn = self.database().units[worker_ctx].conn
        key = self.key(event)
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
        if origin is Origin.PENDING:
            consumer_state.drop_pending(conn, self.consumer_name, key, event.version)
        if self._parked.get(key) == event.version:
            consumer_state.unpark(conn, self.consumer_name, key)

    def _record_batch(self, conn, events: list[IncomingEvent]) -> None:
        """``_record`` for a batch of history, in a few statements: each stream moves from
        the version before its first event to its last one, by one compare-and-set."""
        runs: dict[str, tuple[int, int]] = {}
        for ev in events:
            key = self.key(ev)
            first = runs[key][0] if key in runs else ev.version
            runs[key] = (first, ev.version)
        consumer = self.consumer_name
        new = [
            {"consumer": consumer, "stream_id": k, "version": last}
            for k, (first, last) in runs.items()
            if first == 1
        ]
        moving = [(k, first - 1, last) for k, (first, last) in runs.items() if first > 1]
        if new:
            conn.execute(insert(consumer_streams), new)
        if moving and conn.dialect.name == "postgresql":
            v = values(
                column("stream_id", String),
                column("old", Integer),
                column("new", Integer),
                name="v",
            ).data(moving)
            moved = conn.execute(
                update(consumer_streams)
                .where(
                    consumer_streams.c.consumer == consumer,
                    consumer_streams.c.stream_id == v.c.stream_id,
                    consumer_streams.c.version == v.c.old,
                )
                .values(version=v.c.new)
            ).rowcount
        else:  # SQLite has no VALUES list with named columns to update from
            moved = sum(
                conn.execute(
                    update(consumer_streams)
                    .where(
                        consumer_streams.c.consumer == consumer,
                        consumer_streams.c.stream_id == k,
                        consumer_streams.c.version == old,
                    )
                    .values(version=last)
                ).rowcount
                for k, old, last in moving
            )
        if moved != len(moving):  # some stream moved meanwhile: the batch goes one by one
            raise ConcurrencyError(moving[0][0], moving[0][1], None)
        now = to_db(utcnow())
        conn.execute(
            insert(processed_events),
            [{"consumer": consumer, "event_id": ev.event_id, "processed_at": now} for ev in events],
        )

    # -- holding: events ahead of their predecessor --------------------------------------

    def _hold(self, event: IncomingEvent, key: str, origin: Origin) -> Outcome:
        """Keep the event in the database until its predecessor is applied (the message is
        acked: waiting must not hold the queue or spend the event's attempts)."""
        if origin is not Origin.PENDING:
            engine = self.database().engine
            consumer_state.hold(
                engine, self.consumer_name, key, event.version, event.event_id, event.to_message()
            )
            self._pending.setdefault(key, set()).add(event.version)
            self.counters.held += 1
        # The predecessor may have been applied while this was written: look once more.
        self._kick(key, self._last(key))
        return Outcome.HELD

    def _kick(self, key: str, last: int) -> None:
        """Release the held successor of ``last``, if there is one."""
        following = last + 1
        if (
            following in self._pending.get(key, ())
            and (key, following) not in self._here
            and not self.stopping
        ):
            self.container.spawn_managed_thread(
                lambda: self._release(key, following),
                identifier=f"{self.consumer_name}.release",
            )

    def _release(self, key: str, version: int) -> None:
        try:
            engine = self.database().engine
            body = self.retrying(
                "read a held event",
                lambda: consumer_state.pending_body(engine, self.consumer_name, key, version),
            )
            if body is None:  # released by another delivery meanwhile
                self._unindex(key, version)
                return
            self.deliver(IncomingEvent.from_message(body), Origin.PENDING)
        except Stopping:
            return
        except Exception:
            log.exception("%s: failed to release %s v%d", self.consumer_name, key, version)

    def _drop_held(self, key: str, version: int) -> None:
        engine = self.database().engine
        consumer_state.drop_pending_now(engine, self.consumer_name, key, version)
        self._unindex(key, version)

    def _unindex(self, key: str, version: int) -> None:
        versions = self._pending.get(key)
        if versions is not None:
            versions.discard(version)
            if not versions:
                del self._pending[key]

    # -- poison --------------------------------------------------------------------------

    def _give_up(self, event: IncomingEvent, key: str, origin: Origin, exc: Exception) -> Outcome:
        """Dead-letter the event and park its stream: later events wait in holding without
        running the poison again, until the dead letter is replayed and applied."""
        reason = f"{type(exc).__name__}: {exc}"
        log.error(
            "%s: %s v%d (event %s) failed %d times; dead-lettered, and its stream waits until "
            "it is replayed (sesp dlq replay)",
            self.consumer_name,
            event.stream_id,
            event.version,
            event.event_id,
            self.max_attempts,
            exc_info=exc,
        )
        self._failures.pop(event.event_id, None)
        engine = self.database().engine
        try:
            self.retrying(
                "park the stream",
                lambda: consumer_state.park(
                    engine, self.consumer_name, key, event.version, event.event_id, reason
                ),
            )
            self._parked[key] = event.version
            if origin is not Origin.LIVE:  # no message to reject: publish the letter ourselves
                self.retrying("dead-letter", lambda: self._dead_letter(event, reason))
                if origin is Origin.PENDING:
                    self.retrying("drop a held event", lambda: self._drop_held(key, event.version))
        except Stopping:
            return Outcome.STOPPING
        self.counters.dead_lettered += 1
        return Outcome.POISON

    def _dead_letter(self, event: IncomingEvent, reason: str) -> None:
        service = self.container.service_name
        conn = kombu.Connection(
            self.container.config["AMQP_URI"], transport_options={"confirm_publish": True}
        )
        with conn:
            kombu.Producer(conn.channel()).publish(
                event.to_message(),
                exchange=kombu.Exchange(DLX, type="direct", durable=True),
                routing_key=dlq_name(service),
                serializer="json",
                delivery_mode=2,
                message_id=event.event_id,
                headers={ORIGIN_HEADER: self.queue.name, REASON_HEADER: reason[:200]},
                mandatory=True,
            )

    # -- outages -------------------------------------------------------------------------

    def retrying(self, what: str, fn) -> Any:
        """``fn()``, retried with back-off while it fails on an outage (other failures are
        raised). Raises ``Stopping`` when the container stops first."""
        backoff = Backoff(*OUTAGE_BACKOFF)
        while True:
            if self.stopping:
                raise Stopping
            try:
                return fn()
            except Exception as exc:
                if not is_outage(exc):
                    raise
                self._wait_out(exc, what, backoff)

    def _wait_out(self, exc: BaseException, what: str, backoff: Backoff) -> None:
        self.counters.outage_retries += 1
        delay = backoff.next()
        # Every message in flight waits the outage out: one line a minute for all of them.
        unlogged = self._outage_lines.note()
        if unlogged is not None:
            log.warning(
                "%s: infrastructure unavailable, cannot %s (%s: %s); again in %.1fs "
                "(%d outage retries so far; they do not count as attempts%s)",
                self.consumer_name,
                what,
                type(exc).__name__,
                str(exc).strip().splitlines()[0] if str(exc).strip() else "",
                delay,
                self.counters.outage_retries,
                unlogged_note(unlogged),
            )
        pause(delay, self.stop_event)

    # -- versions ------------------------------------------------------------------------

    def database(self) -> ServiceDatabase:
        db = service_database(self.container)
        if db is None:
            raise RuntimeError(f"{self.consumer_name}: the service has no ServiceDatabase")
        return db

    def _last(self, key: str) -> int:
        """The last applied version of a source stream (0: none yet)."""
        if key in self._applied:
            return self._applied[key]
        db = self.database()
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

    def applied_version(self, key: str) -> int:
        """The last applied version this process knows of (0 when it does not know): only
        ever at or below the truth in ``consumer_streams``."""
        return self._applied.get(key, 0)

    def prime(self, keys: list[str]) -> None:
        """Read the versions of many streams in one query (a page of history)."""
        missing = [k for k in keys if k not in self._applied]
        if not missing:
            return
        engine = self.database().engine
        found = self.retrying(
            "read versions", lambda: consumer_state.versions(engine, self.consumer_name, missing)
        )
        for k in missing:
            self._applied[k] = max(self._applied.get(k, 0), found.get(k, 0))

    @staticmethod
    def key(event: IncomingEvent) -> str:
        return f"{event.service}:{event.stream_id}"

    # -- reporting -----------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """Counters and state for ``KernelService.health``."""
        parked = sorted(self._parked.items())
        return {
            "consumer": self.consumer_name,
            "source": self.source_service,
            "queue": self.queue.name,
            "catch_up": self.catch_up.health(),
            **asdict(self.counters),
            "waiting": sum(len(v) for v in self._pending.values()),
            "parked_streams": len(parked),
            "parked": [{"stream": k, "version": v} for k, v in parked[:50]],
        }


subscribe = EventSubscriber.decorator
