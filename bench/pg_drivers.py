"""Do concurrent slow queries overlap under eventlet? One subprocess per PostgreSQL driver.

nameko runs every worker as a greenlet on one OS thread. A driver that waits for the server
inside C code without going through the (monkey-patched) ``select``/``socket`` modules blocks
the whole process, and ``N`` concurrent queries then take ``N`` times as long as one.

Each child monkey-patches eventlet first, builds a SQLAlchemy engine for its driver with a pool
of ``SESP_BENCH_GREENLETS`` (50) connections, fills the pool, then times:

- one ``SELECT pg_sleep(0.1)`` alone (the ideal: perfect overlap cannot beat it), and
- ``SESP_BENCH_GREENLETS`` greenlets each running ``SELECT pg_sleep(0.1)`` at once.

The fully serial bound is the single query's time multiplied by the number of greenlets.

Drivers: psycopg2 (psycopg2-binary, the project's driver), pg8000 (pure Python), psycopg 3
with its default wait function, and psycopg 3 with ``PSYCOPG_WAIT_FUNC=wait_selector`` (a
wait function built on the ``selectors`` module, which eventlet patches).

Run alone: ``python -m bench.pg_drivers``. Child: ``python -m bench.pg_drivers --child NAME``.
"""

import os
import sys
import time

if __name__ == "__main__" and "--child" in sys.argv:
    # Before anything else is imported, as a nameko service process does.
    import eventlet

    eventlet.monkey_patch()

SLEEP = 0.1

# name -> (SQLAlchemy driver, extra environment for the child)
DRIVERS = {
    "psycopg2": ("psycopg2", {}),
    "pg8000": ("pg8000", {}),
    "psycopg3 (default wait)": ("psycopg", {}),
    "psycopg3 PSYCOPG_WAIT_FUNC=wait_selector": ("psycopg", {"PSYCOPG_WAIT_FUNC": "wait_selector"}),
}


def greenlets() -> int:
    return int(os.environ.get("SESP_BENCH_GREENLETS", "50"))


def child(name: str) -> None:
    import eventlet
    from sqlalchemy import create_engine, text

    from . import common

    driver, _env = DRIVERS[name]
    n = greenlets()
    url = os.environ["SESP_BENCH_DRIVER_URL"]
    engine = create_engine(url, pool_size=n, max_overflow=0, pool_timeout=120)
    if not eventlet.patcher.is_monkey_patched("socket"):
        raise SystemExit("eventlet is not monkey-patched in the driver child")

    def query(seconds: float) -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_sleep(:s)"), {"s": seconds})

    def together(seconds: float) -> float:
        pool = eventlet.GreenPool(n)
        t0 = time.perf_counter()
        for _ in range(n):
            pool.spawn(query, seconds)
        pool.waitall()
        return time.perf_counter() - t0

    # Fill the pool (connecting is not what is measured). Short sleeps keep a driver that
    # serialises from costing much here; a cooperative one opens all n connections.
    together(0.02)
    singles = []
    for _ in range(3):
        t0 = time.perf_counter()
        query(SLEEP)
        singles.append(time.perf_counter() - t0)
    single = min(singles)
    wall = together(SLEEP)
    common.emit(
        {
            "driver": driver,
            "greenlets": n,
            "single_s": single,
            "wall_s": wall,
            "serial_s": single * n,
            "pool_connections": engine.pool.checkedin() + engine.pool.checkedout(),
            "wait_func": _psycopg_wait_name() if driver == "psycopg" else None,
        }
    )


def _psycopg_wait_name() -> str:
    from psycopg import waiting

    return waiting.wait.__name__


def measure_all(log=print) -> dict[str, dict]:  # noqa: ANN001
    """Run each driver's child against a fresh database; {name: result or {"error": ...}}."""
    from . import common

    out: dict[str, dict] = {}
    with common.fresh_pg_database("drivers") as url:
        from sqlalchemy.engine import make_url

        for name, (driver, env) in DRIVERS.items():
            log(f"  eventlet, {greenlets()} x pg_sleep({SLEEP}): {name} ...")
            driver_url = make_url(url).set(drivername=f"postgresql+{driver}")
            child_env = {**env, "SESP_BENCH_DRIVER_URL": driver_url.render_as_string(False)}
            try:
                out[name] = common.run_child(
                    "bench.pg_drivers", ["--child", name], env=child_env, timeout=120
                )
                log(f"    {out[name]['wall_s']:.2f} s")
            except Exception as exc:  # noqa: BLE001 - one driver failing is a finding
                out[name] = {"error": str(exc).splitlines()[-1]}
                log(f"    failed: {out[name]['error']}")
    return out


def rows(log=print) -> list:  # noqa: ANN001
    from .common import Row

    out = []
    for name, r in measure_all(log).items():
        if "error" in r:
            log(f"  {name}: no figure ({r['error']})")
            continue
        what = f"eventlet {r['greenlets']}x pg_sleep({SLEEP}) wall: {name}"
        out.append(Row.of(what, r["wall_s"], "s", "one query alone (ideal)", r["single_s"]))
        out.append(
            Row.of(what, r["wall_s"], "s", f"{r['greenlets']} queries serial", r["serial_s"])
        )
    return out


def main() -> None:
    from .common import format_table

    print(format_table(rows()))


if __name__ == "__main__":
    if "--child" in sys.argv:
        child(sys.argv[sys.argv.index("--child") + 1])
    else:
        main()
