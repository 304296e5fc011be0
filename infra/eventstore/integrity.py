"""Integrity: recompute the hash chains, to find an event changed after it was written.

Needs nothing of the store but the events table, so it reads as a function on its own;
``EventStore.verify`` delegates here.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.engine import Connection

from . import hashing
from .schema import events


def verify(conn: Connection, streams: Iterable[str] | None = None) -> list[dict]:
    """Recompute every stream's hash chain; return the first tampered event of each
    broken stream (empty list: the store verifies clean)."""
    q = select(events).order_by(events.c.stream_id, events.c.version)
    if streams is not None:
        q = q.where(events.c.stream_id.in_(list(streams)))
    problems: list[dict] = []
    current, prev, expected_version, broken = None, hashing.GENESIS, 1, False
    for r in conn.execute(q).mappings():
        if r["stream_id"] != current:
            current, prev, expected_version, broken = r["stream_id"], hashing.GENESIS, 1, False
        if broken:
            continue
        row = dict(r)
        reason = None
        if row["version"] != expected_version:
            reason = f"version {row['version']} where {expected_version} was expected"
        elif hashing.event_hash(prev, row) != row["hash"]:
            reason = "content does not match its hash"
        if reason:
            problems.append(
                {
                    "stream_id": row["stream_id"],
                    "version": row["version"],
                    "position": row["position"],
                    "event_id": row["event_id"],
                    "reason": reason,
                }
            )
            broken = True
            continue
        prev, expected_version = row["hash"], expected_version + 1
    return problems
