"""Event store append throughput: our store next to raw INSERTs (the limit) and a peer library.

Contenders, each in its own subprocess with ``SESP_BENCH_WRITERS`` writer threads (one
process, as one service process is; ``SESP_BENCH_WRITER_MODE=processes`` for one process per
writer), each writer appending to its own stream with its expected version, one transaction
per append:

- ``sesp``: ``infra.eventstore.EventStore.append`` through ``make_engine`` (expected-version
  check, hash chain, transaction id on PostgreSQL), exactly as a service calls it after
  loading the stream: with the head's version and hash, so the append reads nothing.
- ``raw``: the DB-API driver inserting the same rows into an identical ``events`` table (made
  by the same migration) with no head read, no hash and no transaction id: no ordering
  guarantee at all. Nothing that records events durably in that table can go faster.
  (The library's own table is narrower, with fewer indexes, so it can beat this limit.)
- ``lib``: the ``eventsourcing`` library's application recorder (the layer below its
  ``Application``, so its mapper's cost is not counted against it) storing the same payload.
  On PostgreSQL it takes ``LOCK TABLE ... IN EXCLUSIVE MODE`` per append to keep its
  notification order gapless; on SQLite it serialises writers in its pool, as we do.

Child usage: ``python -m bench.eventstore BACKEND CONTENDER BATCH TARGET`` where TARGET is a
database URL (PostgreSQL) or a file path (SQLite); prints one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from . import common
from .common import Row

EVENT_TYPE = "QualityFactRecorded"
COLUMNS = (
    "event_id",
    "stream_id",
    "version",
    "type",
    "schema_version",
    "data",
    "meta",
    "occurred_at",
    "recorded_at",
    "tx_id",
    "hash",
)


def payload(writer: int, n: int) -> dict:
    """A typical domain event body (~300 bytes of JSON)."""
    return {
        "uscc": f"91310115MA1K{writer:06d}",
        "equipment_id": f"EQ-{writer:03d}-{n:08d}",
        "kind": "maintenance_record",
        "recorded_by": "maintenance_unit",
        "score": 87.5,
        "items": ["brake", "door interlock", "overspeed governor", "buffer"],
        "note": "routine half-monthly maintenance, no defects found",
    }


def _meta() -> dict:
    return {
        "actor": {"id": "token-bench", "role": "maintenance_unit"},
        "correlation_id": str(uuid.uuid4()),
        "causation_id": None,
    }


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


# -- contenders (child side) ---------------------------------------------------------------


def sesp_appenders(
    backend: str, target: str, batch: int, ids: list[int], create: bool
) -> tuple[list, Callable]:
    from sqlalchemy import event

    from infra.eventstore import EventStore, NewEvent, SubjectKeys, make_engine, make_meta, migrate

    url = target if backend == "pg" else f"sqlite:///{target}"
    engine = make_engine(url, pool_size=max(len(ids), 1))
    if create:
        migrate(engine)
    store = EventStore(engine.dialect.name, SubjectKeys(os.urandom(32)))

    # Round trips to the server: statements, commits and pool pre-pings (one per checkout).
    # Counted on PostgreSQL only, the one backend with a round-trip row: the listeners are
    # work of their own on every append (SQLite's contender runs without them, as a service
    # does).
    trips = {"statements": 0, "commits": 0, "checkouts": 0}
    lock = threading.Lock()

    def bump(key: str) -> None:
        with lock:
            trips[key] += 1

    if backend == "pg":
        event.listen(engine, "before_cursor_execute", lambda *a, **k: bump("statements"))
        event.listen(engine, "commit", lambda *a, **k: bump("commits"))
        event.listen(engine.pool, "checkout", lambda *a, **k: bump("checkouts"))

    def make(i: int) -> Callable[[], int]:
        # The writer knows its stream's head, as a caller that loaded the stream does: its
        # version and the hash of its last event (``head_hash``), so an append reads nothing.
        stream, state = f"unit-bench-{i}", {"version": 0, "n": 0, "hash": None}
        actor = _meta()["actor"]

        def append() -> int:
            evs = [NewEvent(EVENT_TYPE, payload(i, state["n"] + k)) for k in range(batch)]
            with engine.begin() as conn:
                stored = store.append(
                    conn,
                    stream,
                    state["version"],
                    evs,
                    make_meta(actor),  # its own correlation id, as ``_meta`` makes one
                    head_hash=state["hash"],
                )
            state["version"] += batch
            state["n"] += batch
            state["hash"] = stored[-1].hash
            return batch

        return append

    def report() -> dict:
        return {"trips": dict(trips), "pre_ping": bool(engine.pool._pre_ping)}

    return [make(i) for i in ids], report


def raw_pg_appenders(
    target: str, batch: int, ids: list[int], create: bool
) -> tuple[list, Callable]:
    import psycopg2
    from psycopg2.extras import execute_values

    from infra.eventstore import make_engine, migrate

    if create:
        engine = make_engine(target)
        migrate(engine)  # the identical table
        engine.dispose()
    params = common.pg_params(target)
    cols = ", ".join(COLUMNS)
    one = f"INSERT INTO events ({cols}) VALUES ({', '.join(['%s'] * len(COLUMNS))})"
    many = f"INSERT INTO events ({cols}) VALUES %s"

    def make(i: int) -> Callable[[], int]:
        conn = psycopg2.connect(**params)
        stream, state = f"unit-bench-{i}", {"version": 0}

        def append() -> int:
            rows = _raw_rows(i, stream, state["version"], batch)
            with conn.cursor() as cur:
                if batch == 1:
                    cur.execute(one, rows[0])
                else:
                    execute_values(cur, many, rows, page_size=1000)
            conn.commit()
            state["version"] += batch
            return batch

        return append

    return [make(i) for i in ids], lambda: {}


def raw_sqlite_appenders(
    target: str, batch: int, ids: list[int], create: bool
) -> tuple[list, Callable]:
    """One connection behind a lock (SQLite serialises writers anyway; this is the fastest way
    to do it from one process, and the same discipline as ``make_engine``'s pool of one)."""
    import sqlite3

    from infra.eventstore import make_engine, migrate

    if create:
        engine = make_engine(f"sqlite:///{target}")
        migrate(engine)  # the identical table
        engine.dispose()
    conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=30000"):
        conn.execute(f"PRAGMA {pragma}")
    lock = threading.Lock()
    sql = f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({', '.join(['?'] * len(COLUMNS))})"

    def make(i: int) -> Callable[[], int]:
        stream, state = f"unit-bench-{i}", {"version": 0}

        def append() -> int:
            rows = [
                tuple(str(v) if isinstance(v, datetime) else v for v in r)
                for r in _raw_rows(i, stream, state["version"], batch)
            ]
            with lock:
                conn.execute("BEGIN IMMEDIATE")
                if batch == 1:
                    conn.execute(sql, rows[0])
                else:
                    conn.executemany(sql, rows)
                conn.execute("COMMIT")
            state["version"] += batch
            return batch

        return append

    return [make(i) for i in ids], lambda: {}


def _raw_rows(i: int, stream: str, version: int, batch: int) -> list[tuple]:
    now = _now()
    meta = json.dumps(_meta(), sort_keys=True, separators=(",", ":"))
    return [
        (
            str(uuid.uuid4()),
            stream,
            version + k,
            EVENT_TYPE,
            1,
            json.dumps(payload(i, version + k), sort_keys=True, separators=(",", ":")),
            meta,
            now,
            now,
            0,
            "0" * 64,
        )
        for k in range(1, batch + 1)
    ]


def lib_appenders(
    backend: str, target: str, batch: int, ids: list[int], create: bool
) -> tuple[list, Callable]:
    from eventsourcing.persistence import StoredEvent

    if backend == "pg":
        from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

        p = common.pg_params(target)
        datastore = PostgresDatastore(
            dbname=p["dbname"],
            host=p["host"],
            port=p["port"],
            user=p["user"],
            password=p["password"],
            pool_size=max(len(ids), 1),
            max_overflow=0,
        )
        recorder = PostgresApplicationRecorder(datastore)
    else:
        from eventsourcing import sqlite as es_sqlite

        # Same durability as our store (WAL with synchronous=NORMAL), so the comparison is
        # about the code path, not about fsync per commit.
        make_conn = es_sqlite.SQLiteConnectionPool._create_connection

        def _create_connection(self):  # type: ignore[no-untyped-def]
            c = make_conn(self)
            c._sqlite_conn.execute("PRAGMA synchronous=NORMAL")
            return c

        es_sqlite.SQLiteConnectionPool._create_connection = _create_connection
        datastore = es_sqlite.SQLiteDatastore(
            db_name=target, pool_size=max(len(ids), 1), max_overflow=0
        )
        recorder = es_sqlite.SQLiteApplicationRecorder(datastore)
    if create:
        recorder.create_table()
    topic = f"bench.domain:{EVENT_TYPE}"

    def make(i: int) -> Callable[[], int]:
        originator, state = uuid.uuid4(), {"version": 0}

        def append() -> int:
            v = state["version"]
            recorder.insert_events(
                [
                    StoredEvent(
                        originator_id=originator,
                        originator_version=v + k,
                        topic=topic,
                        state=json.dumps(
                            {**payload(i, v + k), "meta": _meta()}, sort_keys=True
                        ).encode(),
                    )
                    for k in range(1, batch + 1)
                ]
            )
            state["version"] += batch
            return batch

        return append

    return [make(i) for i in ids], lambda: {}


def build(
    contender: str, backend: str, target: str, batch: int, ids: list[int], create: bool = True
) -> tuple[list, Callable]:
    """The appenders for writer ids ``ids`` and a report of counters (tables created unless
    ``create`` is false)."""
    if contender == "sesp":
        return sesp_appenders(backend, target, batch, ids, create)
    if contender == "raw":
        maker = raw_pg_appenders if backend == "pg" else raw_sqlite_appenders
        return maker(target, batch, ids, create)
    if contender == "lib":
        return lib_appenders(backend, target, batch, ids, create)
    raise SystemExit(f"unknown contender {contender!r}")


def child(argv: list[str]) -> None:
    backend, contender, batch_s, target = argv
    batch, n, s = int(batch_s), common.writers(), common.scale()
    warmup, duration = 1.0 * s, 3.0 * s
    if common.writer_mode() == "processes":
        build(contender, backend, target, batch, [])  # create the tables once
        from bench.eventstore import build as importable_build  # not __main__.build

        result, reports = common.run_writer_processes(
            importable_build, (contender, backend, target, batch), n, warmup, duration
        )
        if reports and "trips" in reports[0]:
            trips = {k: sum(r["trips"][k] for r in reports) for k in reports[0]["trips"]}
            result.update({**reports[0], "trips": trips})
    else:
        appenders, report = build(contender, backend, target, batch, list(range(n)))
        result = common.run_writers(appenders, warmup=warmup, duration=duration)
        result.update(report())
    result["writer_mode"] = common.writer_mode()
    common.emit(result)


# -- rows (parent side) --------------------------------------------------------------------

LABEL = {
    "sesp": "sesp EventStore",
    "raw": "raw INSERT, no ordering (limit)",
    "lib": "eventsourcing 9.5.6 recorder",
}
BACKEND = {"pg": "PostgreSQL", "sqlite": "SQLite"}


def measure(backend: str, contender: str, batch: int) -> dict:
    import shutil
    import tempfile

    args_tail = [backend, contender, str(batch)]
    if backend == "pg":
        with common.fresh_pg_database(f"{contender}_{batch}") as url:
            return common.run_child("bench.eventstore", [*args_tail, url])
    tmp = tempfile.mkdtemp(prefix="sesp-bench-")
    try:
        return common.run_child("bench.eventstore", [*args_tail, os.path.join(tmp, "events.db")])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def rounds() -> int:
    return int(os.environ.get("SESP_BENCH_ROUNDS", "2"))


def rows(backend: str, log: Callable[[str], None] = print) -> tuple[list[Row], dict[str, str]]:
    """Rows a) and b) (PostgreSQL) or c) (SQLite): 1-event and batch appends.

    Each contender runs ``SESP_BENCH_ROUNDS`` times, interleaved with the others and in a
    rotating order, and keeps its best window: on a machine shared with other work, the best
    window is the one least disturbed by it.
    """
    out: list[Row] = []
    targets: dict[str, str] = {}
    n = common.writers()
    contenders = ["sesp", "lib", "raw"]
    for batch in (1, common.batch_size()):
        got: dict[str, dict] = {}
        for r in range(rounds()):
            order = contenders[r % 3 :] + contenders[: r % 3]
            for contender in order:
                res = measure(backend, contender, batch)
                log(
                    f"  {BACKEND[backend]}, {batch} ev/append, {n} writers, round {r + 1}: "
                    f"{LABEL[contender]}: {res['events_per_s']:,.0f} events/s "
                    f"(client CPU {res.get('client_cpu_ms_per_append', 0):.2f} ms/append)"
                )
                if res["events_per_s"] > got.get(contender, {}).get("events_per_s", -1):
                    got[contender] = res
        what = f"{BACKEND[backend]} append {batch} ev/txn x{n} writers"
        sesp, lib, raw = (got[c]["events_per_s"] for c in contenders)
        vs_lib = Row.of(f"{what}: sesp vs library", sesp, "events/s", LABEL["lib"], lib)
        vs_raw = Row.of(f"{what}: sesp vs limit", sesp, "events/s", LABEL["raw"], raw)
        lib_raw = Row.of(f"{what}: library vs limit", lib, "events/s", LABEL["raw"], raw)
        out += [vs_lib, vs_raw, lib_raw]
        if backend == "pg" and batch == 1:
            targets[vs_raw.name] = ">= 0.6x"
            # Round trips, counted on the client: statements, one BEGIN per transaction
            # (psycopg2 sends it on its own), commits, and the pool's pre-ping per checkout.
            # raw: BEGIN, INSERT, COMMIT.
            t = got["sesp"].get("trips", {})
            if t.get("commits"):
                per = (
                    t["statements"]
                    + 2 * t["commits"]
                    + (t["checkouts"] if got["sesp"].get("pre_ping") else 0)
                ) / t["commits"]
                out.append(
                    Row.of(
                        f"{what}: sesp round trips/append",
                        per,
                        "trips",
                        "raw: BEGIN, INSERT, COMMIT",
                        3.0,
                    )
                )
        if batch == 1 and "client_cpu_ms_per_append" in got["sesp"]:
            # The writers' own CPU per append: on two shared cores, CPU the database can't use.
            cpu = {c: got[c]["client_cpu_ms_per_append"] for c in contenders}
            out.append(
                Row.of(
                    f"{what}: sesp client CPU/append", cpu["sesp"], "ms", LABEL["lib"], cpu["lib"]
                )
            )
            out.append(
                Row.of(
                    f"{what}: sesp client CPU/append", cpu["sesp"], "ms", LABEL["raw"], cpu["raw"]
                )
            )
        if backend == "pg" and batch > 1:
            targets[vs_raw.name] = ">= 0.5x"
        if backend == "sqlite" and batch == 1:
            targets[vs_lib.name] = ">= 1x"
    return out, targets


if __name__ == "__main__":
    child(sys.argv[1:])
