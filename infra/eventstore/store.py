"""The event store: append-only streams on SQLAlchemy Core, same API on SQLite and PostgreSQL.

All methods take a ``Connection`` inside the caller's transaction, so events, read-model
updates and consumer bookkeeping commit together or not at all.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, text
from sqlalchemy.engine import Connection

from . import hashing, integrity
from .crypto import (
    PERSONAL_MARK,
    SubjectKeys,
    decrypt_personal,
    encrypt_personal,
    unwrap_personal,
)
from .db import _json_value, bulk_insert, sqlite_execute
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
        *,
        head_hash: str | None = None,
    ) -> list[StoredEvent]:
        """Append atomically after ``expected_version`` (0: new stream; None: wherever it is).

        Raises ``ConcurrencyError`` when the stream is elsewhere. Appending events whose ids are
        all stored already is a no-op that returns ``[]`` (a retried command).

        ``head_hash``: the hash of the stream's event at ``expected_version``, as the caller
        loaded it (``StoredEvent.hash``). With it, or for a new stream (expected version 0),
        the append is one statement and no read: an ``INSERT`` that writes only if that event
        is still the head (the unique ``(stream_id, version)`` key and a check of the
        predecessor's hash in the same statement are the guard). When it writes nothing, the
        append falls back to the read-then-insert path below, which raises or ignores a retry
        exactly as without ``head_hash``.
        """
        if not new_events:
            return []
        if (
            expected_version is not None
            and (expected_version == 0 or head_hash)
            and len(new_events) <= _FAST_MAX
            and (self.dialect == "postgresql" or _SQLITE_RETURNING)
        ):
            if len(new_events) == 1 and self.dialect == "sqlite":
                written = self._append_one_sqlite(
                    conn,
                    stream_id,
                    expected_version,
                    head_hash or hashing.GENESIS,
                    new_events[0],
                    meta,
                )
            else:
                written = self._append_at_head(
                    conn,
                    stream_id,
                    expected_version,
                    head_hash or hashing.GENESIS,
                    new_events,
                    meta,
                )
            if written is not None:
                return written
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
                if self.dialect != "postgresql":
                    # SQLite keeps the rows inserted before the failing one, and the caller's
                    # transaction goes on: take them out (this transaction holds the write
                    # lock since it read the head, so rows past the head are ours).
                    conn.execute(
                        events.delete().where(
                            events.c.stream_id == stream_id, events.c.version > head_version
                        )
                    )
                raise ConcurrencyError(stream_id, head_version, None) from exc
            raise
        return self._written(rows, new_events, meta)

    def _append_at_head(
        self,
        conn: Connection,
        stream_id: str,
        head_version: int,
        head_hash: str,
        new_events: Sequence[NewEvent],
        meta: dict[str, Any] | None,
    ) -> list[StoredEvent] | None:
        """The one-statement append after a known head; None when it wrote nothing (the head
        moved, or is not what the caller loaded, or the events are stored already)."""
        now = self.clock()
        meta = meta or make_meta()
        rows = self._rows(conn, stream_id, head_version, head_hash, new_events, meta, now, 0)
        if self.dialect == "postgresql":
            got = _insert_at_head_pg(conn, rows, stream_id, head_version, head_hash)
        else:
            got = _insert_at_head_sqlite(conn, rows, stream_id, head_version, head_hash)
        if len(got) != len(rows):
            if got:  # some rows went in and others met a taken key: take ours back out
                conn.execute(events.delete().where(events.c.position.in_(list(got.values()))))
            return None
        return self._written(rows, new_events, meta, got)

    def _append_one_sqlite(
        self,
        conn: Connection,
        stream_id: str,
        head_version: int,
        head_hash: str,
        ev: NewEvent,
        meta: dict[str, Any] | None,
    ) -> list[StoredEvent] | None:
        """``_append_at_head`` of one event on SQLite, the common case, with nothing on its way
        that one row does not need: the row's values go straight into the hash and the
        statement (no row dict, no list of rows), the times are formatted once (the text
        SQLAlchemy's ``DateTime`` stores on SQLite is the hash's with a space for the ``T``),
        and the statement reports what it wrote by its row count and the last rowid instead of
        ``RETURNING``. The same row, hash and answers as ``_append_at_head``."""
        now = self.clock()
        now_db = to_db(now)
        meta = meta or make_meta()
        meta_text = hashing.canonical(meta)
        data = hashing.plain_canonical(ev.data) or hashing.canonical(
            encrypt_personal(ev.data, conn, self.keys, now)
        )
        recorded = now_db.isoformat(timespec="microseconds")
        if ev.occurred_at:
            occurred_db = to_db(ev.occurred_at)
            occurred = occurred_db.isoformat(timespec="microseconds")
        else:
            occurred_db, occurred = now_db, recorded
        version = head_version + 1
        link = hashing.link_hash(
            head_hash,
            ev.event_id,
            stream_id,
            version,
            ev.type,
            ev.schema_version,
            data,
            meta_text,
            occurred,
            recorded,
        )
        params: tuple[Any, ...] = (
            ev.event_id,
            stream_id,
            version,
            ev.type,
            ev.schema_version,
            data,
            meta_text,
            occurred.replace("T", " "),
            recorded.replace("T", " "),
            0,
            link,
        )
        if head_version:
            params += (stream_id, head_version, head_hash)
            sql = _SQLITE_ONE_AFTER_HEAD
        else:
            sql = _SQLITE_ONE_NEW_STREAM
        raw = conn.connection.dbapi_connection
        assert raw is not None
        cur = sqlite_execute(raw, sql, params)
        try:
            if cur.rowcount != 1:  # the head moved, or is not the caller's, or a retry
                return None
            position = cur.lastrowid
        finally:
            cur.close()
        recorded_at = from_db(now_db)
        return [
            StoredEvent(
                position=position,
                event_id=ev.event_id,
                stream_id=stream_id,
                version=version,
                type=ev.type,
                schema_version=ev.schema_version,
                data=unwrap_personal(ev.data) if "$personal" in data else ev.data,
                meta=meta,
                occurred_at=from_db(occurred_db) if ev.occurred_at else recorded_at,
                recorded_at=recorded_at,
                hash=link,
            )
        ]

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
        rows: list[dict],
        new_events: Sequence[NewEvent],
        meta: dict[str, Any],
        positions: dict[int, int] | None = None,
    ) -> list[StoredEvent]:
        # Positions are assigned by the database: given by the one-statement append (by
        # version), 0 otherwise (read back only when a caller needs them).
        # The caller's own data (personal values unwrapped) needs no decrypting round trip.
        if not rows:
            return []
        recorded_at = from_db(rows[0]["recorded_at"])
        return [
            StoredEvent(
                position=positions[r["version"]] if positions else 0,
                event_id=r["event_id"],
                stream_id=r["stream_id"],
                version=r["version"],
                type=r["type"],
                schema_version=r["schema_version"],
                data=unwrap_personal(ev.data) if "$personal" in r["data"] else ev.data,
                meta=meta,
                occurred_at=from_db(r["occurred_at"]) if ev.occurred_at else recorded_at,
                recorded_at=recorded_at,
                hash=r["hash"],
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
        self,
        conn: Connection,
        stream_ids: Iterable[str],
        decrypt: bool = True,
        after: Mapping[str, int] | None = None,
    ) -> dict[str, list[StoredEvent]]:
        """Every event of each named stream, in version order, in one query per 500 streams
        (a batch command loads all its aggregates at once); ``after``: a stream's events after
        that version only (those after its snapshot), one query per distinct version."""
        out: dict[str, list[StoredEvent]] = {}
        since: dict[int, list[str]] = {}
        for stream_id in dict.fromkeys(stream_ids):
            since.setdefault((after or {}).get(stream_id, 0), []).append(stream_id)
        for version, ids in since.items():
            for start in range(0, len(ids), 500):
                query = select(events).where(events.c.stream_id.in_(ids[start : start + 500]))
                if version:
                    query = query.where(events.c.version > version)
                rows = conn.execute(query.order_by(events.c.stream_id, events.c.version))
                for r in rows.mappings():
                    stored = self._to_stored(conn, r, decrypt=decrypt)
                    out.setdefault(r["stream_id"], []).append(stored)
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
            # Stored text without the envelope's key holds nothing to decrypt: skip the walk
            # (most events name no person; loading a batch's aggregates reads many).
            data=(
                decrypt_personal(data, conn, self.keys)
                if decrypt and not (isinstance(stored, str) and PERSONAL_MARK not in stored)
                else data
            ),
            meta=json.loads(meta) if isinstance(meta, str) else meta,
            occurred_at=from_db(r["occurred_at"]),
            recorded_at=from_db(r["recorded_at"]),
            stored_data=stored if as_stored else None,
            hash=r["hash"],
        )

    # -- integrity and erasure -----------------------------------------------------------

    def verify(self, conn: Connection, streams: Iterable[str] | None = None) -> list[dict]:
        """Recompute every stream's hash chain (see ``integrity.verify``)."""
        return integrity.verify(conn, streams)

    def erase_subject(self, conn: Connection, subject_id: str) -> bool:
        return self.keys.erase(conn, subject_id, to_db(self.clock()))


# Events per append that take the one-statement path (more go through the head read).
_FAST_MAX = 500
_COLUMNS = (
    "event_id",
    "stream_id",
    "version",
    "type",
    "schema_version",
    "data",
    "meta",
    "occurred_at",
    "recorded_at",
    "tx_id",
    "hash",
)
_COLUMN_LIST = ", ".join(_COLUMNS)
# The predecessor must be the head the caller loaded: the event at that version, with that hash.
_AT_HEAD = "EXISTS (SELECT 1 FROM events WHERE stream_id = {0} AND version = {0} AND hash = {0})"

# PostgreSQL: the transaction id is taken by the first statement, *before* the INSERT draws
# positions from the sequence (see ``tailing``); both travel in one round trip. The rows come
# as one JSON document (see ``db.bulk_insert``), inserted in their order. ``ON CONFLICT DO
# NOTHING``: a taken (stream, version) or event id writes nothing instead of aborting the
# caller's transaction; the caller sees it from the rows returned.
_PG_AT_HEAD = (
    "SELECT pg_current_xact_id(); "
    f"INSERT INTO events ({_COLUMN_LIST}) SELECT "
    + ", ".join(
        "pg_current_xact_id()::text::bigint" if c == "tx_id" else f"r.{c}" for c in _COLUMNS
    )
    + " FROM json_populate_recordset(NULL::events, %s) WITH ORDINALITY AS r WHERE {where}"
    " ORDER BY r.ordinality ON CONFLICT DO NOTHING RETURNING version, position"
)
_PG_NEW_STREAM = _PG_AT_HEAD.format(where="true")
_PG_AFTER_HEAD = _PG_AT_HEAD.format(where=_AT_HEAD.format("%s"))


# One event (the common case): a statement prepared once per connection, so the server
# neither parses nor plans it again (planning costs more than the insert itself).
_PG_PREPARED = "sesp_events_append_one"
_PG_PREPARE = (
    f"PREPARE {_PG_PREPARED} (text, text, int, text, int, text, text, timestamp, timestamp,"
    f" text, text) AS INSERT INTO events ({_COLUMN_LIST})"
    " SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, pg_current_xact_id()::text::bigint, $10"
    " WHERE $3 = 1 OR EXISTS (SELECT 1 FROM events"
    " WHERE stream_id = $2 AND version = $3 - 1 AND hash = $11)"
    " ON CONFLICT DO NOTHING RETURNING version, position"
)
_PG_EXECUTE = (
    f"SELECT pg_current_xact_id(); EXECUTE {_PG_PREPARED}"
    " (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def _insert_at_head_pg(
    conn: Connection, rows: list[dict], stream_id: str, head_version: int, head_hash: str
) -> dict[int, int]:
    """Insert ``rows`` if the stream's head is still (``head_version``, ``head_hash``); the
    positions of the rows written, by version."""
    if len(rows) == 1:
        r = rows[0]
        info = conn.connection.info  # per DB-API connection, cleared when it reconnects
        if not info.get(_PG_PREPARED):  # once per connection; it outlives a rollback
            conn.exec_driver_sql(_PG_PREPARE)
            info[_PG_PREPARED] = True
        result = conn.exec_driver_sql(
            _PG_EXECUTE,
            (
                r["event_id"],
                r["stream_id"],
                r["version"],
                r["type"],
                r["schema_version"],
                r["data"],
                r["meta"],
                r["occurred_at"],
                r["recorded_at"],
                r["hash"],
                head_hash,
            ),
        )
        return dict(result.all())
    doc = json.dumps(rows, ensure_ascii=False, separators=(",", ":"), default=_json_value)
    if head_version == 0:
        result = conn.exec_driver_sql(_PG_NEW_STREAM, (doc,))
    else:
        result = conn.exec_driver_sql(_PG_AFTER_HEAD, (doc, stream_id, head_version, head_hash))
    return dict(result.all())


# RETURNING came with SQLite 3.35 (and up to 32,766 parameters a statement with 3.32); an
# older library keeps the head-read path.
_SQLITE_RETURNING = sqlite3.sqlite_version_info >= (3, 35, 0)
_SQLITE_STATEMENTS: dict[tuple[int, bool], str] = {}


def _sqlite_at_head(n: int, new_stream: bool) -> str:
    sql = _SQLITE_STATEMENTS.get((n, new_stream))
    if sql is None:
        one = "(" + ", ".join("?" * len(_COLUMNS)) + ")"
        # SQLite needs a WHERE before an upsert's ON CONFLICT when inserting from a SELECT.
        where = "true" if new_stream else _AT_HEAD.format("?")
        sql = _SQLITE_STATEMENTS[(n, new_stream)] = (
            f"INSERT INTO events ({_COLUMN_LIST}) SELECT * FROM (VALUES {', '.join([one] * n)})"
            f" WHERE {where} ORDER BY 3 ON CONFLICT DO NOTHING RETURNING version, position"
        )
    return sql


# One event (``EventStore._append_one_sqlite``): the row written only after the caller's head
# (or as a new stream's first), nothing on a taken key; the cursor's row count says which.
# (SQLite needs a WHERE before an upsert's ON CONFLICT when inserting from a SELECT.)
_SQLITE_ONE = (
    f"INSERT INTO events ({_COLUMN_LIST}) SELECT {', '.join('?' * len(_COLUMNS))}"
    " WHERE {where} ON CONFLICT DO NOTHING"
)
_SQLITE_ONE_NEW_STREAM = _SQLITE_ONE.format(where="true")
_SQLITE_ONE_AFTER_HEAD = _SQLITE_ONE.format(where=_AT_HEAD.format("?"))


def _insert_at_head_sqlite(
    conn: Connection, rows: list[dict], stream_id: str, head_version: int, head_hash: str
) -> dict[int, int]:
    """As ``_insert_at_head_pg`` (SQLite holds the write lock from ``BEGIN IMMEDIATE``, so no
    other writer is in between; positions are the rowid, in insertion order)."""
    as_text = _sqlite_datetime(conn)
    params: list[Any] = []
    for r in rows:
        params += (
            r["event_id"],
            r["stream_id"],
            r["version"],
            r["type"],
            r["schema_version"],
            r["data"],
            r["meta"],
            as_text(r["occurred_at"]),
            as_text(r["recorded_at"]),
            0,
            r["hash"],
        )
    if head_version:
        params += (stream_id, head_version, head_hash)
    # Straight to the DB-API connection: the statement is fixed text, so SQLAlchemy's
    # execution machinery would only add its cost (sqlite3 caches the prepared statement).
    raw = conn.connection.dbapi_connection
    assert raw is not None
    cur = sqlite_execute(raw, _sqlite_at_head(len(rows), not head_version), params)
    try:
        return dict(cur.fetchall())
    finally:
        cur.close()


def _sqlite_datetime(conn: Connection) -> Any:
    """The text SQLAlchemy's ``DateTime`` stores on SQLite (the same form every read compares)."""
    global _SQLITE_DT
    if _SQLITE_DT is None:
        _SQLITE_DT = events.c.recorded_at.type.dialect_impl(conn.dialect).bind_processor(
            conn.dialect
        )
    return _SQLITE_DT


_SQLITE_DT: Any = None


def _is_integrity_error(exc: Exception) -> bool:
    from sqlalchemy.exc import IntegrityError

    if isinstance(exc, IntegrityError):
        return True
    try:  # raised straight by the driver from ``bulk_insert``
        import psycopg2

        return isinstance(exc, psycopg2.IntegrityError)
    except ImportError:
        return False
