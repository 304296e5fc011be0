"""The outbox relay: publishes committed events, in position order, to the service's exchange.

The event store *is* the outbox: nothing is published from inside a request. The relay tails
the store (``Tailer``: no late commit is ever skipped), publishes each event to the topic
exchange ``<service>.events`` with routing key = event type, ``mandatory`` set and publisher
confirms pipelined over a batch, and records its position only after every message of the batch
is confirmed. A crash or broker restart therefore republishes at most the unconfirmed batch
(consumers are idempotent); it never loses one.

Only one relay per service publishes at a time: a PostgreSQL advisory lock held on a dedicated
session, or a file lock next to the SQLite file. Other replicas wait as hot standbys.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from pathlib import Path
from typing import Any

import amqp
import kombu
import kombu.exceptions  # not loaded by `import kombu`: needed for CONNECTION_ERRORS
from filelock import FileLock, Timeout
from sqlalchemy import insert, select, text, update
from sqlalchemy.engine import Connection, Engine

from infra.eventstore import EventStore, StoredEvent, Tailer
from infra.eventstore.db import bulk_insert
from infra.eventstore.schema import relay_state, unroutable
from infra.eventstore.store import to_db, utcnow

log = logging.getLogger("sesp.relay")

RELAY_NAME = "outbox"
LOCK_CHECK_INTERVAL = 1.0  # seconds between checks that the relay still holds its lock
CONNECTION_ERRORS = (OSError, amqp.exceptions.AMQPError, kombu.exceptions.OperationalError)


class PublishNacked(Exception):
    """The broker refused to take responsibility for a message."""


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
        self._key = 0
        self._file: FileLock | None = None

    def acquire(self) -> bool:
        if self.engine.dialect.name == "postgresql":
            key = int.from_bytes(
                hashlib.sha256(f"sesp-relay:{self.service}".encode()).digest()[:8],
                "big",
                signed=True,
            )
            self._key = key
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
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
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
        self.active = False

    # -- state ---------------------------------------------------------------------------

    def load_position(self) -> int:
        with self.engine.connect() as conn:
            pos = conn.execute(
                select(relay_state.c.position).where(relay_state.c.name == RELAY_NAME)
            ).scalar()
        return pos or 0

    def _save(self, position: int, returned: list[tuple[StoredEvent, str]]) -> None:
        now = to_db(utcnow())
        with self.engine.begin() as conn:
            # Only forwards: a relay that lost its lock must not move a newer one's mark back.
            done = conn.execute(
                update(relay_state)
                .where(relay_state.c.name == RELAY_NAME, relay_state.c.position < position)
                .values(position=position, updated_at=now)
            ).rowcount
            if (
                not done
                and conn.execute(
                    select(relay_state.c.position).where(relay_state.c.name == RELAY_NAME)
                ).first()
                is None
            ):
                conn.execute(
                    insert(relay_state).values(name=RELAY_NAME, position=position, updated_at=now)
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

    def publish_batch(self, batch: list[StoredEvent]) -> list[tuple[StoredEvent, str]]:
        """Publish and wait for every confirm. Returns the events the broker returned."""
        conn, ch = self._connection(), self._channel
        self._nacked = False
        self._returned = {}
        for ev in batch:
            body = ev.to_message_json(self.service)
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
        """Wait for the lock, then publish forever; reconnect with back-off on broker errors."""
        backoff = 0.5
        while not self._stop.is_set():
            if not self.active:
                if not self.lock.acquire():
                    self._stop.wait(1.0)
                    continue
                self.active = True
                log.info("relay for %s is active", self.service)
            try:
                if self._channel is None:
                    self._connect()
                    backoff = 0.5
                tailer = Tailer(self.store, self.engine, self.load_position())
                checked = time.monotonic()
                while not self._stop.is_set():
                    if not self.step(tailer):
                        self._idle()
                    # Busy or idle: a relay whose lock session died must step down promptly,
                    # or it publishes alongside the standby that took the lock over.
                    if time.monotonic() - checked >= LOCK_CHECK_INTERVAL:
                        checked = time.monotonic()
                        if not self.lock.held():
                            log.warning("relay for %s lost its lock", self.service)
                            self.active = False
                            break
            except CONNECTION_ERRORS + (TimeoutError, PublishNacked) as exc:
                log.warning(
                    "relay for %s: broker problem (%s); retrying in %.1fs",
                    self.service,
                    exc,
                    backoff,
                )
                self._close()
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            except Exception:
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
        """Publish one batch if there is one; returns how many events were published."""
        start = tailer.position
        batch = tailer.poll(self.batch_size)
        if not batch:
            return 0
        # Events a service recorded from another service's stream (meta ``observed_from``)
        # were published by their source already; the relay only steps over them.
        own = [ev for ev in batch if not ev.meta.get("observed_from")]
        try:
            returned = self.publish_batch(own) if own else []
        except BaseException:
            tailer.position = start  # republish this batch after reconnecting
            raise
        if returned:
            # One line per batch: a service nobody subscribes to yet has every event returned,
            # and a line per event would cost more than publishing it. The table has them all.
            first, reason = returned[0]
            log.error(
                "%d event(s) of this batch were unroutable (positions %s-%s, recorded in the"
                " unroutable table), first: event %s (%s, position %s): %s",
                len(returned),
                first.position,
                returned[-1][0].position,
                first.event_id,
                first.type,
                first.position,
                reason,
            )
        self._save(batch[-1].position, returned)
        self.published_total += len(batch)
        return len(batch)

    def stop(self) -> None:
        self._stop.set()
