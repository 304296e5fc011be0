"""Rebuilding a service's read models from its events while the service keeps running.

Readers see the old rows until the new ones are complete: the rebuild writes into *shadow*
copies of the projected tables, then replaces the live rows with them in one short
transaction. The row and fact writers run unchanged against the copies: on PostgreSQL the
copies are a schema of their own put first on the transaction's ``search_path`` (so raw SQL
finds them too, and the events and kept tables are still found where they are); on SQLite an
attached database file next to the service's, reached through SQLAlchemy's schema translation
while the writers run. Writers go on all the while, each batch of the rebuild being a short
transaction of its own:

1. **Base.** ``base`` is a position at which every event up to it is committed and none below
   it can still appear: read with appends held for an instant (PostgreSQL: a ``SHARE`` lock on
   ``events``, which waits for the appends in flight; SQLite serialises writers anyway).
2. **Facts.** Events written straight into a table (``ReadModels.facts``) up to ``base``, in
   position order, a batch per transaction (first, as a position-ordered fold would have them
   before the rows of aggregates it writes at the end).
3. **Streams.** Aggregate streams in pages (by stream id): each page's streams are read whole,
   folded, and their rows written, so at most a page of aggregates is held at once. Every event
   up to ``base`` was committed before the first page was read, so it is in some page's fold.
4. **Tail.** Everything after ``base``, through the gap-safe ``Tailer`` (each poll its own
   read): facts in order, and each touched aggregate stream read whole and folded again. A
   late commit below the tailer's position is impossible, so nothing is skipped.
5. **Swap.** Appends held once more (as in 1), the last events folded in, the live tables'
   rows replaced by the shadow's, in one transaction; the shadow is dropped.

Every step records its cursor in a ``rebuild_state`` row inside the shadow, in the same
transaction as its rows, so a rebuild that stops (a crash, a restart) resumes where it was on
the next call. A newer call takes a running rebuild over (the older stops at its next batch).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from infra.eventstore import EventStore, StoredEvent, Tailer
from infra.eventstore.crypto import decrypt_personal, subjects_unwatched
from infra.eventstore.schema import events
from infra.eventstore.store import to_db, utcnow

if TYPE_CHECKING:
    from infra.readmodels import ReadModels

log = logging.getLogger("sesp.rebuild")

Progress = Callable[[int, int], None]  # (events done, events in all)

# Kept in the shadow, so a step's cursor commits with its rows (on SQLite the shadow is
# another file: a cursor kept in the main one could not commit atomically with them).
_state_md = MetaData()
rebuild_state = Table(
    "rebuild_state",
    _state_md,
    Column("name", String(20), primary_key=True),
    Column("run_id", String(36), nullable=False),
    Column("tables", String(64), nullable=False),  # digest of the projected tables' columns
    Column("phase", String(20), nullable=False),  # facts | streams | tail | done
    Column("stream_after", String(200), nullable=False),
    Column("base", BigInteger, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("done", BigInteger, nullable=False),
    Column("total", BigInteger, nullable=False),
    Column("started_at", DateTime, nullable=False),
)
_ROW = "read_models"

# PostgreSQL: how long a rebuild waits to hold appends (for in-flight ones to end), and how
# long its swap may take (it copies every row while appends wait).
LOCK_TIMEOUT = "10s"
SWAP_STATEMENT_TIMEOUT = "120s"
SWAP_ATTEMPTS = 5


class RebuildSuperseded(Exception):
    """A newer rebuild of the same read models took this one over."""


@dataclass
class Rebuilt:
    """What a rebuild did. ``held_max``: the most aggregates it held in memory at once."""

    events: int
    resumed: bool
    held_max: int = 0
    pages: int = 0


class Shadow:
    """The shadow copies of a service's projected tables, and the transactions on them."""

    def __init__(self, engine: Engine, name: str):
        self.engine, self.name = engine, name
        self.sqlite = engine.dialect.name == "sqlite"
        if self.sqlite:
            main = Path(engine.url.database or "")
            self.path = main.with_name(f"{main.name}.{name}")

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """One transaction in which ``writing(conn)`` reaches the shadow's tables."""
        with self.engine.connect() as conn:
            if self.sqlite:
                self._attach(conn)
            with conn.begin():
                if not self.sqlite:
                    self.live = conn.execute(text("SELECT current_schema()")).scalar_one()
                    if self.exists(conn):
                        conn.execute(text(f'SET LOCAL search_path TO "{self.name}", "{self.live}"'))
                yield conn

    @contextmanager
    def writing(self, conn: Connection) -> Iterator[Connection]:
        """``conn`` with the projected tables (and ``rebuild_state``) being the shadow's.
        PostgreSQL: the search path did that for the whole transaction. SQLite: every table
        of no schema is translated to the attached file meanwhile (``execution_options``
        changes the connection in place), so events are read outside this block."""
        if not self.sqlite:
            yield conn
            return
        conn.execution_options(schema_translate_map={None: self.name})
        try:
            yield conn
        finally:
            conn.execution_options(schema_translate_map=None)

    def exists(self, conn: Connection) -> bool:
        if self.sqlite:
            found = conn.exec_driver_sql(
                f"SELECT 1 FROM \"{self.name}\".sqlite_master WHERE name = 'rebuild_state'"
            ).first()
        else:
            found = conn.execute(
                text(
                    "SELECT 1 FROM information_schema.tables"
                    " WHERE table_schema = :s AND table_name = 'rebuild_state'"
                ),
                {"s": self.name},
            ).first()
        return found is not None

    def live_table(self, conn: Connection, table: Table) -> str:
        """``table``'s live name, qualified (the shadow's copy comes first otherwise)."""
        quote = conn.dialect.identifier_preparer.quote
        return f"{quote('main' if self.sqlite else self.live)}.{quote(table.name)}"

    def copy_of(self, conn: Connection, table: Table) -> str:
        quote = conn.dialect.identifier_preparer.quote
        return f"{quote(self.name)}.{quote(table.name)}"

    def _attach(self, conn: Connection) -> None:
        # ATTACH cannot run inside a transaction: on the raw connection, before BEGIN. It stays
        # on the pooled connection; unqualified names still find the main database's tables.
        raw = conn.connection.dbapi_connection
        assert raw is not None
        names = {row[1] for row in raw.execute("PRAGMA database_list")}
        if self.name not in names:
            raw.execute(f'ATTACH DATABASE ? AS "{self.name}"', (str(self.path),))

    def _detach(self) -> None:
        with self.engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            assert raw is not None
            names = {row[1] for row in raw.execute("PRAGMA database_list")}
            if self.name in names:
                raw.execute(f'DETACH DATABASE "{self.name}"')

    def state(self) -> dict[str, Any] | None:
        """The shadow's ``rebuild_state`` row, or None when there is no shadow."""
        with self.begin() as conn:
            if not self.exists(conn):
                return None
            with self.writing(conn) as shadow:
                row = shadow.execute(select(rebuild_state)).mappings().first()
            return dict(row) if row is not None else None

    def create(self, tables: Sequence[Table]) -> None:
        """Empty shadow copies of ``tables`` and of ``rebuild_state``."""
        self.drop()
        with self.begin() as conn:
            if not self.sqlite:
                conn.execute(text(f'CREATE SCHEMA "{self.name}"'))
                conn.execute(text(f'SET LOCAL search_path TO "{self.name}", "{self.live}"'))
            with self.writing(conn) as shadow:
                for table in [*tables, rebuild_state]:
                    table.create(shadow, checkfirst=False)

    def drop(self) -> None:
        if self.sqlite:
            self._detach()
            for suffix in ("", "-journal", "-wal", "-shm"):
                try:
                    os.unlink(f"{self.path}{suffix}")
                except FileNotFoundError:
                    pass
            return
        with self.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE'))


def tables_digest(tables: Sequence[Table]) -> str:
    """Which tables and columns a shadow was made for (a migration in between: start anew)."""
    shape = ";".join(f"{t.name}:{','.join(c.name for c in t.c)}" for t in tables)
    return hashlib.sha256(shape.encode()).hexdigest()


class Rebuild:
    """One call of ``ReadModels.rebuild`` (see the module's docstring)."""

    def __init__(
        self,
        models: ReadModels,
        engine: Engine,
        store: EventStore,
        shadow: str,
        progress: Progress | None = None,
        page: int = 500,
    ):
        self.models, self.engine, self.store = models, engine, store
        self.shadow = Shadow(engine, shadow)
        self.progress = progress
        self.page = page
        self.run_id = str(uuid.uuid4())
        self.pg = engine.dialect.name == "postgresql"
        self.result = Rebuilt(events=0, resumed=False)
        self.done = self.total = 0

    # -- the steps ----------------------------------------------------------------------

    def run(self, restart: bool = False) -> Rebuilt:
        with subjects_unwatched():  # (else a replay's worker notes every person it read)
            return self._run(restart)

    def _run(self, restart: bool) -> Rebuilt:
        tables = self.models.projected
        digest = tables_digest(tables)
        state = None if restart else self.shadow.state()
        if state is not None and state["tables"] == digest and state["phase"] != "done":
            self.result.resumed = True
            with self.shadow.begin() as conn, self.shadow.writing(conn) as shadow:
                shadow.execute(update(rebuild_state).values(run_id=self.run_id))
            self.done, self.total = state["done"], state["total"]
        else:
            self._start(tables, digest)
        self._report()
        while self._facts_batch():
            self._report()
        while self._streams_page():
            self._report()
        self._tail()
        self._swap()
        self.shadow.drop()
        return self.result

    def _start(self, tables: Sequence[Table], digest: str) -> None:
        self.shadow.create(tables)
        with self.engine.connect() as conn, conn.begin():
            self._hold_appends(conn)
            base = conn.execute(select(func.max(events.c.position))).scalar() or 0
            self.total = conn.execute(select(func.count()).select_from(events)).scalar_one()
        with self.shadow.begin() as conn, self.shadow.writing(conn) as shadow:
            shadow.execute(
                insert(rebuild_state).values(
                    name=_ROW,
                    run_id=self.run_id,
                    tables=digest,
                    phase="facts" if self.models.facts else "streams",
                    stream_after="",
                    base=base,
                    position=0,
                    done=0,
                    total=self.total,
                    started_at=to_db(utcnow()),
                )
            )

    def _facts_batch(self) -> bool:
        """Project one batch of fact events up to ``base``; False when there are no more."""
        with self.shadow.begin() as conn:
            state = self._claim(conn)
            if state["phase"] != "facts":
                return False
            rows = (
                conn.execute(
                    select(events)
                    .where(
                        events.c.position > state["position"],
                        events.c.position <= state["base"],
                        events.c.type.in_(list(self.models.facts)),
                    )
                    .order_by(events.c.position)
                    .limit(self.page)
                )
                .mappings()
                .all()
            )
            facts = [self.store._to_stored(conn, r) for r in rows]
            with self.shadow.writing(conn) as shadow:
                for ev in facts:
                    self.models.project_fact(shadow, ev)
                if not facts:
                    shadow.execute(
                        update(rebuild_state).values(phase="streams", position=state["base"])
                    )
                    return False
                shadow.execute(
                    update(rebuild_state).values(
                        position=facts[-1].position, done=rebuild_state.c.done + len(facts)
                    )
                )
        self.done += len(facts)
        return True

    def _streams_page(self) -> bool:
        """Fold and write one page of aggregate streams; False when there are no more."""
        with self.shadow.begin() as conn:
            state = self._claim(conn)
            if state["phase"] != "streams":
                return False
            ids = list(
                conn.execute(
                    select(events.c.stream_id)
                    .distinct()
                    .where(events.c.stream_id > state["stream_after"])
                    .order_by(events.c.stream_id)
                    .limit(self.page)
                ).scalars()
            )
            n = 0
            if ids:
                # The page is a range of stream ids: one index range scan, already in
                # (stream, version) order, instead of a list of 500 ids to look up and sort.
                rows = conn.execute(
                    select(events)
                    .where(
                        events.c.stream_id > state["stream_after"], events.c.stream_id <= ids[-1]
                    )
                    .order_by(events.c.stream_id, events.c.version)
                ).mappings()
                streams: dict[str, list[StoredEvent]] = {}
                for r in rows:
                    if self.models.kinds.of_stream(r["stream_id"]) is not None:
                        ev = self.store._to_stored(conn, r)
                        streams.setdefault(ev.stream_id, []).append(ev)
                n = self._fold_and_write(conn, streams)
            with self.shadow.writing(conn) as shadow:
                if not ids:
                    shadow.execute(
                        update(rebuild_state).values(phase="tail", position=state["base"])
                    )
                    return False
                shadow.execute(
                    update(rebuild_state).values(
                        stream_after=ids[-1], done=rebuild_state.c.done + n
                    )
                )
        self.done += n
        return True

    def _tail(self) -> None:
        """Everything committed after ``base``, through the gap-safe tailer, until a poll
        comes back short (the swap takes the rest with appends held)."""
        state = self.shadow.state()
        assert state is not None
        if state["phase"] != "tail":
            return
        tailer = Tailer(self.store, self.engine, max(state["position"], state["base"]))
        while True:
            batch = tailer.poll(self.page)  # a read transaction of its own
            if batch:
                with self.shadow.begin() as conn:
                    self._claim(conn)
                    self._apply(conn, batch)
                    with self.shadow.writing(conn) as shadow:
                        shadow.execute(
                            update(rebuild_state).values(
                                position=batch[-1].position,
                                done=rebuild_state.c.done + len(batch),
                            )
                        )
                self.done += len(batch)
                self._report()
            if len(batch) < self.page:
                return

    def _swap(self) -> None:
        """Fold in what is left with appends held, then replace the live rows, at once."""
        for attempt in range(1, SWAP_ATTEMPTS + 1):
            try:
                with self.shadow.begin() as conn:
                    self._hold_appends(conn, SWAP_STATEMENT_TIMEOUT)
                    after = self._claim(conn)["position"]
                    while batch := self.store.read_all(conn, after, self.page, decrypt=False):
                        self._apply(conn, batch)
                        after = batch[-1].position
                    self._replace_live(conn)
                    self.result.events = conn.execute(
                        select(func.count()).select_from(events).where(events.c.position <= after)
                    ).scalar_one()
                    with self.shadow.writing(conn) as shadow:
                        shadow.execute(update(rebuild_state).values(phase="done", position=after))
                return
            except OperationalError as exc:  # a lock not had in time, or a deadlock
                if attempt == SWAP_ATTEMPTS:
                    raise
                log.warning("rebuild swap attempt %d failed (%s); retrying", attempt, exc)
                self._report()  # (yields to other green threads)

    # -- helpers ------------------------------------------------------------------------

    def _hold_appends(self, conn: Connection, statement_timeout: str | None = None) -> None:
        """Until this transaction ends, no append is in flight and none starts (PostgreSQL:
        ``SHARE`` waits for the appends holding ``ROW EXCLUSIVE`` and keeps new ones out;
        reads go on). SQLite: the transaction's ``BEGIN IMMEDIATE`` did that already."""
        if not self.pg:
            return
        conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        if statement_timeout:
            conn.execute(text(f"SET LOCAL statement_timeout = '{statement_timeout}'"))
        conn.execute(text("LOCK TABLE events IN SHARE MODE"))

    def _claim(self, conn: Connection) -> dict[str, Any]:
        """The state row, locked for this transaction; raises when a newer rebuild took over."""
        with self.shadow.writing(conn) as shadow:
            row = shadow.execute(select(rebuild_state).with_for_update()).mappings().one()
        if row["run_id"] != self.run_id:
            raise RebuildSuperseded("a newer rebuild of these read models took over")
        return dict(row)

    def _apply(self, conn: Connection, batch: list[StoredEvent]) -> None:
        """Tailed events (personal fields still encrypted): facts in order, then each touched
        aggregate stream read whole and written again."""
        facts: list[StoredEvent] = []
        touched: dict[str, None] = {}
        for ev in batch:
            if ev.type in self.models.facts:
                data = decrypt_personal(ev.data, conn, self.store.keys)
                facts.append(dataclasses.replace(ev, data=data))
            elif self.models.kinds.of_stream(ev.stream_id) is not None:
                touched[ev.stream_id] = None
        if facts:
            with self.shadow.writing(conn) as shadow:
                for ev in facts:
                    self.models.project_fact(shadow, ev)
        if touched:
            self._fold_and_write(conn, self.store.read_streams(conn, list(touched)))

    def _fold_and_write(self, conn: Connection, streams: dict[str, list[StoredEvent]]) -> int:
        """Fold each stream (whole, of an aggregate kind) and write the aggregates' rows;
        returns how many events were folded."""
        kinds = self.models.kinds
        aggregates: list[Any] = []
        n = 0
        for stream_id, stream in streams.items():
            kind = kinds.of_stream(stream_id)
            assert kind is not None
            aggregate = kind.cls()
            for ev in stream:
                n += 1
                if ev.type in kind.types:
                    aggregate.apply(kind.event(ev))
            if aggregate.version:
                aggregates.append(aggregate)
        self.result.held_max = max(self.result.held_max, len(aggregates))
        self.result.pages += 1
        if aggregates:
            with self.shadow.writing(conn) as shadow:
                self.models.rows(shadow, aggregates)
        return n

    def _replace_live(self, conn: Connection) -> None:
        tables = self.models.projected
        for table in reversed(tables):
            conn.execute(text(f"DELETE FROM {self.shadow.live_table(conn, table)}"))
        quote = conn.dialect.identifier_preparer.quote
        for table in tables:
            cols = ", ".join(quote(c.name) for c in table.c)
            conn.execute(
                text(
                    f"INSERT INTO {self.shadow.live_table(conn, table)} ({cols})"
                    f" SELECT {cols} FROM {self.shadow.copy_of(conn, table)}"
                )
            )

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.done, max(self.total, self.done))
