"""Read models declared on a service: its tables, and the rows an aggregate's state gives.

A service declares one ``ReadModels``: the ``MetaData`` its tables live on (the migrations
must create exactly these: ``tests/service/test_migrations_match_read_models.py``), its
aggregate ``Kinds``, ``rows(conn, aggregates)`` that writes the rows of aggregates just saved,
and ``facts`` for events that are not folded into an aggregate (written straight into a table).

Live writes and rebuilds run the same functions, so a rebuilt read model equals the live one
by construction; ``rebuild`` and ``digest`` are what the kernel's ``replay`` and
``read_model_digest`` RPCs run, for every service alike. Row and fact writers touch only the
projected tables (a rebuild runs them against copies of those tables, not of kept ones).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData, Table, insert, select, update
from sqlalchemy.engine import Connection, Engine

from infra.eventstore import EventStore, StoredEvent
from infra.repository import Kinds

if TYPE_CHECKING:
    from infra.rebuild import Rebuilt

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

    def rebuild(
        self,
        engine: Engine,
        store: EventStore,
        shadow: str = "sesp_rebuild",
        progress: Callable[[int, int], None] | None = None,
        page: int = 500,
        restart: bool = False,
    ) -> Rebuilt:
        """Write every projected table again from the store's events while writers go on,
        and replace the live rows in one short transaction at the end (``infra.rebuild``):
        readers see the old rows until then. Each page of streams or batch of events is a
        transaction of its own, at most ``page`` aggregates are held at once, and a rebuild
        that stopped resumes where it was (``restart``: start anew). ``shadow`` names where the
        new rows are built (a schema, or an attached SQLite file); ``progress(done, total)``
        runs between transactions (to yield to other green threads and report progress)."""
        from infra.rebuild import Rebuild

        return Rebuild(self, engine, store, shadow, progress, page).run(restart)

    def digest(self, conn: Connection, chunk: int = 1000) -> dict[str, str]:
        """A digest per table, to compare a rebuild with the live state: each row in primary
        key order fed to the hash as it is read, ``chunk`` rows at a time (a server-side
        cursor on PostgreSQL), so memory does not grow with the tables. Read in the caller's
        transaction: one snapshot for all tables."""
        out = {}
        for table in self.projected:
            cols = [c for c in table.c if c.name not in self.volatile]
            q = select(*cols).order_by(*table.primary_key.columns)
            h = hashlib.sha256()
            for part in conn.execute(q.execution_options(yield_per=chunk)).partitions():
                for r in part:
                    h.update(repr(tuple(r)).encode())
                    h.update(b"\n")
            out[table.name] = h.hexdigest()
        return out


def upsert(conn: Connection, table: Table, row: dict[str, Any]) -> None:
    """Write ``row`` by its primary key: update it, or insert it when it is not there."""
    where = [c == row[c.name] for c in table.primary_key.columns]
    if not conn.execute(update(table).where(*where).values(**row)).rowcount:
        conn.execute(insert(table).values(**row))
