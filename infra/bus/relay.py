"""The outbox relay: publishes committed events, in position order, to the service's exchange.

The event store *is* the outbox: nothing is published from inside a request. The relay tails
the store (``Tailer``: no late commit is ever skipped), publishes each event to the topic
exchange ``<service>.events`` with routing key = event type, ``mandatory`` set and publisher
confirms pipelined over a batch, and records its position only after every message of the batch
is confirmed. A crash or broker restart therefore republishes at most the unconfirmed batch
(consumers are idempotent); it never loses one. An event the broker returns (no queue is bound:
nothing subscribes to its type yet) is recorded in ``unroutable`` and reported once per type,
not as an error.

Only one relay per service publishes at a time: a PostgreSQL advisory lock held on a dedicated
session, or a file lock next to the SQLite file. Other replicas wait as hot standbys. The relay
checks that it still holds the lock before every batch, inside a short transaction holding a
second, per-batch lock (the *fence*); a relay taking over reads the position under the fence,
so it starts after whatever batch a relay that has just lost its lock still had in flight:
a takeover publishes nothing twice.

Nothing stops it silently: every failed attempt is recorded in ``relay_state`` (the error,
since when, how many attempts, and the event it cannot get past when the error is that
event's own: ``PoisonEvent``), cleared by the next success. ``relay_status`` reads that and
the lag; the service's ``relay_status`` RPC, the gateway's ``/metrics`` and ``/readyz`` and
``sesp relay status`` show it. A poison event is retried (with back-off) until an operator
parks it (``sesp relay skip``: a row in ``parked``); the relay then steps over it.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import amqp
import kombu
import kombu.exceptions  # not loaded by `import kombu`: needed for CONNECTION_ERRORS
from filelock import FileLock, Timeout
from sqlalchemy import func, insert, select, text, update
from sqlalchemy.engine import Connection, Engine

from infra.eventstore import EventStore, StoredEvent, Tailer
from infra.eventstore.db import bulk_insert
from infra.eventstore.errors import PoisonEvent
from infra.eventstore.schema import parked, relay_state, unroutable
from infra.eventstore.store import to_db, utcnow

log = logging.getLogger("sesp.relay")

RELAY_NAME = "outbox"
LOCK_CHECK_INTERVAL = 1.0  # seconds between checks that an idle relay still holds its lock
LOST_LOCK_PAUSE = 2.0  # seconds a relay that lost its lock waits before it tries it again
CONNECTION_ERRORS = (OSError, amqp.exceptions.AMQPError, kombu.exceptions.OperationalError)


class PublishNacked(Exception):
    """The broker refused to take responsibility for a message."""


class LockLost(Exception):
    """The relay's lock session is gone: another replica may be publishing now."""


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def exchange_name(service: str) -> str:
    return f"{service}.events"


def declare_exchange(channel, service: str) -> None:
    # Same arguments as nameko's get_event_exchange, so both may declare it.
    channel.exchange_declare(exchange_name(service), "topic", durable=True, auto_delete=False)


class RelayLock:
    """Exactly one active relay per service."""

    def __init__(self, engine: Engine, service: str):
        self.engine, self.service = engine, service
        self._conn: Connection | None = None
        # The session-level lock that makes a relay the active one, and the transaction-level
        # one held while a batch is published (see ``OutboxRelay._fence``).
        self.key = _lock_key(f"sesp-relay:{service}")
        self.fence_key = _lock_key(f"sesp-relay-batch:{service}")
        self._file: FileLock | None = None

    def acquire(self) -> bool:
        if self.engine.dialect.name == "postgresql":
            key = self.key
            conn = self.engine.connect()
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            conn.commit()
            if got:
                self._conn = conn
                return True
            conn.close()
            return False
        path = Path(self.engine.url.database or "memory").with_suffix(".relay.lock")
        self._file = FileLock(str(path))
        try:
            self._file.acquire(timeout=0)
            return True
        except Timeout:
            self._file = None
            return False

    def held(self) -> bool:
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT 1"))
                self._conn.commit()
                return True
            except Exception:  # the session (and its lock) is gone
                self.release()
                return False
        return self._file is not None

    def release(self) -> None:
        if self._conn is not None:
            # Closing a Connection only returns the session to the pool, lock and all.
            # Unlock explicitly (a session's end frees it only some time after the client
            # hangs up), then end the session so nothing can linger.
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                self._conn.commit()
            except Exception:
                pass
            try:
                self._conn.invalidate()
                self._conn.close()
            except Exception:
                pass
            self._conn = None
        if self._file is not None:
            self._file.release()
            self._file = None


class OutboxRelay:
    """Publishes a service's committed events. ``run()`` loops until ``stop()``."""

    def __init__(
        self,
        service: str,
        engine: Engine,
        store: EventStore,
        amqp_uri: str,
        batch_size: int = 500,
        idle_interval: float = 0.05,
        heartbeat: int = 60,
    ):
        self.service, self.engine, self.store = service, engine, store
        self.amqp_uri = amqp_uri
        self.batch_size = batch_size
        self.idle_interval = idle_interval
        self.heartbeat = heartbeat
        self.lock = RelayLock(engine, service)
        self._stop = threading.Event()
        self._conn: kombu.Connection | None = None
        self._channel: Any = None  # py-amqp's channel (untyped)
        self._unconfirmed: set[int] = set()  # delivery tags published, not yet confirmed
        self._nacked = False
        self._published = 0
        self._returned: dict[str, str] = {}
        self.published_total = 0
        self.unroutable_types: set[str] = set()  # types this relay has reported unroutable
        self.active = False
        # The current run of failed attempts, as recorded in relay_state (also kept here: the
        # database may be what fails). ``_recorded_error``: relay_state may hold an error this
        # relay has to clear once it works (its own, or the previous active relay's).
        self.last_error: str | None = None
        self.stuck_event_id: str | None = None
        self.failures = 0
        self._recorded_error = False

    # -- state ---------------------------------------------------------------------------

    def load_position(self) -> int:
        with self.engine.connect() as conn:
            pos = conn.execute(
                select(relay_state.c.position).where(relay_state.c.name == RELAY_NAME)
            ).scalar()
        return pos or 0

    def _position_on_takeover(self) -> int:
        """The position to start from, read under the fence: a relay that lost its lock may
        still be publishing a batch; its transaction ends after it has recorded that batch."""
        with self._fence() as conn:
            if conn is None:
                return self.load_position()
            pos = conn.execute(
                select(relay_state.c.position).where(relay_state.c.name == RELAY_NAME)
            ).scalar()
            return pos or 0

    @contextmanager
    def _fence(self) -> Iterator[Connection | None]:
        """A transaction holding the per-batch lock (PostgreSQL): publishing a batch and
        recording it happen inside it, after the check that this relay is still the active
        one. A relay taking over waits on the same lock before it reads the position, so it
        cannot start below a batch the old one published. The lock takes no transaction id,
        so tailers (waiting on the cluster's oldest) do not wait on it. SQLite: a file lock
        is only lost with its process, and nothing is needed (``None``)."""
        if self.engine.dialect.name != "postgresql":
            yield None
            return
        with self.engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": self.lock.fence_key})
            yield conn

    def _save(
        self,
        position: int,
        returned: list[tuple[StoredEvent, str]],
        conn: Connection | None = None,
    ) -> None:
        if conn is None:
            with self.engine.begin() as own:
                self._save(position, returned, own)
            return
        now = to_db(utcnow())
        # Only forwards: a relay that lost its lock must not move a newer one's mark back.
        # Publishing is what ends a run of failures: clear its record in the same statement.
        done = conn.execute(
            update(relay_state)
            .where(relay_state.c.name == RELAY_NAME, relay_state.c.position < position)
            .values(position=position, updated_at=now, **_NO_ERROR)
        ).rowcount
        if (
            not done
            and conn.execute(
                select(relay_state.c.position).where(relay_state.c.name == RELAY_NAME)
            ).first()
            is None
        ):
            conn.execute(
                insert(relay_state).values(
                    name=RELAY_NAME, position=position, updated_at=now, **_NO_ERROR
                )
            )
        if returned:
            # One statement for the whole batch; a position recorded already (the batch
            # was published again after a crash) keeps its first record.
            bulk_insert(
                conn,
                unroutable,
                [
                    {
                        "position": ev.position,
                        "event_id": ev.event_id,
                        "type": ev.type,
                        "reason": reason[:200],
                        "at": now,
                    }
                    for ev, reason in returned
                ],
                ignore_duplicates=True,
            )

    # -- broker --------------------------------------------------------------------------

    def _connect(self) -> None:
        self._close()
        conn = kombu.Connection(self.amqp_uri, heartbeat=self.heartbeat, connect_timeout=5)
        conn.connect()
        ch = conn.channel()
        declare_exchange(ch, self.service)
        ch.confirm_select()
        ch.events["basic_ack"].add(self._on_ack)
        ch.events["basic_nack"].add(self._on_nack)
        ch.events["basic_return"].add(self._on_return)
        self._conn, self._channel = conn, ch
        self._published = 0
        self._unconfirmed = set()

    def _connection(self) -> kombu.Connection:
        if self._conn is None:
            raise RuntimeError("relay is not connected")
        return self._conn

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.release()
            except Exception:
                pass
        self._conn = self._channel = None

    # Confirms may arrive out of order (messages routed to queues of different kinds are
    # confirmed at different times): a later tag's ack says nothing about an earlier tag.
    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        if multiple:
            self._unconfirmed = {t for t in self._unconfirmed if t > delivery_tag}
        else:
            self._unconfirmed.discard(delivery_tag)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._nacked = True
        self._on_ack(delivery_tag, multiple)

    def _on_return(self, exc, exchange, routing_key, message) -> None:
        self._returned[message.properties.get("message_id", "")] = f"unroutable: {exc}"

    def publish_batch(
        self, batch: list[StoredEvent], bodies: list[str] | None = None
    ) -> list[tuple[StoredEvent, str]]:
        """Publish and wait for every confirm. Returns the events the broker returned.
        ``bodies``: the events' messages when the caller encoded them already."""
        conn, ch = self._connection(), self._channel
        self._nacked = False
        self._returned = {}
        for i, ev in enumerate(batch):
            body = bodies[i] if bodies is not None else ev.to_message_json(self.service)
            msg = amqp.Message(
                body,
                content_type="application/json",
                content_encoding="utf-8",
                delivery_mode=2,
                message_id=ev.event_id,
                correlation_id=str(ev.meta.get("correlation_id") or ""),
                application_headers={
                    "sesp.stream_id": ev.stream_id,
                    "sesp.version": ev.version,
                    "nameko.sesp_request_id": str(ev.meta.get("correlation_id") or ""),
                },
            )
            ch.basic_publish(
                msg, exchange=exchange_name(self.service), routing_key=ev.type, mandatory=True
            )
            self._published += 1
            self._unconfirmed.add(self._published)
        deadline = time.monotonic() + 30
        while self._unconfirmed:
            if time.monotonic() > deadline:
                raise TimeoutError("publisher confirms did not arrive")
            try:
                conn.drain_events(timeout=1)
            except TimeoutError:
                continue
            except __import__("socket").timeout:
                continue
        if self._nacked:
            raise PublishNacked("broker nacked a message of the batch")
        return [(ev, self._returned[ev.event_id]) for ev in batch if ev.event_id in self._returned]

    # -- loop ----------------------------------------------------------------------------

    def run(self) -> None:
        """Wait for the lock, then publish forever; retry with back-off on any error, each
        failed attempt recorded (``relay_status``) until the next success clears it."""
        backoff = 0.5
        while not self._stop.is_set():
            if not self.active:
                if not self.lock.acquire():
                    self._stop.wait(1.0)
                    continue
                self.active = True
                self._recorded_error = True  # the previous active relay may have left one
                log.info("relay for %s is active", self.service)
            try:
                if self._channel is None:
                    self._connect()
                tailer = Tailer(self.store, self.engine, self._position_on_takeover())
                checked = time.monotonic()
                while not self._stop.is_set():
                    busy = self.step(tailer)  # checks the lock before it publishes
                    backoff = 0.5
                    if busy:
                        continue
                    self._idle()
                    # Idle too: a relay whose lock session died must step down promptly.
                    if time.monotonic() - checked >= LOCK_CHECK_INTERVAL:
                        checked = time.monotonic()
                        if not self.lock.held():
                            raise LockLost()
            except LockLost:
                log.warning("relay for %s lost its lock; standing by", self.service)
                self.lock.release()
                self.active = False
                # A standby tries the lock once a second: let one take over rather than win the
                # lock straight back from the process whose session just died.
                self._stop.wait(LOST_LOCK_PAUSE)
            except PoisonEvent as exc:
                self._failed(exc, exc.event_id)
                log.error(
                    "relay for %s is stuck at event %s (%s, position %s), attempt %d: %s;"
                    " retrying in %.1fs (fix the cause, or park it: sesp relay skip %s %s)",
                    self.service,
                    exc.event_id,
                    exc.type,
                    exc.position,
                    self.failures,
                    exc.reason,
                    backoff,
                    self.service,
                    exc.event_id,
                )
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            except CONNECTION_ERRORS + (TimeoutError, PublishNacked) as exc:
                self._failed(exc)
                log.warning(
                    "relay for %s: broker problem (%s); retrying in %.1fs",
                    self.service,
                    exc,
                    backoff,
                )
                self._close()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            except Exception as exc:
                self._failed(exc)
                log.exception("relay for %s failed; retrying", self.service)
                self._close()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
        self._close()
        self.lock.release()
        self.active = False

    def _idle(self) -> None:
        """Wait ``idle_interval`` reading the socket, and heartbeat: nothing else touches the
        connection while the store is quiet, and the broker drops a connection that has missed
        two heartbeats (the next batch would then fail and be published twice)."""
        conn = self._connection()
        try:
            conn.drain_events(timeout=self.idle_interval)
        except TimeoutError:
            pass
        conn.heartbeat_check()

    def step(self, tailer: Tailer) -> int:
        """Publish one batch if there is one; returns how many events it moved past.

        Raises ``LockLost`` (nothing published) when this relay is no longer the active one,
        and ``PoisonEvent`` when the next event cannot be read or encoded and is not parked;
        the events before a poison event go out first."""
        try:
            batch = tailer.poll(self.batch_size)
            if not batch:
                self._recovered()
                return 0
            batch, bodies = self._encode(batch)
        except PoisonEvent as exc:
            return self._step_over_parked(tailer, exc)
        tailer.position = batch[-1].position  # the batch may end before a poison event
        # Events a service recorded from another service's stream (meta ``observed_from``)
        # were published by their source already; the relay only steps over them.
        own = [(ev, body) for ev, body in zip(batch, bodies, strict=True) if body is not None]
        with self._fence() as conn:
            if not self.lock.held():
                raise LockLost()
            returned = (
                self.publish_batch([ev for ev, _ in own], [body for _, body in own]) if own else []
            )
            self._save(batch[-1].position, returned, conn)
        self._ok()
        for ev, reason in returned:
            # A service nobody subscribes to yet has every event returned: not an error (a
            # consumer that starts later catches up from history). Said once per event type;
            # the table has every event and ``relay_status`` (the metric) counts them.
            if ev.type not in self.unroutable_types:
                self.unroutable_types.add(ev.type)
                log.info(
                    "relay for %s: nothing subscribes to %s events yet (event %s, position %s:"
                    " %s); each is kept in the unroutable table and counted by"
                    " sesp_relay_unroutable_events, and this is said once per type",
                    self.service,
                    ev.type,
                    ev.event_id,
                    ev.position,
                    reason,
                )
        self.published_total += len(batch)
        return len(batch)

    def _encode(self, batch: list[StoredEvent]) -> tuple[list[StoredEvent], list[str | None]]:
        """Each event's message (``None``: observed, not published here), the batch cut
        before the first event that cannot be encoded. When that is the first event, it is
        raised as ``PoisonEvent``."""
        bodies: list[str | None] = []
        for i, ev in enumerate(batch):
            if ev.meta.get("observed_from"):
                bodies.append(None)
                continue
            try:
                bodies.append(ev.to_message_json(self.service))
            except Exception as exc:
                if i:
                    return batch[:i], bodies
                reason = f"cannot be encoded: {type(exc).__name__}: {exc}"
                poison = PoisonEvent(ev.position, ev.event_id, ev.type, reason)
                raise poison from exc
        return batch, bodies

    def _step_over_parked(self, tailer: Tailer, exc: PoisonEvent) -> int:
        """Move past a poison event an operator parked; re-raise it when it is not."""
        with self.engine.connect() as conn:
            is_parked = conn.execute(
                select(parked.c.position).where(parked.c.event_id == exc.event_id)
            ).first()
        if is_parked is None:
            raise exc
        with self._fence() as conn:
            if not self.lock.held():
                raise LockLost()
            self._save(exc.position, [], conn)
        tailer.position = exc.position
        self._ok()
        log.warning(
            "relay for %s stepped over parked event %s (%s, position %s); it is not published",
            self.service,
            exc.event_id,
            exc.type,
            exc.position,
        )
        return 1

    # -- errors --------------------------------------------------------------------------

    def _failed(self, exc: BaseException, stuck_event_id: str | None = None) -> None:
        """Record a failed attempt (best effort: the database may be what fails)."""
        error = f"{type(exc).__name__}: {exc}"[:2000]
        self.failures += 1
        self.last_error, self.stuck_event_id = error, stuck_event_id
        now = to_db(utcnow())
        try:
            with self.engine.begin() as conn:
                c = relay_state.c
                moved = conn.execute(
                    update(relay_state)
                    .where(c.name == RELAY_NAME)
                    .values(
                        error=error,
                        error_since=func.coalesce(c.error_since, now),
                        failures=c.failures + 1,
                        stuck_event_id=stuck_event_id,
                    )
                ).rowcount
                if not moved:
                    conn.execute(
                        insert(relay_state).values(
                            name=RELAY_NAME,
                            position=0,
                            updated_at=now,
                            error=error,
                            error_since=now,
                            failures=1,
                            stuck_event_id=stuck_event_id,
                        )
                    )
            self._recorded_error = True
        except Exception:
            log.warning("relay for %s could not record its error", self.service, exc_info=True)

    def _ok(self) -> None:
        """A batch went out (its save cleared any recorded error)."""
        self.failures, self.last_error, self.stuck_event_id = 0, None, None
        self._recorded_error = False

    def _recovered(self) -> None:
        """Nothing to publish and nothing failed: clear a recorded error, once."""
        if self._recorded_error:
            with self.engine.begin() as conn:
                conn.execute(
                    update(relay_state).where(relay_state.c.name == RELAY_NAME).values(**_NO_ERROR)
                )
            self._ok()

    def stop(self) -> None:
        self._stop.set()


_NO_ERROR: dict[str, Any] = {
    "error": None,
    "error_since": None,
    "failures": 0,
    "stuck_event_id": None,
}
