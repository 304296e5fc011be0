"""Anchors: the state of the hash chains written down *outside* the database.

Each stream is a hash chain, so editing an event breaks its stream (``EventStore.verify``).
What a chain cannot show is an attacker with write access to the database who rewrites a
stream and recomputes its hashes, drops the newest events of a stream, or deletes a stream:
the rest still verifies. An anchor records, up to a global position, a root hash over every
stream's head (stream id, version, hash) and the event and stream counts. Kept where the DBA
cannot write (printed, mailed, put on write-once storage), it lets ``sesp verify --anchors``
prove that nothing up to that position has changed since.

The position is gap-safe (a ``Tailer`` reads to the end of what is committed), so an event
that commits late with a lower position cannot change an anchor after it was taken.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from .schema import events, relay_state
from .store import EventStore
from .tailing import Tailer


def safe_position(store: EventStore, engine: Engine) -> int:
    """The highest position below which every event is committed and none can still appear:
    the relay's published position, then tailed to the end of the committed log."""
    with engine.connect() as conn:
        start = conn.execute(select(func.max(relay_state.c.position))).scalar() or 0
    tailer = Tailer(store, engine, start)
    while tailer.poll(5000):
        pass
    return tailer.position


def state_at(conn: Connection, position: int) -> dict[str, Any]:
    """Root hash over every stream's head as of ``position``, with the counts."""
    heads = (
        select(events.c.stream_id, func.max(events.c.version).label("version"))
        .where(events.c.position <= position)
        .group_by(events.c.stream_id)
        .subquery()
    )
    rows = conn.execute(
        select(events.c.stream_id, events.c.version, events.c.hash)
        .join(
            heads,
            (events.c.stream_id == heads.c.stream_id) & (events.c.version == heads.c.version),
        )
        .order_by(events.c.stream_id)
        # a head per stream: fetched in chunks (a server-side cursor on PostgreSQL), not held
        .execution_options(yield_per=1000)
    )
    digest = hashlib.sha256()
    streams = 0
    for stream_id, version, head_hash in rows:
        digest.update(f"{stream_id}\t{version}\t{head_hash}\n".encode())
        streams += 1
    count = conn.execute(
        select(func.count()).select_from(events).where(events.c.position <= position)
    ).scalar_one()
    return {"position": position, "events": count, "streams": streams, "root": digest.hexdigest()}


def take(service: str, store: EventStore, engine: Engine) -> dict[str, Any]:
    """An anchor of ``service``'s store now: what to keep outside the database."""
    position = safe_position(store, engine)
    with engine.connect() as conn:
        state = state_at(conn, position)
    return {"service": service, "taken_at": datetime.now(UTC).isoformat(), **state}


def check(anchor: dict[str, Any], engine: Engine) -> list[str]:
    """What differs between the store and an anchor taken earlier (empty: nothing)."""
    with engine.connect() as conn:
        now = state_at(conn, int(anchor["position"]))
    return [
        f"{key}: anchored {anchor[key]}, now {now[key]}"
        for key in ("events", "streams", "root")
        if anchor.get(key) != now[key]
    ]
