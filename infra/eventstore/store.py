"""The event store: append-only streams on SQLAlchemy Core, same API on SQLite and PostgreSQL.

All methods take a ``Connection`` inside the caller's transaction, so events, read-model
updates and consumer bookkeeping commit together or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, text
from sqlalchemy.engine import Connection

from . import hashing, integrity
from .crypto import (
    SubjectKeys,
    decrypt_personal,
    encrypt_personal,
    unwrap_personal,
)
from .db import bulk_insert
from .errors import ConcurrencyError
from .records import Clock, NewEvent, StoredEvent, from_db, make_meta, to_db, utcnow
from .schema import events
from .snapshots import Snapshot, Snapshots
from .upcasting import Upcasters

# Importers of these names from this module (before they moved) keep working.
__all__ = [
    "Clock",
    "EventStore",
    "NewEvent",
    "Snapshot",
    "StoredEvent",
    "from_db",
    "make_meta",
    "to_db",
    "utcnow",
]

_PG_HEAD = text(
    "SELECT pg_current_xact_id()::text AS xid, e.version, e.hash,"
    " (SELECT count(*) FROM events WHERE event_id IN :ids) AS stored"
    " FROM (SELECT 1) AS one LEFT JOIN LATERAL ("
    " SELECT version, hash FROM events WHERE stream_id = :s"
    " ORDER BY version DESC LIMIT 1) AS e ON true"
).bindparams(bindparam("ids", expanding=True))
_SQLITE_HEAD = text(
    "SELECT e.version, e.hash,"
    " (SELECT count(*) FROM events WHERE event_id IN :ids) AS stored"
    " FROM (SELECT 1) AS one LEFT JOIN ("
    " SELECT version, hash FROM events WHERE stream_id = :s"
    " ORDER BY version DESC LIMIT 1) AS e ON 1"
).bindparams(bindparam("ids", expanding=True))


class EventStore(Snapshots):
    """One service's event store.

    ``snapshot_every``: a snapshot is due when a stream's version crosses a multiple of it.
    """

    def __init__(
        self,
        dialect: str,
        keys: SubjectKeys,
        upcasters: Upcasters | None = None,
        clock: Clock = utcnow,
        snapshot_every: int = 50,
    ):
        self.dialect = dialect
        self.keys = keys
        self.upcasters = upcasters or Upcasters()
        self.clock = clock
        self.snapshot_every = snapshot_every

    # -- writing -------------------------------------------------------------------------

    def append(
        self,
        conn: Connection,
        stream_id: str,
        expected_version: int | None,
        new_events: Sequence[NewEvent],
        meta: dict[str, Any] | None = None,
    ) -> list[StoredEvent]:
        """Append atomically after ``expected_version`` (0: new stream; None: wherever it is).

        Raises ``ConcurrencyError`` when the stream is elsewhere. Appending events whose ids are
        all stored already is a no-op that returns ``[]`` (a retried command).
        """
        if not new_events:
            return []
        ids = [e.event_id for e in new_events]
        tx_id, head_version, prev_hash, stored = self._head(conn, stream_id, ids)
        # Checked whatever the expected version: a retry that re-read the stream (or appends at
        # the head) must not reach the insert, whose unique violation would abort the caller's
        # transaction on PostgreSQL and surface as a conflict.
        if stored == len(ids):
            return []
        if expected_version is not None and head_version != expected_version:
            raise ConcurrencyError(stream_id, expected_version, head_version)
        now = self.clock()
        meta = meta or make_meta()
        rows = self._rows(conn, stream_id, head_version, prev_hash, new_events, meta, now, tx_id)
        try:
            if len(rows) > 1:
                bulk_insert(conn, events, rows)
            else:
                conn.execute(insert(events), rows)
        except Exception as exc:  # unique (stream, version) or event id: someone got there first
            if _is_integrity_error(exc):
                raise ConcurrencyError(stream_id, head_version, None) from exc
            raise
        return self._written(rows, new_events, meta)

    def _rows(
        self,
        conn: Connection,
        stream_id: str,
        head_version: int,
        prev_hash: str,
        new_events: Sequence[NewEvent],
        meta: dict[str, Any],
        now: datetime,
        tx_id: int,
        meta_text: str | None = None,
    ) -> list[dict]:
        """The rows to insert, hash-chained onto the stream's head."""
        now_db = to_db(now)
        meta_text = meta_text or hashing.canonical(meta)
        rows = []
        for i, ev in enumerate(new_events, start=1):
            row = {
                "event_id": ev.event_id,
                "stream_id": stream_id,
                "version": head_version + i,
                "type": ev.type,
                "schema_version": ev.schema_version,
                "data": hashing.plain_canonical(ev.data)
                or hashing.canonical(encrypt_personal(ev.data, conn, self.keys, now)),
                "meta": meta_text,
                "occurred_at": to_db(ev.occurred_at) if ev.occurred_at else now_db,
                "recorded_at": now_db,
                "tx_id": tx_id,
            }
            row["hash"] = prev_hash = hashing.event_hash(prev_hash, row)
            rows.append(row)
        return rows

    @staticmethod
    def _written(
        rows: list[dict], new_events: Sequence[NewEvent], meta: dict[str, Any]
    ) -> list[StoredEvent]:
        # Positions are assigned by the database; read back only when a caller needs them.
        # The caller's own data (personal values unwrapped) needs no decrypting round trip.
        if not rows:
            return []
        recorded_at = from_db(rows[0]["recorded_at"])
        return [
            StoredEvent(
                position=0,
                event_id=r["event_id"],
                stream_id=r["stream_id"],
                version=r["version"],
                type=r["type"],
                schema_version=r["schema_version"],
                data=unwrap_personal(ev.data) if "$personal" in r["data"] else ev.data,
                meta=meta,
                occurred_at=from_db(r["occurred_at"]) if ev.occurred_at else recorded_at,
                recorded_at=recorded_at,
            )
            for r, ev in zip(rows, new_events, strict=True)
        ]

    def append_many(
        self,
        conn: Connection,
        appends: Sequence[tuple[str, int | None, Sequence[NewEvent]]],
        meta: dict[str, Any] | None = None,
    ) -> list[list[StoredEvent] | ConcurrencyError]:
        """Append to many streams in a few round trips (bulk imports: an insurer's batch).

        Each ``(stream_id, expected_version, events)`` succeeds or fails on its own: the result
        at its index is its stored events (``[]`` when all its ids were stored already) or the
        ``ConcurrencyError`` it met. Streams must be distinct. One query reads every head and
        every already-stored id, one ``INSERT`` writes all events (under a savepoint: if a
        concurrent writer wins a race there, the appends are retried one by one).
        """
        streams = [a[0] for a in appends]
        if len(set(streams)) != len(streams):
            raise ValueError("append_many takes each stream once")
        ids = [e.event_id for _, _, evs in appends for e in evs]
        if not ids:
            return [[] for _ in appends]
        tx_id, heads, stored_ids = self._heads(conn, streams, ids)
        meta = meta or make_meta()
        meta_text = hashing.canonical(meta)  # the same for every stream of the bulk
        now = self.clock()
        results: list[list[StoredEvent] | ConcurrencyError] = []
        rows: list[dict] = []
        pending: list[tuple[int, list[dict], Sequence[NewEvent]]] = []
        for index, (stream_id, expected, evs) in enumerate(appends):
            head_version, prev_hash = heads.get(stream_id, (0, hashing.GENESIS))
            if evs and all(e.event_id in stored_ids for e in evs):
                results.append([])
                continue
            if expected is not None and head_version != expected:
                results.append(ConcurrencyError(stream_id, expected, head_version))
                continue
            mine = self._rows(
                conn, stream_id, head_version, prev_hash, evs, meta, now, tx_id, meta_text
            )
            rows.extend(mine)
            pending.append((index, mine, evs))
            results.append([])
        if rows:
            try:
                with conn.begin_nested():
                    bulk_insert(conn, events, rows)
            except Exception as exc:
                if not _is_integrity_error(exc):
                    raise
                for index, _, evs in pending:  # lost a race somewhere: one by one
                    stream_id, expected, _ = appends[index]
                    try:
                        with conn.begin_nested():
                            results[index] = self.append(conn, stream_id, expected, evs, meta)
                    except ConcurrencyError as err:
                        results[index] = err
                return results
            for index, mine, evs in pending:
                results[index] = self._written(mine, evs, meta)
        return results

    def _heads(
        self, conn: Connection, streams: list[str], event_ids: list[str]
    ) -> tuple[int, dict[str, tuple[int, str]], set[str]]:
        tx_id = 0
        if self.dialect == "postgresql":
            tx_id = int(conn.execute(text("SELECT pg_current_xact_id()::text")).scalar_one())
            q = text(
                "SELECT DISTINCT ON (stream_id) stream_id, version, hash FROM events"
                " WHERE stream_id IN :s ORDER BY stream_id, version DESC"
            ).bindparams(bindparam("s", expanding=True))
        else:  # SQLite returns the row of max(version) for the bare columns
            q = text(
                "SELECT stream_id, max(version) AS version, hash FROM events"
                " WHERE stream_id IN :s GROUP BY stream_id"
            ).bindparams(bindparam("s", expanding=True))
        heads = {r.stream_id: (r.version, r.hash) for r in conn.execute(q, {"s": streams})}
        stored = {
            r.event_id
            for r in conn.execute(select(events.c.event_id).where(events.c.event_id.in_(event_ids)))
        }
        return tx_id, heads, stored

    def _head(
        self, conn: Connection, stream_id: str, event_ids: list[str]
    ) -> tuple[int, int, str, int]:
        """One round trip: (transaction id, head version, head hash, how many ids are stored)."""
        if self.dialect == "postgresql":
            # Take the transaction id *before* the position is drawn from the sequence, so a
            # tailing reader can tell when every writer that may hold a lower position is done.
            row = conn.execute(_PG_HEAD, {"s": stream_id, "ids": event_ids}).one()
            return int(row.xid), row.version or 0, row.hash or hashing.GENESIS, row.stored
        row = conn.execute(_SQLITE_HEAD, {"s": stream_id, "ids": event_ids}).one()
        return 0, row.version or 0, row.hash or hashing.GENESIS, row.stored

    # -- reading -------------------------------------------------------------------------

    def stream_version(self, conn: Connection, stream_id: str) -> int:
        return (
            conn.execute(
                select(events.c.version)
                .where(events.c.stream_id == stream_id)
                .order_by(events.c.version.desc())
                .limit(1)
            ).scalar()
            or 0
        )

    def read_stream(
        self,
        conn: Connection,
        stream_id: str,
        after_version: int = 0,
        until: datetime | None = None,
        decrypt: bool = True,
    ) -> list[StoredEvent]:
        """Events of one stream after a version, optionally only those occurred up to ``until``.

        ``decrypt=False`` keeps personal fields as ciphertext envelopes (what leaves the service).
        """
        q = select(events).where(events.c.stream_id == stream_id, events.c.version > after_version)
        if until is not None:
            q = q.where(events.c.occurred_at <= to_db(until))
        rows = conn.execute(q.order_by(events.c.version)).mappings().all()
        return [self._to_stored(conn, r, decrypt=decrypt) for r in rows]

    def read_streams(
        self, conn: Connection, stream_ids: Iterable[str], decrypt: bool = True
    ) -> dict[str, list[StoredEvent]]:
        """Every event of each named stream, in version order, in one query per 500 streams
        (a batch command loads all its aggregates at once)."""
        out: dict[str, list[StoredEvent]] = {}
        ids = list(dict.fromkeys(stream_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = conn.execute(
                select(events)
                .where(events.c.stream_id.in_(chunk))
                .order_by(events.c.stream_id, events.c.version)
            ).mappings()
            for r in rows:
                out.setdefault(r["stream_id"], []).append(self._to_stored(conn, r, decrypt=decrypt))
        return out

    def read_all(
        self, conn: Connection, after: int = 0, limit: int = 1000, decrypt: bool = True
    ) -> list[StoredEvent]:
        """Events in position order after a global position. For rebuilds of a quiet store;
        live tailing must use ``Tailer`` (which never skips a late commit)."""
        rows = (
            conn.execute(
                select(events)
                .where(events.c.position > after)
                .order_by(events.c.position)
                .limit(limit)
            )
            .mappings()
            .all()
        )
        return [self._to_stored(conn, r, decrypt=decrypt) for r in rows]

    def count(self, conn: Connection) -> int:
        """How many events the store holds (for progress reports)."""
        return conn.execute(select(func.count()).select_from(events)).scalar_one()

    def iter_all(self, conn: Connection, chunk: int = 1000) -> Iterator[StoredEvent]:
        after = 0
        while True:
            batch = self.read_all(conn, after, chunk)
            if not batch:
                return
            yield from batch
            after = batch[-1].position

    def _to_stored(
        self, conn: Connection, r: Any, position: int | None = None, decrypt: bool = True
    ) -> StoredEvent:
        stored = r["data"]
        data = json.loads(stored) if isinstance(stored, str) else stored
        version, data = self.upcasters.upcast(r["type"], r["schema_version"], data)
        as_stored = not decrypt and isinstance(stored, str) and version == r["schema_version"]
        meta = r["meta"]
        return StoredEvent(
            position=r["position"] if position is None else position,
            event_id=r["event_id"],
            stream_id=r["stream_id"],
            version=r["version"],
            type=r["type"],
            schema_version=version,
            data=decrypt_personal(data, conn, self.keys) if decrypt else data,
            meta=json.loads(meta) if isinstance(meta, str) else meta,
            occurred_at=from_db(r["occurred_at"]),
            recorded_at=from_db(r["recorded_at"]),
            stored_data=stored if as_stored else None,
        )

    # -- integrity and erasure -----------------------------------------------------------

    def verify(self, conn: Connection, streams: Iterable[str] | None = None) -> list[dict]:
        """Recompute every stream's hash chain (see ``integrity.verify``)."""
        return integrity.verify(conn, streams)

    def erase_subject(self, conn: Connection, subject_id: str) -> bool:
        return self.keys.erase(conn, subject_id, to_db(self.clock()))


def _is_integrity_error(exc: Exception) -> bool:
    from sqlalchemy.exc import IntegrityError

    if isinstance(exc, IntegrityError):
        return True
    try:  # raised straight by the driver from ``bulk_insert``
        import psycopg2

        return isinstance(exc, psycopg2.IntegrityError)
    except ImportError:
        return False
