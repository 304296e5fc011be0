"""nameko wiring of the kernel: the event store per worker, the clock, the relay's lifecycle.

Commit happens *before* a worker answers: nameko calls an entrypoint's ``handle_result`` (which
sends the RPC reply or acks the message) before any dependency's ``worker_result``, so a commit
there would come after the caller heard "done" (and after the ack: a crash would lose the
effect). The kernel's entrypoints (``infra.bus.entrypoints``) therefore call
``commit_worker(...)`` first; ``worker_teardown`` rolls back whatever is left open.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import eventlet
import sqlalchemy as sa
from kombu.utils import json as wire_json
from nameko.extensions import DependencyProvider
from sqlalchemy.engine import Connection, Engine, RootTransaction

from infra import settings
from infra.bus.context import COMMAND_ID_KEY
from infra.bus.relay import OutboxRelay
from infra.clock import Clock
from infra.eventstore import (
    EventStore,
    NewEvent,
    StoredEvent,
    SubjectKeys,
    Upcasters,
    make_engine,
    migrate,
)
from infra.eventstore.crypto import (
    ERASED,
    PERSONAL_MARK,
    Personal,
    decrypt_personal,
    encrypt_personal,
    watch_subjects_read,
)
from infra.eventstore.schema import command_results
from infra.keys import master_key

log = logging.getLogger("sesp.kernel")


class ClockProvider(DependencyProvider):
    def setup(self) -> None:
        self.clock = Clock()

    def get_dependency(self, worker_ctx) -> Clock:
        return self.clock


class UnitOfWork:
    """One worker's transaction on the service database: events and read models together."""

    def __init__(self, engine: Engine, store: EventStore, command_id: str | None = None):
        self.engine, self.store = engine, store
        # The command this worker runs (the gateway's Idempotency-Key or request): its result
        # is recorded with its events, and a repeat is answered from the record.
        self.command_id = command_id
        self.appended = 0  # events appended in this transaction
        self.committed_events = 0  # and by this worker's committed transactions
        self.subjects: list[str] = []  # data subjects whose personal data they hold
        self.subjects_read = watch_subjects_read()  # and whose data the worker decrypted
        self._conn: Connection | None = None
        self._tx: RootTransaction | None = None

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            self._conn = self.engine.connect()
            self._tx = self._conn.begin()
        return self._conn

    def append(
        self,
        stream_id: str,
        expected_version: int | None,
        events: list[NewEvent],
        meta: dict,
        *,
        head_hash: str | None = None,
    ) -> list[StoredEvent]:
        stored = self.store.append(
            self.conn, stream_id, expected_version, events, meta, head_hash=head_hash
        )
        self.appended += len(stored)
        for event in events:
            _subjects_in(event.data, self.subjects)
        return stored

    # --- commands applied once ------------------------------------------------------------

    def recorded_result(self, command_id: str) -> tuple[bool, Any]:
        """``(True, result)`` when ``command_id`` was applied before: its first answer."""
        row = self.conn.execute(
            sa.select(command_results.c.result).where(command_results.c.command_id == command_id)
        ).first()
        if row is None:
            return False, None
        result = wire_json.loads(row.result)["result"]
        while isinstance(result, dict) and PERSONAL_MARK in result:  # one layer per subject
            result = decrypt_personal(result, self.conn, self.store.keys)
            if result == ERASED:
                break
        return True, result

    def record_result(self, command_id: str, method: str, result: Any) -> None:
        """Record the answer in this transaction (with the events). A concurrent twin of the
        command fails here or on its events, and is then answered from this record."""
        # Through the wire's JSON (dates and decimals as the caller received them), and under
        # the key of every subject whose personal data the command wrote or read (one layer
        # each): the answer may show it, and erasing any of them makes the answer unreadable.
        value: Any = wire_json.loads(wire_json.dumps(result))
        now = datetime.now(UTC).replace(tzinfo=None)
        for subject in dict.fromkeys([*self.subjects, *self.subjects_read]):
            value = encrypt_personal(Personal(subject, value), self.conn, self.store.keys, now)
        self.conn.execute(
            sa.insert(command_results).values(
                command_id=command_id,
                method=method[:120],
                result=wire_json.dumps({"result": value}),
                recorded_at=now,
            )
        )

    def read_stream(self, stream_id: str, after_version: int = 0, until=None) -> list[StoredEvent]:
        return self.store.read_stream(self.conn, stream_id, after_version, until)

    def commit(self) -> None:
        if self._tx is not None:
            appended = self.appended
            try:
                self._tx.commit()
                self.committed_events += appended
            finally:
                self._close()

    def rollback(self) -> None:
        if self._tx is not None:
            try:
                self._tx.rollback()
            finally:
                self._close()

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = self._tx = None
        self.appended = 0
        self.subjects = []


def prune_command_results(conn: Connection, older_than: datetime) -> int:
    """Forget the answers of commands recorded before ``older_than`` (naive UTC)."""
    result = conn.execute(
        sa.delete(command_results).where(command_results.c.recorded_at < older_than)
    )
    return result.rowcount or 0


def _subjects_in(data: Any, found: list[str]) -> None:
    if isinstance(data, Personal):
        if data.subject_id not in found:
            found.append(data.subject_id)
    elif isinstance(data, dict):
        for value in data.values():
            _subjects_in(value, found)
    elif isinstance(data, (list, tuple)):
        for value in data:
            _subjects_in(value, found)


def worker_engine(url: str) -> Engine:
    """The engine of a service's workers: PostgreSQL cuts a statement that runs longer than
    ``SESP_STATEMENT_TIMEOUT_MS`` (a stuck query must not hold its transaction open, and with
    it the cluster's oldest transaction id every relay waits on at a gap)."""
    return make_engine(url, statement_timeout_ms=settings.statement_timeout_ms())


def relay_engine(url: str) -> Engine:
    """The outbox relay's own engine (it must never wait behind workers for a connection),
    with a shorter statement timeout (``SESP_RELAY_STATEMENT_TIMEOUT_MS``): its reads take at
    most a batch, and a cut statement is reported as the relay's error and retried."""
    return make_engine(url, pool_size=2, statement_timeout_ms=settings.relay_statement_timeout_ms())


class ServiceDatabase(DependencyProvider):
    """The service's event store and read models: a ``UnitOfWork`` per worker.

    Also runs the outbox relay for the service in a background greenlet (``relay=True``).
    """

    def __init__(
        self,
        migrations: Path | None = None,
        upcasters: Upcasters | None = None,
        snapshot_every: int = 50,
        relay: bool = True,
    ):
        self.migrations = migrations
        self.upcasters = upcasters
        self.snapshot_every = snapshot_every
        self.run_relay = relay
        self.units: dict[Any, UnitOfWork] = {}
        self.relay: OutboxRelay | None = None
        self._relay_gt: Any = None  # eventlet GreenThread (untyped)

    def setup(self) -> None:
        service = self.container.service_name
        url = self.container.config.get("SESP_DATABASE_URL") or settings.database_url(service)
        self.engine = worker_engine(url)
        chains = [(f"{service}_version", self.migrations)] if self.migrations else []
        migrate(self.engine, chains)
        self.store = EventStore(
            self.engine.dialect.name,
            SubjectKeys(master_key(service)),
            self.upcasters,
            snapshot_every=self.snapshot_every,
        )

    def start(self) -> None:
        if self.run_relay:
            service = self.container.service_name
            # The relay gets its own engine: it must never wait behind workers for a connection.
            url = self.container.config.get("SESP_DATABASE_URL") or settings.database_url(service)
            self.relay = OutboxRelay(
                service, relay_engine(url), self.store, self.container.config["AMQP_URI"]
            )
            self._relay_gt = eventlet.spawn(self.relay.run)

    def stop(self) -> None:
        if self.relay is not None:
            self.relay.stop()
            if self._relay_gt is not None:
                self._relay_gt.wait()
            self.relay.engine.dispose()
        self.engine.dispose()

    def kill(self) -> None:
        if self._relay_gt is not None:
            self._relay_gt.kill()
        if self.relay is not None:
            self.relay.lock.release()
            self.relay.engine.dispose()

    def get_dependency(self, worker_ctx) -> UnitOfWork:
        uow = UnitOfWork(self.engine, self.store, worker_ctx.context_data.get(COMMAND_ID_KEY))
        self.units[worker_ctx] = uow
        return uow

    def commit_worker(self, worker_ctx) -> None:
        uow = self.units.get(worker_ctx)
        if uow is not None:
            uow.commit()

    def worker_teardown(self, worker_ctx) -> None:
        uow = self.units.pop(worker_ctx, None)
        if uow is not None:
            uow.rollback()


def commit_worker(container, worker_ctx) -> None:
    """Commit every ``ServiceDatabase`` unit of work of this worker (before it answers)."""
    for dep in container.dependencies:
        if isinstance(dep, ServiceDatabase):
            dep.commit_worker(worker_ctx)


def service_database(container) -> ServiceDatabase | None:
    for dep in container.dependencies:
        if isinstance(dep, ServiceDatabase):
            return dep
    return None
