"""The public blacklist through the gateway, next to the framework's limit and to the database.

Set-up: the blacklist service on a fresh PostgreSQL database holding ``10,000 x scale``
listings (rows of its read model, written in bulk: this measures reads), the gateway, and the
bare nameko ``@http`` constant of ``bench.gateway_bench`` as the limit, each its own process.
Rows, measured in the same run:
- a unit's listings by code (``GET /v1/public/blacklist/{uscc}``) at ``SESP_BENCH_PUBLIC_
  CONCURRENCY`` (32) keep-alive connections: requests/s and p99 next to the limit (target
  0.5x: the answer is kept in the gateway until a blacklist event, so no RPC per request);
- the same read revalidated (``If-None-Match`` with its tag: 304, no body) next to full
  answers;
- the CSV export of every listing (streamed in pages over RPC) next to ``COPY (SELECT ...) TO
  STDOUT`` of the same rows on the same database.
"""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from . import common
from .gateway_bench import ROUNDS, _free_port, _start, _stop, _wait_http, measure

LISTINGS = 10_000


def concurrency() -> int:
    return int(os.environ.get("SESP_BENCH_PUBLIC_CONCURRENCY", "32"))


def seconds() -> float:
    return float(os.environ.get("SESP_BENCH_HTTP_SECONDS") or 5 * common.scale())


def _load(url: str, headers: dict | None = None, expect: int = 200) -> dict:
    args = [url, json.dumps(headers or {}), str(expect), str(concurrency()), str(seconds())]
    return common.run_child("bench.public_bench", args, timeout=seconds() * 4 + 120)


def _best(url: str, headers: dict | None = None, expect: int = 200) -> dict:
    best: dict | None = None
    for _ in range(ROUNDS):
        result = _load(url, headers, expect)
        if result["errors"]:
            raise RuntimeError(f"{url}: {result['errors']} failed requests")
        if best is None or result["rps"] > best["rps"]:
            best = result
    assert best is not None
    return best


def _seed(db_url: str, count: int) -> str:
    """``count`` listings of ``count`` units in the read model; the code of one of them."""
    from sqlalchemy import create_engine, insert

    from services.blacklist.projections import blacklist_listings, blacklist_units
    from services.licensing.examples import new_uscc

    rng = random.Random(2014)
    codes = [new_uscc(rng) for _ in range(count)]
    listed = date(2026, 1, 5)
    units, listings = [], []
    for i, code in enumerate(codes):
        name = f"上海第{i}电梯维修有限公司"
        units.append({"uscc": code, "name": name, "district": "310115", "version": 1})
        listings.append(
            {
                "id": f"L{i:07d}",
                "uscc": code,
                "name": name,
                "district": "310115",
                "list": "serious_violation",
                "cause": "manual",
                "reason": "forged maintenance records",
                "legal_basis": "特种设备安全法 第八十八条",
                "authority": "310000",
                "decision_no": f"沪质监罚〔2026〕{i}号",
                "listed_on": listed,
                "earliest_removal_on": listed + timedelta(days=365),
                "publication_ends_on": listed + timedelta(days=3 * 365),
                "status": "listed",
            }
        )
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(insert(blacklist_units), units)
        conn.execute(insert(blacklist_listings), listings)
    engine.dispose()
    return codes[count // 2]


def _copy_seconds(db_url: str) -> float:
    """``COPY (every listing in id order) TO STDOUT WITH CSV HEADER``: the database's limit."""
    import psycopg2
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    conn = psycopg2.connect(
        host=url.host, port=url.port or 5432, user=url.username, dbname=url.database
    )
    try:
        best = float("inf")
        for _ in range(3):
            out = io.StringIO()
            started = time.perf_counter()
            with conn.cursor() as cur:
                cur.copy_expert(
                    "COPY (SELECT * FROM blacklist_listings ORDER BY id) TO STDOUT WITH CSV HEADER",
                    out,
                )
            best = min(best, time.perf_counter() - started)
        return best
    finally:
        conn.close()


def _csv_seconds(url: str) -> tuple[float, int]:
    import httpx

    best, lines = float("inf"), 0
    for _ in range(3):
        started = time.perf_counter()
        with httpx.stream("GET", url, timeout=300) as response:
            body = b"".join(response.iter_bytes())
        best = min(best, time.perf_counter() - started)
        lines = body.count(b"\n")
    return best, lines


def _wait_kept(url: str, metrics: str, timeout: float = 60.0) -> None:
    """Until the gateway keeps public answers (it listens to the blacklist's events)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        httpx.get(url, timeout=10)
        httpx.get(url, timeout=10)
        if 'sesp_public_cache_total{outcome="hit"}' in httpx.get(metrics, timeout=10).text:
            return
        time.sleep(0.2)
    raise RuntimeError(f"the gateway did not keep {url} within {timeout:.0f} s")


def run() -> list[dict]:
    from infra.testing import Broker

    count = max(100, int(LISTINGS * common.scale()))
    broker = Broker()
    vhost = broker.create_vhost()
    procs: list[subprocess.Popen] = []
    with (
        tempfile.TemporaryDirectory(prefix="sesp-bench-public-") as tmp,
        common.fresh_pg_database("public") as db_url,
    ):
        data = Path(tmp)
        try:
            gw_port, limit_port = _free_port(), _free_port()
            base = {
                "SESP_AMQP_URI": broker.uri_for(vhost),
                "SESP_DATA_DIR": str(data),
                "SESP_DEMO": "0",
                "SESP_LOG_LEVEL": "WARNING",
            }
            procs.append(
                _start(
                    "blacklist",
                    {**base, "SESP_BLACKLIST_DATABASE_URL": db_url},
                    data / "blacklist.log",
                )
            )
            procs.append(
                _start(
                    "gateway",
                    {
                        **base,
                        "SESP_GATEWAY_PORT": str(gw_port),
                        "SESP_GATEWAY_DATABASE_URL": f"sqlite:///{data / 'gateway.db'}",
                        "SESP_PUBLIC_RATE": "1000000/s",
                        "SESP_ADMIN_TOKEN": "",
                    },
                    data / "gateway.log",
                )
            )
            procs.append(
                _start(
                    "bench.gateway_bench:ConstantHttp",
                    {**base, "SESP_GATEWAY_PORT": str(limit_port)},
                    data / "limit.log",
                )
            )
            gateway = f"http://127.0.0.1:{gw_port}"
            _wait_http(f"{gateway}/v1/public/blacklist?limit=1", {}, timeout=120)
            code = _seed(db_url, count)
            ours = f"{gateway}/v1/public/blacklist/{code}"
            limit = f"http://127.0.0.1:{limit_port}/constant"
            _wait_http(ours, {})
            _wait_http(limit, {})
            _wait_kept(ours, f"{gateway}/metrics")
            import httpx

            tag = httpx.get(ours, timeout=10).headers["ETag"]
            full, bare = _best(ours), _best(limit)
            revalidated = _best(ours, {"If-None-Match": tag}, expect=304)
            csv_s, csv_lines = _csv_seconds(f"{gateway}/v1/public/blacklist.csv?status=all")
            if csv_lines != count + 1:
                raise RuntimeError(f"CSV export had {csv_lines} lines for {count} listings")
            copy_s = _copy_seconds(db_url)
        finally:
            for proc in procs:
                _stop(proc)
            broker.delete_vhost(vhost)
            broker.close()
    c = concurrency()
    rows = [
        common.Row.of(
            f"public: blacklist by code via the gateway, {count:,} listings, {c} connections",
            round(full["rps"], 1),
            "requests/s",
            "bare nameko @http constant (limit)",
            round(bare["rps"], 1),
        ),
        common.Row.of(
            f"public: blacklist by code, p99 at {c} connections",
            round(full["p99_ms"], 2),
            "ms",
            "bare nameko @http constant p99 (limit)",
            round(bare["p99_ms"], 2),
        ),
        common.Row.of(
            "public: blacklist by code revalidated (If-None-Match: 304)",
            round(revalidated["rps"], 1),
            "requests/s",
            "the same read answered in full",
            round(full["rps"], 1),
        ),
        common.Row.of(
            f"public: blacklist CSV export, {count:,} listings",
            round(count / csv_s, 1),
            "rows/s",
            "COPY (SELECT ...) TO STDOUT of the same rows",
            round(count / copy_s, 1),
        ),
    ]
    latency = rows[1]  # lower is better: limit/ours, so 1.0 is "as fast as the limit"
    latency.ratio = latency.baseline_value / latency.value if latency.value else float("nan")
    return [row.to_json() for row in rows]


def rows(log) -> tuple[list[common.Row], dict[str, str]]:
    out = [common.Row(**r) for r in run()]
    for row in out:
        log(f"  {row.name}: {row.value} {row.unit} vs {row.baseline_value} ({row.ratio:.2f}x)")
    return out, {out[0].name: ">= 0.5x the limit"}


if __name__ == "__main__":
    if len(sys.argv) == 6:
        url, headers, expect, conns, duration = sys.argv[1:]
        common.emit(
            measure(url, None, int(conns), float(duration), json.loads(headers), int(expect))
        )
    else:
        print(json.dumps(run(), indent=2))
