"""Integrity: recompute the hash chains, to find an event changed after it was written.

Needs nothing of the store but the events table, so it reads as a function on its own;
``EventStore.verify`` delegates here.

The table is read in pages in (stream, version) order, each page found from the last row of
the one before through the ``(stream_id, version)`` index, so memory stays that of one page
whatever the store holds (PostgreSQL's driver would otherwise receive the whole table before
the first row is looked at). On a connection with no transaction open each page is a read
transaction of its own: no snapshot is held for the whole scan (on PostgreSQL it would hold
back the oldest transaction id every relay waits on at a gap) and on SQLite writers go on
between pages. Events are only ever appended, so the chains read this way are the ones a
single snapshot would show, plus whatever was appended meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlalchemy import select, tuple_
from sqlalchemy.engine import Connection, RowMapping

from . import hashing
from .schema import events

# Rows per page: a few hundred kilobytes of events.
PAGE = 1000


def verify(conn: Connection, streams: Iterable[str] | None = None, page: int = PAGE) -> list[dict]:
    """Recompute every stream's hash chain; return the first tampered event of each
    broken stream (empty list: the store verifies clean)."""
    problems: list[dict] = []
    current, prev, expected_version, broken = None, hashing.GENESIS, 1, False
    for r in _rows(conn, None if streams is None else list(streams), page):
        if r["stream_id"] != current:
            current, prev, expected_version, broken = r["stream_id"], hashing.GENESIS, 1, False
        if broken:
            continue
        reason = None
        if r["version"] != expected_version:
            reason = f"version {r['version']} where {expected_version} was expected"
        elif hashing.event_hash(prev, dict(r)) != r["hash"]:
            reason = "content does not match its hash"
        if reason:
            problems.append(
                {
                    "stream_id": r["stream_id"],
                    "version": r["version"],
                    "position": r["position"],
                    "event_id": r["event_id"],
                    "reason": reason,
                }
            )
            broken = True
            continue
        prev, expected_version = r["hash"], expected_version + 1
    return problems


def _rows(conn: Connection, streams: list[str] | None, page: int) -> Iterator[RowMapping]:
    """Every event (of ``streams``), in (stream, version) order, a page at a time."""
    own = not conn.in_transaction()  # pages may end their read transactions
    after: tuple[str, int] | None = None
    while True:
        q = select(events).order_by(events.c.stream_id, events.c.version).limit(page)
        if streams is not None:
            q = q.where(events.c.stream_id.in_(streams))
        if after is not None:
            q = q.where(tuple_(events.c.stream_id, events.c.version) > tuple_(*after))
        rows = conn.execute(q).mappings().all()
        if own:
            conn.rollback()
        yield from rows
        if len(rows) < page:
            return
        after = (rows[-1]["stream_id"], rows[-1]["version"])
