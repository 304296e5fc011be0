"""Engines and migrations for a service database (SQLite embedded default, or PostgreSQL)."""

from __future__ import annotations

import json
import os
import threading
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

MIGRATIONS = Path(__file__).parent / "migrations"
# The one Alembic environment every chain runs in.
ENVIRONMENT = Path(__file__).resolve().parent.parent / "migrations"


_SQLITE_LOCKS: dict[str, threading.RLock] = {}


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    own_lock: bool = False,
    statement_timeout_ms: int | None = None,
) -> Engine:
    """An engine with the settings this project relies on.

    SQLite: files readable by their owner only (``owner_only``), ``secure_delete``, WAL, a
    busy timeout for other processes (the CLI), and ``BEGIN IMMEDIATE`` so a
    writer takes the lock up front instead of failing on upgrade. SQLite never yields to
    eventlet: a greenlet that waited for the file lock inside the driver would block the whole
    process, including the greenlet holding the lock. So every engine of one process on one
    file shares an in-process lock taken at ``BEGIN`` and released at commit or rollback:
    greenlets (workers, the relay) queue for it cooperatively, and only other processes ever
    meet the busy timeout. Each engine keeps one connection (pool of 1). ``own_lock=True``
    gives an engine a lock of its own, as another process would have (tests that race real
    OS threads use it; green locks must not be shared with them).
    PostgreSQL: psycopg2 (it yields under eventlet; see docs/operations.md).
    ``statement_timeout_ms``: PostgreSQL cancels any statement of this engine that runs (or
    waits for a lock) longer; none by default (operator commands scan whole stores). A
    service's engines set one (``ServiceDatabase``).
    """
    if url.startswith("sqlite"):
        engine = create_engine(
            url, poolclass=_OneConnectionPool, pool_size=1, max_overflow=0, pool_timeout=60
        )
        key = engine.url.database or ":memory:"
        lock = threading.RLock() if own_lock else _SQLITE_LOCKS.setdefault(key, threading.RLock())

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            owner_only(key)  # before the WAL and SHM files exist: they take the file's mode
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
            cur = dbapi_conn.cursor()
            # Deleted content (an erased subject's wrapped key) is overwritten, not left in
            # free pages.
            cur.execute("PRAGMA secure_delete=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        # The lock and ``BEGIN IMMEDIATE`` are the dialect's own begin, commit and rollback
        # (not engine events): with no engine event listened to, SQLAlchemy skips its event
        # dispatch on every statement and transaction, a cost on the path of every write.
        hooks = _WriteLock(lock)
        dialect: Any = engine.dialect
        dialect.do_begin = hooks.begin
        dialect.do_commit = hooks.commit
        dialect.do_rollback = hooks.rollback
        return engine
    # A session left idle inside a transaction holds back the cluster-wide xmin that every
    # relay's tailer waits on at a gap: end such sessions after five minutes.
    options = "-c idle_in_transaction_session_timeout=300000"
    if statement_timeout_ms:
        options += f" -c statement_timeout={int(statement_timeout_ms)}"
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        # No pre-ping: it costs a round trip per checkout. A connection broken by a database
        # restart fails its first statement; SQLAlchemy then invalidates the whole pool, and
        # the command fails cleanly (and is retried by its caller) instead of hanging.
        pool_recycle=3600,
        connect_args={"options": options},
    )


class _OneConnectionPool(QueuePool):
    """An SQLite engine's pool of one connection, whose waiters queue on one plain lock.

    ``QueuePool`` makes waiters wait on a condition variable in Python: with several threads
    taking turns on one connection, each hand-over ran Python code in the waker and the woken
    (and in a woken thread that found the connection taken again), all of it holding the GIL
    the connection's holder needs. Here a checkout first takes ``_turn`` (waiting up to the
    pool's timeout), then finds the connection in the queue without waiting; a checkin puts it
    back, then lets the next one in."""

    def __init__(self, creator: Any, **kw: Any):
        super().__init__(creator, **kw)
        self._turn = threading.Lock()

    def _do_get(self) -> ConnectionPoolEntry:
        if not self._turn.acquire(timeout=self._timeout):
            raise sa_exc.TimeoutError(
                f"SQLite pool of one connection: not free after {self._timeout:.2f} s",
                code="3o7r",
            )
        try:
            return super()._do_get()
        except BaseException:
            self._turn.release()
            raise

    def _do_return_conn(self, record: ConnectionPoolEntry) -> None:
        try:
            super()._do_return_conn(record)
        finally:
            self._turn.release()


class _WriteLock:
    """An SQLite engine's transactions: ``BEGIN IMMEDIATE`` under the in-process lock, which is
    released just before ``COMMIT`` or ``ROLLBACK`` is sent, with no switch in between.

    SQLAlchemy hands each method a proxy of the pooled connection (its DB-API connection is
    ``dbapi_connection``); ``holding`` is the DB-API connections whose transaction holds the
    lock."""

    __slots__ = ("holding", "lock")

    def __init__(self, lock: Any):
        self.lock = lock
        self.holding: set[Any] = set()

    def begin(self, conn: Any) -> None:
        raw = conn.dbapi_connection
        self.lock.acquire()
        try:
            # Straight to the driver: SQLAlchemy's execution path would cost more than the
            # statement (once per transaction, on the path of every write).
            sqlite_execute(raw, "BEGIN IMMEDIATE")
        except BaseException:
            self.lock.release()
            raise
        self.holding.add(raw)

    def _release(self, conn: Any) -> Any:
        raw = getattr(conn, "dbapi_connection", conn)
        if raw in self.holding:
            self.holding.discard(raw)
            self.lock.release()
        return raw

    def commit(self, conn: Any) -> None:
        self._release(conn).commit()

    def rollback(self, conn: Any) -> None:
        self._release(conn).rollback()


def sqlite_execute(raw: Any, statement: str, params: Any = ()) -> Any:
    """``raw.execute`` on an sqlite3 connection, its errors raised as SQLAlchemy raises them
    (``OperationalError`` for a locked file, ...), so callers that tell an outage from a bug
    by SQLAlchemy's classes see the same either way."""
    import sqlite3

    from sqlalchemy import exc as sa_exc

    try:
        return raw.execute(statement, params)
    except sqlite3.Error as err:
        raise sa_exc.DBAPIError.instance(statement, params, err, sqlite3.Error) from err


def migrate(
    engine: Engine, extra_chains: list[tuple[str, Path]] | None = None, *, kernel: bool = True
) -> None:
    """Bring the store tables (``kernel``) and any other chains to head with Alembic.

    A chain is ``(version_table, folder)``: an owner keeps its migrations in ``folder/versions``
    with its own version table, next to the kernel's; all of them run in the one environment
    of ``infra/migrations``.
    """
    from alembic import command
    from alembic.config import Config

    chains = ([("sesp_kernel", MIGRATIONS)] if kernel else []) + list(extra_chains or [])
    with engine.begin() as conn:
        for version_table, path in chains:
            cfg = Config()
            cfg.set_main_option("script_location", str(ENVIRONMENT))
            cfg.set_main_option("version_locations", str(Path(path) / "versions"))
            cfg.attributes["connection"] = conn
            cfg.attributes["version_table"] = version_table
            command.upgrade(cfg, "head")


def owner_only(database: str) -> None:
    """Make an SQLite database and its WAL and SHM files readable by their owner only: they
    hold personal data (encrypted) and the keys that open it (wrapped)."""
    if database in ("", ":memory:") or database.startswith("file:"):
        return
    for suffix in ("", "-wal", "-shm", "-journal"):
        try:
            os.chmod(database + suffix, 0o600)
        except FileNotFoundError:
            pass
        except PermissionError:  # another user's file: theirs to keep
            pass


def truncate_wal(engine: Engine) -> bool:
    """SQLite: copy the WAL into the database and empty it, so that page images holding what
    was just overwritten (an erased subject's wrapped key) do not live on in it. False when a
    reader in another process kept it from finishing (the next checkpoint copies it over)."""
    if engine.dialect.name != "sqlite":
        return True
    lock = _SQLITE_LOCKS.get(engine.url.database or ":memory:") or threading.RLock()
    with engine.connect() as conn, lock:  # no transaction of this process is open meanwhile
        raw = conn.connection.dbapi_connection
        assert raw is not None
        # Never wait on another process's reader: SQLite would block this whole process.
        raw.execute("PRAGMA busy_timeout=0")
        try:
            busy, _, _ = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        finally:
            raw.execute("PRAGMA busy_timeout=30000")
    return busy == 0


def vacuum_free_pages(engine: Engine) -> bool:
    """SQLite: rewrite the database when it has free pages, then empty the WAL. Pages freed
    before ``secure_delete`` was on still hold what was deleted (a store written by an older
    version); True when it rewrote the file."""
    if engine.dialect.name != "sqlite":
        return False
    lock = _SQLITE_LOCKS.get(engine.url.database or ":memory:") or threading.RLock()
    with engine.connect() as conn, lock:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        if not raw.execute("PRAGMA freelist_count").fetchone()[0]:
            return False
        raw.execute("VACUUM")
    truncate_wal(engine)
    return True


# Rows per statement when a bulk goes to PostgreSQL as one JSON document.
JSON_BULK_ROWS = 5000


class _NotPlainJSON(Exception):
    pass


def _json_value(value: Any) -> str:
    # Naive datetimes (the store's UTC) and dates as ISO text, which PostgreSQL reads back
    # exactly (microseconds included). Anything else (an aware datetime, bytes, Decimal) takes
    # the other path, where the driver adapts it.
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.isoformat()
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    raise _NotPlainJSON


def bulk_insert(conn, table, rows: list[dict], *, ignore_duplicates: bool = False) -> None:
    """Insert many rows (all with the same keys) in one statement; ``ignore_duplicates``
    skips rows whose key is taken (``ON CONFLICT DO NOTHING``).

    On PostgreSQL the rows travel as one JSON parameter, expanded by the server with
    ``json_populate_recordset`` in their order: the driver quotes one string instead of
    adapting every value (psycopg2's per-value adaptation is what ``execute_values`` spends
    its time on), and the server parses one literal instead of a VALUES list. Rows holding
    values that are not plain JSON go through ``execute_values``. Elsewhere through
    SQLAlchemy."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        from sqlalchemy import insert

        stmt = insert(table)
        conn.execute(stmt.prefix_with("OR IGNORE") if ignore_duplicates else stmt, rows)
        return
    conflict = " ON CONFLICT DO NOTHING" if ignore_duplicates else ""
    cols = list(rows[0])
    keys = rows[0].keys()
    quote = conn.dialect.identifier_preparer.quote
    name = conn.dialect.identifier_preparer.format_table(table)
    col_list = ", ".join(quote(c) for c in cols)
    cur = conn.connection.dbapi_connection.cursor()
    try:
        if all(r.keys() == keys for r in rows):
            sql = (
                f"INSERT INTO {name} ({col_list}) SELECT {col_list}"
                f" FROM json_populate_recordset(NULL::{name}, %s) WITH ORDINALITY AS r"
                f" ORDER BY r.ordinality{conflict}"
            )
            try:
                docs = [
                    json.dumps(
                        rows[i : i + JSON_BULK_ROWS],
                        ensure_ascii=False,
                        separators=(",", ":"),
                        allow_nan=False,
                        default=_json_value,
                    )
                    for i in range(0, len(rows), JSON_BULK_ROWS)
                ]
            except (_NotPlainJSON, ValueError):  # NaN or infinity: not JSON either
                pass
            else:
                for doc in docs:
                    cur.execute(sql, (doc,))
                return
        from psycopg2.extras import execute_values

        execute_values(
            cur,
            f"INSERT INTO {name} ({col_list}) VALUES %s{conflict}",
            [tuple(r[c] for c in cols) for r in rows],
            page_size=1000,
        )
    finally:
        cur.close()
