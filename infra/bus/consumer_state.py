"""A consumer's bookkeeping beyond the version per stream (``consumer_streams``): its catch-up
checkpoint, the events waiting for their predecessor, and the streams parked behind a dead
letter. Each function is one short transaction of its own; the ones that must commit with a
handler's effect take the worker's connection instead.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, delete, insert, literal_column, select, update
from sqlalchemy.engine import Connection, Engine

from infra.eventstore.db import bulk_insert
from infra.eventstore.records import to_db, utcnow
from infra.eventstore.schema import (
    consumer_parked,
    consumer_pending,
    consumer_positions,
    consumer_streams,
    processed_events,
)


def load_position(engine: Engine, consumer: str) -> tuple[int, bool]:
    """(position read so far, reached the live queue); (0, False) for a new consumer."""
    with engine.connect() as conn:
        row = conn.execute(
            select(consumer_positions.c.position, consumer_positions.c.live).where(
                consumer_positions.c.consumer == consumer
            )
        ).first()
        conn.rollback()
    return (int(row.position), bool(row.live)) if row else (0, False)


def save_position(engine: Engine, consumer: str, position: int, live: bool) -> None:
    with engine.begin() as conn:
        values = {"position": position, "live": live, "updated_at": to_db(utcnow())}
        moved = conn.execute(
            update(consumer_positions)
            .where(consumer_positions.c.consumer == consumer)
            .values(**values)
        ).rowcount
        if not moved:
            conn.execute(insert(consumer_positions).values(consumer=consumer, **values))


def versions(engine: Engine, consumer: str, keys: list[str]) -> dict[str, int]:
    """Last applied version of each of ``keys`` that has one (one query per 500 keys)."""
    out: dict[str, int] = {}
    with engine.connect() as conn:
        for start in range(0, len(keys), 500):
            rows = conn.execute(
                select(consumer_streams.c.stream_id, consumer_streams.c.version).where(
                    consumer_streams.c.consumer == consumer,
                    consumer_streams.c.stream_id.in_(keys[start : start + 500]),
                )
            )
            out.update({r.stream_id: r.version for r in rows})
        conn.rollback()
    return out


def prune_processed(engine: Engine, older_than: datetime, batch: int = 10_000) -> int:
    """Forget the ids of events applied before ``older_than`` (naive UTC), every consumer's;
    returns how many. Exactly-once does not rest on them: an event is applied only as its
    stream's next version, by a compare-and-set on ``consumer_streams`` (kept), so a
    redelivered old event is still a duplicate.

    PostgreSQL: one statement (it blocks no writer). SQLite: ``batch`` rows per transaction,
    oldest first, so a backlog of millions does not hold the file's write lock for long."""
    old = processed_events.c.processed_at < older_than
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            return conn.execute(delete(processed_events).where(old)).rowcount or 0
    rowid = literal_column("rowid", Integer)
    first = select(rowid).select_from(processed_events).where(old).limit(batch)
    total = 0
    while True:
        with engine.begin() as conn:
            n = conn.execute(delete(processed_events).where(rowid.in_(first))).rowcount or 0
        total += n
        if n < batch:
            return total


# -- events waiting for their predecessor ------------------------------------------------


def pending_index(engine: Engine, consumer: str) -> dict[str, set[int]]:
    """Versions waiting per stream (small: only streams behind a gap or a dead letter)."""
    out: dict[str, set[int]] = {}
    with engine.connect() as conn:
        for r in conn.execute(
            select(consumer_pending.c.stream_id, consumer_pending.c.version).where(
                consumer_pending.c.consumer == consumer
            )
        ):
            out.setdefault(r.stream_id, set()).add(r.version)
        conn.rollback()
    return out


def hold(engine: Engine, consumer: str, key: str, version: int, event_id: str, body: dict) -> None:
    """Keep an event until its predecessor is applied (a redelivered copy changes nothing)."""
    row = {
        "consumer": consumer,
        "stream_id": key,
        "version": version,
        "event_id": event_id,
        "body": json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        "received_at": to_db(utcnow()),
    }
    with engine.begin() as conn:
        bulk_insert(conn, consumer_pending, [row], ignore_duplicates=True)


def pending_body(engine: Engine, consumer: str, key: str, version: int) -> dict[str, Any] | None:
    with engine.connect() as conn:
        body = conn.execute(
            select(consumer_pending.c.body).where(*_pending_row(consumer, key, version))
        ).scalar()
        conn.rollback()
    return None if body is None else json.loads(body)


def drop_pending(conn: Connection, consumer: str, key: str, version: int) -> None:
    conn.execute(delete(consumer_pending).where(*_pending_row(consumer, key, version)))


def drop_pending_now(engine: Engine, consumer: str, key: str, version: int) -> None:
    with engine.begin() as conn:
        drop_pending(conn, consumer, key, version)


def _pending_row(consumer: str, key: str, version: int) -> tuple:
    return (
        consumer_pending.c.consumer == consumer,
        consumer_pending.c.stream_id == key,
        consumer_pending.c.version == version,
    )


# -- streams parked behind a dead letter -------------------------------------------------


def parked(engine: Engine, consumer: str) -> dict[str, int]:
    """Parked streams and the version each is parked at."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(consumer_parked.c.stream_id, consumer_parked.c.version).where(
                consumer_parked.c.consumer == consumer
            )
        ).all()
        conn.rollback()
    return {r.stream_id: r.version for r in rows}


def park(engine: Engine, consumer: str, key: str, version: int, event_id: str, reason: str) -> None:
    values = {
        "version": version,
        "event_id": event_id,
        "reason": reason[:500],
        "parked_at": to_db(utcnow()),
    }
    with engine.begin() as conn:
        moved = conn.execute(
            update(consumer_parked)
            .where(consumer_parked.c.consumer == consumer, consumer_parked.c.stream_id == key)
            .values(**values)
        ).rowcount
        if not moved:
            conn.execute(insert(consumer_parked).values(consumer=consumer, stream_id=key, **values))


def unpark(conn: Connection, consumer: str, key: str) -> None:
    """In the transaction that applies the parked version: the stream flows again."""
    conn.execute(
        delete(consumer_parked).where(
            consumer_parked.c.consumer == consumer, consumer_parked.c.stream_id == key
        )
    )
