"""Read models declared on a service: its tables, and the rows an aggregate's state gives.

A service declares one ``ReadModels``: the ``MetaData`` its tables live on (the migrations
must create exactly these: ``tests/service/test_migrations_match_read_models.py``), its
aggregate ``Kinds``, ``rows(conn, aggregates)`` that writes the rows of aggregates just saved,
and ``facts`` for events that are not folded into an aggregate (written straight into a table).

Live writes and rebuilds run the same functions, so a rebuilt read model equals the live one
by construction; ``rebuild`` and ``digest`` are what the kernel's ``replay`` and
``read_model_digest`` RPCs run, for every service alike.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import MetaData, Table, delete, insert, select, update
from sqlalchemy.engine import Connection

from infra.eventstore import EventStore, StoredEvent
from infra.repository import Kinds

RowWriter = Callable[[Connection, Sequence[Any]], None]
FactWriter = Callable[[Connection, StoredEvent], None]


class ReadModels:
    def __init__(
        self,
        metadata: MetaData,
        kinds: Kinds,
        rows: RowWriter,
        *,
        facts: Mapping[str, FactWriter] | None = None,
        volatile: Iterable[str] = ("updated_at",),
        keep: Iterable[str] = (),
    ):
        self.metadata, self.kinds, self.rows = metadata, kinds, rows
        self.facts = dict(facts or {})
        # Columns that record when a row was written, not what it says: left out of digests.
        self.volatile = frozenset(volatile)
        # Tables on the metadata that hold state no event records in full (the last number
        # allocated per sequence): a rebuild keeps them, digests leave them out.
        self.keep = frozenset(keep)

    @property
    def tables(self) -> list[Table]:
        return list(self.metadata.sorted_tables)

    @property
    def projected(self) -> list[Table]:
        """The tables a rebuild writes again: every table but the kept ones."""
        return [t for t in self.tables if t.name not in self.keep]

    def save(self, conn: Connection, aggregates: Sequence[Any]) -> None:
        """Write the rows of aggregates that were just saved (the live path)."""
        self.rows(conn, aggregates)

    def project_fact(self, conn: Connection, ev: StoredEvent) -> bool:
        """Write a fact event into its table; False when ``ev`` is no fact of this service."""
        writer = self.facts.get(ev.type)
        if writer is None:
            return False
        writer(conn, ev)
        return True

    def clear(self, conn: Connection) -> None:
        for table in reversed(self.projected):
            conn.execute(delete(table))

    def rebuild(
        self,
        conn: Connection,
        store: EventStore,
        pause: Callable[[int], None] | None = None,
        batch: int = 500,
    ) -> int:
        """Empty every table and write it again from the store's events; returns how many
        events were read. ``pause(events_done)`` runs every ``batch`` events (to yield to
        other green threads and report progress)."""
        self.clear(conn)
        aggregates: dict[str, Any] = {}
        n = 0
        for ev in store.iter_all(conn):
            n += 1
            if pause is not None and n % batch == 0:
                pause(n)
            if self.project_fact(conn, ev):
                continue
            kind = self.kinds.of_stream(ev.stream_id)
            if kind is None or ev.type not in kind.types:
                continue
            aggregate = aggregates.get(ev.stream_id)
            if aggregate is None:
                aggregate = aggregates[ev.stream_id] = kind.cls()
            aggregate.apply(kind.event(ev))
        folded = list(aggregates.values())
        for start in range(0, len(folded), batch):
            self.rows(conn, folded[start : start + batch])
            if pause is not None:
                pause(n)
        return n

    def digest(self, conn: Connection) -> dict[str, str]:
        """A digest per table, to compare a rebuild with the live state."""
        out = {}
        for table in self.projected:
            cols = [c for c in table.c if c.name not in self.volatile]
            rows = conn.execute(select(*cols).order_by(*table.primary_key.columns)).all()
            out[table.name] = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
        return out


def upsert(conn: Connection, table: Table, row: dict[str, Any]) -> None:
    """Write ``row`` by its primary key: update it, or insert it when it is not there."""
    where = [c == row[c.name] for c in table.primary_key.columns]
    if not conn.execute(update(table).where(*where).values(**row)).rowcount:
        conn.execute(insert(table).values(**row))
