"""Read-model rebuild speed next to a raw scan of the events table it reads.

The insurance service's store is loaded as in the scale section (``scale.load_insurance``: one
register fact per elevator, policies of two elevators each for two thirds of them), then
``READ_MODELS.rebuild`` replays it into fresh read models, timed. Next to it, in the same
database right after: the driver reading every row of ``events`` in position order and
doing nothing with it, the most a rebuild could read. The ratio is the share of the time a
rebuild spends reading; the rest is folding, decrypting and writing the rows.

Both backends (PostgreSQL in a fresh database, SQLite in a fresh file).
``SESP_BENCH_REBUILD_ELEVATORS`` (default 2,000 x scale) sets the size.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable

from . import common
from .common import Row


def elevators() -> int:
    return int(os.environ.get("SESP_BENCH_REBUILD_ELEVATORS") or int(2000 * common.scale()))


def _raw_scan_pg(url: str) -> tuple[int, float]:
    import psycopg2

    conn = psycopg2.connect(**common.pg_params(url))
    try:
        cur = conn.cursor(name="scan")  # server-side, fetched in pages like the rebuild's
        cur.itersize = 1000
        started = time.perf_counter()
        cur.execute("SELECT * FROM events ORDER BY position")
        n = sum(1 for _ in cur)
        return n, time.perf_counter() - started
    finally:
        conn.close()


def _raw_scan_sqlite(path: str) -> tuple[int, float]:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        started = time.perf_counter()
        cur = conn.execute("SELECT * FROM events ORDER BY position")
        n = 0
        while rows := cur.fetchmany(1000):
            n += len(rows)
        return n, time.perf_counter() - started
    finally:
        conn.close()


def _measure(url: str, scan: Callable[[], tuple[int, float]]) -> tuple[float, float, int]:
    from infra.eventstore import make_engine

    from . import scale

    seconds = scale.load_insurance(url, elevators(), 0)
    engine = make_engine(url)
    with engine.connect() as conn:
        from sqlalchemy import func, select

        from infra.eventstore.schema import events

        n = conn.execute(select(func.count()).select_from(events)).scalar_one()
    engine.dispose()
    best_scan = min(scan()[1] for _ in range(3))  # the first warms the cache
    return n / seconds, n / best_scan, n


def rows(backends: tuple[str, ...] = ("pg", "sqlite"), log=print) -> list[Row]:
    out = []
    for backend in backends:
        if backend == "pg":
            with common.fresh_pg_database("rebuild") as url:
                rebuild, scan, n = _measure(url, lambda u=url: _raw_scan_pg(u))
            name = "PostgreSQL"
        else:
            tmp = tempfile.mkdtemp(prefix="sesp-bench-rebuild-")
            try:
                path = os.path.join(tmp, "insurance.db")
                rebuild, scan, n = _measure(f"sqlite:///{path}", lambda p=path: _raw_scan_sqlite(p))
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            name = "SQLite"
        log(f"  {name}: rebuild {rebuild:,.0f} events/s, raw scan {scan:,.0f} events/s ({n:,})")
        out.append(
            Row.of(
                f"{name} rebuild (insurance read models, {n:,} events)",
                rebuild,
                "events/s",
                "raw scan of the events table",
                scan,
            )
        )
    return out
