"""Shared pieces of the benchmark suite: settings, result rows, throwaway databases, children.

Settings (environment):

- ``SESP_BENCH_SCALE`` (``1``): multiplies every measuring window and message count. ``0.3``
  is a quick smoke run, ``3`` a steadier one.
- ``SESP_BENCH_WRITERS`` (``8``): concurrent writers per event-store contender.
- ``SESP_BENCH_BATCH`` (``100``): events per append in the batch rows.
- ``SESP_BENCH_DATABASE_URL``: a PostgreSQL URL whose user may ``CREATE DATABASE``
  (default: the local server, user ``postgres``). Each contender gets a fresh database.
- ``SESP_BENCH_AMQP_URI``: the broker for the bus rows (default: ``SESP_AMQP_URI`` or local).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PG = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/"


def scale() -> float:
    return float(os.environ.get("SESP_BENCH_SCALE", "1"))


def writers() -> int:
    return int(os.environ.get("SESP_BENCH_WRITERS", "8"))


def batch_size() -> int:
    return int(os.environ.get("SESP_BENCH_BATCH", "100"))


def pg_admin_url() -> str:
    return os.environ.get("SESP_BENCH_DATABASE_URL", DEFAULT_PG)


def amqp_uri() -> str:
    return os.environ.get("SESP_BENCH_AMQP_URI") or os.environ.get("SESP_AMQP_URI") or DEFAULT_AMQP


@dataclass
class Row:
    """One line of the results: a figure next to a limit or peer measured in the same run."""

    name: str
    value: float
    unit: str
    baseline: str
    baseline_value: float
    ratio: float

    @classmethod
    def of(cls, name: str, value: float, unit: str, baseline: str, baseline_value: float) -> Row:
        ratio = value / baseline_value if baseline_value else float("nan")
        return cls(name, value, unit, baseline, baseline_value, ratio)

    def to_json(self) -> dict:
        return asdict(self)


# -- PostgreSQL throwaway databases --------------------------------------------------------


def _with_driver(url: str, driver: str) -> str:
    from sqlalchemy.engine import make_url

    return (
        make_url(url).set(drivername=f"postgresql+{driver}").render_as_string(hide_password=False)
    )


def pg_params(url: str) -> dict:
    """host/port/user/password/dbname of a URL, for drivers used without SQLAlchemy."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    return {
        "host": u.host or "127.0.0.1",
        "port": u.port or 5432,
        "user": u.username or "postgres",
        "password": u.password or "",
        "dbname": u.database or "postgres",
    }


@contextmanager
def fresh_pg_database(label: str, driver: str = "psycopg2") -> Iterator[str]:
    """CREATE DATABASE bench_<label>_<random>; yield its URL; drop it afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(_with_driver(pg_admin_url(), "psycopg2"), isolation_level="AUTOCOMMIT")
    name = f"bench_{label}_{uuid.uuid4().hex[:8]}".lower()
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(_with_driver(pg_admin_url(), driver)).set(database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def pg_available() -> str | None:
    """None when the bench PostgreSQL answers, else why not."""
    from sqlalchemy import create_engine, text

    try:
        eng = create_engine(_with_driver(pg_admin_url(), "psycopg2"))
        with eng.connect() as conn:
            conn.execute(text("SELECT 1"))
        eng.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - reported, not hidden
        return f"PostgreSQL at {pg_admin_url()!r} unavailable: {exc.__class__.__name__}: {exc}"


# -- children ------------------------------------------------------------------------------


def run_child(module: str, args: list[str], env: dict | None = None, timeout: float = 300) -> dict:
    """Run ``python -m module args`` and return the JSON object on its last stdout line."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        raise RuntimeError(f"{module} {' '.join(args)} failed:\n" + "\n".join(tail))
    lines = [ln for ln in proc.stdout.strip().splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"{module} {' '.join(args)} printed no result:\n{proc.stdout}")
    return json.loads(lines[-1])


def emit(result: dict) -> None:
    """A child's answer to its parent: one JSON line on stdout."""
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


# -- concurrent writers --------------------------------------------------------------------


def run_writers(
    appenders: list[Callable[[], int]], warmup: float, duration: float
) -> dict[str, float]:
    """Run each appender in its own thread for ``warmup`` then ``duration`` seconds.

    An appender does one append (one transaction) and returns how many events it wrote.
    Counters are read at the start and end of the measuring window, so the rate covers only
    appends that finished inside it.
    """
    n = len(appenders)
    counts = [0] * n
    appends = [0] * n
    stop = threading.Event()
    start = threading.Barrier(n + 1)
    errors: list[BaseException] = []

    def loop(i: int) -> None:
        fn = appenders[i]
        try:
            start.wait()
            while not stop.is_set():
                counts[i] += fn()
                appends[i] += 1
        except BaseException as exc:  # noqa: BLE001 - handed to the parent thread
            errors.append(exc)
            stop.set()

    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    start.wait()
    time.sleep(warmup)
    c0, a0, t0, cpu0 = sum(counts), sum(appends), time.perf_counter(), time.process_time()
    stop.wait(duration)
    c1, a1, t1, cpu1 = sum(counts), sum(appends), time.perf_counter(), time.process_time()
    stop.set()
    for t in threads:
        t.join(timeout=60)
    if errors:
        raise errors[0]
    elapsed = t1 - t0
    return {
        "events": c1 - c0,
        "appends": a1 - a0,
        "seconds": elapsed,
        "events_per_s": (c1 - c0) / elapsed,
        "appends_per_s": (a1 - a0) / elapsed,
        # the writers' own CPU (this process, all threads): on 2 shared cores it is a cost
        # the database server cannot use
        "client_cpu_ms_per_append": 1000 * (cpu1 - cpu0) / max(a1 - a0, 1),
    }


def writer_mode() -> str:
    """``threads`` (default: one process, as one service process is) or ``processes``."""
    return os.environ.get("SESP_BENCH_WRITER_MODE", "threads")


def _writer_process(build, args, i, counts, appends, start, stop, results) -> None:  # noqa: ANN001
    try:
        (fn,), report = build(*args, [i], create=False)
        start.wait()
        while not stop.is_set():
            n = fn()
            counts[i] += n
            appends[i] += 1
        results.put(("ok", report()))
    except BaseException as exc:  # noqa: BLE001 - handed to the parent
        stop.set()
        start.abort()
        results.put(("error", f"{exc.__class__.__name__}: {exc}"))


def run_writer_processes(
    build: Callable, args: tuple, n: int, warmup: float, duration: float
) -> tuple[dict[str, float], list[dict]]:
    """Like ``run_writers`` with one process per writer: ``build(*args, [i], create=False)``
    in each (the caller has created the tables)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    counts = ctx.Array("q", n, lock=False)
    appends = ctx.Array("q", n, lock=False)
    start, stop, results = ctx.Barrier(n + 1), ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(
            target=_writer_process,
            args=(build, args, i, counts, appends, start, stop, results),
            daemon=True,
        )
        for i in range(n)
    ]
    for p in procs:
        p.start()
    try:
        start.wait(timeout=120)
    except threading.BrokenBarrierError:
        kind, value = results.get(timeout=60)
        raise RuntimeError(value) from None
    time.sleep(warmup)
    c0, a0, t0 = sum(counts), sum(appends), time.perf_counter()
    stop.wait(duration)
    c1, a1, t1 = sum(counts), sum(appends), time.perf_counter()
    stop.set()
    reports, errors = [], []
    for _ in procs:
        kind, value = results.get(timeout=120)
        (reports if kind == "ok" else errors).append(value)
    for p in procs:
        p.join(timeout=60)
    if errors:
        raise RuntimeError(errors[0])
    elapsed = t1 - t0
    return {
        "events": c1 - c0,
        "appends": a1 - a0,
        "seconds": elapsed,
        "events_per_s": (c1 - c0) / elapsed,
        "appends_per_s": (a1 - a0) / elapsed,
    }, reports


# -- output --------------------------------------------------------------------------------


def _fmt(v: float) -> str:
    if v != v:  # NaN
        return "-"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}" if abs(v) < 1 else f"{v:.2f}"


def format_table(rows: list[Row], targets: dict[str, str] | None = None) -> str:
    targets = targets or {}
    head = ["benchmark", "value", "unit", "next to", "its value", "ratio", "target"]
    body = [
        [
            r.name,
            _fmt(r.value),
            r.unit,
            r.baseline,
            _fmt(r.baseline_value),
            f"{r.ratio:.2f}x" if r.ratio == r.ratio else "-",
            targets.get(r.name, ""),
        ]
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body, strict=False)]
    right = {1, 4, 5}

    def line(cells: list[str]) -> str:
        return " | ".join(
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=False))
        ).rstrip()

    sep = "-+-".join("-" * w for w in widths)
    return "\n".join([line(head), sep, *(line(b) for b in body)])
