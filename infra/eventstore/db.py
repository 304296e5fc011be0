"""Engines and migrations for a service database (SQLite embedded default, or PostgreSQL)."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

MIGRATIONS = Path(__file__).parent / "migrations"


_SQLITE_LOCKS: dict[str, threading.RLock] = {}


def make_engine(url: str, *, pool_size: int = 10, own_lock: bool = False) -> Engine:
    """An engine with the settings this project relies on.

    SQLite: WAL, a busy timeout for other processes (the CLI), and ``BEGIN IMMEDIATE`` so a
    writer takes the lock up front instead of failing on upgrade. SQLite never yields to
    eventlet: a greenlet that waited for the file lock inside the driver would block the whole
    process, including the greenlet holding the lock. So every engine of one process on one
    file shares an in-process lock taken at ``BEGIN`` and released at commit or rollback:
    greenlets (workers, the relay) queue for it cooperatively, and only other processes ever
    meet the busy timeout. Each engine keeps one connection (pool of 1). ``own_lock=True``
    gives an engine a lock of its own, as another process would have (tests that race real
    OS threads use it; green locks must not be shared with them).
    PostgreSQL: psycopg2 (it yields under eventlet; see docs/operations.md).
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, pool_size=1, max_overflow=0, pool_timeout=60)
        key = engine.url.database or ":memory:"
        lock = threading.RLock() if own_lock else _SQLITE_LOCKS.setdefault(key, threading.RLock())

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):
            lock.acquire()
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                lock.release()
                raise
            conn.info["sesp_locked"] = True

        def _release(conn):
            # Runs just before COMMIT/ROLLBACK is sent, with no switch in between.
            if conn.info.pop("sesp_locked", False):
                lock.release()

        event.listen(engine, "commit", _release)
        event.listen(engine, "rollback", _release)
        return engine
    # A session left idle inside a transaction holds back the cluster-wide xmin that every
    # relay's tailer waits on at a gap: end such sessions after five minutes.
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        # No pre-ping: it costs a round trip per checkout. A connection broken by a database
        # restart fails its first statement; SQLAlchemy then invalidates the whole pool, and
        # the command fails cleanly (and is retried by its caller) instead of hanging.
        pool_recycle=3600,
        connect_args={"options": "-c idle_in_transaction_session_timeout=300000"},
    )


def migrate(
    engine: Engine, extra_chains: list[tuple[str, Path]] | None = None, *, kernel: bool = True
) -> None:
    """Bring the store tables (``kernel``) and any other chains to head with Alembic.

    A chain is ``(version_table, folder)``: each service keeps its read-model migrations in
    its own folder with its own version table, next to the kernel's.
    """
    from alembic import command
    from alembic.config import Config

    chains = ([("sesp_kernel", MIGRATIONS)] if kernel else []) + list(extra_chains or [])
    with engine.begin() as conn:
        for version_table, path in chains:
            cfg = Config()
            cfg.set_main_option("script_location", str(path))
            cfg.attributes["connection"] = conn
            cfg.attributes["version_table"] = version_table
            command.upgrade(cfg, "head")


def bulk_insert(conn, table, rows: list[dict]) -> None:
    """Insert many rows in one statement. On PostgreSQL straight through psycopg2's
    ``execute_values`` (SQLAlchemy's per-row parameter processing costs more than the server's
    work for a bulk of a few thousand rows); elsewhere through SQLAlchemy."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        from sqlalchemy import insert

        conn.execute(insert(table), rows)
        return
    from psycopg2.extras import execute_values

    cols = list(rows[0])
    sql = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES %s"
    cur = conn.connection.dbapi_connection.cursor()
    try:
        execute_values(cur, sql, [tuple(r[c] for c in cols) for r in rows], page_size=1000)
    finally:
        cur.close()
