"""Gapless tailing of the global log, without a table lock.

Positions come from a sequence, so on PostgreSQL a transaction can commit *after* another one
that drew a higher position. A reader that just asks for ``position > last`` would then skip
the late event forever. The writer records its transaction id, taken before it draws a position
(see ``EventStore._head``). When the reader meets a gap it takes a fresh transaction id: every
transaction that could still fill that gap got its id before that one. Once the oldest running
transaction (``xmin``) has passed that mark, the gap is final (the writer rolled back) and the
reader steps over it; until then it delivers nothing beyond the gap. Events are therefore
delivered exactly once, in position order.

The mark is not the snapshot's ``xmax``: that is the newest *completed* transaction id + 1, and
a writer that got its id after that one (but drew a position below a committed event) is at or
above it, not even listed as running in the snapshot, so ``xmin`` could pass the mark while it
is still open.

SQLite serialises writers (a write transaction holds the lock from ``BEGIN IMMEDIATE`` to its
commit), so positions become visible in order and no hole below a delivered one can fill later.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.engine import Engine

from .errors import PoisonEvent
from .schema import events
from .store import EventStore, StoredEvent


@dataclass
class _Gap:
    start: int  # first missing position
    horizon: int  # a transaction id newer than any assigned when the gap was first seen


class Tailer:
    """Reads committed events after ``position`` in order, never skipping a late commit."""

    def __init__(self, store: EventStore, engine: Engine, position: int = 0):
        self.store = store
        self.engine = engine
        self.position = position
        self._gap: _Gap | None = None

    def poll(self, limit: int = 500) -> list[StoredEvent]:
        """The next events safe to deliver (possibly none). Advances ``position``.

        An event that cannot be read back (``PoisonEvent``) ends the batch before it; the
        next poll starts at it and raises, naming it, so everything before it goes out and
        the caller knows exactly where it is stuck."""
        if self.engine.dialect.name != "postgresql":
            with self.engine.connect() as conn:
                rows = (
                    conn.execute(
                        select(events)
                        .where(events.c.position > self.position)
                        .order_by(events.c.position)
                        .limit(limit)
                    )
                    .mappings()
                    .all()
                )
                batch: list[StoredEvent] = []
                for r in rows:
                    ev = self._read(conn, r, first=not batch)
                    if ev is None:
                        break
                    batch.append(ev)
            if batch:
                self.position = batch[-1].position
            return batch
        conn = self.engine.connect().execution_options(isolation_level="REPEATABLE READ")
        try:
            with conn.begin():
                # Same snapshot for both statements (REPEATABLE READ).
                xmin = int(
                    conn.execute(
                        text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text")
                    ).scalar_one()
                )
                rows = (
                    conn.execute(
                        select(events)
                        .where(events.c.position > self.position)
                        .order_by(events.c.position)
                        .limit(limit)
                    )
                    .mappings()
                    .all()
                )
                out: list[StoredEvent] = []
                expected = self.position + 1
                for r in rows:
                    if r["position"] != expected:
                        gap = self._gap
                        if gap is not None and gap.start == expected and xmin >= gap.horizon:
                            self._gap = None  # every writer that could fill it has ended
                        else:
                            if gap is None or gap.start != expected:
                                # Assigned after this snapshot, so above the id of any writer
                                # holding a missing position (costs one xid per new gap).
                                horizon = conn.execute(
                                    text("SELECT pg_current_xact_id()::text")
                                ).scalar_one()
                                self._gap = _Gap(expected, int(horizon))
                            break
                    ev = self._read(conn, r, first=not out)
                    if ev is None:
                        break
                    out.append(ev)
                    expected = r["position"] + 1
        finally:
            conn.close()
        if out:
            self.position = out[-1].position
            if self._gap is not None and self._gap.start <= self.position:
                self._gap = None
        return out

    def _read(self, conn, row, first: bool) -> StoredEvent | None:
        """The row as an event (personal fields stay encrypted: tailed events leave the
        service); ``None`` to end the batch before an unreadable row that is not first."""
        try:
            return self.store._to_stored(conn, row, decrypt=False)
        except Exception as exc:
            if not first:
                return None
            reason = f"unreadable: {type(exc).__name__}: {exc}"
            raise PoisonEvent(row["position"], row["event_id"], row["type"], reason) from exc
